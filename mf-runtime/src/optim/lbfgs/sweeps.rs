//! The three passes of vector-free L-BFGS over its stored vectors: the
//! direction as a combination of them, a new pair with its dot products
//! against all of them, and the gradient's dot products alone.
//!
//! Each runs through [`sweep_sums`] (fixed chunks, partials added in chunk
//! order). Inside a chunk, what is written (the direction, the new pair)
//! stays in the cache while the stored vectors stream past, two or four at
//! a time (several streams from memory at once); dot product `a · b` adds
//! `aᵢ bᵢ` to running sum `i mod 8` of its chunk, in order of `i`. So every
//! dot product of the same two vectors gets the same bits from any pass,
//! on any number of threads, at any vector width (`wide!`: AVX-512 or AVX2
//! when the processor has it, the same operations in the same order).

use std::ops::Range;

use super::super::vector::{sweep_sums, total, Lanes, LANES};

/// How far ahead of a stream of stored values to prefetch, in values.
const AHEAD: usize = 1024;

/// Asks for the cache line at `at` (a hint: never faults, even past the
/// end of a vector).
#[inline(always)]
fn prefetch(at: *const Stored) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint and never faults, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(at.cast())
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}

/// The element type of the stored vectors.
pub(super) type Stored = f32;

wide!(
    /// `acc[i mod 8] += gᵢ vᵢ` at the widest vector width.
    fn dots_wide = dots(acc: &mut Lanes, g: &[f64], v: &[Stored])
);

#[inline(always)]
fn dots(acc: &mut Lanes, g: &[f64], v: &[Stored]) {
    add_products(acc, g, v);
}

/// `acc[i mod 8] += aᵢ bᵢ`.
#[inline(always)]
fn add_products<A: Copy + Into<f64>, B: Copy + Into<f64>>(acc: &mut Lanes, a: &[A], b: &[B]) {
    let (ac, bc) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let rest = ac.remainder().iter().zip(bc.remainder());
    for (a, b) in ac.zip(bc) {
        for l in 0..LANES {
            acc[l] += Into::<f64>::into(a[l]) * Into::<f64>::into(b[l]);
        }
    }
    for (l, (a, b)) in rest.enumerate() {
        acc[l] += Into::<f64>::into(*a) * Into::<f64>::into(*b);
    }
}

/// `out = Σⱼ cⱼ vⱼ + c_g g` (the terms in the order given, then added to
/// `c_g g`), and returns `out · g`.
///
/// # Panics
/// When a length differs from `out`'s.
pub(super) fn combine(out: &mut [f64], terms: &[(f64, &[Stored])], c_g: f64, g: &[f64]) -> f64 {
    let n = out.len();
    assert!(g.len() == n && terms.iter().all(|(_, v)| v.len() == n));
    let mut slope = [0.0];
    sweep_sums(n, [out], &mut slope, move |range, [out], sums| {
        let mut acc = [0.0; LANES];
        combine_chunk_wide(out, terms, c_g, &g[range.clone()], range, &mut acc);
        sums[0] = total(acc);
    });
    slope[0]
}

wide!(
    /// [`combine_chunk`] at the widest vector width.
    fn combine_chunk_wide = combine_chunk(out: &mut [f64], terms: &[(f64, &[Stored])], c_g: f64, g: &[f64], r: Range<usize>, acc: &mut Lanes)
);

/// One chunk of [`combine`], with its products `outᵢ gᵢ` added to `acc`.
#[inline(always)]
fn combine_chunk(
    out: &mut [f64],
    terms: &[(f64, &[Stored])],
    c_g: f64,
    g: &[f64],
    r: Range<usize>,
    acc: &mut Lanes,
) {
    for (o, g) in out.iter_mut().zip(g) {
        *o = c_g * g;
    }
    // Four terms per pass (four streams from memory at once), added one
    // after the other as in a pass per term.
    let mut fours = terms.chunks_exact(4);
    for four in &mut fours {
        let [(c0, v0), (c1, v1), (c2, v2), (c3, v3)] =
            [0, 1, 2, 3].map(|j| (four[j].0, &four[j].1[r.clone()]));
        let starts = [v0, v1, v2, v3].map(|v| v.as_ptr());
        let line = 64 / std::mem::size_of::<Stored>();
        let lines = out
            .chunks_mut(line)
            .zip(v0.chunks(line).zip(v1.chunks(line)));
        let lines = lines.zip(v2.chunks(line).zip(v3.chunks(line)));
        for (k, ((out, (v0, v1)), (v2, v3))) in lines.enumerate() {
            for start in starts {
                prefetch(start.wrapping_add(k * line + AHEAD));
            }
            let vs = v0.iter().zip(v1).zip(v2.iter().zip(v3));
            for (o, ((v0, v1), (v2, v3))) in out.iter_mut().zip(vs) {
                let [v0, v1, v2, v3] = [v0, v1, v2, v3].map(|v| f64::from(*v));
                *o = *o + c0 * v0 + c1 * v1 + c2 * v2 + c3 * v3;
            }
        }
    }
    for &(c, v) in fours.remainder() {
        for (o, v) in out.iter_mut().zip(&v[r.clone()]) {
            *o += c * f64::from(*v);
        }
    }
    add_products(acc, out, g);
}

