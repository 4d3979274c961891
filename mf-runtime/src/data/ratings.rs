//! [`Ratings`]: the observed entries of a users × items matrix.
//!
//! # Layout
//!
//! Two compressed copies of the entries, hand-written rather than taken from
//! `sprs`; the column-major one is built on first use ([`Ratings::csc`]):
//!
//! | array                 | type          | length          | built        |
//! |-----------------------|---------------|-----------------|--------------|
//! | CSR `indptr`          | `usize`       | users + 1       | always       |
//! | CSR `indices` (items) | `u32`         | nnz             | always       |
//! | CSR `values`          | `f64`         | nnz             | always       |
//! | timestamps            | `i64`         | nnz             | when the source has them |
//! | CSC `indptr`          | `usize`       | items + 1       | always       |
//! | CSC `indices` (users) | `u32`         | nnz             | on first use |
//! | CSC `values`          | `f64`         | nnz             | on first use |
//! | CSC → CSR position    | `u32`         | nnz             | on first use |
//!
//! That is **12 bytes per observed entry** plus 8 bytes per user and per
//! item (240 MB for 20M entries, 1.2 GB for 100M), and 16 bytes more per
//! entry once the column-major view is asked for (28 in all: 560 MB and
//! 2.8 GB). Timestamps, kept when the file has them (MovieLens, Netflix,
//! a `timestamp` column), cost 8 bytes per entry more; data without them
//! holds none. The generated kernels read the CSR arrays only (see
//! [`kernel`](crate::kernel)), so training never builds the CSC copy. Rows
//! are sorted by item, columns by user, and no (user, item) pair appears
//! twice.
//!
//! Why not `sprs`: a `CsMatI<f64, u32>` would give the same CSR bytes, but
//! holding both orientations means two independent matrices with no link
//! between a CSR position and its CSC position (which a kernel needs to
//! gather per-entry residuals in column order), the `u32`-index variant must
//! be spelled out everywhere, and none of its algebra is used here: kernels
//! want the raw slices. Building from triplets by a counting sort on the
//! user and a sort of each row by item (on every core, `csr.rs`) costs
//! O(nnz + users) plus the rows' sorts, also lets duplicates be detected
//! with the lines they came from, and keeps the peak below about 40 bytes
//! per entry.
//!
//! # Entry order
//!
//! "The entries" of a `Ratings` are in CSR order: by user, then by item.
//! [`Ratings::iter`], [`Ratings::csr`] and slices of per-entry predictions
//! (see [`metrics`](crate::metrics)) all use that order.

mod build;
mod csr;
mod views;

use std::fmt;
use std::sync::{Arc, OnceLock};

use ndarray::Array2;

use super::error::DataError;
use super::ids::{IdMap, RawId};
use crate::MaskedMatrix;
pub(crate) use build::BlockEntry;
pub use build::{Duplicates, RatingsBuilder, Unseen};
use csr::{assemble, Triplets};
pub use views::{CscView, CsrView, Entries};

/// The observed entries of a users × items ratings matrix, with raw-id maps.
///
/// Built by the loaders ([`LoadOptions`](super::LoadOptions),
/// [`Ratings::load`]), a [`RatingsBuilder`], [`Ratings::from_triplets`],
/// the [splits](super::split) or the [`synthetic`](mod@super::synthetic)
/// generator. See the [module docs](self) for the layout and memory.
///
/// ```
/// use mf_runtime::data::LoadOptions;
/// let r = LoadOptions::tab().parse_str("u.data", "196\t242\t3\t881250949\n186\t302\t3\t891717742\n196\t302\t4\t1\n").unwrap();
/// assert_eq!((r.num_users(), r.num_items(), r.nnz()), (2, 2, 3));
/// let u = r.user_ids().index(196).unwrap();
/// let i = r.item_ids().index(302).unwrap();
/// assert_eq!(r.get(u, i), Some(4.0));
/// assert_eq!(r.get_raw(186, 242), None);
/// ```
#[derive(Clone)]
pub struct Ratings {
    users: Arc<IdMap>,
    items: Arc<IdMap>,
    row_ptr: Vec<usize>,
    col_idx: Vec<u32>,
    csr_values: Vec<f64>,
    /// Seconds since the Unix epoch of each entry, in CSR order, when the
    /// source gave them.
    timestamps: Option<Vec<i64>>,
    col_ptr: Vec<usize>,
    /// The column-major copy, built by the first [`Ratings::csc`].
    csc: OnceLock<CscArrays>,
}

