//! The solves of a row Hessian kept in the low-rank form `D + shift · I +
//! Σₑ wₑ aₑaₑᵀ` (a diagonal plus one term per observed entry): exactly
//! through the Woodbury identity, or approximately by conjugate gradient
//! iterations.

use crate::kernel::dot;
use crate::linalg::{cholesky, cholesky_solve};

/// `D + shift · I + Σₑ wₑ aₑaₑᵀ`, borrowed from a
/// [`RowHessian`](super::RowHessian): `n` diagonal values, one weight per
/// entry and its `n` values, one entry after another. The solves assume it
/// positive definite (every `wₑ ≥ 0`, every `D + shift > 0`).
pub(super) struct LowRank<'a> {
    pub diagonal: &'a [f64],
    pub weights: &'a [f64],
    pub vectors: &'a [f64],
    pub shift: f64,
}

/// The low-rank form's terms, owned: the diagonal `D` (`n` values), the
/// weights `wₑ` and the vectors `aₑ` (`n` values each, one entry after
/// another).
#[derive(Default)]
pub(super) struct Terms {
    pub diagonal: Vec<f64>,
    pub weights: Vec<f64>,
    pub vectors: Vec<f64>,
}

impl Terms {
    /// The form with `shift` added to its diagonal, borrowed.
    pub fn with_shift(&self, shift: f64) -> LowRank<'_> {
        LowRank {
            diagonal: &self.diagonal,
            weights: &self.weights,
            vectors: &self.vectors,
            shift,
        }
    }
}

/// Scratch of the solves, kept from row to row.
#[derive(Default)]
pub(super) struct Scratch {
    /// The diagonal of the whole form (or its square root for Woodbury).
    pub diagonal: Vec<f64>,
    /// Woodbury's `S`, or the conjugate gradient's three vectors.
    vectors: Vec<f64>,
    /// Woodbury's `r × r` system, its factor and right-hand side.
    small: Vec<f64>,
    factor: Vec<f64>,
    t: Vec<f64>,
}

impl LowRank<'_> {
    /// The diagonal of the whole form, `D + shift + Σₑ wₑ aₑ²`, into `out`.
    pub fn full_diagonal(&self, out: &mut Vec<f64>) {
        let n = self.diagonal.len();
        out.clear();
        out.extend(self.diagonal.iter().map(|&d| d + self.shift));
        for (a, w) in self.vectors.chunks_exact(n.max(1)).zip(self.weights) {
            for (m, v) in out.iter_mut().zip(a) {
                *m += w * v * v;
            }
        }
    }

    /// Solves it exactly, in place (`b` becomes `x`), through the Woodbury
    /// identity: with `S = W^½ A D^-½` (`D` here with the shift),
    /// `(D + AᵀWA)⁻¹ b = D^-½ (y − Sᵀ (I + S Sᵀ)⁻¹ S y)`, `y = D^-½ b`, an
    /// `r × r` Cholesky and `O(r² n)` work for `r` entries instead of
    /// `O(r n² + n³)`. `false` when the small system is not numerically
    /// positive definite.
    pub fn woodbury(&self, b: &mut [f64], s: &mut Scratch) -> bool {
        let n = self.diagonal.len();
        let r = self.weights.len();
        // S = W^½ A D^-½, row by row; y = D^-½ b.
        s.vectors.clear();
        s.vectors.extend_from_slice(self.vectors);
        s.diagonal.clear();
        s.diagonal
            .extend(self.diagonal.iter().map(|&d| (d + self.shift).sqrt()));
        let root = &s.diagonal;
        for (row, &w) in s.vectors.chunks_mut(n).zip(self.weights) {
            let wr = w.sqrt();
            for (v, d) in row.iter_mut().zip(root) {
                *v *= wr / d;
            }
        }
        for (v, d) in b.iter_mut().zip(root) {
            *v /= d;
        }
        // K = I + S Sᵀ (lower triangle), and t = K⁻¹ S y.
        s.small.clear();
        s.small.resize(r * r, 0.0);
        s.t.clear();
        s.t.resize(r, 0.0);
        for (e, te) in s.t.iter_mut().enumerate() {
            let se = &s.vectors[e * n..(e + 1) * n];
            for f in 0..=e {
                s.small[e * r + f] = dot(se, &s.vectors[f * n..(f + 1) * n]);
            }
            s.small[e * r + e] += 1.0;
            *te = dot(se, b);
        }
        s.factor.resize(r * r, 0.0);
        if !cholesky(&s.small, r, 0.0, &mut s.factor) {
            return false;
        }
        cholesky_solve(&s.factor, r, &mut s.t);
        // x = D^-½ (y − Sᵀ t).
        for (e, &te) in s.t.iter().enumerate() {
            for (v, sv) in b.iter_mut().zip(&s.vectors[e * n..(e + 1) * n]) {
                *v -= te * sv;
            }
        }
        for (v, d) in b.iter_mut().zip(&s.diagonal) {
            *v /= d;
        }
        true
    }

    /// At most `steps` iterations of the conjugate gradient method on
    /// `H x = b`, preconditioned by `H`'s diagonal, from `x = 0`, in place
    /// (`b` becomes `x`); see
    /// [`RowHessian::solve_iterative`](super::RowHessian::solve_iterative).
    pub fn conjugate_gradient(&self, b: &mut [f64], steps: usize, s: &mut Scratch) {
        self.full_diagonal(&mut s.diagonal);
        s.vectors.resize(3 * b.len(), 0.0);
        conjugate_gradient_wide(self, b, steps, &s.diagonal, &mut s.vectors);
    }

    /// `q = H p`: two passes over the entries' vectors.
    #[inline(always)]
    fn product(&self, p: &[f64], q: &mut [f64]) {
        for ((q, p), d) in q.iter_mut().zip(p).zip(self.diagonal) {
            *q = (d + self.shift) * p;
        }
        for (a, w) in self.vectors.chunks_exact(p.len()).zip(self.weights) {
            let s = w * dot8(a, p);
            for (q, v) in q.iter_mut().zip(a) {
                *q = s.mul_add(*v, *q);
            }
        }
    }
}

