//! Small dense symmetric systems: the rank-1 updates that build a row
//! system's Hessian entry by entry (called by generated code) and the
//! Cholesky solve of that system.
//!
//! Matrices are `n × n`, row-major, and only their lower triangle
//! (`row ≥ col`) is written or read. The sizes are a row's coordinates
//! (`k` plus a bias or two), so everything here is a plain loop.

use crate::kernel::dot;

/// `h += alpha · a aᵀ` on the block of rows and columns `offset ..
/// offset + a.len()` of the `n × n` matrix `h` (lower triangle only).
///
/// ```
/// let mut h = vec![0.0; 9];
/// mf_runtime::linalg::add_outer_self(&mut h, 3, 2.0, 1, &[1.0, 3.0]);
/// assert_eq!(h, [0.0, 0.0, 0.0, 0.0, 2.0, 0.0, 0.0, 6.0, 18.0]);
/// ```
#[inline]
pub fn add_outer_self(h: &mut [f64], n: usize, alpha: f64, offset: usize, a: &[f64]) {
    for (p, &ap) in a.iter().enumerate() {
        let scaled = alpha * ap;
        let row = &mut h[(offset + p) * n + offset..(offset + p) * n + offset + p + 1];
        for (hq, &aq) in row.iter_mut().zip(a) {
            *hq += scaled * aq;
        }
    }
}

/// Entries per batch of [`OuterBatch`]: 32 vectors of up to 136 values
/// (k = 128 and a bias, padded) are 70 KB in the batch's two copies,
/// within the L2 cache, while the tile of `h` being summed stays in
/// registers.
const BATCH: usize = 32;

/// Rows and columns of `h` summed in registers at once by [`add_outer_tiles`].
const TILE: usize = 8;

/// Rank-1 updates `h += αₑ aₑaₑᵀ` of one diagonal block, applied by
/// batches of `BATCH` (32) entries: the batch's vectors are copied side by
/// side (and scaled by their `αₑ`), then each 8 × 8 tile of the block's
/// lower triangle is summed over the whole batch in registers and added to
/// `h` once, a register-blocked symmetric rank-k update (the `syrk` of
/// BLAS) where one update per entry would load and store the block every
/// time. The sums run in a fixed order, and the same on every vector width,
/// so results are the same on every run and processor.
///
/// ```
/// use mf_runtime::linalg::{add_outer_self, OuterBatch};
/// let (a, b) = ([1.0, 2.0], [3.0, -1.0]);
/// let mut batched = vec![0.0; 4];
/// let mut batch = OuterBatch::new(0);
/// for _ in 0..30 {
///     batch.push(&mut batched, 2, 0.5, &[&a]);
///     batch.push(&mut batched, 2, 2.0, &[&b[..1], &b[1..]]);
/// }
/// batch.flush(&mut batched, 2);
/// let mut one_by_one = vec![0.0; 4];
/// for _ in 0..30 {
///     add_outer_self(&mut one_by_one, 2, 0.5, 0, &a);
///     add_outer_self(&mut one_by_one, 2, 2.0, 0, &b);
/// }
/// // The lower triangles agree (exactly here: small integers); the upper
/// // one is scratch.
/// assert_eq!((batched[0], batched[2], batched[3]), (one_by_one[0], one_by_one[2], one_by_one[3]));
/// ```
#[derive(Clone, Debug, Default)]
pub struct OuterBatch {
    offset: usize,
    /// Length of the vectors, and that rounded up to whole tiles.
    m: usize,
    padded: usize,
    len: usize,
    /// The `αₑ aₑ` and the `aₑ`, `padded` values each (zeros past `m`).
    scaled: Vec<f64>,
    vectors: Vec<f64>,
}

impl OuterBatch {
    /// An empty batch for the block starting at row and column `offset`.
    ///
    /// See [`OuterBatch`] for an example.
    pub fn new(offset: usize) -> Self {
        OuterBatch {
            offset,
            ..OuterBatch::default()
        }
    }

