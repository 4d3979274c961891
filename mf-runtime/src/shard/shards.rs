//! [`Shards`]: the ranks of a sharded objective, what each rank's parameter
//! vector holds, and the collective steps of an evaluation (sums, the whole
//! blocks shared from rank 0, the model gathered to rank 0).

use super::{Link, ShardError};
use std::ops::Range;
use std::time::{Duration, Instant};

/// One block of a rank's parameter vector.
#[derive(Clone, Debug, PartialEq)]
enum Held {
    /// This rank's rows of a user-side block, `width` values per row.
    Rows { at: Range<usize>, width: usize },
    /// A block every rank holds whole; rank 0's copy is the one trained.
    Whole { at: Range<usize> },
}

/// The ranks of a sharded objective: the [`Link`] between them, the row
/// block of each, the layout of this rank's parameter vector, and the time
/// and bytes spent communicating.
pub struct Shards {
    link: Box<dyn Link>,
    bounds: Vec<usize>,
    held: Vec<Held>,
    communicating: Duration,
    received: u64,
    /// Scratch of the sums, kept between evaluations so its pages are
    /// touched once.
    buffer: Vec<f64>,
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
    /// `bounds[r]..bounds[r + 1]` (from [`row_bounds`](super::row_bounds),
    /// the same on every rank). Errors when `bounds` has not `ranks + 1`
    /// non-decreasing entries starting at 0.
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
            held: Vec::new(),
            communicating: Duration::ZERO,
            received: 0,
            buffer: Vec::new(),
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

    /// The rows this rank holds (indices of the whole data).
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

    /// Bytes this rank has received from the link so far: about twice each
    /// summed buffer (its slices from every rank, then the summed slices)
    /// and the whole blocks shared from rank 0; 0 on one rank.
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

    /// Declares what this rank's parameter vector holds, block by block in
    /// the layout's order: `(name, length, Some(width))` for this rank's
    /// rows of a user-side block (`width` values per row, so `length` is
    /// `rows().len() · width`), `(name, length, None)` for a block every
    /// rank holds whole. Called by the generated `over_shards`; errors when
    /// a row block's length is not this rank's row count times its width.
    ///
    /// ```
    /// use mf_runtime::shard::{Shards, Solo};
    /// let mut shards = Shards::new(Box::new(Solo), vec![0, 3]).unwrap();
    /// // P: 3 rows × 2, then Q whole (4 values).
    /// assert!(shards.hold_params(&[("P", 6, Some(2)), ("Q", 4, None)]).is_ok());
    /// let err = shards.hold_params(&[("P", 4, Some(2))]).unwrap_err();
    /// assert!(err.to_string().starts_with("param `P` has 2 rows, this rank's block 0..3"));
    /// ```
    pub fn hold_params(
        &mut self,
        blocks: &[(&str, usize, Option<usize>)],
    ) -> Result<(), ShardError> {
        let rows = self.rows();
        let mut start = 0;
        self.held.clear();
        for &(name, len, width) in blocks {
            let at = start..start + len;
            start += len;
            self.held.push(match width {
                Some(width) if len != rows.len() * width => {
                    return Err(ShardError::Rows {
                        what: format!("param `{name}`"),
                        found: len / width.max(1),
                        expected: rows.len(),
                        rows,
                    });
                }
                Some(width) => Held::Rows { at, width },
                None => Held::Whole { at },
            });
        }
        Ok(())
    }

    /// The length of this rank's parameter vector (see
    /// [`hold_params`](Shards::hold_params)).
    fn held_len(&self) -> usize {
        self.held.last().map_or(0, |h| match h {
            Held::Rows { at, .. } | Held::Whole { at } => at.end,
        })
    }

