//! A row's Hessian as its system is built and solved: dense, or, for a row
//! with fewer observed entries than coordinates, a diagonal plus one rank-1
//! term per entry, solved through the Woodbury identity at the cost of the
//! entries instead of the coordinates, or approximately by conjugate
//! gradient steps in that form whatever the count.

use super::low_rank::{Scratch, Terms};
use crate::linalg::{add_outer_pair, add_outer_self, cholesky, cholesky_solve, OuterBatch};

/// Parts of one entry joined into one vector when side by side (a factor
/// row, a bias, and a second bias at most in the losses people write).
const MAX_JOINED: usize = 4;

/// The low-rank form holds fewer than `n / LOW_RANK_SHARE` rank-1 terms:
/// beyond, the dense build and Cholesky (batched, at full vector width)
/// are faster than the Woodbury system's dot products.
const LOW_RANK_SHARE: usize = 2;

/// The Hessian of one row's system (`n × n`, symmetric), built by the
/// generated [`RowSystems::system`](super::RowSystems::system) and solved
/// by the row methods.
///
/// It is held in one of two forms, chosen per row by
/// [`reset`](RowHessian::reset) from the row's entry count:
///
/// - **dense**: the lower triangle of the `n × n` matrix; rank-1 updates
///   of a factor row are applied four at a time ([`OuterBatch`]); solved by
///   Cholesky in `O(n³)`;
/// - **low rank**: `D + Σₑ wₑ aₑaₑᵀ` with `D` diagonal and one term per
///   observed entry, kept as the `r` vectors `aₑ`. When every `wₑ ≥ 0` and
///   `D + shift > 0`, the solve goes through the Woodbury identity:
///   with `S = W^½ A D^-½`, `(D + AᵀWA)⁻¹ b = D^-½ (y − Sᵀ (I + S Sᵀ)⁻¹ S y)`,
///   `y = D^-½ b`, an `r × r` Cholesky and `O(r² n)` work instead of
///   `O(r n² + n³)`: a user or item with 20 ratings at `k = 100` is solved
///   about twenty times faster. Otherwise (an unpenalized coordinate, a
///   concave entry) the matrix is formed and solved densely.
///
/// Every update is defined in both forms; one that is not a rank-1 term
/// (a cross term alone, a dense block such as the Gram matrix of implicit
/// feedback) turns a low-rank Hessian dense first, and so does the `n`-th
/// rank-1 term (the dense form is then the cheaper one).
///
/// ```
/// use mf_runtime::blocks::RowHessian;
/// // H = I + a aᵀ + b bᵀ with a = [1, 0, 2], b = [0, 3, 0], in both forms:
/// // as a row of two entries (dense at three coordinates), and as one
/// // expected to have none (low rank, turned dense by the second term).
/// let (a, b) = ([1.0, 0.0, 2.0], [0.0, 3.0, 0.0]);
/// let mut forms = Vec::new();
/// for entries in [2, 0] {
///     let mut h = RowHessian::new();
///     h.reset(3, entries);
///     for c in 0..3 {
///         h.add_diagonal(c, 1.0);
///     }
///     h.add_entry(1.0, &[(0, &a[..])]);
///     h.add_entry(1.0, &[(0, &b[..])]);
///     let mut x = [1.0, 2.0, 3.0];
///     assert!(h.solve(0.0, &mut x));
///     forms.push(x);
/// }
/// // [[2, 0, 2], [0, 10, 0], [2, 0, 5]] x = [1, 2, 3]: x = [-1/6, 0.2, 2/3].
/// for x in forms {
///     let expected = [-1.0 / 6.0, 0.2, 2.0 / 3.0];
///     assert!(x.iter().zip(expected).all(|(x, e)| (x - e).abs() < 1e-12));
/// }
/// ```
#[derive(Default)]
pub struct RowHessian {
    n: usize,
    low_rank: bool,
    /// Kept in the low-rank form whatever the count (for conjugate gradient).
    pinned: bool,
    /// Dense form: the `n × n` matrix, lower triangle.
    dense: Vec<f64>,
    /// Dense form: pending rank-1 updates of the blocks at their offsets.
    batches: Vec<OuterBatch>,
    /// Low-rank form: the diagonal `D`, the weights `wₑ` and the vectors `aₑ`.
    low: Terms,
    /// Solve scratch: the dense factor.
    factor: Vec<f64>,
    /// Solve scratch of the low-rank form, and the diagonal of `H` for
    /// [`mean_abs_diagonal`](Self::mean_abs_diagonal).
    scratch: Scratch,
}