    /// The row and column where its block starts.
    ///
    /// ```
    /// assert_eq!(mf_runtime::linalg::OuterBatch::new(3).offset(), 3);
    /// ```
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Adds `alpha · a aᵀ` to the batch, `a` the `parts` one after the
    /// other (a factor row's partner and a bias's 1 make one vector),
    /// applying the batch to `h` (`n × n`) when it is full. Every vector of a
    /// batch has the length of the first.
    ///
    /// See [`OuterBatch`] for an example.
    #[inline]
    pub fn push(&mut self, h: &mut [f64], n: usize, alpha: f64, parts: &[&[f64]]) {
        let m: usize = parts.iter().map(|p| p.len()).sum();
        if self.len == 0 && m != self.m {
            self.m = m;
            self.padded = m.div_ceil(TILE) * TILE;
            self.vectors.clear();
            self.vectors.resize(BATCH * self.padded, 0.0);
            self.scaled.clear();
            self.scaled.resize(BATCH * self.padded, 0.0);
        }
        debug_assert_eq!(m, self.m, "one length per batch");
        let mut at = self.len * self.padded;
        for part in parts {
            self.vectors[at..at + part.len()].copy_from_slice(part);
            for (s, &v) in self.scaled[at..at + part.len()].iter_mut().zip(*part) {
                *s = alpha * v;
            }
            at += part.len();
        }
        self.len += 1;
        if self.len == BATCH {
            self.flush(h, n);
        }
    }

    /// Empties the batch without applying it (its storage is kept for the
    /// next row).
    ///
    /// ```
    /// use mf_runtime::linalg::OuterBatch;
    /// let mut h = vec![0.0; 1];
    /// let mut batch = OuterBatch::new(0);
    /// batch.push(&mut h, 1, 1.0, &[&[2.0]]);
    /// batch.clear();
    /// batch.flush(&mut h, 1);
    /// assert_eq!(h, [0.0]);
    /// ```
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Applies what the batch holds to `h` and empties it.
    ///
    /// See [`OuterBatch`] for an example.
    pub fn flush(&mut self, h: &mut [f64], n: usize) {
        if self.len > 0 {
            add_outer_tiles_wide(
                h,
                n,
                self.offset,
                self.m,
                &self.scaled[..self.len * self.padded],
                &self.vectors[..self.len * self.padded],
            );
        }
        self.len = 0;
    }
}

/// `h += Σₑ (αₑ aₑ) aₑᵀ` on the lower triangle of the `m × m` block at
/// `o`, the `αₑ aₑ` in `scaled` and the `aₑ` in `vectors`, each padded
/// with zeros to whole tiles. Each 8 × 8 tile on or below the
/// diagonal is summed over every entry in registers, then added to `h`;
/// a tile that crosses the diagonal also writes the block's upper triangle,
/// which is scratch.
#[inline(always)]
fn add_outer_tiles(h: &mut [f64], n: usize, o: usize, m: usize, scaled: &[f64], vectors: &[f64]) {
    let padded = m.div_ceil(TILE) * TILE;
    for p0 in (0..m).step_by(TILE) {
        for q0 in (0..(p0 + TILE).min(m)).step_by(TILE) {
            // One accumulator per row of the tile, each a vector of the
            // tile's columns (separate locals, so that they stay in registers).
            let mut acc = [[0.0f64; TILE]; TILE];
            let [a0, a1, a2, a3, a4, a5, a6, a7] = &mut acc;
            for (s, x) in scaled
                .chunks_exact(padded)
                .zip(vectors.chunks_exact(padded))
            {
                let s: &[f64; TILE] = s[p0..p0 + TILE].try_into().expect("whole tiles");
                let x: &[f64; TILE] = x[q0..q0 + TILE].try_into().expect("whole tiles");
                axpy_tile(a0, s[0], x);
                axpy_tile(a1, s[1], x);
                axpy_tile(a2, s[2], x);
                axpy_tile(a3, s[3], x);
                axpy_tile(a4, s[4], x);
                axpy_tile(a5, s[5], x);
                axpy_tile(a6, s[6], x);
                axpy_tile(a7, s[7], x);
            }
            let cols = (q0 + TILE).min(m) - q0;
            for (r, row) in acc.iter().enumerate().take(m - p0) {
                let start = (o + p0 + r) * n + o + q0;
                for (hv, a) in h[start..start + cols].iter_mut().zip(row) {
                    *hv += a;
                }
            }
        }
    }
}