/// The per-entry arrays of the column-major copy (see [`CscView`]).
#[derive(Clone)]
struct CscArrays {
    row_idx: Vec<u32>,
    values: Vec<f64>,
    to_csr: Vec<u32>,
}

/// Equal entries on equal id maps (whether either has built its
/// column-major copy does not matter: it follows from the rest).
impl PartialEq for Ratings {
    fn eq(&self, other: &Ratings) -> bool {
        self.users == other.users
            && self.items == other.items
            && self.row_ptr == other.row_ptr
            && self.col_idx == other.col_idx
            && self.csr_values == other.csr_values
            && self.timestamps == other.timestamps
    }
}

impl fmt::Debug for Ratings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ratings")
            .field("num_users", &self.num_users())
            .field("num_items", &self.num_items())
            .field("nnz", &self.nnz())
            .field("timestamps", &self.timestamps.is_some())
            .finish_non_exhaustive()
    }
}

impl Ratings {
    /// Entries given by dense indices; raw ids are the indices themselves
    /// ([`IdMap::identity`]). A repeated pair is an error, as are indices out
    /// of range and non-finite values. An empty list gives an empty matrix.
    ///
    /// ```
    /// use mf_runtime::data::Ratings;
    /// let r = Ratings::from_triplets(3, 2, [(0, 1, 5.0), (2, 0, 1.0)]).unwrap();
    /// assert_eq!(r.nnz(), 2);
    /// assert!(Ratings::from_triplets(3, 2, [(3, 0, 1.0)]).is_err());
    /// assert!(Ratings::from_triplets(3, 2, [(0, 0, 1.0), (0, 0, 2.0)]).is_err());
    /// ```
    pub fn from_triplets(
        num_users: u32,
        num_items: u32,
        triplets: impl IntoIterator<Item = (u32, u32, f64)>,
    ) -> Result<Ratings, DataError> {
        let mut t = Triplets::default();
        for (e, (u, i, v)) in triplets.into_iter().enumerate() {
            let bad = if u >= num_users {
                Some(format!("user index {u} is not below {num_users}"))
            } else if i >= num_items {
                Some(format!("item index {i} is not below {num_items}"))
            } else if !v.is_finite() {
                Some(format!("rating {v} is not finite"))
            } else {
                None
            };
            if let Some(message) = bad {
                return Err(DataError::Entry {
                    file: "<triplets>".into(),
                    entry: e + 1,
                    message,
                });
            }
            t.push(u, i, v, None);
        }
        let users = Arc::new(IdMap::identity(num_users));
        let items = Arc::new(IdMap::identity(num_items));
        assemble(users, items, t, Duplicates::Error, |first, second, u, i| {
            DataError::Duplicate {
                file: "<triplets>".into(),
                user: u.to_string(),
                item: i.to_string(),
                unit: "entry",
                first: first + 1,
                second: second + 1,
            }
        })
    }

