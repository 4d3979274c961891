//! Training over shards: each rank holds the observed entries of a block of
//! rows (users), and the partial results of every pass over them are
//! combined across ranks, in rank order, before anything reads them.
//!
//! A loss bound to the entries of one block of rows (see [`shard_rows`])
//! computes, in each pass over its observed entries, partial sums (the
//! loss's data terms), partial item-side results (`∂Q`, `∂bi`, `mask(D).T @ G`)
//! and complete rows of its own users (`∂P`, `∂bu`). The code `loss!`
//! generates hands these to [`Shards::combine_pass`] right after the pass:
//! the sums and item-side results are summed across ranks, the row blocks
//! gathered, so every rank holds the single-process results of the pass and
//! computes the rest of the evaluation (penalties, `norm(Q)`, Gram matrices,
//! the loss's value) identically, once, from them. Nothing is summed after
//! the pass: a term that reads no data is never counted once per rank.
//!
//! The parameters are replicated: every rank holds all of them, evaluates
//! the same value and gradient and takes the same optimizer step, so any
//! optimizer of [`crate::optim`] and the [`Trainer`](crate::Trainer) run
//! unchanged. The transport is a [`Link`]: [`Solo`] for one process,
//! `MpiLink` (cargo feature `mpi`) for MPI ranks.
//!
//! ```
//! use mf_runtime::data::Ratings;
//! use mf_runtime::shard::{row_bounds, shard_rows, Shards, Solo};
//! use mf_runtime::{loss, Init, Objective};
//! use rand::SeedableRng;
//!
//! loss! {
//!     /// Squared error plus a penalty.
//!     pub struct Sq {
//!         data  D: sparse[users, items],
//!         param P: [users, k],
//!         param Q: [k, items],
//!     }
//!     minimize sum(mask * (D - P@Q)^2) + 0.1 * norm(Q)
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let ratings = Ratings::from_triplets(3, 2, [(0, 0, 5.0), (1, 1, 3.0), (2, 0, 1.0)])?;
//! let mut rng = rand::rngs::StdRng::seed_from_u64(7);
//! let params = Sq::init(&ratings, 2, Init::Normal { mean: 0.0, std: 0.1 }, &mut rng)?;
//! let bounds = row_bounds(&ratings, 1)?;
//! let block = shard_rows(&ratings, bounds[0]..bounds[1])?;
//! let shards = Shards::new(Box::new(Solo), bounds)?;
//! let mut sharded = Sq::default().objective(&block, &params)?.over_shards(shards)?;
//! let mut whole = Sq::default().objective(&ratings, &params)?;
//! assert_eq!(sharded.value(params.as_slice()), whole.value(params.as_slice()));
//! # Ok(())
//! # }
//! ```

#[cfg(feature = "mpi")]
mod mpi;

#[cfg(feature = "mpi")]
pub use self::mpi::MpiLink;

use crate::data::Ratings;
use std::ops::Range;
use std::time::{Duration, Instant};

/// Why a loss, data or row blocks cannot be trained over shards.
#[derive(Debug, thiserror::Error)]
pub enum ShardError {
    /// The row bounds do not describe `ranks` blocks of the rows.
    #[error("row bounds {bounds:?} do not split {rows} rows into {ranks} blocks (they must start at 0, end at the row count and never decrease)")]
    Bounds {
        bounds: Vec<usize>,
        rows: usize,
        ranks: usize,
    },
    /// Zero ranks asked for.
    #[error("at least one rank is needed, 0 were asked for")]
    NoRanks,
    /// The loss cannot be sharded by rows of its data.
    #[error("this loss cannot be trained over shards: {0}")]
    Loss(String),
    /// A data matrix has entries outside the rank's block of rows.
    #[error("data `{data}` has an entry in row {row}, outside this rank's block {rows:?} (bind each rank to `shard_rows` of its block)")]
    OutsideBlock {
        data: String,
        row: usize,
        rows: Range<usize>,
    },
    /// A data matrix's row count differs from the row bounds'.
    #[error("data `{data}` has {found} rows, the row bounds cover {expected}")]
    Rows {
        data: String,
        found: usize,
        expected: usize,
    },
}

/// Why the row-block methods refuse a sharded objective (its item rows'
/// entries are spread over the ranks; see `docs/distributed.md`).
pub const NO_ROW_SYSTEMS: &str = "the row-block methods (ALS, fold-in) do not run over shards: an item row's entries are spread over every rank (train a sharded objective with gradient descent, Adam or L-BFGS)";