impl RowHessian {
    /// An empty Hessian of no coordinates; [`reset`](Self::reset) sizes it.
    ///
    /// See [`RowHessian`] for an example.
    pub fn new() -> Self {
        RowHessian::default()
    }

    /// A zero dense Hessian of `n` coordinates.
    ///
    /// ```
    /// let h = mf_runtime::blocks::RowHessian::dense(2);
    /// assert_eq!(h.n(), 2);
    /// ```
    pub fn dense(n: usize) -> Self {
        let mut h = RowHessian::new();
        h.reset(n, usize::MAX);
        h
    }

    /// Zeroes it for a row of `n` coordinates with `entries` observed
    /// entries: in the low-rank form when `entries < n / 2`, where it is
    /// the faster one; dense otherwise.
    ///
    /// See [`RowHessian`] for an example.
    pub fn reset(&mut self, n: usize, entries: usize) {
        self.reset_form(n, entries < n / LOW_RANK_SHARE, false);
    }

    /// Zeroes it for a row of `n` coordinates in the low-rank form, kept
    /// whatever the number of entries, for
    /// [`solve_iterative`](Self::solve_iterative) (a term that is not rank-1
    /// still makes it dense).
    ///
    /// See [`RowHessian::solve_iterative`] for an example.
    pub fn reset_low_rank(&mut self, n: usize) {
        self.reset_form(n, true, true);
    }

    fn reset_form(&mut self, n: usize, low_rank: bool, pinned: bool) {
        self.n = n;
        self.low_rank = low_rank;
        self.pinned = pinned;
        // Batches keep their storage from row to row.
        for batch in &mut self.batches {
            batch.clear();
        }
        self.low.weights.clear();
        self.low.vectors.clear();
        if low_rank {
            self.low.diagonal.clear();
            self.low.diagonal.resize(n, 0.0);
        } else {
            self.dense.clear();
            self.dense.resize(n * n, 0.0);
        }
    }

    /// Number of coordinates.
    ///
    /// See [`RowHessian::dense`] for an example.
    pub fn n(&self) -> usize {
        self.n
    }

    /// `+= alpha · a aᵀ`, where `a` is zero except for the `parts`, each
    /// `(offset, values)` placed at its offset (disjoint blocks): the
    /// Hessian of one observed entry whose leaves enter through one scalar
    /// (a factor row against its partner, and a bias against 1).
    ///
    /// See [`RowHessian`] for an example.
    #[inline]
    pub fn add_entry(&mut self, alpha: f64, parts: &[(usize, &[f64])]) {
        if self.low_rank {
            let n = self.n;
            let start = self.low.vectors.len();
            self.low.vectors.resize(start + n, 0.0);
            for &(offset, values) in parts {
                self.low.vectors[start + offset..start + offset + values.len()]
                    .copy_from_slice(values);
            }
            self.low.weights.push(alpha);
            if !self.pinned && self.low.weights.len() >= n / LOW_RANK_SHARE {
                self.make_dense();
            }
            return;
        }
        // Parts side by side (a factor row and its bias): one vector.
        let joined = parts.windows(2).all(|w| w[0].0 + w[0].1.len() == w[1].0);
        if joined && parts.len() > 1 {
            let mut values = [&[][..]; MAX_JOINED];
            if parts.len() <= MAX_JOINED {
                for (v, p) in values.iter_mut().zip(parts) {
                    *v = p.1;
                }
                let batch = batch_at(&mut self.batches, parts[0].0);
                batch.push(&mut self.dense, self.n, alpha, &values[..parts.len()]);
                return;
            }
        }
        for (p, &(offset, values)) in parts.iter().enumerate() {
            self.add_outer(alpha, offset, values);
            for &(other, others) in &parts[p + 1..] {
                add_outer_pair(
                    &mut self.dense,
                    self.n,
                    alpha,
                    offset,
                    values,
                    other,
                    others,
                );
            }
        }
    }

    /// `+= alpha · v vᵀ` on the block at `offset`.
    ///
    /// ```
    /// use mf_runtime::blocks::RowHessian;
    /// let mut h = RowHessian::dense(2);
    /// h.add_outer(2.0, 1, &[3.0]);
    /// assert_eq!(h.lower(), [0.0, 0.0, 0.0, 18.0]);
    /// ```
    #[inline]
    pub fn add_outer(&mut self, alpha: f64, offset: usize, v: &[f64]) {
        if self.low_rank {
            self.add_entry(alpha, &[(offset, v)]);
        } else if v.len() == 1 {
            add_outer_self(&mut self.dense, self.n, alpha, offset, v);
        } else {
            let batch = batch_at(&mut self.batches, offset);
            batch.push(&mut self.dense, self.n, alpha, &[v]);
        }
    }