    /// The observed cells of a dense masked matrix (rows are users), with
    /// identity id maps. A non-finite observed value is an error.
    ///
    /// ```
    /// use mf_runtime::{data::Ratings, MaskedMatrix};
    /// use ndarray::array;
    /// let m = MaskedMatrix::zeros_as_missing(array![[5.0, 0.0], [0.0, 1.0]]);
    /// let r = Ratings::from_masked(&m).unwrap();
    /// assert_eq!(r.nnz(), 2);
    /// assert_eq!(r.to_masked(), m);
    /// ```
    pub fn from_masked(m: &MaskedMatrix) -> Result<Ratings, DataError> {
        let (rows, cols) = m.dim();
        let too_big = |n: usize| DataError::Invalid(format!("{n} rows or columns do not fit u32"));
        let num_users = u32::try_from(rows).map_err(|_| too_big(rows))?;
        let num_items = u32::try_from(cols).map_err(|_| too_big(cols))?;
        let values = m.values();
        let observed = m.observed();
        let cells = (0..rows).flat_map(|u| (0..cols).map(move |i| (u, i)));
        let triplets = cells
            .filter(|&(u, i)| observed[[u, i]])
            .map(|(u, i)| (u as u32, i as u32, values[[u, i]]));
        Ratings::from_triplets(num_users, num_items, triplets)
    }

    /// The dense masked form (missing cells hold 0). Meant for small data:
    /// it allocates `users × items` cells.
    ///
    /// ```
    /// use mf_runtime::data::Ratings;
    /// let m = Ratings::from_triplets(1, 2, [(0, 1, 2.0)]).unwrap().to_masked();
    /// assert!(!m.is_observed(0, 0) && m.is_observed(0, 1));
    /// assert_eq!(m.values()[[0, 1]], 2.0);
    /// ```
    pub fn to_masked(&self) -> MaskedMatrix {
        let dim = (self.num_users(), self.num_items());
        let mut values = Array2::zeros(dim);
        let mut observed = Array2::from_elem(dim, false);
        for (u, i, v) in self.iter() {
            values[[u as usize, i as usize]] = v;
            observed[[u as usize, i as usize]] = true;
        }
        MaskedMatrix::new(values, observed).expect("same shapes")
    }

    /// Assembles from CSR arrays whose rows are sorted without repeats
    /// (`timestamps`, when given, as long as the values).
    pub(crate) fn from_csr(
        users: Arc<IdMap>,
        items: Arc<IdMap>,
        row_ptr: Vec<usize>,
        col_idx: Vec<u32>,
        csr_values: Vec<f64>,
        timestamps: Option<Vec<i64>>,
    ) -> Ratings {
        let nnz = col_idx.len();
        assert!(
            u32::try_from(nnz).is_ok(),
            "more than u32::MAX observed entries"
        );
        debug_assert_eq!(row_ptr.len(), users.len() + 1);
        debug_assert_eq!(row_ptr[users.len()], nnz);
        debug_assert!(timestamps.as_ref().is_none_or(|t| t.len() == nnz));
        let num_items = items.len();
        let mut col_ptr = vec![0usize; num_items + 1];
        for &i in &col_idx {
            col_ptr[i as usize + 1] += 1;
        }
        for j in 0..num_items {
            col_ptr[j + 1] += col_ptr[j];
        }
        Ratings {
            users,
            items,
            row_ptr,
            col_idx,
            csr_values,
            timestamps,
            col_ptr,
            csc: OnceLock::new(),
        }
    }

    /// The column-major copy: one counting-sort pass over the CSR entries.
    fn build_csc(&self) -> CscArrays {
        let nnz = self.nnz();
        let mut next = self.col_ptr[..self.num_items()].to_vec();
        let mut csc = CscArrays {
            row_idx: vec![0u32; nnz],
            values: vec![0.0; nnz],
            to_csr: vec![0u32; nnz],
        };
        for (u, w) in self.row_ptr.windows(2).enumerate() {
            for p in w[0]..w[1] {
                let slot = &mut next[self.col_idx[p] as usize];
                csc.row_idx[*slot] = u as u32;
                csc.values[*slot] = self.csr_values[p];
                csc.to_csr[*slot] = p as u32;
                *slot += 1;
            }
        }
        csc
    }