/// The transport between ranks: a rank's place and two collective
/// operations. Every rank must make the same calls in the same order.
///
/// `Send`, so that an objective holding one can be evaluated on another
/// thread (a rayon pool's, say); calls through `&mut self` never overlap.
pub trait Link: Send {
    /// This process's rank, `0..ranks()`.
    fn rank(&self) -> usize;

    /// The number of ranks.
    fn ranks(&self) -> usize;

    /// Replaces `values` on every rank by the elementwise sum of every
    /// rank's `values`, added in rank order (`((v₀ + v₁) + v₂) + …`), so the
    /// result is the same on every run and on every rank. Every rank passes
    /// the same length.
    fn sum_in_rank_order(&mut self, values: &mut [f64]);

    /// Concatenates every rank's `mine` in rank order into `all` on every
    /// rank; `counts[r]` is the length of rank `r`'s part and
    /// `all.len()` their sum.
    fn all_gather(&mut self, mine: &[f64], counts: &[usize], all: &mut [f64]);
}

/// The link of a single process: one rank, nothing to combine.
///
/// ```
/// use mf_runtime::shard::{Link, Solo};
/// let mut v = [1.0, 2.0];
/// Solo.sum_in_rank_order(&mut v);
/// assert_eq!((Solo.rank(), Solo.ranks(), v), (0, 1, [1.0, 2.0]));
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Solo;

impl Link for Solo {
    fn rank(&self) -> usize {
        0
    }

    fn ranks(&self) -> usize {
        1
    }

    fn sum_in_rank_order(&mut self, _values: &mut [f64]) {}

    fn all_gather(&mut self, mine: &[f64], _counts: &[usize], all: &mut [f64]) {
        all.copy_from_slice(mine);
    }
}

/// Row bounds splitting `ratings`' rows into `ranks` contiguous blocks with
/// about equal numbers of observed entries: `ranks + 1` increasing row
/// indices from 0 to `num_users()`; block `r` is rows
/// `bounds[r]..bounds[r + 1]`. A block may be empty (more ranks than rows).
///
/// ```
/// use mf_runtime::data::Ratings;
/// use mf_runtime::shard::row_bounds;
/// // Row 0 holds 3 entries, rows 1 and 2 one each.
/// let r = Ratings::from_triplets(3, 3, [(0, 0, 1.0), (0, 1, 1.0), (0, 2, 1.0), (1, 0, 1.0), (2, 0, 1.0)]).unwrap();
/// assert_eq!(row_bounds(&r, 2).unwrap(), [0, 1, 3]);
/// assert!(row_bounds(&r, 0).is_err());
/// ```
pub fn row_bounds(ratings: &Ratings, ranks: usize) -> Result<Vec<usize>, ShardError> {
    if ranks == 0 {
        return Err(ShardError::NoRanks);
    }
    let indptr = ratings.csr().indptr;
    let (rows, nnz) = (ratings.num_users(), ratings.nnz());
    let mut bounds = vec![0usize];
    for r in 1..ranks {
        // The first row boundary at or past r/ranks of the entries.
        let target = (nnz as u128 * r as u128 / ranks as u128) as usize;
        let from = *bounds.last().expect("starts with 0");
        let at = from + indptr[from..=rows].partition_point(|&e| e < target);
        bounds.push(at.min(rows));
    }
    bounds.push(rows);
    Ok(bounds)
}

/// The observed entries of rows `rows` of `ratings`, with its id maps and
/// sizes (every other row empty): what one rank binds its loss to.
///
/// ```
/// use mf_runtime::data::Ratings;
/// use mf_runtime::shard::shard_rows;
/// let r = Ratings::from_triplets(3, 2, [(0, 0, 1.0), (1, 1, 2.0), (2, 0, 3.0)]).unwrap();
/// let block = shard_rows(&r, 1..3).unwrap();
/// assert_eq!((block.num_users(), block.num_items(), block.nnz()), (3, 2, 2));
/// assert_eq!(block.get(1, 1), Some(2.0));
/// assert!(shard_rows(&r, 2..4).is_err());
/// ```
pub fn shard_rows(ratings: &Ratings, rows: Range<usize>) -> Result<Ratings, ShardError> {
    let n = ratings.num_users();
    if rows.start > rows.end || rows.end > n {
        return Err(ShardError::Bounds {
            bounds: vec![rows.start, rows.end],
            rows: n,
            ranks: 1,
        });
    }
    let csr = ratings.csr();
    let (first, last) = (csr.indptr[rows.start], csr.indptr[rows.end]);
    let row_ptr: Vec<usize> = (0..=n)
        .map(|u| csr.indptr[u.clamp(rows.start, rows.end)] - first)
        .collect();
    Ok(Ratings::from_csr(
        ratings.user_ids().clone(),
        ratings.item_ids().clone(),
        row_ptr,
        csr.indices[first..last].to_vec(),
        csr.values[first..last].to_vec(),
        ratings.timestamps().map(|t| t[first..last].to_vec()),
    ))
}