/// The points and gradients a new pair is made of.
#[derive(Clone, Copy)]
pub(super) struct Points<'a> {
    pub(super) x_new: &'a [f64],
    pub(super) x: &'a [f64],
    pub(super) g_new: &'a [f64],
    pub(super) g: &'a [f64],
}

/// Dot products of a new pair, in the order of [`new_pair`]'s sums.
pub(super) const OWN: usize = 7;

/// Stores `ŝ = round(σ_s (x⁺ − x))` and `ŷ = round(σ_y (g⁺ − g))` in
/// `s`, `y`, and sets `sums` to, first, the [`OWN`] dot products
/// `[sᵀs, yᵀy]` (of the exact, unrounded `s` and `y`, to check the
/// rounding) and `[ŝᵀŝ, ŝᵀŷ, ŷᵀŷ, ŝᵀg⁺, ŷᵀg⁺]`, then `[ŷᵀv, g⁺ᵀv]`
/// for each `v` of `others` (the compact form needs no `ŝᵀv`).
///
/// # Panics
/// When a length differs, or `sums` is not `OWN + 2 · others.len()` long.
pub(super) fn new_pair(
    s: &mut [Stored],
    y: &mut [Stored],
    scales: [f64; 2],
    points: Points<'_>,
    others: &[&[Stored]],
    sums: &mut [f64],
) {
    let n = s.len();
    assert!([points.x_new, points.x, points.g_new, points.g]
        .iter()
        .all(|v| v.len() == n));
    assert!(others.iter().all(|v| v.len() == n));
    assert_eq!(sums.len(), OWN + 2 * others.len());
    sweep_sums(n, [s, y], sums, move |range, [s, y], sums| {
        let mut acc = vec![[0.0; LANES]; sums.len()];
        pair_chunk_wide(s, y, range, points, scales, others, &mut acc);
        for (sum, acc) in sums.iter_mut().zip(acc) {
            *sum = total(acc);
        }
    });
}

