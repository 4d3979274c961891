//! Parallel, deterministic passes called by the code `loss!` generates.
//!
//! # Passes over sparse data: [`over_tiles`]
//!
//! A masked term over `sparse[users, items]` data is evaluated in one pass
//! over the observed entries, which never touches the `users × items` grid:
//! per entry, the loss terms (summed), the user-side gradient rows
//! (`∂P[u, :] += g_ui · Q[:, i]`, row outputs) and the item-side gradient
//! rows (`∂Q[:, i] += g_ui · P[u, :]`, column outputs, item-major) are all
//! accumulated in place. No per-entry value is stored and no second pass
//! by columns runs.
//!
//! The entries are cut into tiles ([`Tiling`]): `B` blocks of users times
//! `B` blocks of items, both balanced by entry counts. Round `s = 0..B` runs
//! the tiles `(b, (b + s) mod B)` for every `b` in parallel: they touch
//! disjoint user blocks and disjoint item blocks, so each writes its rows of
//! every output without atomics or locks (the stratified schedule of DSGD).
//! Within a tile, entries run in CSR order: the tile's users stream past
//! while its item block's rows (of a factor and of its gradient) stay in
//! cache. How many blocks: [`tile_blocks`], a function of the data alone.
//! On data too large for the cache, the rows a tile is about to gather are
//! prefetched ([`Ahead`]).
//!
//! Measured on a 2-core AMD EPYC (2 MiB L2 per core, 32 MiB L3), one
//! value-and-gradient of `sum(mask * (D - P@Q)^2) + beta*(norm(P)+norm(Q))`
//! at 20M entries (1M users × 100k items, k = 32) went from 2.4 s (a pass by
//! users, then one by items through the CSC view) to about 0.6 s on 2
//! threads; see `docs/performance.md`, "Performance", for the figures and commands.
//!
//! # Passes over dense domains: [`over_rows`]
//!
//! Chunks of whole rows of about [`VALUES_PER_CHUNK`] values, in parallel.
//!
//! # Determinism
//!
//! Tiles and chunks are computed from the data alone, never from the number
//! of threads; every output value is accumulated by one sequential loop in a
//! fixed order (round by round, then CSR order), and partial sums are added
//! in a fixed order (round, then tile; or chunk). The same inputs therefore
//! give bit-identical results on 1 or 64 threads, with no atomics and no
//! per-thread accumulators.

#[cfg(test)]
mod tests;
mod tiles;
mod vector;

use rayon::prelude::*;
use std::ops::Range;

pub use tiles::*;
pub use vector::*;

/// Values (rows × row length) a chunk of a pass over a dense domain aims
/// at, in whole rows: a `k × items` block gets a few rows per chunk, a
/// `users × k` one hundreds. Fixed, so results do not depend on threads.
pub const VALUES_PER_CHUNK: usize = 4096;

/// A row-major output of a pass: `width` values per row, each row owned by
/// the chunk or block that holds it. Cleared before the pass unless [`RowOutput::onto`]
/// (which adds to what is there: a penalty onto a gradient, say).
///
/// ```
/// use mf_runtime::kernel::RowOutput;
/// let mut v = vec![1.0; 4];
/// assert_eq!(RowOutput::new(&mut v, 2).width, 2);
/// ```
pub struct RowOutput<'a> {
    /// The values, `rows × width`, row-major.
    pub values: &'a mut [f64],
    /// Values per row.
    pub width: usize,
    /// Keep the current values (accumulate onto them) instead of clearing.
    pub keep: bool,
}

impl<'a> RowOutput<'a> {
    /// An output cleared to 0 before the pass.
    ///
    /// ```
    /// # use mf_runtime::kernel::RowOutput;
    /// let mut v = vec![1.0; 2];
    /// assert!(!RowOutput::new(&mut v, 1).keep);
    /// ```
    pub fn new(values: &'a mut [f64], width: usize) -> Self {
        RowOutput {
            values,
            width,
            keep: false,
        }
    }

    /// An output whose current values are kept and added to.
    ///
    /// ```
    /// use mf_runtime::kernel::{over_rows, RowOutput};
    /// let mut g = vec![10.0, 20.0];
    /// let [] = over_rows(2, 1, [RowOutput::onto(&mut g, 1)], |row, outs, _: &mut [f64; 0]| {
    ///     outs[0][0] += row as f64;
    /// });
    /// assert_eq!(g, [10.0, 21.0]);
    /// ```
    pub fn onto(values: &'a mut [f64], width: usize) -> Self {
        RowOutput {
            values,
            width,
            keep: true,
        }
    }
}