/// The ranks of a sharded objective: the [`Link`] between them, the row
/// block of each, and the time and bytes spent combining.
pub struct Shards {
    link: Box<dyn Link>,
    bounds: Vec<usize>,
    communicating: Duration,
    received: u64,
    /// Scratch of the combining (the sums, the rows gathered), kept
    /// between passes so its pages are touched once.
    buffer: Vec<f64>,
    gathered: Vec<f64>,
}

impl std::fmt::Debug for Shards {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shards")
            .field("rank", &self.rank())
            .field("bounds", &self.bounds)
            .finish_non_exhaustive()
    }
}

impl Shards {
    /// The ranks joined by `link`, rank `r` holding rows
    /// `bounds[r]..bounds[r + 1]` (from [`row_bounds`], the same on every
    /// rank). Errors when `bounds` has not `ranks + 1` non-decreasing
    /// entries starting at 0.
    ///
    /// ```
    /// use mf_runtime::shard::{Shards, Solo};
    /// assert_eq!(Shards::new(Box::new(Solo), vec![0, 5]).unwrap().rows(), 0..5);
    /// assert!(Shards::new(Box::new(Solo), vec![0, 2, 5]).is_err());
    /// ```
    pub fn new(link: Box<dyn Link>, bounds: Vec<usize>) -> Result<Shards, ShardError> {
        let ranks = link.ranks();
        let rows = bounds.last().copied().unwrap_or(0);
        if bounds.len() != ranks + 1 || bounds[0] != 0 || bounds.windows(2).any(|w| w[0] > w[1]) {
            return Err(ShardError::Bounds {
                bounds,
                rows,
                ranks,
            });
        }
        Ok(Shards {
            link,
            bounds,
            communicating: Duration::ZERO,
            received: 0,
            buffer: Vec::new(),
            gathered: Vec::new(),
        })
    }

    /// This process's rank.
    pub fn rank(&self) -> usize {
        self.link.rank()
    }

    /// The number of ranks.
    pub fn ranks(&self) -> usize {
        self.link.ranks()
    }

    /// The rows this rank holds.
    pub fn rows(&self) -> Range<usize> {
        let r = self.rank();
        self.bounds[r]..self.bounds[r + 1]
    }

    /// The row bounds of every rank: `ranks() + 1` row indices.
    ///
    /// ```
    /// use mf_runtime::shard::{Shards, Solo};
    /// let shards = Shards::new(Box::new(Solo), vec![0, 7]).unwrap();
    /// assert_eq!((shards.rank(), shards.ranks(), shards.bounds()), (0, 1, &[0, 7][..]));
    /// ```
    pub fn bounds(&self) -> &[usize] {
        &self.bounds
    }

    /// Wall time spent in the link's collective calls so far (waiting for
    /// the slowest rank included).
    pub fn communication(&self) -> Duration {
        self.communicating
    }

    /// Bytes this rank has received from the link so far: about twice
    /// each summed buffer (its slices from every rank, then the summed
    /// slices) and the other ranks' row blocks; 0 on one rank.
    ///
    /// ```
    /// use mf_runtime::shard::{Shards, Solo};
    /// let mut shards = Shards::new(Box::new(Solo), vec![0, 2]).unwrap();
    /// shards.sum(&mut [1.0, 2.0]);
    /// assert_eq!(shards.bytes_received(), 0);
    /// assert!(shards.communication().as_secs_f64() < 1.0);
    /// ```
    pub fn bytes_received(&self) -> u64 {
        self.received
    }