wide!(
    /// [`pair_chunk`] at the widest vector width.
    fn pair_chunk_wide = pair_chunk(s: &mut [Stored], y: &mut [Stored], r: Range<usize>, points: Points<'_>, scales: [f64; 2], others: &[&[Stored]], acc: &mut [Lanes])
);

/// One chunk of [`new_pair`], into the running sums `acc`. The stored
/// values are read back (from the cache) for the dot products, and each
/// other vector streams past once, two at a time.
#[inline(always)]
fn pair_chunk(
    s: &mut [Stored],
    y: &mut [Stored],
    r: Range<usize>,
    points: Points<'_>,
    scales: [f64; 2],
    others: &[&[Stored]],
    acc: &mut [Lanes],
) {
    let g_new = &points.g_new[r.clone()];
    let (own, rest) = acc.split_at_mut(OWN);
    let [ss, yy, s_s, s_y, y_y, s_g, y_g] = own else {
        unreachable!("OWN sums")
    };
    differences(
        ss,
        s,
        &points.x_new[r.clone()],
        &points.x[r.clone()],
        scales[0],
    );
    differences(yy, y, g_new, &points.g[r.clone()], scales[1]);
    let (s, y) = (&*s, &*y);
    add_products(s_s, s, s);
    add_products(s_y, s, y);
    add_products(y_y, y, y);
    add_products(s_g, s, g_new);
    add_products(y_g, y, g_new);
    for (v, acc) in others.chunks_exact(2).zip(rest.chunks_exact_mut(4)) {
        let [a0, a1, a2, a3] = acc else {
            unreachable!("two sums per vector")
        };
        let (v0, v1) = (&v[0][r.clone()], &v[1][r.clone()]);
        two_dots([a0, a1], y, g_new, v0, [a2, a3], v1);
    }
    if others.len() % 2 == 1 {
        let v = &others[others.len() - 1][r.clone()];
        let last = rest.len() - 2;
        let [a0, a1] = &mut rest[last..] else {
            unreachable!("two sums per vector")
        };
        let mut unused = [[0.0; LANES]; 2];
        let [u0, u1] = &mut unused;
        two_dots([a0, a1], y, g_new, v, [u0, u1], &[]);
    }
}

/// `stored = round(σ (a − b))`, with `acc[i mod 8] += (a − b)ᵢ²`.
#[inline(always)]
fn differences(acc: &mut Lanes, stored: &mut [Stored], a: &[f64], b: &[f64], sigma: f64) {
    let mut sc = stored.chunks_exact_mut(LANES);
    let (ac, bc) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let rest = ac.remainder().iter().zip(bc.remainder());
    for (st, (a, b)) in (&mut sc).zip(ac.zip(bc)) {
        for l in 0..LANES {
            let e = a[l] - b[l];
            acc[l] += e * e;
            st[l] = (sigma * e) as Stored;
        }
    }
    for (l, (st, (a, b))) in sc.into_remainder().iter_mut().zip(rest).enumerate() {
        let e = a - b;
        acc[l] += e * e;
        *st = (sigma * e) as Stored;
    }
}

/// `accₖ[i mod 8] += aₖᵢ vᵢ` and `acc′ₖ[i mod 8] += aₖᵢ v′ᵢ` for the two
/// vectors `a = [y, g]`, in one read of `v` and `v′`; `v′` is empty (and
/// `acc′` left alone) or as long as `v`.
#[inline(always)]
fn two_dots(
    acc: [&mut Lanes; 2],
    y: &[Stored],
    g: &[f64],
    v: &[Stored],
    acc2: [&mut Lanes; 2],
    v2: &[Stored],
) {
    let mut l = [*acc[0], *acc[1]];
    let mut l2 = [*acc2[0], *acc2[1]];
    let (yc, gc) = (y.chunks_exact(LANES), g.chunks_exact(LANES));
    let tails = (yc.remainder(), gc.remainder());
    let a = yc.zip(gc);
    let vc = v.chunks_exact(LANES);
    let v_tail = vc.remainder();
    let (pv, pw) = (v.as_ptr(), v2.as_ptr());
    if v2.is_empty() {
        for (k, (v, (a0, a1))) in vc.zip(a).enumerate() {
            if k % 2 == 0 {
                prefetch(pv.wrapping_add(k * LANES + AHEAD));
            }
            for j in 0..LANES {
                let v = f64::from(v[j]);
                l[0][j] += f64::from(a0[j]) * v;
                l[1][j] += a1[j] * v;
            }
        }
    } else {
        let wc = v2.chunks_exact(LANES);
        for (k, ((v, w), (a0, a1))) in vc.zip(wc).zip(a).enumerate() {
            if k % 2 == 0 {
                prefetch(pv.wrapping_add(k * LANES + AHEAD));
                prefetch(pw.wrapping_add(k * LANES + AHEAD));
            }
            for j in 0..LANES {
                let (v, w) = (f64::from(v[j]), f64::from(w[j]));
                let a0 = f64::from(a0[j]);
                l[0][j] += a0 * v;
                l[1][j] += a1[j] * v;
                l2[0][j] += a0 * w;
                l2[1][j] += a1[j] * w;
            }
        }
    }
    let w_tail = v2.get(v.len() - v_tail.len()..).unwrap_or(&[]);
    for (j, v) in v_tail.iter().enumerate() {
        let a = [f64::from(tails.0[j]), tails.1[j]];
        let v = f64::from(*v);
        for k in 0..2 {
            l[k][j] += a[k] * v;
        }
        if let Some(w) = w_tail.get(j) {
            let w = f64::from(*w);
            for k in 0..2 {
                l2[k][j] += a[k] * w;
            }
        }
    }
    let [acc0, acc1] = acc;
    (*acc0, *acc1) = (l[0], l[1]);
    let [b0, b1] = acc2;
    (*b0, *b1) = (l2[0], l2[1]);
}

/// `sums[j] = g · vectors[j]`, the same bits as [`new_pair`]'s `g⁺ᵀv`.
///
/// # Panics
/// When a length differs, or `sums` is not `vectors.len()` long.
pub(super) fn gradient_dots(g: &[f64], vectors: &[&[Stored]], sums: &mut [f64]) {
    let n = g.len();
    assert!(vectors.iter().all(|v| v.len() == n));
    assert_eq!(sums.len(), vectors.len());
    sweep_sums::<Stored, 0, _>(n, [], sums, move |range, [], sums| {
        for (sum, v) in sums.iter_mut().zip(vectors) {
            let mut acc = [0.0; LANES];
            dots_wide(&mut acc, &g[range.clone()], &v[range.clone()]);
            *sum = total(acc);
        }
    });
}
