//! Vector operations of the generated code: dot products, `axpy`, and the
//! blocked transpose of a factor.

use rayon::prelude::*;

/// Values per side of the blocks [`transpose`] copies.
const TRANSPOSE_BLOCK: usize = 64;

/// `dst = srcᵀ` for a row-major `rows × cols` matrix `src` and a row-major
/// `cols × rows` matrix `dst`, in parallel over blocks of the longer side
/// (a plain copy: the result does not depend on the number of threads).
///
/// ```
/// use mf_runtime::kernel::transpose;
/// let src = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]; // 2 × 3
/// let mut dst = [0.0; 6];
/// transpose(&src, 2, 3, &mut dst);
/// assert_eq!(dst, [1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
/// ```
///
/// # Panics
/// If either slice does not hold `rows × cols` values.
pub fn transpose(src: &[f64], rows: usize, cols: usize, dst: &mut [f64]) {
    assert!(
        src.len() == rows * cols && dst.len() == rows * cols,
        "transpose: {rows} × {cols} values expected"
    );
    if rows == 0 || cols == 0 {
        return;
    }
    if cols >= rows {
        // Blocks of dst rows: each reads a column range of every src row.
        dst.par_chunks_mut(TRANSPOSE_BLOCK * rows)
            .enumerate()
            .for_each(|(c, block)| {
                let j0 = c * TRANSPOSE_BLOCK;
                let n = block.len() / rows;
                for t in 0..rows {
                    for (jj, &x) in src[t * cols + j0..t * cols + j0 + n].iter().enumerate() {
                        block[jj * rows + t] = x;
                    }
                }
            });
    } else {
        // Blocks of dst columns: each writes a range of every dst row.
        let mut parts: Vec<Vec<&mut [f64]>> = Vec::new();
        for row in dst.chunks_mut(rows) {
            for (c, part) in row.chunks_mut(TRANSPOSE_BLOCK).enumerate() {
                if c == parts.len() {
                    parts.push(Vec::with_capacity(cols));
                }
                parts[c].push(part);
            }
        }
        parts
            .into_par_iter()
            .enumerate()
            .for_each(|(c, mut block)| {
                let t0 = c * TRANSPOSE_BLOCK;
                for (j, part) in block.iter_mut().enumerate() {
                    for (tt, o) in part.iter_mut().enumerate() {
                        *o = src[(t0 + tt) * cols + j];
                    }
                }
            });
    }
}

/// `Σ a[t] · b[t]`, in four interleaved partial sums (a fixed order, so
/// the result is the same on every run).
///
/// ```
/// assert_eq!(mf_runtime::kernel::dot(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]), 32.0);
/// ```
#[inline]
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0; 4];
    let (a4, b4) = (a.chunks_exact(4), b.chunks_exact(4));
    let (ra, rb) = (a4.remainder(), b4.remainder());
    for (x, y) in a4.zip(b4) {
        for t in 0..4 {
            acc[t] += x[t] * y[t];
        }
    }
    let mut tail = 0.0;
    for (x, y) in ra.iter().zip(rb) {
        tail += x * y;
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

/// `y += alpha · x`.
///
/// ```
/// let mut y = [1.0, 1.0];
/// mf_runtime::kernel::axpy(2.0, &[3.0, 4.0], &mut y);
/// assert_eq!(y, [7.0, 9.0]);
/// ```
#[inline]
pub fn axpy(alpha: f64, x: &[f64], y: &mut [f64]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += alpha * xi;
    }
}

/// `ya += alpha · xa` and `yb += alpha · xb` in one loop over the shorter
/// length (each value computed as [`axpy`] computes it): the two gradient
/// rows an entry updates, with its adjoint as `alpha`.
///
/// ```
/// let (mut ya, mut yb) = ([1.0, 1.0], [0.0, 0.0]);
/// mf_runtime::kernel::axpy2(2.0, &[3.0, 4.0], &mut ya, &[5.0, 6.0], &mut yb);
/// assert_eq!((ya, yb), ([7.0, 9.0], [10.0, 12.0]));
/// ```
#[inline]
pub fn axpy2(alpha: f64, xa: &[f64], ya: &mut [f64], xb: &[f64], yb: &mut [f64]) {
    if xa.len() != ya.len() || xb.len() != yb.len() || ya.len() != yb.len() {
        axpy(alpha, xa, ya);
        axpy(alpha, xb, yb);
        return;
    }
    for ((ya, xa), (yb, xb)) in ya.iter_mut().zip(xa).zip(yb.iter_mut().zip(xb)) {
        *ya += alpha * xa;
        *yb += alpha * xb;
    }
}