/// Defines `$name`, which runs `$body` compiled for the widest vector unit
/// the processor has (AVX-512 or AVX2, each with FMA, on x86-64 when
/// present, detected at run time), with the same arithmetic in the same
/// order on every path: only the width of loads, stores and vector
/// operations changes, so results are identical with or without it. A
/// body's `f64::mul_add` is one fused instruction on both wide paths and
/// the same correctly rounded operation (in software, slowly) elsewhere.
macro_rules! wide {
    ($(#[$doc:meta])* fn $name:ident = $body:ident($($arg:ident: $ty:ty),*) $(-> $ret:ty)?) => {
        $(#[$doc])*
        fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,fma")]
                unsafe fn avx512($($arg: $ty),*) $(-> $ret)? {
                    $body($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2($($arg: $ty),*) $(-> $ret)? {
                    $body($($arg),*)
                }
                let fma = std::arch::is_x86_feature_detected!("fma");
                if fma && std::arch::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the processor supports AVX-512F and FMA, checked just above.
                    return unsafe { avx512($($arg),*) };
                }
                if fma && std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: the processor supports AVX2 and FMA, checked just above.
                    return unsafe { avx2($($arg),*) };
                }
            }
            $body($($arg),*)
        }
    };
}

/// `acc += s · x` on one row of a tile, fused (one rounding per value).
#[inline(always)]
fn axpy_tile(acc: &mut [f64; TILE], s: f64, x: &[f64; TILE]) {
    for (a, &xc) in acc.iter_mut().zip(x) {
        *a = s.mul_add(xc, *a);
    }
}

wide!(
    /// [`add_outer_tiles`] at the widest vector width.
    fn add_outer_tiles_wide = add_outer_tiles(h: &mut [f64], n: usize, o: usize, m: usize, scaled: &[f64], vectors: &[f64])
);

/// `h += alpha · (a bᵀ + b aᵀ)` with `a` placed at rows and columns
/// `offset_a ..` and `b` at `offset_b ..` of the `n × n` matrix `h` (lower
/// triangle only): the cross term of two different coordinates' rank-1
/// contributions.
///
/// ```
/// let mut h = vec![0.0; 9];
/// // a = [1, 2] at 0..2, b = [5] at 2: the last row gets 5 · [1, 2].
/// mf_runtime::linalg::add_outer_pair(&mut h, 3, 1.0, 0, &[1.0, 2.0], 2, &[5.0]);
/// assert_eq!(h, [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 5.0, 10.0, 0.0]);
/// ```
#[inline]
pub fn add_outer_pair(
    h: &mut [f64],
    n: usize,
    alpha: f64,
    offset_a: usize,
    a: &[f64],
    offset_b: usize,
    b: &[f64],
) {
    // Disjoint blocks (a factor row and a bias): one side is wholly below
    // the other, and each of its rows gets a scaled copy of the other.
    let (lower, lo, upper, up) = if offset_b >= offset_a + a.len() {
        (b, offset_b, a, offset_a)
    } else if offset_a >= offset_b + b.len() {
        (a, offset_a, b, offset_b)
    } else {
        for (p, &ap) in a.iter().enumerate() {
            for (q, &bq) in b.iter().enumerate() {
                let v = alpha * ap * bq;
                let (r, c) = (offset_a + p, offset_b + q);
                if r >= c {
                    h[r * n + c] += v;
                }
                if c >= r {
                    h[c * n + r] += v;
                }
            }
        }
        return;
    };
    for (q, &lq) in lower.iter().enumerate() {
        let scaled = alpha * lq;
        let row = &mut h[(lo + q) * n + up..(lo + q) * n + up + upper.len()];
        for (hv, &u) in row.iter_mut().zip(upper) {
            *hv += scaled * u;
        }
    }
}