    /// `+= alpha · (a bᵀ + b aᵀ)` for `a` at `offset_a` and `b` at
    /// `offset_b`: a cross term alone, which makes the Hessian dense.
    ///
    /// ```
    /// use mf_runtime::blocks::RowHessian;
    /// let mut h = RowHessian::dense(2);
    /// h.add_outer_pair(1.0, 0, &[2.0], 1, &[3.0]);
    /// assert_eq!(h.lower()[2], 6.0);
    /// ```
    pub fn add_outer_pair(
        &mut self,
        alpha: f64,
        offset_a: usize,
        a: &[f64],
        offset_b: usize,
        b: &[f64],
    ) {
        self.make_dense();
        add_outer_pair(&mut self.dense, self.n, alpha, offset_a, a, offset_b, b);
    }

    /// `+= v` at diagonal position `i`.
    ///
    /// See [`RowHessian`] for an example.
    #[inline]
    pub fn add_diagonal(&mut self, i: usize, v: f64) {
        match self.low_rank {
            true => self.low.diagonal[i] += v,
            false => self.dense[i * self.n + i] += v,
        }
    }

    /// `+= alpha · G` on the `w × w` block at `offset`, `G` symmetric and
    /// row-major (the Gram matrix of implicit feedback): makes the Hessian
    /// dense.
    ///
    /// ```
    /// use mf_runtime::blocks::RowHessian;
    /// let mut h = RowHessian::dense(2);
    /// h.add_block(0, 2, 0.5, &[2.0, 4.0, 4.0, 6.0]);
    /// assert_eq!(h.lower(), [1.0, 0.0, 2.0, 3.0]);
    /// ```
    pub fn add_block(&mut self, offset: usize, w: usize, alpha: f64, g: &[f64]) {
        self.make_dense();
        let n = self.n;
        for a in 0..w {
            let row = &mut self.dense[(offset + a) * n + offset..(offset + a) * n + offset + a + 1];
            for (h, &v) in row.iter_mut().zip(&g[a * w..a * w + a + 1]) {
                *h += alpha * v;
            }
        }
    }

    /// `+= other` (both of `n` coordinates): the parts of a row summed over
    /// blocks of the data (see [`sum_over_rows`](super::sum_over_rows)).
    ///
    /// ```
    /// use mf_runtime::blocks::RowHessian;
    /// let (mut h, mut part) = (RowHessian::dense(1), RowHessian::dense(1));
    /// part.add_diagonal(0, 2.0);
    /// h.add(&mut part);
    /// h.add(&mut part);
    /// assert_eq!(h.lower(), [4.0]);
    /// ```
    pub fn add(&mut self, other: &mut RowHessian) {
        self.make_dense();
        for (h, o) in self.dense.iter_mut().zip(other.lower()) {
            *h += o;
        }
    }

    /// The matrix, dense, lower triangle (row-major, `n × n`; the upper
    /// triangle is scratch).
    ///
    /// See [`RowHessian::add_outer`] for an example.
    pub fn lower(&mut self) -> &[f64] {
        self.make_dense();
        &self.dense
    }

    /// The mean absolute value of the diagonal (the scale of a
    /// Levenberg–Marquardt damping).
    ///
    /// ```
    /// use mf_runtime::blocks::RowHessian;
    /// let mut h = RowHessian::new();
    /// h.reset(4, 0); // low rank: diagonal [1, 9, 0, 0]
    /// h.add_entry(1.0, &[(0, &[1.0, 3.0][..])]);
    /// assert_eq!(h.mean_abs_diagonal(), 2.5);
    /// ```
    pub fn mean_abs_diagonal(&mut self) -> f64 {
        let n = self.n;
        let sum: f64 = if self.low_rank {
            self.low
                .with_shift(0.0)
                .full_diagonal(&mut self.scratch.diagonal);
            self.scratch.diagonal.iter().map(|d| d.abs()).sum()
        } else {
            self.flush();
            (0..n).map(|c| self.dense[c * n + c].abs()).sum()
        };
        sum / n.max(1) as f64
    }

