//! The optimizers' own vector work: parallel, deterministic sweeps over the
//! flat parameter vector (dot products, norms, finiteness checks, and the
//! fused updates of L-BFGS, the line searches and the first-order methods).
//!
//! # Chunks
//!
//! A vector of `n` values is cut into chunks of [`CHUNK`] values, the last
//! one shorter: a partition that depends on `n` alone, never on the number
//! of threads. A vector of at most one chunk is swept on the calling thread
//! with no rayon overhead; a longer one chunk by chunk in parallel
//! ([`sweep`]).
//!
//! # Determinism
//!
//! As in [`kernel`](crate::kernel): each chunk's partial sums come from one
//! sequential loop over the chunk (value `i` goes to running sum `i mod 8`,
//! and the eight sums are added in a fixed tree at the end, which lets the
//! loop vectorize), and the partials are added in chunk order. Which thread
//! ran which chunk never matters, so the same inputs give bit-identical
//! results on 1, 2 or 64 threads. Element-wise updates write each value
//! from its own inputs only.
//!
//! # Fusion
//!
//! Each kernel does in one pass what the optimizers used to do in several.
//! An L-BFGS step with `m` curvature pairs and one evaluation sweeps the
//! vectors 5 times: the direction and the new pair (each one read of the
//! `2m` stored vectors, see [`Lbfgs`](super::Lbfgs)), the trial point, its
//! slope and the driver's check; down from `2m + 4` sweeps with the
//! two-loop recursion on vectors, and `4m + 16` before fusion.
//!
//! * [`sweep_sums`]: a sweep with any number of sums and outputs of any
//!   type, for the L-BFGS passes (the `f32` pairs and their dot products
//!   with every stored vector);
//! * [`set_point_on_ray`] checks that the point it writes is finite, and a
//!   slope `∇f · d` that is finite shows the gradient is;
//! * [`finite_norm`]: the gradient norm and the finiteness of the gradient
//!   and of the parameters, in one read of both.
//!
//! A vector spread over ranks (see [`shard`](crate::shard)) has its sums
//! over coordinates summed over the ranks: the `…_over_ranks` kernels take
//! the summing as an argument, and the others return the sums to be summed.
//!
//! ```
//! use mf_runtime::optim::vector;
//! let (a, b) = (vec![1.0; 100_000], vec![2.0; 100_000]);
//! assert_eq!(vector::dot(&a, &b), 200_000.0);
//! assert_eq!(vector::norm(&[3.0, 4.0]), 5.0);
//! ```

use std::ops::Range;

use rayon::prelude::*;

/// Values per chunk of a sweep (64 KiB of `f64`): fixed, so results do not
/// depend on the thread count; vectors of at most this length are swept
/// without rayon.
pub const CHUNK: usize = 8192;

/// Running sums per chunk: value `i` goes to sum `i mod LANES`.
pub(super) const LANES: usize = 8;

pub(super) type Lanes = [f64; LANES];

/// 0 for a finite `v`, NaN for a NaN or infinite one: summed over a
/// vector, 0 exactly when every value is finite, at no cost in a sweep that
/// reads the vector anyway.
#[inline]
fn zero_if_finite(v: f64) -> f64 {
    v * 0.0
}

/// The eight running sums of a chunk, added in a fixed tree.
pub(super) fn total(l: Lanes) -> f64 {
    ((l[0] + l[4]) + (l[1] + l[5])) + ((l[2] + l[6]) + (l[3] + l[7]))
}