/// Runs `per_row(row, outs, sums)` for every row `0..rows` of a dense
/// domain whose rows hold `row_len` values, in fixed chunks (of about
/// [`VALUES_PER_CHUNK`] values) in parallel; `outs` are the row's slices of the
/// `R` outputs (each `(buffer, row width)`, zeroed first), and the `N` sums
/// are added chunk by chunk in order, whatever the thread count.
///
/// ```
/// use mf_runtime::kernel::{over_rows, RowOutput};
/// let mut squares = vec![7.0; 3];
/// let [total] = over_rows(3, 1, [RowOutput::new(&mut squares, 1)], |row, outs, sums: &mut [f64; 1]| {
///     outs[0][0] += (row * row) as f64;
///     sums[0] += row as f64;
/// });
/// assert_eq!((total, squares), (3.0, vec![0.0, 1.0, 4.0]));
/// ```
pub fn over_rows<const N: usize, const R: usize>(
    rows: usize,
    row_len: usize,
    outputs: [RowOutput<'_>; R],
    per_row: impl Fn(usize, &mut [&mut [f64]; R], &mut [f64; N]) + Sync,
) -> [f64; N] {
    let chunks = row_chunks(rows, row_len);
    let widths: [usize; R] = outputs.each_ref().map(|o| o.width);
    let clear: [bool; R] = outputs.each_ref().map(|o| !o.keep);
    let mut output_parts: Vec<_> = outputs
        .into_iter()
        .map(|o| split_by(o.values, chunks.iter().map(|c| c.len() * o.width)).into_iter())
        .collect();
    let work: Vec<(Range<usize>, [&mut [f64]; R])> = chunks
        .into_iter()
        .map(|chunk| {
            let outs = std::array::from_fn(|r| output_parts[r].next().unwrap_or_default());
            (chunk, outs)
        })
        .collect();
    let partials: Vec<[f64; N]> = work
        .into_par_iter()
        .map(|(chunk, mut outs)| {
            let mut sums = [0.0; N];
            clear_outputs(&mut outs, clear);
            for row in chunk.clone() {
                let mut row_outs = row_slices(&mut outs, &widths, row - chunk.start);
                per_row(row, &mut row_outs, &mut sums);
            }
            sums
        })
        .collect();
    add_in_order(partials)
}

/// Zeroes the outputs marked `clear` (those not made with [`RowOutput::onto`]).
fn clear_outputs<const R: usize>(outs: &mut [&mut [f64]; R], clear: [bool; R]) {
    for (out, clear) in outs.iter_mut().zip(clear) {
        if clear {
            out.fill(0.0);
        }
    }
}

/// Row `local` of each of a block's outputs (`widths[r]` values per row).
#[inline(always)]
fn row_slices<'a, const R: usize>(
    outs: &'a mut [&mut [f64]; R],
    widths: &[usize; R],
    local: usize,
) -> [&'a mut [f64]; R] {
    let mut r = 0;
    outs.each_mut().map(|out| {
        let w = widths[r];
        r += 1;
        &mut out[local * w..(local + 1) * w]
    })
}

/// The element-wise sum of `parts`, added in their order.
fn add_in_order<const N: usize>(parts: impl IntoIterator<Item = [f64; N]>) -> [f64; N] {
    let mut total = [0.0; N];
    for part in parts {
        for (t, p) in total.iter_mut().zip(part) {
            *t += p;
        }
    }
    total
}

/// Cuts `buffer` into consecutive parts of the given lengths.
fn split_by<T>(buffer: &mut [T], lengths: impl Iterator<Item = usize>) -> Vec<&mut [T]> {
    let mut parts = Vec::new();
    let mut rest = buffer;
    for len in lengths {
        let (part, tail) = std::mem::take(&mut rest).split_at_mut(len);
        parts.push(part);
        rest = tail;
    }
    parts
}

/// The chunks of a pass over `rows` rows of `row_len` values.
fn row_chunks(rows: usize, row_len: usize) -> Vec<Range<usize>> {
    let per_chunk = (VALUES_PER_CHUNK / row_len.max(1)).max(1);
    (0..rows)
        .step_by(per_chunk)
        .map(|start| start..(start + per_chunk).min(rows))
        .collect()
}