/// Factors the symmetric matrix `h` (`n × n`, lower triangle read) as
/// `Uᵀ U` with `shift` added to its diagonal first (a Levenberg–Marquardt
/// damping), writing the upper-triangular `U` into `u` (`n × n`,
/// row-major, upper triangle). `false` when the matrix is not numerically
/// positive definite (a pivot ≤ 0 or not finite); `u` is then garbage.
///
/// Right-looking, by panels of four rows: each step scales one row of `U`
/// and subtracts its outer product from the rows below, all on contiguous
/// rows, at the widest vector width the processor has. Measured against
/// the `faer` crate's in-place LLT (0.24, sequential, on this project's
/// 2-core AMD EPYC): faster at sizes 33 to 65 (4.7 µs against 7.2 µs for
/// factor and solve at 51), about 10 % slower at 101 and 129, and its
/// results are the same on every vector width, where faer's are not
/// portable across processors; so the hand kernel is kept.
///
/// ```
/// use mf_runtime::linalg::{cholesky, cholesky_solve};
/// let h = [4.0, 0.0, 2.0, 3.0]; // [[4, 2], [2, 3]], lower triangle
/// let mut u = [0.0; 4];
/// assert!(cholesky(&h, 2, 0.0, &mut u));
/// let mut b = [2.0, 4.0];
/// cholesky_solve(&u, 2, &mut b);
/// // [[4, 2], [2, 3]] x = [2, 4] has the solution x = [-0.25, 1.5].
/// assert!((b[0] + 0.25).abs() < 1e-12 && (b[1] - 1.5).abs() < 1e-12);
/// ```
pub fn cholesky(h: &[f64], n: usize, shift: f64, u: &mut [f64]) -> bool {
    for i in 0..n {
        for j in i..n {
            u[i * n + j] = h[j * n + i];
        }
        u[i * n + i] += shift;
    }
    factor_upper_wide(u, n)
}

wide!(
    /// [`factor_upper`] at the widest vector width.
    fn factor_upper_wide = factor_upper(u: &mut [f64], n: usize) -> bool
);

/// Rows of `U` four at a time: the panel is factored by rank-1 steps
/// restricted to it, then the rows below get its four outer products in
/// one pass (each value loaded and stored once per four steps). Every value
/// sees the same subtractions in the same order as one rank-1 step at a
/// time.
#[inline(always)]
fn factor_upper(u: &mut [f64], n: usize) -> bool {
    let mut k = 0;
    while k < n {
        let end = (k + 4).min(n);
        for p in k..end {
            let (done, rest) = u.split_at_mut((p + 1) * n);
            let row_p = &mut done[p * n + p..(p + 1) * n];
            let d = row_p[0];
            if !(d > 0.0 && d.is_finite()) {
                return false;
            }
            let pivot = d.sqrt();
            row_p[0] = pivot;
            let inv = 1.0 / pivot;
            for v in &mut row_p[1..] {
                *v *= inv;
            }
            for i in p + 1..end {
                let (upi, row) = (row_p[i - p], &row_p[i - p..]);
                let target = &mut rest[(i - p - 1) * n + i..(i - p) * n];
                for (t, &v) in target.iter_mut().zip(row) {
                    *t = (-upi).mul_add(v, *t);
                }
            }
        }
        if end - k == 4 {
            let (panel, rest) = u.split_at_mut(end * n);
            let r: [&[f64]; 4] = std::array::from_fn(|t| &panel[(k + t) * n..(k + t + 1) * n]);
            for i in end..n {
                let [a0, a1, a2, a3] = r.map(|row| row[i]);
                let target = &mut rest[(i - end) * n + i..(i - end + 1) * n];
                let it = target.iter_mut().zip(&r[0][i..]).zip(&r[1][i..]);
                for (((t, &v0), &v1), (&v2, &v3)) in it.zip(r[2][i..].iter().zip(&r[3][i..])) {
                    let t01 = (-a1).mul_add(v1, (-a0).mul_add(v0, *t));
                    *t = (-a3).mul_add(v3, (-a2).mul_add(v2, t01));
                }
            }
        }
        k = end;
    }
    true
}

/// Solves `Uᵀ U x = b` in place (`b` becomes `x`), `U` from [`cholesky`].
///
/// See [`cholesky`] for an example.
pub fn cholesky_solve(u: &[f64], n: usize, b: &mut [f64]) {
    solve_upper_wide(u, n, b);
}

wide!(
    /// [`solve_upper`] at the widest vector width.
    fn solve_upper_wide = solve_upper(u: &[f64], n: usize, b: &mut [f64])
);