/// Runs `part` on each chunk of `0..len`, with the matching chunk of each
/// of the `N` outputs (every one `len` long), and returns the sum of the
/// `K` partial results it returns, added in chunk order.
///
/// The building block of every kernel here, for custom methods too: `part`
/// slices its inputs by the range it gets. At most one chunk ([`CHUNK`]
/// values) runs on the calling thread; more run in parallel on rayon's
/// current pool. For bit-identical results on any thread count, `part`
/// must compute its partials by one sequential loop. Make it a `move`
/// closure: a scalar captured by reference is read again at every value
/// (the compiler cannot rule out that an output aliases it), which keeps
/// the loop from vectorizing.
///
/// # Panics
/// When an output's length is not `len`.
///
/// ```
/// use mf_runtime::optim::vector::sweep;
/// let x = vec![1.5; 20_000];
/// let mut y = vec![0.0; 20_000];
/// // y = 2x, and Σ x, in one pass.
/// let [sum] = sweep(x.len(), [&mut y[..]], move |range, [y]| {
///     let mut s = 0.0;
///     for (y, x) in y.iter_mut().zip(&x[range]) {
///         *y = 2.0 * x;
///         s += x;
///     }
///     [s]
/// });
/// assert_eq!((sum, y[19_999]), (30_000.0, 3.0));
/// ```
pub fn sweep<const N: usize, const K: usize, F>(
    len: usize,
    outs: [&mut [f64]; N],
    part: F,
) -> [f64; K]
where
    F: Fn(Range<usize>, [&mut [f64]; N]) -> [f64; K] + Sync,
{
    for out in &outs {
        assert_eq!(out.len(), len, "an output of a sweep has the wrong length");
    }
    if len <= CHUNK {
        return part(0..len, outs);
    }
    let mut rests = outs.map(|out| out.chunks_mut(CHUNK));
    let pieces: Vec<(Range<usize>, [&mut [f64]; N])> = (0..len.div_ceil(CHUNK))
        .map(|c| {
            let range = c * CHUNK..((c + 1) * CHUNK).min(len);
            let outs = rests
                .each_mut()
                .map(|rest| rest.next().expect("every output has `len` values"));
            (range, outs)
        })
        .collect();
    let partials: Vec<[f64; K]> = pieces
        .into_par_iter()
        .map(|(range, outs)| part(range, outs))
        .collect();
    let mut sums = partials[0];
    for partial in &partials[1..] {
        for (sum, p) in sums.iter_mut().zip(partial) {
            *sum += p;
        }
    }
    sums
}

/// [`sweep`] with a number of sums known only at run time, and outputs
/// of any element type (such as the `f32` history of
/// [`Lbfgs`](super::Lbfgs)): `part` adds its chunk's partials into the
/// zeroed slice it gets, `sums.len()` values; `sums` receives their totals,
/// added in chunk order. Deterministic on the same terms as [`sweep`].
///
/// # Panics
/// When an output's length is not `len`.
///
/// ```
/// use mf_runtime::optim::vector::sweep_sums;
/// let x = vec![0.5f64; 20_000];
/// let mut y = vec![0.0f32; 20_000];
/// let mut sums = [0.0; 2];
/// // y = x rounded to f32, with Σ x and Σ x².
/// sweep_sums(x.len(), [&mut y[..]], &mut sums, move |range, [y], sums| {
///     for (y, x) in y.iter_mut().zip(&x[range]) {
///         *y = *x as f32;
///         sums[0] += x;
///         sums[1] += x * x;
///     }
/// });
/// assert_eq!((sums, y[19_999]), ([10_000.0, 5_000.0], 0.5));
/// ```
pub fn sweep_sums<T: Send, const N: usize, F>(
    len: usize,
    outs: [&mut [T]; N],
    sums: &mut [f64],
    part: F,
) where
    F: Fn(Range<usize>, [&mut [T]; N], &mut [f64]) + Sync,
{
    for out in &outs {
        assert_eq!(out.len(), len, "an output of a sweep has the wrong length");
    }
    sums.fill(0.0);
    if len <= CHUNK {
        return part(0..len, outs, sums);
    }
    let k = sums.len();
    let mut rests = outs.map(|out| out.chunks_mut(CHUNK));
    let pieces: Vec<(Range<usize>, [&mut [T]; N])> = (0..len.div_ceil(CHUNK))
        .map(|c| {
            let range = c * CHUNK..((c + 1) * CHUNK).min(len);
            let outs = rests
                .each_mut()
                .map(|rest| rest.next().expect("every output has `len` values"));
            (range, outs)
        })
        .collect();
    let partials: Vec<Vec<f64>> = pieces
        .into_par_iter()
        .map(|(range, outs)| {
            let mut partial = vec![0.0; k];
            part(range, outs, &mut partial);
            partial
        })
        .collect();
    sums.copy_from_slice(&partials[0]);
    for partial in &partials[1..] {
        for (sum, p) in sums.iter_mut().zip(partial) {
            *sum += p;
        }
    }
}