    /// Checks that the data a loss reads can be sharded: `sparse` (name and
    /// matrix) all hold this rank's rows only and as many rows as the
    /// bounds cover, and there is no dense data (`dense`, names). Called by
    /// the generated `over_shards`.
    ///
    /// ```
    /// use mf_runtime::data::Ratings;
    /// use mf_runtime::shard::{Shards, Solo};
    /// let r = Ratings::from_triplets(2, 2, [(0, 0, 1.0)]).unwrap();
    /// let shards = Shards::new(Box::new(Solo), vec![0, 2]).unwrap();
    /// assert!(shards.check_data(&[("D", &r)], &[]).is_ok());
    /// let err = shards.check_data(&[], &["M"]).unwrap_err();
    /// assert_eq!(err.to_string(), "this loss cannot be trained over shards: data `M` is dense; only sparse data is split into row blocks");
    /// ```
    pub fn check_data(
        &self,
        sparse: &[(&str, &Ratings)],
        dense: &[&str],
    ) -> Result<(), ShardError> {
        if let Some(name) = dense.first() {
            return Err(ShardError::Loss(format!(
                "data `{name}` is dense; only sparse data is split into row blocks"
            )));
        }
        if sparse.is_empty() {
            return Err(ShardError::Loss("it reads no data".into()));
        }
        let (rows, expected) = (self.rows(), *self.bounds.last().expect("ranks + 1 bounds"));
        for (name, data) in sparse {
            if data.num_users() != expected {
                return Err(ShardError::Rows {
                    data: name.to_string(),
                    found: data.num_users(),
                    expected,
                });
            }
            let indptr = data.csr().indptr;
            let outside = (0..expected).find(|u| !rows.contains(u) && indptr[u + 1] > indptr[*u]);
            if let Some(row) = outside {
                return Err(ShardError::OutsideBlock {
                    data: name.to_string(),
                    row,
                    rows,
                });
            }
        }
        Ok(())
    }

    /// Sums `values` across ranks in rank order (every rank gets the sum):
    /// the observation counts of a loss at bind time.
    pub fn sum(&mut self, values: &mut [f64]) {
        let start = Instant::now();
        self.link.sum_in_rank_order(values);
        self.communicating += start.elapsed();
        let ranks = self.ranks() as u64;
        self.received += 16 * values.len() as u64 * (ranks - 1) / ranks;
    }

    /// Combines the partial results of one pass over this rank's entries:
    /// `sums` (scalars) and `columns` (item-side outputs) are summed across
    /// ranks in one buffer, in rank order; in each of `rows` (an output of
    /// `width` values per data row, every row of the data) this rank's
    /// block of rows is sent and the other ranks' blocks received. Afterwards every
    /// rank holds what one process over all the entries computes (up to
    /// the order of additions). With one rank there is nothing to do.
    ///
    /// ```
    /// use mf_runtime::shard::{Shards, Solo};
    /// let mut shards = Shards::new(Box::new(Solo), vec![0, 2]).unwrap();
    /// let (mut sums, mut dq, mut dp) = ([3.0], [1.0, 2.0], [5.0, 6.0, 7.0, 8.0]);
    /// // One sum, an item-side output, a user-side output of width 2.
    /// shards.combine_pass(&mut sums, &mut [&mut dq[..]], &mut [(&mut dp[..], 2)]);
    /// assert_eq!((sums, dq), ([3.0], [1.0, 2.0])); // one rank: unchanged
    /// ```
    pub fn combine_pass(
        &mut self,
        sums: &mut [f64],
        columns: &mut [&mut [f64]],
        rows: &mut [(&mut [f64], usize)],
    ) {
        if self.ranks() == 1 {
            return;
        }
        let start = Instant::now();
        let mut buffer = std::mem::take(&mut self.buffer);
        let mut gathered = std::mem::take(&mut self.gathered);
        buffer.clear();
        buffer.extend_from_slice(sums);
        for column in columns.iter() {
            buffer.extend_from_slice(column);
        }
        self.link.sum_in_rank_order(&mut buffer);
        let (head, mut tail) = buffer.split_at(sums.len());
        sums.copy_from_slice(head);
        for column in columns.iter_mut() {
            let (part, rest) = tail.split_at(column.len());
            column.copy_from_slice(part);
            tail = rest;
        }
        // A sum moves about twice its buffer per rank (see `MpiLink`).
        let mut received = 2 * buffer.len() * (self.ranks() - 1) / self.ranks();
        // Each row output: this rank's rows out, the other ranks' in.
        let mine = self.rows();
        for (values, width) in rows.iter_mut() {
            let w = *width;
            let counts: Vec<usize> = self.bounds.windows(2).map(|b| (b[1] - b[0]) * w).collect();
            if gathered.len() < values.len() {
                gathered.resize(values.len(), 0.0);
            }
            let all = &mut gathered[..values.len()];
            self.link
                .all_gather(&values[mine.start * w..mine.end * w], &counts, all);
            values[..mine.start * w].copy_from_slice(&all[..mine.start * w]);
            values[mine.end * w..].copy_from_slice(&all[mine.end * w..]);
            received += values.len() - mine.len() * w;
        }
        self.buffer = buffer;
        self.gathered = gathered;
        self.communicating += start.elapsed();
        self.received += 8 * received as u64;
    }
}
