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
//! Each kernel does in one pass what the optimizers used to do in several:
//! an L-BFGS step with `m` curvature pairs and one evaluation sweeps the
//! vectors `2m + 4` times (the two-loop recursion `2m`, the trial point,
//! its slope, the new pair, the driver's check), down from `4m + 16`:
//!
//! * [`axpy_dot`] / [`axpy_into_dot`]: an update of the two-loop recursion
//!   (`q ← q − αᵢ yᵢ`, or `q ← q + (αᵢ − βᵢ) sᵢ`) with the dot product the
//!   next pair needs (`sᵢ₋₁ · q`, or `yᵢ₊₁ · q`), the scaling by γ, the
//!   final negation and the slope `d · ∇f`;
//! * [`curvature_pair`]: `s = x⁺ − x`, `y = g⁺ − g`, `sᵀy`, `yᵀy` and
//!   `sᵀg⁺` (the first dot product of the next two-loop recursion);
//! * [`set_point_on_ray`] checks that the point it writes is finite, and a
//!   slope `∇f · d` that is finite shows the gradient is;
//! * [`finite_norm`]: the gradient norm and the finiteness of the gradient
//!   and of the parameters, in one read of both.
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
const LANES: usize = 8;

type Lanes = [f64; LANES];

/// 0 for a finite `v`, NaN for a NaN or infinite one: summed over a
/// vector, 0 exactly when every value is finite, at no cost in a sweep that
/// reads the vector anyway.
#[inline]
fn zero_if_finite(v: f64) -> f64 {
    v * 0.0
}

/// The eight running sums of a chunk, added in a fixed tree.
fn total(l: Lanes) -> f64 {
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
    norm_from_squares(a, dot(a, a))
}