/// `a · b`.
///
/// # Panics
/// When the lengths differ.
///
/// ```
/// use mf_runtime::optim::vector::dot;
/// assert_eq!(dot(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]), 32.0);
/// ```
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "dot of vectors of different lengths");
    let [s] = sweep(a.len(), [], move |r, []| [dot_part(&a[r.clone()], &b[r])]);
    s
}

fn dot_part(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0; LANES];
    let (ac, bc) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let rest = ac.remainder().iter().zip(bc.remainder());
    for (a, b) in ac.zip(bc) {
        for l in 0..LANES {
            acc[l] += a[l] * b[l];
        }
    }
    for (l, (a, b)) in rest.enumerate() {
        acc[l] += a * b;
    }
    total(acc)
}

/// Euclidean norm `‖a‖`, rescaled when the plain sum of squares overflows
/// or underflows (gradients of 1e200 happen just before a divergence); NaN
/// when a value is NaN, +∞ when one is infinite.
///
/// ```
/// use mf_runtime::optim::vector::norm;
/// assert_eq!(norm(&[3.0, 4.0]), 5.0);
/// assert!((norm(&[3e200, 4e200]) / 5e200 - 1.0).abs() < 1e-15);
/// ```
pub fn norm(a: &[f64]) -> f64 {
    norm_over_ranks(a, &mut |_| {})
}

/// `‖a‖` of a vector spread over ranks, `a` this rank's coordinates: each
/// sum over coordinates is summed over the ranks by `sum` (see
/// [`Objective::sum_over_ranks`](crate::Objective::sum_over_ranks)), so
/// every rank gets the same norm. Overflow-safe like [`norm`]; with a `sum`
/// that does nothing, [`norm`].
///
/// ```
/// use mf_runtime::optim::vector::norm_over_ranks;
/// // Two ranks' coordinates: [3] and [4]; `sum` adds the other rank's part.
/// let mut other = |v: &mut [f64]| v[0] += 16.0;
/// assert_eq!(norm_over_ranks(&[3.0], &mut other), 5.0);
/// ```
pub fn norm_over_ranks(a: &[f64], sum: &mut dyn FnMut(&mut [f64])) -> f64 {
    let mut squares = [dot(a, a)];
    sum(&mut squares);
    norm_from_squares(a, squares[0], sum)
}

/// `‖a‖` given `squares`, the plain `a · a` over every rank (`sum` adds up
/// a number over the ranks).
fn norm_from_squares(a: &[f64], squares: f64, sum: &mut dyn FnMut(&mut [f64])) -> f64 {
    if squares.is_finite() && squares >= f64::MIN_POSITIVE {
        return squares.sqrt();
    }
    if squares.is_nan() {
        return f64::NAN;
    }
    // Over ranks, the sum of each rank's largest magnitude: between the
    // largest and the rank count times it, a scale as good.
    let mut scale = [max_abs(a)];
    sum(&mut scale);
    let scale = scale[0];
    if scale == 0.0 || scale.is_infinite() {
        return scale;
    }
    let mut scaled = sweep(a.len(), [], move |r, []| {
        let mut acc = [0.0; LANES];
        let ac = a[r].chunks_exact(LANES);
        let rest = ac.remainder();
        for v in ac {
            for l in 0..LANES {
                acc[l] += (v[l] / scale) * (v[l] / scale);
            }
        }
        for (l, v) in rest.iter().enumerate() {
            acc[l] += (v / scale) * (v / scale);
        }
        [total(acc)]
    });
    sum(&mut scaled);
    scale * scaled[0].sqrt()
}