    /// Solves `(H + shift · I) x = b` in place (`b` becomes `x`). `false`
    /// when `H + shift · I` is not numerically positive definite (then `b`
    /// is garbage).
    ///
    /// See [`RowHessian`] for an example.
    pub fn solve(&mut self, shift: f64, b: &mut [f64]) -> bool {
        let n = self.n;
        if !self.definite_low_rank(shift) {
            self.make_dense();
            self.factor.resize(n * n, 0.0);
            if !cholesky(&self.dense, n, shift, &mut self.factor) {
                return false;
            }
            cholesky_solve(&self.factor, n, b);
            return b.iter().all(|v| v.is_finite());
        }
        self.low.with_shift(shift).woodbury(b, &mut self.scratch) && b.iter().all(|v| v.is_finite())
    }

    /// Solves `(H + shift · I) x = b` approximately, in place, by at most
    /// `steps` iterations of the conjugate gradient method preconditioned by
    /// `H`'s diagonal, from `x = 0`: each iteration costs two passes over
    /// the row's entries (`2 r n` multiply-adds for `r` entries) where the
    /// exact solve costs `r n²/2 + n³/6`. Every iteration lowers the
    /// quadratic model `½ xᵀ(H + shift I)x − bᵀx`, so for a quadratic row
    /// the step never increases its loss, and with `n` iterations it is the
    /// exact solve up to round-off. This is the row solve of ALS-CG
    /// (Takács, Pilászy & Tikk 2011, "Applications of the conjugate
    /// gradient method for implicit feedback collaborative filtering"; the
    /// default of the `implicit` library, and the inner steps of `cmfrec`).
    ///
    /// A Hessian that is not in the low-rank form (a dense block was added)
    /// or not positive definite there (a negative weight, a coordinate
    /// without curvature) is solved exactly by [`solve`](Self::solve).
    /// `false` when the system is not positive definite or a value is not
    /// finite.
    ///
    /// ```
    /// use mf_runtime::blocks::RowHessian;
    /// // H = I + a aᵀ + b bᵀ (three coordinates): three iterations solve it.
    /// let (a, b) = ([1.0, 0.0, 2.0], [0.0, 3.0, 0.0]);
    /// let mut h = RowHessian::new();
    /// h.reset_low_rank(3);
    /// for c in 0..3 {
    ///     h.add_diagonal(c, 1.0);
    /// }
    /// for _ in 0..10 {
    ///     h.add_entry(0.1, &[(0, &a[..])]);
    ///     h.add_entry(0.1, &[(0, &b[..])]);
    /// }
    /// let mut x = [1.0, 2.0, 3.0];
    /// assert!(h.solve_iterative(0.0, &mut x, 3));
    /// // [[2, 0, 2], [0, 10, 0], [2, 0, 5]] x = [1, 2, 3]: x = [-1/6, 0.2, 2/3].
    /// let expected = [-1.0 / 6.0, 0.2, 2.0 / 3.0];
    /// assert!(x.iter().zip(expected).all(|(x, e)| (x - e).abs() < 1e-12));
    /// ```
    pub fn solve_iterative(&mut self, shift: f64, b: &mut [f64], steps: usize) -> bool {
        if !self.definite_low_rank(shift) {
            return self.solve(shift, b);
        }
        self.low
            .with_shift(shift)
            .conjugate_gradient(b, steps, &mut self.scratch);
        b.iter().all(|v| v.is_finite())
    }

    /// In the low-rank form with every weight ≥ 0 and every diagonal value
    /// plus `shift` > 0: positive definite, for Woodbury or conjugate
    /// gradient.
    fn definite_low_rank(&self, shift: f64) -> bool {
        self.low_rank
            && self.low.weights.iter().all(|&w| w >= 0.0)
            && self.low.diagonal.iter().all(|&d| d + shift > 0.0)
    }

    /// Applies the pending batches.
    fn flush(&mut self) {
        for batch in &mut self.batches {
            batch.flush(&mut self.dense, self.n);
        }
    }

    /// Turns the low-rank form into the dense one (and applies pending
    /// batches): `D + Σₑ wₑ aₑaₑᵀ` formed four terms at a time.
    fn make_dense(&mut self) {
        let n = self.n;
        if !self.low_rank {
            self.flush();
            return;
        }
        self.low_rank = false;
        self.dense.clear();
        self.dense.resize(n * n, 0.0);
        for (c, &d) in self.low.diagonal.iter().enumerate() {
            self.dense[c * n + c] = d;
        }
        let vectors = std::mem::take(&mut self.low.vectors);
        let batch = batch_at(&mut self.batches, 0);
        for (a, &w) in vectors.chunks(n.max(1)).zip(&self.low.weights) {
            batch.push(&mut self.dense, n, w, &[a]);
        }
        batch.flush(&mut self.dense, n);
        self.low.vectors = vectors;
        self.low.vectors.clear();
        self.low.weights.clear();
    }
}