    /// The entries at the CSR positions for which `keep` is true, with
    /// their timestamps, on the same id maps (so with the same dimensions).
    pub(crate) fn select(&self, mut keep: impl FnMut(usize) -> bool) -> Ratings {
        let mut row_ptr = Vec::with_capacity(self.row_ptr.len());
        let mut kept = Vec::new();
        row_ptr.push(0);
        for w in self.row_ptr.windows(2) {
            kept.extend((w[0]..w[1]).filter(|&p| keep(p)));
            row_ptr.push(kept.len());
        }
        let col_idx = kept.iter().map(|&p| self.col_idx[p]).collect();
        let values = kept.iter().map(|&p| self.csr_values[p]).collect();
        let timestamps = self
            .timestamps
            .as_ref()
            .map(|t| kept.iter().map(|&p| t[p]).collect());
        Ratings::from_csr(
            self.users.clone(),
            self.items.clone(),
            row_ptr,
            col_idx,
            values,
            timestamps,
        )
    }

    /// The time of each entry, in seconds since the Unix epoch (UTC), in
    /// CSR order (aligned with [`csr`](Self::csr)`().values`); `None` when
    /// the source had no timestamps. MovieLens files give seconds, Netflix
    /// dates become the midnight (UTC) that starts the day, and a generic
    /// file's `timestamp` column is read as it is.
    ///
    /// ```
    /// use mf_runtime::data::LoadOptions;
    /// let r = LoadOptions::new().parse_str("u.data", "7\t2\t4\t881250949\n7\t1\t3\t881250950\n").unwrap();
    /// // Items are indexed in first-seen order: item 2 is index 0.
    /// assert_eq!(r.timestamps(), Some(&[881250949, 881250950][..]));
    /// assert_eq!(LoadOptions::comma().parse_str("x", "7,2,4\n").unwrap().timestamps(), None);
    /// ```
    pub fn timestamps(&self) -> Option<&[i64]> {
        self.timestamps.as_deref()
    }

    /// The same entries without their timestamps (8 bytes per entry less).
    ///
    /// ```
    /// use mf_runtime::data::LoadOptions;
    /// let r = LoadOptions::new().parse_str("u.data", "7\t2\t4\t881250949\n").unwrap();
    /// assert!(r.without_timestamps().timestamps().is_none());
    /// ```
    pub fn without_timestamps(mut self) -> Ratings {
        self.timestamps = None;
        self
    }

    /// Number of users (rows), the length of the user id map.
    ///
    /// ```
    /// # use mf_runtime::data::Ratings;
    /// assert_eq!(Ratings::from_triplets(4, 2, [(0, 0, 1.0)]).unwrap().num_users(), 4);
    /// ```
    pub fn num_users(&self) -> usize {
        self.row_ptr.len() - 1
    }

    /// Number of items (columns), the length of the item id map.
    ///
    /// ```
    /// # use mf_runtime::data::Ratings;
    /// assert_eq!(Ratings::from_triplets(4, 2, [(0, 0, 1.0)]).unwrap().num_items(), 2);
    /// ```
    pub fn num_items(&self) -> usize {
        self.col_ptr.len() - 1
    }

    /// Number of observed entries.
    ///
    /// ```
    /// # use mf_runtime::data::Ratings;
    /// assert_eq!(Ratings::from_triplets(4, 2, [(0, 0, 1.0), (3, 1, 2.0)]).unwrap().nnz(), 2);
    /// ```
    pub fn nnz(&self) -> usize {
        self.col_idx.len()
    }

