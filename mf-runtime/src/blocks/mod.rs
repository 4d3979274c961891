//! Row-block systems: the contract between the systems `loss!` derives for
//! each row of a loss (a user's factors and bias, an item's, a global
//! offset) and the methods that solve them ([`Als`](crate::Als), fold-in).
//!
//! With the item side fixed, a matrix-factorization loss is a sum of
//! independent small problems, one per user row `zᵤ = [pᵤ, buᵤ]`; the same
//! holds for items with the user side fixed, and for the params indexed by
//! neither (one row). For every such *group* the generated objective builds,
//! for one row at a time, the row's loss, gradient and Hessian from that
//! row's observed entries alone ([`RowSystems::system`]). Which terms of a
//! loss have row systems, and how a coupling penalty such as `norm(P)` is
//! majorized, is said in the `mf-compiler` stage that derives them and in
//! each loss's `explain()`.

mod hessian;
mod low_rank;

pub use hessian::RowHessian;

/// Where one param's part of a row lives in the flat parameter vector:
/// coordinate `c` of row `r` is at `offset + r * row_stride + c * coord_stride`.
///
/// ```
/// use mf_runtime::blocks::Segment;
/// // Q: [k = 2, items = 3] stored row-major; item 1's column is x[1] and x[4].
/// let q = Segment { name: "Q", offset: 0, row_stride: 1, coord_stride: 3, width: 2 };
/// assert_eq!(q.index(1, 1), 4);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// The param's name in the loss.
    pub name: &'static str,
    /// Start of the param's block in the flat vector.
    pub offset: usize,
    /// Distance between consecutive rows of the group.
    pub row_stride: usize,
    /// Distance between consecutive coordinates of one row.
    pub coord_stride: usize,
    /// Number of coordinates of one row.
    pub width: usize,
}

impl Segment {
    /// Index in the flat vector of coordinate `coord` of row `row`.
    ///
    /// See [`Segment`] for an example.
    pub fn index(&self, row: usize, coord: usize) -> usize {
        self.offset + row * self.row_stride + coord * self.coord_stride
    }
}

/// One group of row blocks: the rows of the data (users), its columns
/// (items), or the global row.
///
/// A row's coordinates `z` are its segments one after the other (the
/// order of the params in the loss), `width()` values in all.
///
/// ```
/// use mf_runtime::blocks::{RowGroup, Segment};
/// let users = RowGroup {
///     name: "users",
///     rows: 2,
///     segments: vec![
///         Segment { name: "P", offset: 0, row_stride: 3, coord_stride: 1, width: 3 },
///         Segment { name: "bu", offset: 6, row_stride: 1, coord_stride: 1, width: 1 },
///     ],
///     quadratic: true,
/// };
/// let x: Vec<f64> = (0..8).map(f64::from).collect();
/// let mut z = vec![0.0; users.width()];
/// users.gather(&x, 1, &mut z);
/// assert_eq!(z, [3.0, 4.0, 5.0, 7.0]);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct RowGroup {
    /// `"users"` (the rows of the data), `"items"` (its columns) or
    /// `"global"`, as the data's dimensions are named in the loss.
    pub name: &'static str,
    /// Number of rows.
    pub rows: usize,
    /// The params of a row, in the order of their coordinates.
    pub segments: Vec<Segment>,
    /// Every second derivative is constant in the row: one Newton step is
    /// the exact block minimum (ALS).
    pub quadratic: bool,
}

impl RowGroup {
    /// Number of coordinates of one row.
    ///
    /// See [`RowGroup`] for an example.
    pub fn width(&self) -> usize {
        self.segments.iter().map(|s| s.width).sum()
    }

    /// Copies row `row`'s coordinates from `x` into `z` (length `width()`).
    ///
    /// See [`RowGroup`] for an example.
    pub fn gather(&self, x: &[f64], row: usize, z: &mut [f64]) {
        let mut at = 0;
        for s in &self.segments {
            for c in 0..s.width {
                z[at + c] = x[s.index(row, c)];
            }
            at += s.width;
        }
    }

    /// Writes `z` back as row `row`'s coordinates in `x`.
    ///
    /// ```
    /// use mf_runtime::blocks::{RowGroup, Segment};
    /// let g = RowGroup {
    ///     name: "items", rows: 2, quadratic: true,
    ///     segments: vec![Segment { name: "Q", offset: 0, row_stride: 1, coord_stride: 2, width: 2 }],
    /// };
    /// let mut x = vec![0.0; 4];
    /// g.scatter(&[7.0, 8.0], 1, &mut x);
    /// assert_eq!(x, [0.0, 7.0, 0.0, 8.0]);
    /// ```
    pub fn scatter(&self, z: &[f64], row: usize, x: &mut [f64]) {
        let mut at = 0;
        for s in &self.segments {
            for c in 0..s.width {
                x[s.index(row, c)] = z[at + c];
            }
            at += s.width;
        }
    }
}