/// The pending batch of the block at `offset` among `batches` (opened if
/// none).
fn batch_at(batches: &mut Vec<OuterBatch>, offset: usize) -> &mut OuterBatch {
    let at = match batches.iter().position(|b| b.offset() == offset) {
        Some(at) => at,
        None => {
            batches.push(OuterBatch::new(offset));
            batches.len() - 1
        }
    };
    &mut batches[at]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::dot;
    use rand::{Rng, SeedableRng};

    /// The Woodbury solve equals the dense one, with and without a shift,
    /// and a coordinate without curvature falls back to the dense form.
    #[test]
    fn low_rank_solve_equals_dense() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let n = 40;
        let vectors: Vec<Vec<f64>> = (0..7)
            .map(|_| (0..n).map(|_| rng.random_range(-1.0..1.0)).collect())
            .collect();
        let weights: Vec<f64> = (0..7).map(|e| e as f64 * 0.5).collect();
        for (zero_at, shift) in [(None, 0.0), (None, 0.3), (Some(5), 0.0)] {
            let diagonal: Vec<f64> = (0..n)
                .map(|c| {
                    if Some(c) == zero_at {
                        0.0
                    } else {
                        0.1 + c as f64 * 0.01
                    }
                })
                .collect();
            let b: Vec<f64> = (0..n).map(|c| (c as f64).sin()).collect();
            let mut solutions = Vec::new();
            for entries in [n, 0] {
                let mut h = RowHessian::new();
                h.reset(n, entries);
                assert_eq!(h.low_rank, entries == 0);
                for (c, &d) in diagonal.iter().enumerate() {
                    h.add_diagonal(c, d);
                }
                for (a, &w) in vectors.iter().zip(&weights) {
                    h.add_entry(w, &[(0, &a[..10]), (10, &a[10..])]);
                }
                assert_eq!(h.low_rank, entries == 0, "still in the form chosen");
                let mut x = b.clone();
                assert!(h.solve(shift, &mut x));
                solutions.push(x);
            }
            for (d, l) in solutions[0].iter().zip(&solutions[1]) {
                assert!((d - l).abs() <= 1e-10 * d.abs().max(1.0), "{d} against {l}");
            }
        }
    }

    /// Conjugate gradient iterations lower the quadratic model
    /// `½ xᵀHx − bᵀx` at every count, and as many iterations as
    /// coordinates give the exact solve.
    #[test]
    fn conjugate_gradient_descends_to_the_exact_solve() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let n = 12;
        let vectors: Vec<Vec<f64>> = (0..30)
            .map(|_| (0..n).map(|_| rng.random_range(-1.0..1.0)).collect())
            .collect();
        let b: Vec<f64> = (0..n).map(|c| (c as f64).cos()).collect();
        let build = |h: &mut RowHessian| {
            for c in 0..n {
                h.add_diagonal(c, 0.05 + c as f64 * 0.01);
            }
            for (e, a) in vectors.iter().enumerate() {
                h.add_entry(0.5 + e as f64 * 0.1, &[(0, &a[..])]);
            }
        };
        let mut dense = RowHessian::dense(n);
        build(&mut dense);
        let mut exact = b.clone();
        assert!(dense.solve(0.1, &mut exact));
        let h = dense.lower().to_vec();
        let model = |x: &[f64]| {
            let mut hx = vec![0.0; n];
            for r in 0..n {
                for c in 0..n {
                    let v = if r >= c { h[r * n + c] } else { h[c * n + r] };
                    hx[r] += (v + if r == c { 0.1 } else { 0.0 }) * x[c];
                }
            }
            0.5 * dot(x, &hx) - dot(&b, x)
        };
        let mut last = 0.0;
        for steps in 1..=n {
            let mut h = RowHessian::new();
            h.reset_low_rank(n);
            build(&mut h);
            assert!(h.low_rank, "kept low rank past n / 2 entries");
            let mut x = b.clone();
            assert!(h.solve_iterative(0.1, &mut x, steps));
            let m = model(&x);
            assert!(m < last, "{steps} iterations: model {m} after {last}");
            last = m;
            if steps == n {
                for (x, e) in x.iter().zip(&exact) {
                    assert!((x - e).abs() <= 1e-8 * e.abs().max(1.0), "{x} against {e}");
                }
            }
        }
    }
}
