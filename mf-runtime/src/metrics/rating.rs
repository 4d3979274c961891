//! Prediction error on observed ratings: RMSE and MAE.
//!
//! Predictions come either from a closure `Fn(user, item) -> f64` over dense
//! indices, or as a slice aligned with the entries in CSR order (the order of
//! [`Ratings::iter`]). Sums run in parallel over fixed blocks of users and
//! are combined in block order, so the result is the same whatever the
//! number of threads. On an empty `Ratings` both errors are NaN.
//!
//! ```
//! use mf_runtime::{data::Ratings, metrics};
//! let test = Ratings::from_triplets(2, 2, [(0, 0, 4.0), (1, 1, 2.0)]).unwrap();
//! let acc = metrics::Accuracy::of(&test, |u, _| if u == 0 { 4.0 } else { 3.0 });
//! assert_eq!(acc.mae, 0.5);
//! assert_eq!(metrics::rmse(&test, |_, _| 3.0), 1.0);
//! ```

use rayon::prelude::*;

use crate::data::Ratings;

/// Users per block of the parallel sums (fixed, for determinism).
const USERS_PER_BLOCK: usize = 512;

/// RMSE and MAE of a set of predictions, and how many ratings they cover.
///
/// ```
/// use mf_runtime::{data::Ratings, metrics::Accuracy};
/// let r = Ratings::from_triplets(1, 2, [(0, 0, 1.0), (0, 1, 3.0)]).unwrap();
/// let acc = Accuracy::of(&r, |_, _| 2.0);
/// assert_eq!((acc.rmse, acc.mae, acc.count), (1.0, 1.0, 2));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Accuracy {
    /// Root mean squared error.
    pub rmse: f64,
    /// Mean absolute error.
    pub mae: f64,
    /// Number of ratings compared.
    pub count: usize,
}

impl Accuracy {
    /// The errors over the ratings of `self` and `other` together (counts
    /// weigh the means; an empty side changes nothing).
    ///
    /// ```
    /// # use mf_runtime::metrics::Accuracy;
    /// let a = Accuracy { rmse: 1.0, mae: 1.0, count: 1 };
    /// let b = Accuracy { rmse: 3.0, mae: 3.0, count: 3 };
    /// let both = a.merged(b);
    /// assert_eq!((both.rmse, both.mae, both.count), (7f64.sqrt(), 2.5, 4));
    /// ```
    pub fn merged(self, other: Accuracy) -> Accuracy {
        let count = self.count + other.count;
        if self.count == 0 || other.count == 0 {
            return if self.count == 0 { other } else { self };
        }
        let (n, m) = (self.count as f64, other.count as f64);
        Accuracy {
            rmse: ((n * self.rmse.powi(2) + m * other.rmse.powi(2)) / (n + m)).sqrt(),
            mae: (n * self.mae + m * other.mae) / (n + m),
            count,
        }
    }

    /// Errors of `predict(user, item)` against every observed rating.
    ///
    /// ```
    /// # use mf_runtime::{data::Ratings, metrics::Accuracy};
    /// let r = Ratings::from_triplets(2, 1, [(0, 0, 4.0), (1, 0, 2.0)]).unwrap();
    /// let acc = Accuracy::of(&r, |u, _| if u == 0 { 4.0 } else { 4.0 });
    /// assert_eq!(acc.mae, 1.0);
    /// assert_eq!(acc.rmse, 2.0f64.sqrt());
    /// ```
    pub fn of(data: &Ratings, predict: impl Fn(u32, u32) -> f64 + Sync) -> Accuracy {
        let csr = data.csr();
        Self::sum_blocks(data, |u, pos| predict(u as u32, csr.indices[pos]))
    }