/// `max |aᵢ|` (exact whatever the order: no sums).
fn max_abs(a: &[f64]) -> f64 {
    let chunk_max = |c: &[f64]| c.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    if a.len() <= CHUNK {
        chunk_max(a)
    } else {
        a.par_chunks(CHUNK).map(chunk_max).reduce(|| 0.0, f64::max)
    }
}

/// `out = x + t d`; whether every value written is finite.
///
/// # Panics
/// When the lengths differ.
///
/// ```
/// use mf_runtime::optim::vector::set_point_on_ray;
/// let mut out = [0.0; 2];
/// assert!(set_point_on_ray(&mut out, &[1.0, 2.0], 0.5, &[2.0, -2.0]));
/// assert_eq!(out, [2.0, 1.0]);
/// assert!(!set_point_on_ray(&mut out, &[1.0, 2.0], 1e308, &[1e308, 0.0]));
/// ```
pub fn set_point_on_ray(out: &mut [f64], x: &[f64], t: f64, d: &[f64]) -> bool {
    let n = out.len();
    assert!(x.len() == n && d.len() == n, "vectors of different lengths");
    let [non_finite] = sweep(n, [out], move |r, [out]| {
        [point_on_ray_part(out, &x[r.clone()], t, &d[r])]
    });
    non_finite == 0.0
}

// The per-chunk loops take their vectors as arguments, which tells the
// compiler that the outputs alias no input, so that they vectorize.

/// [`set_point_on_ray`] on one chunk: 0 if every value written is finite,
/// NaN otherwise.
#[inline(never)]
fn point_on_ray_part(out: &mut [f64], x: &[f64], t: f64, d: &[f64]) -> f64 {
    let mut acc = [0.0; LANES];
    let mut oc = out.chunks_exact_mut(LANES);
    let (xc, dc) = (x.chunks_exact(LANES), d.chunks_exact(LANES));
    let rest = xc.remainder().iter().zip(dc.remainder());
    for (o, (x, d)) in (&mut oc).zip(xc.zip(dc)) {
        for l in 0..LANES {
            o[l] = x[l] + t * d[l];
            acc[l] += zero_if_finite(o[l]);
        }
    }
    for (l, (o, (x, d))) in oc.into_remainder().iter_mut().zip(rest).enumerate() {
        *o = x + t * d;
        acc[l] += zero_if_finite(*o);
    }
    total(acc)
}

/// Index of the first value of `v` that is NaN or infinite, if any.
///
/// ```
/// use mf_runtime::optim::vector::first_non_finite;
/// assert_eq!(first_non_finite(&[1.0, f64::NAN, f64::INFINITY]), Some(1));
/// assert_eq!(first_non_finite(&[1.0, 2.0]), None);
/// ```
pub fn first_non_finite(v: &[f64]) -> Option<usize> {
    let position = |c: &[f64]| {
        if non_finite_part(c, &[]) == 0.0 {
            None
        } else {
            c.iter().position(|v| !v.is_finite())
        }
    };
    if v.len() <= CHUNK {
        return position(v);
    }
    // The chunks are searched in parallel; the first one with a hit wins.
    v.par_chunks(CHUNK)
        .map(position)
        .enumerate()
        .find_first(|(_, hit)| hit.is_some())
        .and_then(|(c, hit)| hit.map(|i| c * CHUNK + i))
}

/// 0 when every value of `a` and `b` is finite, NaN otherwise.
fn non_finite_part(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0; LANES];
    for v in [a, b] {
        let vc = v.chunks_exact(LANES);
        let rest = vc.remainder();
        for v in vc {
            for l in 0..LANES {
                acc[l] += zero_if_finite(v[l]);
            }
        }
        for (l, v) in rest.iter().enumerate() {
            acc[l] += zero_if_finite(*v);
        }
    }
    total(acc)
}