    /// Number of observed entries (same as [`nnz`](Self::nnz)).
    ///
    /// ```
    /// # use mf_runtime::data::Ratings;
    /// assert_eq!(Ratings::from_triplets(1, 1, [(0, 0, 1.0)]).unwrap().len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.nnz()
    }

    /// Whether no entry is observed (possible for a split's test side).
    ///
    /// ```
    /// # use mf_runtime::data::Ratings;
    /// assert!(Ratings::from_triplets(1, 1, []).unwrap().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.nnz() == 0
    }

    /// The user id map (raw id ↔ row index).
    ///
    /// ```
    /// # use mf_runtime::data::Ratings;
    /// let r = Ratings::from_triplets(2, 1, [(1, 0, 1.0)]).unwrap();
    /// assert_eq!(r.user_ids().index(1), Some(1));
    /// ```
    pub fn user_ids(&self) -> &Arc<IdMap> {
        &self.users
    }

    /// The item id map (raw id ↔ column index).
    ///
    /// ```
    /// # use mf_runtime::data::Ratings;
    /// let r = Ratings::from_triplets(1, 3, [(0, 2, 1.0)]).unwrap();
    /// assert_eq!(r.item_ids().len(), 3);
    /// ```
    pub fn item_ids(&self) -> &Arc<IdMap> {
        &self.items
    }

    /// The row-major arrays.
    ///
    /// ```
    /// # use mf_runtime::data::Ratings;
    /// let r = Ratings::from_triplets(2, 2, [(1, 1, 1.0)]).unwrap();
    /// assert_eq!(r.csr().indptr, &[0, 0, 1]);
    /// ```
    pub fn csr(&self) -> CsrView<'_> {
        CsrView {
            indptr: &self.row_ptr,
            indices: &self.col_idx,
            values: &self.csr_values,
        }
    }

    /// The column-major arrays, with each entry's CSR position. The first
    /// call builds them (O(nnz), 16 bytes per entry, kept for later calls).
    ///
    /// ```
    /// # use mf_runtime::data::Ratings;
    /// let r = Ratings::from_triplets(2, 2, [(1, 1, 1.0)]).unwrap();
    /// assert_eq!(r.csc().indptr, &[0, 0, 1]);
    /// assert_eq!(r.csc().csr_pos, &[0]);
    /// ```
    pub fn csc(&self) -> CscView<'_> {
        let csc = self.csc.get_or_init(|| self.build_csc());
        CscView {
            indptr: &self.col_ptr,
            indices: &csc.row_idx,
            values: &csc.values,
            csr_pos: &csc.to_csr,
        }
    }

    /// Whether the column-major copy has been built (by a first [`csc`](Self::csc)
    /// call): 16 bytes per entry that a process which never asks for it
    /// does not spend. Training with generated code never asks.
    ///
    /// ```
    /// # use mf_runtime::data::Ratings;
    /// let r = Ratings::from_triplets(2, 2, [(0, 1, 1.0)]).unwrap();
    /// assert!(!r.has_csc());
    /// let _ = r.csc();
    /// assert!(r.has_csc());
    /// ```
    pub fn has_csc(&self) -> bool {
        self.csc.get().is_some()
    }

    /// The CSC position of each CSR position (the inverse of
    /// [`CscView::csr_pos`]); computed on each call, O(nnz).
    ///
    /// ```
    /// # use mf_runtime::data::Ratings;
    /// let r = Ratings::from_triplets(2, 2, [(0, 1, 1.0), (1, 0, 2.0)]).unwrap();
    /// assert_eq!(r.csr_to_csc(), vec![1, 0]);
    /// ```
    pub fn csr_to_csc(&self) -> Vec<u32> {
        let mut out = vec![0u32; self.nnz()];
        for (p, &q) in self.csc().csr_pos.iter().enumerate() {
            out[q as usize] = p as u32;
        }
        out
    }

    /// Number of ratings of user `u`.
    ///
    /// ```
    /// # use mf_runtime::data::Ratings;
    /// let r = Ratings::from_triplets(2, 2, [(1, 0, 1.0), (1, 1, 1.0)]).unwrap();
    /// assert_eq!((r.user_count(0), r.user_count(1)), (0, 2));
    /// ```
    pub fn user_count(&self, u: usize) -> usize {
        self.row_ptr[u + 1] - self.row_ptr[u]
    }

    /// Number of ratings of item `i`.
    ///
    /// ```
    /// # use mf_runtime::data::Ratings;
    /// let r = Ratings::from_triplets(2, 2, [(0, 1, 1.0), (1, 1, 1.0)]).unwrap();
    /// assert_eq!((r.item_count(0), r.item_count(1)), (0, 2));
    /// ```
    pub fn item_count(&self, i: usize) -> usize {
        self.col_ptr[i + 1] - self.col_ptr[i]
    }

    /// Number of ratings of every user, in index order.
    ///
    /// ```
    /// # use mf_runtime::data::Ratings;
    /// let r = Ratings::from_triplets(2, 2, [(1, 0, 1.0), (1, 1, 1.0)]).unwrap();
    /// assert_eq!(r.user_counts().collect::<Vec<_>>(), [0, 2]);
    /// ```
    pub fn user_counts(&self) -> impl ExactSizeIterator<Item = usize> + '_ {
        self.row_ptr.windows(2).map(|w| w[1] - w[0])
    }

    /// Number of ratings of every item, in index order.
    ///
    /// ```
    /// # use mf_runtime::data::Ratings;
    /// let r = Ratings::from_triplets(2, 2, [(1, 0, 1.0), (1, 1, 1.0)]).unwrap();
    /// assert_eq!(r.item_counts().collect::<Vec<_>>(), [1, 1]);
    /// ```
    pub fn item_counts(&self) -> impl ExactSizeIterator<Item = usize> + '_ {
        self.col_ptr.windows(2).map(|w| w[1] - w[0])
    }

    /// The entries `(user, item, rating)` in CSR order.
    ///
    /// ```
    /// # use mf_runtime::data::Ratings;
    /// let r = Ratings::from_triplets(2, 2, [(1, 0, 1.0), (0, 1, 2.0)]).unwrap();
    /// assert_eq!(r.iter().collect::<Vec<_>>(), [(0, 1, 2.0), (1, 0, 1.0)]);
    /// ```
    pub fn iter(&self) -> Entries<'_> {
        Entries::new(self)
    }

    /// The rating of `(u, i)` by dense indices, if observed (binary search in the row).
    ///
    /// ```
    /// # use mf_runtime::data::Ratings;
    /// let r = Ratings::from_triplets(2, 2, [(1, 0, 3.5)]).unwrap();
    /// assert_eq!(r.get(1, 0), Some(3.5));
    /// assert_eq!(r.get(0, 0), None);
    /// assert_eq!(r.get(9, 0), None);
    /// ```
    pub fn get(&self, u: u32, i: u32) -> Option<f64> {
        if u as usize >= self.num_users() {
            return None;
        }
        let (items, values) = self.csr().row(u as usize);
        items.binary_search(&i).ok().map(|p| values[p])
    }

    /// The rating of a pair given by raw ids, if both are known and the pair observed.
    ///
    /// ```
    /// # use mf_runtime::data::RatingsBuilder;
    /// let mut b = RatingsBuilder::new();
    /// b.push("ann", "dune", 4.0);
    /// let r = b.build().unwrap();
    /// assert_eq!(r.get_raw("ann", "dune"), Some(4.0));
    /// assert_eq!(r.get_raw("bob", "dune"), None);
    /// ```
    pub fn get_raw<'a, 'b>(
        &self,
        user: impl Into<RawId<'a>>,
        item: impl Into<RawId<'b>>,
    ) -> Option<f64> {
        let u = self.users.index(user)?;
        let i = self.items.index(item)?;
        self.get(u, i)
    }

    /// Mean of the observed ratings (NaN when there is none).
    ///
    /// ```
    /// # use mf_runtime::data::Ratings;
    /// let r = Ratings::from_triplets(1, 2, [(0, 0, 1.0), (0, 1, 4.0)]).unwrap();
    /// assert_eq!(r.mean(), 2.5);
    /// ```
    pub fn mean(&self) -> f64 {
        self.csr_values.iter().sum::<f64>() / self.nnz() as f64
    }
}

#[cfg(test)]
mod tests;