    /// Errors of predictions aligned with the entries in CSR order.
    ///
    /// # Panics
    ///
    /// When `predictions.len() != data.nnz()`.
    ///
    /// ```
    /// # use mf_runtime::{data::Ratings, metrics::Accuracy};
    /// let r = Ratings::from_triplets(2, 2, [(1, 0, 1.0), (0, 1, 5.0)]).unwrap();
    /// // CSR order: (0, 1) then (1, 0).
    /// let acc = Accuracy::of_slice(&r, &[5.0, 2.0]);
    /// assert_eq!(acc.mae, 0.5);
    /// ```
    pub fn of_slice(data: &Ratings, predictions: &[f64]) -> Accuracy {
        assert_eq!(
            predictions.len(),
            data.nnz(),
            "one prediction per observed entry, in CSR order"
        );
        Self::sum_blocks(data, |_, pos| predictions[pos])
    }

    fn sum_blocks(data: &Ratings, predict: impl Fn(usize, usize) -> f64 + Sync) -> Accuracy {
        let csr = data.csr();
        let m = data.num_users();
        let partial: Vec<(f64, f64)> = (0..m.div_ceil(USERS_PER_BLOCK))
            .into_par_iter()
            .map(|blk| {
                let (mut sq, mut abs) = (0.0, 0.0);
                for u in blk * USERS_PER_BLOCK..((blk + 1) * USERS_PER_BLOCK).min(m) {
                    for pos in csr.indptr[u]..csr.indptr[u + 1] {
                        let e = predict(u, pos) - csr.values[pos];
                        sq += e * e;
                        abs += e.abs();
                    }
                }
                (sq, abs)
            })
            .collect();
        let (sq, abs) = partial
            .iter()
            .fold((0.0, 0.0), |(s, a), &(ps, pa)| (s + ps, a + pa));
        let n = data.nnz() as f64;
        Accuracy {
            rmse: (sq / n).sqrt(),
            mae: abs / n,
            count: data.nnz(),
        }
    }
}

/// Root mean squared error of `predict(user, item)` on the observed ratings.
///
/// ```
/// use mf_runtime::{data::Ratings, metrics::rmse};
/// let r = Ratings::from_triplets(1, 2, [(0, 0, 1.0), (0, 1, 5.0)]).unwrap();
/// assert_eq!(rmse(&r, |_, _| 3.0), 2.0);
/// ```
pub fn rmse(data: &Ratings, predict: impl Fn(u32, u32) -> f64 + Sync) -> f64 {
    Accuracy::of(data, predict).rmse
}

/// Mean absolute error of `predict(user, item)` on the observed ratings.
///
/// ```
/// use mf_runtime::{data::Ratings, metrics::mae};
/// let r = Ratings::from_triplets(1, 2, [(0, 0, 1.0), (0, 1, 4.0)]).unwrap();
/// assert_eq!(mae(&r, |_, _| 3.0), 1.5);
/// ```
pub fn mae(data: &Ratings, predict: impl Fn(u32, u32) -> f64 + Sync) -> f64 {
    Accuracy::of(data, predict).mae
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closure_and_slice_agree_with_a_direct_sum() {
        let t: Vec<_> = (0..5000u32)
            .map(|k| (k % 1300, (k * 7) % 11, f64::from(k % 5) + 1.0))
            .collect();
        let r = Ratings::from_triplets(1300, 11, t).unwrap();
        let predict = |u: u32, i: u32| f64::from(u % 3) + 0.25 * f64::from(i);
        let preds: Vec<f64> = r.iter().map(|(u, i, _)| predict(u, i)).collect();
        let (mut sq, mut abs) = (0.0, 0.0);
        for ((_, _, v), p) in r.iter().zip(&preds) {
            sq += (p - v) * (p - v);
            abs += (p - v).abs();
        }
        let n = r.nnz() as f64;
        let a = Accuracy::of(&r, predict);
        let b = Accuracy::of_slice(&r, &preds);
        assert_eq!(a, b);
        assert!((a.rmse - (sq / n).sqrt()).abs() < 1e-12);
        assert!((a.mae - abs / n).abs() < 1e-12);
        assert_eq!(a.count, r.nnz());
    }

    #[test]
    fn empty_is_nan() {
        let r = Ratings::from_triplets(2, 2, []).unwrap();
        assert!(rmse(&r, |_, _| 0.0).is_nan());
        assert!(mae(&r, |_, _| 0.0).is_nan());
    }
}