/// `‖a‖` given `squares`, the plain `a · a`.
fn norm_from_squares(a: &[f64], squares: f64) -> f64 {
    if squares.is_finite() && squares >= f64::MIN_POSITIVE {
        return squares.sqrt();
    }
    if squares.is_nan() {
        return f64::NAN;
    }
    let scale = max_abs(a);
    if scale == 0.0 || scale.is_infinite() {
        return scale;
    }
    let [scaled] = sweep(a.len(), [], move |r, []| {
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
    scale * scaled.sqrt()
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

/// `q ← scale·(q + a·y)`, then returns `s · q` (of the new `q`): one update
/// of the L-BFGS two-loop recursion with the dot product the next one needs.
///
/// # Panics
/// When the lengths differ.
///
/// ```
/// use mf_runtime::optim::vector::axpy_dot;
/// let mut q = [1.0, 1.0];
/// let sq = axpy_dot(&mut q, -2.0, &[1.0, 0.0], 0.5, &[1.0, 1.0]);
/// assert_eq!((q, sq), ([-0.5, 0.5], 0.0));
/// ```
pub fn axpy_dot(q: &mut [f64], a: f64, y: &[f64], scale: f64, s: &[f64]) -> f64 {
    let n = q.len();
    assert!(y.len() == n && s.len() == n, "vectors of different lengths");
    let [sq] = sweep(n, [q], move |r, [q]| {
        [axpy_dot_part(q, a, &y[r.clone()], scale, &s[r])]
    });
    sq
}

#[inline(never)]
fn axpy_dot_part(q: &mut [f64], a: f64, y: &[f64], scale: f64, s: &[f64]) -> f64 {
    let mut acc = [0.0; LANES];
    let mut qc = q.chunks_exact_mut(LANES);
    let (yc, sc) = (y.chunks_exact(LANES), s.chunks_exact(LANES));
    let rest = yc.remainder().iter().zip(sc.remainder());
    for (q, (y, s)) in (&mut qc).zip(yc.zip(sc)) {
        for l in 0..LANES {
            q[l] = scale * (q[l] + a * y[l]);
            acc[l] += s[l] * q[l];
        }
    }
    for (l, (q, (y, s))) in qc.into_remainder().iter_mut().zip(rest).enumerate() {
        *q = scale * (*q + a * y);
        acc[l] += s * *q;
    }
    total(acc)
}

/// `q ← scale·(u + a·y)`, then returns `s · q`: [`axpy_dot`] from another
/// vector, such as the first update of the two-loop recursion (from the
/// gradient). With `a = 0` and a finite `y`, `q = scale·u`.
///
/// # Panics
/// When the lengths differ.
///
/// ```
/// use mf_runtime::optim::vector::axpy_into_dot;
/// let g = [3.0, 4.0];
/// let mut d = [0.0; 2];
/// // Steepest descent and its slope: d = −g, d · g = −‖g‖².
/// assert_eq!(axpy_into_dot(&mut d, &g, 0.0, &g, -1.0, &g), -25.0);
/// assert_eq!(d, [-3.0, -4.0]);
/// ```
pub fn axpy_into_dot(q: &mut [f64], u: &[f64], a: f64, y: &[f64], scale: f64, s: &[f64]) -> f64 {
    let n = q.len();
    assert!(
        u.len() == n && y.len() == n && s.len() == n,
        "vectors of different lengths"
    );
    let [sq] = sweep(n, [q], move |r, [q]| {
        let (u, y, s) = (&u[r.clone()], &y[r.clone()], &s[r]);
        [axpy_into_dot_part(q, u, a, y, scale, s)]
    });
    sq
}

#[inline(never)]
fn axpy_into_dot_part(q: &mut [f64], u: &[f64], a: f64, y: &[f64], scale: f64, s: &[f64]) -> f64 {
    let mut acc = [0.0; LANES];
    let mut qc = q.chunks_exact_mut(LANES);
    let uc = u.chunks_exact(LANES);
    let (yc, sc) = (y.chunks_exact(LANES), s.chunks_exact(LANES));
    let rest = uc
        .remainder()
        .iter()
        .zip(yc.remainder().iter().zip(sc.remainder()));
    for (q, (u, (y, s))) in (&mut qc).zip(uc.zip(yc.zip(sc))) {
        for l in 0..LANES {
            q[l] = scale * (u[l] + a * y[l]);
            acc[l] += s[l] * q[l];
        }
    }
    for (l, (q, (u, (y, s)))) in qc.into_remainder().iter_mut().zip(rest).enumerate() {
        *q = scale * (u + a * y);
        acc[l] += s * *q;
    }
    total(acc)
}

/// The dot products of a new L-BFGS curvature pair, from [`curvature_pair`].
///
/// ```
/// use mf_runtime::optim::vector::Curvature;
/// let c = Curvature { sy: 1.0, yy: 2.0, s_grad: -0.5 };
/// assert_eq!(c.sy / c.yy, 0.5);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Curvature {
    /// `sᵀy`.
    pub sy: f64,
    /// `yᵀy`.
    pub yy: f64,
    /// `sᵀg⁺`: `s` against the gradient at the new point.
    pub s_grad: f64,
}

/// `s = x⁺ − x` and `y = g⁺ − g` (the step and the change of gradient),
/// with `sᵀy`, `yᵀy` and `sᵀg⁺`, in one sweep.
///
/// # Panics
/// When the lengths differ.
///
/// ```
/// use mf_runtime::optim::vector::{curvature_pair, Curvature};
/// let (mut s, mut y) = ([0.0; 2], [0.0; 2]);
/// let c = curvature_pair(&mut s, &mut y, &[1.0, 1.0], &[0.0, 0.0], &[2.0, 1.0], &[0.0, 0.0]);
/// assert_eq!((s, y), ([1.0, 1.0], [2.0, 1.0]));
/// assert_eq!(c, Curvature { sy: 3.0, yy: 5.0, s_grad: 3.0 });
/// ```
pub fn curvature_pair(
    s: &mut [f64],
    y: &mut [f64],
    x_new: &[f64],
    x: &[f64],
    g_new: &[f64],
    g: &[f64],
) -> Curvature {
    let n = s.len();
    assert!(
        x_new.len() == n && x.len() == n && g_new.len() == n && g.len() == n,
        "vectors of different lengths"
    );
    let [sy, yy, s_grad] = sweep(n, [s, y], move |r, [s, y]| {
        let (xn, xo, gn, go) = (&x_new[r.clone()], &x[r.clone()], &g_new[r.clone()], &g[r]);
        curvature_part(s, y, xn, xo, gn, go)
    });
    Curvature { sy, yy, s_grad }
}

/// [`curvature_pair`] on one chunk: `[sᵀy, yᵀy, sᵀg⁺]`.
#[inline(never)]
fn curvature_part(
    s: &mut [f64],
    y: &mut [f64],
    x_new: &[f64],
    x: &[f64],
    g_new: &[f64],
    g: &[f64],
) -> [f64; 3] {
    let (mut sy, mut yy, mut sg) = ([0.0; LANES], [0.0; LANES], [0.0; LANES]);
    let (mut sc, mut yc) = (s.chunks_exact_mut(LANES), y.chunks_exact_mut(LANES));
    let (xn, xo) = (x_new.chunks_exact(LANES), x.chunks_exact(LANES));
    let (gn, go) = (g_new.chunks_exact(LANES), g.chunks_exact(LANES));
    let xr = xn.remainder().iter().zip(xo.remainder());
    let gr = gn.remainder().iter().zip(go.remainder());
    for ((s, y), ((xn, xo), (gn, go))) in (&mut sc).zip(&mut yc).zip(xn.zip(xo).zip(gn.zip(go))) {
        for l in 0..LANES {
            s[l] = xn[l] - xo[l];
            y[l] = gn[l] - go[l];
            sy[l] += s[l] * y[l];
            yy[l] += y[l] * y[l];
            sg[l] += s[l] * gn[l];
        }
    }
    let rest = sc.into_remainder().iter_mut().zip(yc.into_remainder());
    for (l, ((s, y), ((xn, xo), (gn, go)))) in rest.zip(xr.zip(gr)).enumerate() {
        *s = xn - xo;
        *y = gn - go;
        sy[l] += *s * *y;
        yy[l] += *y * *y;
        sg[l] += *s * gn;
    }
    [total(sy), total(yy), total(sg)]
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
    assert_eq!(g.len(), x.len(), "vectors of different lengths");
    let [squares, non_finite] = sweep(g.len(), [], move |r, []| {
        let (g, x) = (&g[r.clone()], &x[r]);
        [dot_part(g, g), non_finite_part(g, x)]
    });
    (non_finite == 0.0).then(|| norm_from_squares(g, squares))
}

/// `g · (x_new − x)` when every value of `x_new` and `g_new` is finite,
/// `None` otherwise: the predicted decrease of a backtracking trial (along
/// the actual, possibly projected, displacement) and its check, in one
/// sweep.
///
/// # Panics
/// When the lengths differ.
///
/// ```
/// use mf_runtime::optim::vector::descent_if_finite;
/// let g = [2.0, -1.0];
/// assert_eq!(descent_if_finite(&g, &[0.5, 1.0], &[1.0, 1.0], &[0.0, 0.0]), Some(-1.0));
/// assert_eq!(descent_if_finite(&g, &[0.5, 1.0], &[1.0, 1.0], &[f64::NAN, 0.0]), None);
/// ```
pub fn descent_if_finite(g: &[f64], x_new: &[f64], x: &[f64], g_new: &[f64]) -> Option<f64> {
    let n = g.len();
    assert!(
        x_new.len() == n && x.len() == n && g_new.len() == n,
        "vectors of different lengths"
    );
    let [descent, non_finite] = sweep(n, [], move |r, []| {
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
    });
    (non_finite == 0.0).then_some(descent)
}

#[cfg(test)]
mod tests;