/// The observed entries of one row: for a user, the items rated and the
/// ratings (the CSR row); for an item, the users and ratings (its column).
/// The global row reads every entry of the data itself and ignores these.
///
/// ```
/// use mf_runtime::blocks::Row;
/// let row = Row { index: 0, others: &[2, 5], values: &[4.0, 3.5] };
/// assert_eq!(row.len(), 2);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Row<'a> {
    /// The row's index in its group (unused for a row that is not in the
    /// data, such as a user folded in).
    pub index: usize,
    /// The other index of each entry (item for a user row, user for an item).
    pub others: &'a [u32],
    /// The observed values, one per entry of `others`.
    pub values: &'a [f64],
}

impl Row<'_> {
    /// Number of observed entries.
    ///
    /// See [`Row`] for an example.
    pub fn len(&self) -> usize {
        self.others.len()
    }

    /// Whether the row has no entry.
    ///
    /// ```
    /// # use mf_runtime::blocks::Row;
    /// assert!(Row { index: 0, others: &[], values: &[] }.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.others.is_empty()
    }
}

/// The row systems of a loss, implemented by the objectives `loss!`
/// generates when every term of the loss has them (see the module docs).
///
/// For a row with coordinates `z` (see [`RowGroup`]), `system` returns the
/// row's part of the loss and adds its gradient to `grad` (length `n =
/// width()`) and its Hessian to `hess` (`n` coordinates, in the form the
/// caller chose: see [`RowHessian`]). Everything outside the row
/// is read from `x` and held fixed. Rows of a group are independent, so
/// they may be solved in parallel once [`prepare`](RowSystems::prepare) has
/// run for the group.
pub trait RowSystems: Sync {
    /// The groups, in the order a sweep visits them.
    fn groups(&self) -> &[RowGroup];

    /// Readies group `group`'s systems at `x` before any of its rows is
    /// built: copies of the partner factors in the order the rows read
    /// them, shared Gram matrices, the norms a majorizer is taken around.
    fn prepare(&mut self, group: usize, x: &[f64]);

    /// The row's loss at `z`; adds its gradient to `grad` and its Hessian to
    /// `hess`.
    fn system(
        &self,
        group: usize,
        row: Row<'_>,
        x: &[f64],
        z: &[f64],
        grad: &mut [f64],
        hess: &mut RowHessian,
    ) -> f64;

    /// The row's loss at `z` (the same function `system` expands).
    fn row_loss(&self, group: usize, row: Row<'_>, x: &[f64], z: &[f64]) -> f64;

    /// The observed entries of row `index` of group `group`, from the bound
    /// data.
    fn row(&self, group: usize, index: usize) -> Row<'_>;
}

/// Rows of the data per parallel block of [`sum_over_rows`] (fixed, so the
/// sum is the same on any number of threads).
pub const ROWS_PER_BLOCK: usize = 512;

/// A row system that reads every entry of the data (the global row of a
/// loss, e.g. its offset `mu`), summed over the data's rows in parallel:
/// `f(rows, grad, hess)` adds the part of the rows `rows` to its own
/// zeroed `grad` (the length of the given one) and dense `hess` (of
/// `hess.n()` coordinates) and returns that part of the loss; the parts
/// are added into `grad` and `hess` in block order, and their losses
/// summed in the same order.
///
/// ```
/// use mf_runtime::blocks::{sum_over_rows, RowHessian};
/// let (mut grad, mut hess) = (vec![0.0; 1], RowHessian::dense(1));
/// let loss = sum_over_rows(2000, &mut grad, &mut hess, |rows, g, h| {
///     g[0] += rows.len() as f64;
///     h.add_diagonal(0, 2.0 * rows.len() as f64);
///     rows.len() as f64
/// });
/// assert_eq!((loss, grad[0], hess.lower()[0]), (2000.0, 2000.0, 4000.0));
/// ```
pub fn sum_over_rows(
    rows: usize,
    grad: &mut [f64],
    hess: &mut RowHessian,
    f: impl Fn(std::ops::Range<usize>, &mut [f64], &mut RowHessian) -> f64 + Sync,
) -> f64 {
    use rayon::prelude::*;
    let (ng, n) = (grad.len(), hess.n());
    let parts: Vec<(f64, Vec<f64>, RowHessian)> = (0..rows.div_ceil(ROWS_PER_BLOCK))
        .into_par_iter()
        .map(|b| {
            let range = b * ROWS_PER_BLOCK..((b + 1) * ROWS_PER_BLOCK).min(rows);
            let (mut g, mut h) = (vec![0.0; ng], RowHessian::dense(n));
            let loss = f(range, &mut g, &mut h);
            (loss, g, h)
        })
        .collect();
    let mut total = 0.0;
    for (loss, g, mut h) in parts {
        total += loss;
        grad.iter_mut().zip(&g).for_each(|(a, b)| *a += b);
        hess.add(&mut h);
    }
    total
}