wide!(
    /// [`conjugate_gradient`] at the widest vector width.
    fn conjugate_gradient_wide = conjugate_gradient(h: &LowRank<'_>, b: &mut [f64], steps: usize, precond: &[f64], scratch: &mut [f64])
);

/// The iterations of [`LowRank::conjugate_gradient`], `precond` the
/// diagonal of `h` and `scratch` `3n` values. Stops early when the residual
/// or the curvature along the direction is no longer positive (solved, or
/// not finite: the caller checks `x`).
#[inline(always)]
fn conjugate_gradient(
    h: &LowRank<'_>,
    b: &mut [f64],
    steps: usize,
    precond: &[f64],
    scratch: &mut [f64],
) {
    let n = b.len();
    // The residual r, the direction p, and q = h p, which then holds the
    // preconditioned residual z.
    let (r, rest) = scratch.split_at_mut(n);
    let (p, q) = rest.split_at_mut(n);
    r.copy_from_slice(b);
    b.fill(0.0);
    for ((p, r), m) in p.iter_mut().zip(&*r).zip(precond) {
        *p = r / m;
    }
    let mut rz = dot8(r, p);
    for _ in 0..steps {
        if rz.is_nan() || rz <= 0.0 {
            break;
        }
        h.product(p, q);
        let curvature = dot8(p, q);
        if curvature.is_nan() || curvature <= 0.0 {
            break;
        }
        let alpha = rz / curvature;
        for (((x, r), p), q) in b.iter_mut().zip(r.iter_mut()).zip(&*p).zip(q.iter_mut()) {
            *x += alpha * p;
            *r -= alpha * *q;
        }
        for ((z, r), m) in q.iter_mut().zip(&*r).zip(precond) {
            *z = r / m;
        }
        let rz_next = dot8(r, q);
        let beta = rz_next / rz;
        for (p, z) in p.iter_mut().zip(&*q) {
            *p = z + beta * *p;
        }
        rz = rz_next;
    }
}

/// `Σ a[t] · b[t]` in eight interleaved fused partial sums (one vector
/// register at AVX-512), summed in a fixed order.
#[inline(always)]
fn dot8(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0; 8];
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let mut tail = 0.0;
    for (x, y) in a8.remainder().iter().zip(b8.remainder()) {
        tail = x.mul_add(*y, tail);
    }
    for (x, y) in a8.zip(b8) {
        let (x, y): (&[f64; 8], &[f64; 8]) = (x.try_into().unwrap(), y.try_into().unwrap());
        for ((acc, x), y) in acc.iter_mut().zip(x).zip(y) {
            *acc = x.mul_add(*y, *acc);
        }
    }
    ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])) + tail
}