#[inline(always)]
fn solve_upper(u: &[f64], n: usize, b: &mut [f64]) {
    for k in 0..n {
        let y = b[k] / u[k * n + k];
        b[k] = y;
        for (t, &v) in b[k + 1..].iter_mut().zip(&u[k * n + k + 1..(k + 1) * n]) {
            *t = (-y).mul_add(v, *t);
        }
    }
    for i in (0..n).rev() {
        let s = b[i] - dot(&u[i * n + i + 1..(i + 1) * n], &b[i + 1..]);
        b[i] = s / u[i * n + i];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A random symmetric positive definite system solves to round-off.
    #[test]
    fn cholesky_solves_a_positive_definite_system() {
        let n = 7;
        let mut seed = 12345u64;
        let mut next = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        };
        let m: Vec<f64> = (0..n * n).map(|_| next()).collect();
        // A = M Mᵀ + I
        let mut a = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                a[i * n + j] = (0..n).map(|k| m[i * n + k] * m[j * n + k]).sum::<f64>()
                    + if i == j { 1.0 } else { 0.0 };
            }
        }
        let x_true: Vec<f64> = (0..n).map(|_| next()).collect();
        let mut b: Vec<f64> = (0..n)
            .map(|i| (0..n).map(|j| a[i * n + j] * x_true[j]).sum())
            .collect();
        let mut u = vec![0.0; n * n];
        assert!(cholesky(&a, n, 0.0, &mut u));
        cholesky_solve(&u, n, &mut b);
        for (x, t) in b.iter().zip(&x_true) {
            assert!((x - t).abs() < 1e-12, "{x} vs {t}");
        }
    }

    #[test]
    fn cholesky_refuses_an_indefinite_matrix_unless_shifted() {
        let a = vec![1.0, 0.0, 2.0, 1.0]; // [[1, 2], [2, 1]]: eigenvalues 3, -1
        let mut u = vec![0.0; 4];
        assert!(!cholesky(&a, 2, 0.0, &mut u));
        assert!(cholesky(&a, 2, 1.5, &mut u));
    }

    #[test]
    fn rank_one_updates_fill_the_lower_triangle_of_the_full_outer_products() {
        let n = 4;
        let (a, b) = ([1.0, -2.0], [0.5, 3.0]);
        let mut h = vec![0.0; n * n];
        add_outer_self(&mut h, n, 2.0, 0, &a);
        add_outer_pair(&mut h, n, 3.0, 0, &a, 1, &b);
        // The same contributions as full matrices.
        let mut full = vec![0.0; n * n];
        let mut embed = |alpha: f64, oa: usize, a: &[f64], ob: usize, b: &[f64]| {
            for (p, x) in a.iter().enumerate() {
                for (q, y) in b.iter().enumerate() {
                    full[(oa + p) * n + ob + q] += alpha * x * y;
                }
            }
        };
        embed(2.0, 0, &a, 0, &a);
        embed(3.0, 0, &a, 1, &b);
        embed(3.0, 1, &b, 0, &a);
        for r in 0..n {
            for c in 0..=r {
                assert_eq!(h[r * n + c], full[r * n + c], "({r}, {c})");
            }
        }
    }

    /// The batched tiles give the one-by-one updates' lower triangle, for
    /// block sizes around whole tiles, a block inside a larger matrix, and
    /// entry counts around whole batches; nothing outside the block moves.
    #[test]
    fn batched_tiles_equal_one_update_at_a_time() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(99);
        let mut next = || rng.random_range(-0.5..0.5);
        for (m, offset, entries) in [(1, 0, 3), (7, 2, 33), (8, 1, 32), (9, 3, 65), (17, 0, 70)] {
            let n = m + offset + 2;
            let vectors: Vec<Vec<f64>> = (0..entries)
                .map(|_| (0..m).map(|_| next()).collect())
                .collect();
            let alphas: Vec<f64> = (0..entries).map(|_| next()).collect();
            let (mut batched, mut single) = (vec![0.0; n * n], vec![0.0; n * n]);
            let mut batch = OuterBatch::new(offset);
            for (a, &alpha) in vectors.iter().zip(&alphas) {
                batch.push(&mut batched, n, alpha, &[&a[..m / 2], &a[m / 2..]]);
                add_outer_self(&mut single, n, alpha, offset, a);
            }
            batch.flush(&mut batched, n);
            for r in 0..n {
                for c in 0..=r {
                    let (b, s) = (batched[r * n + c], single[r * n + c]);
                    assert!((b - s).abs() <= 1e-12, "m {m}, ({r}, {c}): {b} against {s}");
                }
            }
            let outside =
                |r: usize, c: usize| r < offset || c < offset || r >= offset + m || c >= offset + m;
            for r in 0..n {
                for c in 0..n {
                    if outside(r, c) {
                        assert_eq!(
                            batched[r * n + c],
                            0.0,
                            "m {m}: ({r}, {c}) outside the block"
                        );
                    }
                }
            }
        }
    }
}
