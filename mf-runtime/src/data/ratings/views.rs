//! Views of the entries of a [`Ratings`]: the row-major ([`CsrView`]) and
//! column-major ([`CscView`]) arrays, and the iterator over
//! `(user, item, rating)` in CSR order ([`Entries`]).

use super::Ratings;

/// Row-major (CSR) view of the entries: row `u` holds items
/// `indices[indptr[u]..indptr[u + 1]]` (sorted) with their `values`.
///
/// ```
/// use mf_runtime::data::Ratings;
/// let r = Ratings::from_triplets(2, 3, [(0, 2, 1.0), (1, 0, 2.0), (0, 1, 3.0)]).unwrap();
/// let csr = r.csr();
/// assert_eq!(csr.indptr, &[0, 2, 3]);
/// assert_eq!(csr.indices, &[1, 2, 0]);
/// assert_eq!(csr.values, &[3.0, 1.0, 2.0]);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct CsrView<'a> {
    /// Row pointers, `num_users + 1` long, starting at 0 and ending at nnz.
    pub indptr: &'a [usize],
    /// Item index of each entry.
    pub indices: &'a [u32],
    /// Rating of each entry.
    pub values: &'a [f64],
}

impl<'a> CsrView<'a> {
    /// Items and ratings of user `u`.
    ///
    /// ```
    /// # use mf_runtime::data::Ratings;
    /// let r = Ratings::from_triplets(2, 3, [(0, 2, 1.0), (0, 1, 3.0)]).unwrap();
    /// assert_eq!(r.csr().row(0), (&[1, 2][..], &[3.0, 1.0][..]));
    /// assert!(r.csr().row(1).0.is_empty());
    /// ```
    pub fn row(&self, u: usize) -> (&'a [u32], &'a [f64]) {
        let range = self.indptr[u]..self.indptr[u + 1];
        (&self.indices[range.clone()], &self.values[range])
    }
}

/// Column-major (CSC) view of the entries: column `i` holds users
/// `indices[indptr[i]..indptr[i + 1]]` (sorted) with their `values`;
/// `csr_pos[p]` is the position in the CSR arrays of the entry at CSC
/// position `p`.
///
/// ```
/// use mf_runtime::data::Ratings;
/// let r = Ratings::from_triplets(2, 2, [(0, 1, 1.0), (1, 0, 2.0), (1, 1, 3.0)]).unwrap();
/// let csc = r.csc();
/// assert_eq!(csc.indptr, &[0, 1, 3]);
/// assert_eq!(csc.indices, &[1, 0, 1]);
/// assert_eq!(csc.values, &[2.0, 1.0, 3.0]);
/// for (p, &q) in csc.csr_pos.iter().enumerate() {
///     assert_eq!(r.csr().values[q as usize], csc.values[p]);
/// }
/// ```
#[derive(Clone, Copy, Debug)]
pub struct CscView<'a> {
    /// Column pointers, `num_items + 1` long.
    pub indptr: &'a [usize],
    /// User index of each entry.
    pub indices: &'a [u32],
    /// Rating of each entry.
    pub values: &'a [f64],
    /// CSR position of each entry.
    pub csr_pos: &'a [u32],
}

impl<'a> CscView<'a> {
    /// Users and ratings of item `i`.
    ///
    /// ```
    /// # use mf_runtime::data::Ratings;
    /// let r = Ratings::from_triplets(2, 1, [(1, 0, 4.0), (0, 0, 3.0)]).unwrap();
    /// assert_eq!(r.csc().col(0), (&[0, 1][..], &[3.0, 4.0][..]));
    /// ```
    pub fn col(&self, i: usize) -> (&'a [u32], &'a [f64]) {
        let range = self.indptr[i]..self.indptr[i + 1];
        (&self.indices[range.clone()], &self.values[range])
    }
}

/// Iterator over `(user, item, rating)` in CSR order; see [`Ratings::iter`].
///
/// ```
/// # use mf_runtime::data::Ratings;
/// let r = Ratings::from_triplets(3, 1, [(2, 0, 1.0)]).unwrap();
/// assert_eq!(r.iter().len(), 1);
/// ```
#[derive(Clone, Debug)]
pub struct Entries<'a> {
    ratings: &'a Ratings,
    pos: usize,
    user: usize,
}

impl<'a> Entries<'a> {
    /// From the first entry of `ratings`.
    pub(super) fn new(ratings: &'a Ratings) -> Self {
        Entries {
            ratings,
            pos: 0,
            user: 0,
        }
    }
}

impl Iterator for Entries<'_> {
    type Item = (u32, u32, f64);

    fn next(&mut self) -> Option<Self::Item> {
        let r = self.ratings;
        if self.pos >= r.nnz() {
            return None;
        }
        while r.row_ptr[self.user + 1] <= self.pos {
            self.user += 1;
        }
        let p = self.pos;
        self.pos += 1;
        Some((self.user as u32, r.col_idx[p], r.csr_values[p]))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.ratings.nnz() - self.pos;
        (n, Some(n))
    }
}

impl ExactSizeIterator for Entries<'_> {}

impl<'a> IntoIterator for &'a Ratings {
    type Item = (u32, u32, f64);
    type IntoIter = Entries<'a>;

    fn into_iter(self) -> Entries<'a> {
        self.iter()
    }
}