    /// The whole blocks' ranges.
    fn whole_blocks(&self) -> impl Iterator<Item = Range<usize>> + '_ {
        self.held.iter().filter_map(|h| match h {
            Held::Whole { at } => Some(at.clone()),
            Held::Rows { .. } => None,
        })
    }

    /// Checks that the data a loss reads can be sharded: `sparse` (name and
    /// matrix) all hold this rank's rows, as many as its block has, and
    /// there is no dense data (`dense`, names). Called by the generated
    /// `over_shards`.
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
        sparse: &[(&str, &crate::data::Ratings)],
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
        let rows = self.rows();
        for (name, data) in sparse {
            if data.num_users() != rows.len() {
                return Err(ShardError::Rows {
                    what: format!("data `{name}`"),
                    found: data.num_users(),
                    expected: rows.len(),
                    rows,
                });
            }
        }
        Ok(())
    }

    /// Sums `values` across ranks in rank order (every rank gets the sum):
    /// a partial result of a dense step, the observation counts at bind
    /// time, the partial dot products of an optimizer.
    pub fn sum(&mut self, values: &mut [f64]) {
        if self.ranks() == 1 {
            return;
        }
        let start = Instant::now();
        self.link.sum_in_rank_order(values);
        self.communicating += start.elapsed();
        let ranks = self.ranks() as u64;
        self.received += 16 * values.len() as u64 * (ranks - 1) / ranks;
    }

    /// Combines the partial results of one pass over this rank's entries:
    /// `sums` (scalars) and `columns` (item-side outputs) are summed across
    /// ranks in one buffer, in rank order, so every rank holds what one
    /// process over all the entries computes (up to the order of
    /// additions). The pass's user-side outputs are complete on their rank
    /// and not passed. With one rank there is nothing to do.
    ///
    /// ```
    /// use mf_runtime::shard::{Shards, Solo};
    /// let mut shards = Shards::new(Box::new(Solo), vec![0, 2]).unwrap();
    /// let (mut sums, mut dq) = ([3.0], [1.0, 2.0]);
    /// shards.combine_pass(&mut sums, &mut [&mut dq[..]]);
    /// assert_eq!((sums, dq), ([3.0], [1.0, 2.0])); // one rank: unchanged
    /// ```
    pub fn combine_pass(&mut self, sums: &mut [f64], columns: &mut [&mut [f64]]) {
        if self.ranks() == 1 {
            return;
        }
        let mut buffer = std::mem::take(&mut self.buffer);
        buffer.clear();
        buffer.extend_from_slice(sums);
        for column in columns.iter() {
            buffer.extend_from_slice(column);
        }
        self.sum(&mut buffer);
        let (head, mut tail) = buffer.split_at(sums.len());
        sums.copy_from_slice(head);
        for column in columns.iter_mut() {
            let (part, rest) = tail.split_at(column.len());
            column.copy_from_slice(part);
            tail = rest;
        }
        self.buffer = buffer;
    }

    /// Shares rank 0's whole blocks of `x` (this rank's parameter vector)
    /// with every rank, one after the other in `whole`: every rank calls it
    /// at the start of each evaluation. Returns whether this rank evaluates
    /// at `whole`'s blocks instead of its own copies (every rank but 0;
    /// with one rank nothing moves and it returns false).
    ///
    /// ```
    /// use mf_runtime::shard::{Shards, Solo};
    /// let mut shards = Shards::new(Box::new(Solo), vec![0, 1]).unwrap();
    /// shards.hold_params(&[("P", 2, Some(2)), ("Q", 1, None)]).unwrap();
    /// let mut whole = Vec::new();
    /// assert!(!shards.share_whole_blocks(&[1.0, 2.0, 3.0], &mut whole));
    /// ```
    pub fn share_whole_blocks(&mut self, x: &[f64], whole: &mut Vec<f64>) -> bool {
        assert_eq!(
            x.len(),
            self.held_len(),
            "the parameter vector must have this rank's layout"
        );
        if self.ranks() == 1 {
            return false;
        }
        let start = Instant::now();
        let rank = self.rank();
        whole.clear();
        for at in self.whole_blocks() {
            match rank {
                0 => whole.extend_from_slice(&x[at]),
                _ => whole.resize(whole.len() + at.len(), 0.0),
            }
        }
        self.link.broadcast(whole);
        self.communicating += start.elapsed();
        if rank > 0 {
            self.received += 8 * whole.len() as u64;
        }
        rank > 0
    }

    /// Zeroes the gradient of the whole blocks on every rank but rank 0,
    /// their owner: an optimizer leaves them in place there, and the dot
    /// products summed over ranks count them once. Every rank calls it at
    /// the end of each evaluation of the gradient.
    ///
    /// ```
    /// use mf_runtime::shard::{Shards, Solo};
    /// let mut shards = Shards::new(Box::new(Solo), vec![0, 1]).unwrap();
    /// shards.hold_params(&[("P", 1, Some(1)), ("Q", 1, None)]).unwrap();
    /// let mut g = [1.0, 2.0];
    /// shards.keep_own_gradient(&mut g);
    /// assert_eq!(g, [1.0, 2.0]); // rank 0 owns every whole block
    /// ```
    pub fn keep_own_gradient(&self, grad: &mut [f64]) {
        if self.rank() == 0 {
            return;
        }
        for at in self.whole_blocks() {
            grad[at].fill(0.0);
        }
    }

    /// The whole parameter vector on rank 0, `None` on the other ranks:
    /// every user-side block's rows gathered in rank order, the whole
    /// blocks rank 0's. `local` is this rank's vector (parameters, or a
    /// gradient); every rank calls it. With one rank, a copy of `local`.
    ///
    /// ```
    /// use mf_runtime::shard::{Shards, Solo};
    /// let mut shards = Shards::new(Box::new(Solo), vec![0, 1]).unwrap();
    /// shards.hold_params(&[("P", 2, Some(2)), ("Q", 1, None)]).unwrap();
    /// assert_eq!(shards.gather(&[1.0, 2.0, 3.0]), Some(vec![1.0, 2.0, 3.0]));
    /// ```
    pub fn gather(&mut self, local: &[f64]) -> Option<Vec<f64>> {
        assert_eq!(
            local.len(),
            self.held_len(),
            "the vector must have this rank's layout"
        );
        let root = self.rank() == 0;
        let start = Instant::now();
        let mut whole = Vec::new();
        for held in &self.held {
            match held {
                Held::Whole { at } => whole.extend_from_slice(&local[at.clone()]),
                Held::Rows { at, width } => {
                    let counts: Vec<usize> = self
                        .bounds
                        .windows(2)
                        .map(|b| (b[1] - b[0]) * width)
                        .collect();
                    let from = whole.len();
                    if root {
                        whole.resize(from + counts.iter().sum::<usize>(), 0.0);
                    }
                    self.link
                        .gather(&local[at.clone()], &counts, &mut whole[from..]);
                }
            }
        }
        self.communicating += start.elapsed();
        if root {
            self.received += 8 * (whole.len() - local.len()) as u64;
        }
        root.then_some(whole)
    }
}
