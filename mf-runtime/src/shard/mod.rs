//! Training over shards: each rank holds the observed entries of a block of
//! rows (users) and the parameter rows of those users; the partial results
//! of each evaluation are summed across ranks, in rank order, before
//! anything reads them.
//!
//! A rank binds its loss to [`shard_rows`] of the data: its block's
//! entries, rows renumbered from 0, the item side whole. Its parameter
//! vector ([`Shards::hold_params`]) holds its users' rows of every
//! user-side param (`P`, `bu`: blocks of `[users, …]`) and a whole copy of
//! the others (`Q`, `bi`, `mu`). The code `loss!` generates knows which
//! values of an evaluation are *partial* on a rank: the sums and item-side
//! outputs of a pass over its entries (`∂Q`, `∂bi`, `mask(D).T @ G`), and
//! every dense step that reduces over the users (`norm(P)`, `sum(bu)`,
//! `P.T @ P`, a `mean` over users). It sums each of them across ranks
//! ([`Shards::combine_pass`], [`Shards::sum`]) right after the step that
//! computes it; user-shaped values stay on their rank, and what is computed
//! from whole values is computed on every rank alike, once (a term that
//! reads no data is never counted once per rank).
//!
//! Each coordinate of the whole parameter vector has one owner: a user row
//! its rank, a whole block rank 0. The other ranks read the whole blocks
//! from rank 0 at each evaluation ([`Shards::share_whole_blocks`]) and get
//! a zero gradient there ([`Shards::keep_own_gradient`]), so an optimizer
//! never moves them, and the dot products of two parameter vectors are the
//! sums of each rank's over its own coordinates
//! ([`Objective::sum_over_ranks`](crate::Objective::sum_over_ranks)).
//! Gradient descent, Adam, L-BFGS and the [`Trainer`](crate::Trainer) sum
//! every dot product and norm they branch on that way, so every rank takes
//! the same decisions. The transport is a [`Link`]: [`Solo`] for one
//! process, `MpiLink` (cargo feature `mpi`) for MPI ranks.
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
//! let rows = bounds[0]..bounds[1];
//! let block = shard_rows(&ratings, rows.clone())?;
//! let mine = Sq::rows_of(&params, rows)?;
//! let shards = Shards::new(Box::new(Solo), bounds)?;
//! let mut sharded = Sq::default().objective(&block, &mine)?.over_shards(shards)?;
//! let mut whole = Sq::default().objective(&ratings, &params)?;
//! assert_eq!(sharded.value(mine.as_slice()), whole.value(params.as_slice()));
//! let gathered = sharded.gather_params(&mine).expect("rank 0 gets the whole model");
//! assert_eq!(gathered, params);
//! # Ok(())
//! # }
//! ```

#[cfg(feature = "mpi")]
mod mpi;

#[cfg(feature = "mpi")]
pub use self::mpi::MpiLink;
pub use self::shards::Shards;

mod shards;

use crate::data::{IdMap, Ratings};
use std::ops::Range;
use std::sync::Arc;

/// Why a loss, data or row blocks cannot be trained over shards.
#[derive(thiserror::Error)]
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
    /// A data matrix's or a param's row count differs from this rank's
    /// block of rows.
    #[error("{what} has {found} rows, this rank's block {rows:?} of the row bounds has {expected} (bind each rank to `shard_rows` of its block and `rows_of` of the start)")]
    Rows {
        what: String,
        found: usize,
        expected: usize,
        rows: Range<usize>,
    },
}

debug_as_display!(ShardError);

/// Why the row-block methods refuse a sharded objective (its item rows'
/// entries are spread over the ranks; see `docs/distributed.md`).
pub const NO_ROW_SYSTEMS: &str = "the row-block methods (ALS, fold-in) do not run over shards: an item row's entries are spread over every rank (train a sharded objective with gradient descent, Adam or L-BFGS)";

/// The transport between ranks: a rank's place and three collective
/// operations (a sum in rank order, a broadcast from rank 0, a gather to
/// rank 0). Every rank must make the same calls in the same order.
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

    /// Replaces `values` on every rank by rank 0's. Every rank passes the
    /// same length.
    fn broadcast(&mut self, values: &mut [f64]);

    /// Concatenates every rank's `mine` in rank order into `all` on rank 0;
    /// `counts[r]` is the length of rank `r`'s part and, on rank 0,
    /// `all.len()` their sum (`all` is not read nor written elsewhere).
    fn gather(&mut self, mine: &[f64], counts: &[usize], all: &mut [f64]);
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

    fn broadcast(&mut self, _values: &mut [f64]) {}

    fn gather(&mut self, mine: &[f64], _counts: &[usize], all: &mut [f64]) {
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

/// The observed entries of rows `rows` of `ratings`, renumbered from 0
/// (row `rows.start + r` is row `r`, with its raw id), and the whole item
/// side (the item ids, the item count): what one rank binds its loss to.
/// Errors when `rows` is not a range of `ratings`' rows.
///
/// ```
/// use mf_runtime::data::Ratings;
/// use mf_runtime::shard::shard_rows;
/// let r = Ratings::from_triplets(3, 2, [(0, 0, 1.0), (1, 1, 2.0), (2, 0, 3.0)]).unwrap();
/// let block = shard_rows(&r, 1..3).unwrap();
/// assert_eq!((block.num_users(), block.num_items(), block.nnz()), (2, 2, 2));
/// assert_eq!(block.get(0, 1), Some(2.0));
/// assert_eq!(block.user_ids().raw(0).unwrap().to_string(), "1");
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
    let row_ptr: Vec<usize> = csr.indptr[rows.clone()]
        .iter()
        .chain([&last])
        .map(|e| e - first)
        .collect();
    let mut users = IdMap::new();
    for u in rows {
        let raw = ratings.user_ids().raw(u as u32).expect("a row has an id");
        users.get_or_insert(raw);
    }
    Ok(Ratings::from_csr(
        Arc::new(users),
        ratings.item_ids().clone(),
        row_ptr,
        csr.indices[first..last].to_vec(),
        csr.values[first..last].to_vec(),
        ratings.timestamps().map(|t| t[first..last].to_vec()),
    ))
}