/// `‖g‖` when every value of `g` and of `x` is finite, `None` otherwise:
/// the gradient norm of an iterate and its check for divergence, in one
/// read of both. Overflow-safe like [`norm`].
///
/// # Panics
/// When the lengths differ.
///
/// ```
/// use mf_runtime::optim::vector::finite_norm;
/// assert_eq!(finite_norm(&[3.0, 4.0], &[1.0, 1.0]), Some(5.0));
/// assert_eq!(finite_norm(&[3.0, 4.0], &[1.0, f64::NAN]), None);
/// assert_eq!(finite_norm(&[3e300, 4e300], &[0.0, 0.0]), Some(5e300));
/// ```
pub fn finite_norm(g: &[f64], x: &[f64]) -> Option<f64> {
    finite_norm_over_ranks(g, x, &mut |_| {})
}

/// [`finite_norm`] of vectors spread over ranks, `g` and `x` this rank's
/// coordinates: `None` when a value is not finite on any rank (`sum` adds
/// up a number over the ranks, as in [`norm_over_ranks`]).
///
/// ```
/// use mf_runtime::optim::vector::finite_norm_over_ranks;
/// // The other rank holds g = [4], and a NaN in its x in the second case.
/// let mut fine = |v: &mut [f64]| v[0] += 16.0;
/// assert_eq!(finite_norm_over_ranks(&[3.0], &[0.0], &mut fine), Some(5.0));
/// let mut nan = |v: &mut [f64]| { v[0] += 16.0; v[1] += 1.0 };
/// assert_eq!(finite_norm_over_ranks(&[3.0], &[0.0], &mut nan), None);
/// ```
pub fn finite_norm_over_ranks(
    g: &[f64],
    x: &[f64],
    sum: &mut dyn FnMut(&mut [f64]),
) -> Option<f64> {
    assert_eq!(g.len(), x.len(), "vectors of different lengths");
    let mut parts = sweep(g.len(), [], move |r, []| {
        let (g, x) = (&g[r.clone()], &x[r]);
        [dot_part(g, g), non_finite_part(g, x)]
    });
    sum(&mut parts);
    let [squares, non_finite] = parts;
    (non_finite == 0.0).then(|| norm_from_squares(g, squares, sum))
}

/// `g · (x_new − x)` and whether every value of `x_new` and `g_new` is
/// finite (0 when so, NaN otherwise): the predicted decrease of a
/// backtracking trial (along the actual, possibly projected, displacement)
/// and its check, in one sweep; both are sums over the coordinates, to be
/// summed over ranks when the vectors are spread over several.
///
/// # Panics
/// When the lengths differ.
///
/// ```
/// use mf_runtime::optim::vector::descent_and_non_finite;
/// let g = [2.0, -1.0];
/// assert_eq!(descent_and_non_finite(&g, &[0.5, 1.0], &[1.0, 1.0], &[0.0, 0.0]), [-1.0, 0.0]);
/// assert!(descent_and_non_finite(&g, &[0.5, 1.0], &[1.0, 1.0], &[f64::NAN, 0.0])[1].is_nan());
/// ```
pub fn descent_and_non_finite(g: &[f64], x_new: &[f64], x: &[f64], g_new: &[f64]) -> [f64; 2] {
    let n = g.len();
    assert!(
        x_new.len() == n && x.len() == n && g_new.len() == n,
        "vectors of different lengths"
    );
    sweep(n, [], move |r, []| {
        let mut acc = [0.0; LANES];
        let (gc, xn) = (
            g[r.clone()].chunks_exact(LANES),
            x_new[r.clone()].chunks_exact(LANES),
        );
        let xo = x[r.clone()].chunks_exact(LANES);
        let rest = gc
            .remainder()
            .iter()
            .zip(xn.remainder().iter().zip(xo.remainder()));
        for (g, (xn, xo)) in gc.zip(xn.zip(xo)) {
            for l in 0..LANES {
                acc[l] += g[l] * (xn[l] - xo[l]);
            }
        }
        for (l, (g, (xn, xo))) in rest.enumerate() {
            acc[l] += g * (xn - xo);
        }
        [total(acc), non_finite_part(&x_new[r.clone()], &g_new[r])]
    })
}

#[cfg(test)]
mod tests;
