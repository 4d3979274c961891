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

use rayon::prelude::*;
use std::ops::Range;

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

/// The most columns per item block wanted: at rank 32, a block's rows of a
/// factor and of its gradient take `16384 × 32 × 8 B × 2` = 8 MiB, so the
/// blocks of two threads stay in a 32 MiB L3 together with the user rows
/// streaming past.
///
/// Smaller blocks, fitting in L2, were measured slower on hyper-sparse data:
/// each user's row (of a factor and of its gradient) is read again in every
/// tile where the user has entries, about `min(B, entries per user)` times,
/// and with 20 entries per user (20M entries, 1M users) that traffic grows
/// faster than L2 hits save (see `docs/performance.md`, "Performance").
pub const TILE_COLUMNS: usize = 16384;

/// The fewest entries a tile aims at on average: below that, a round costs
/// more to schedule than its tiles take to run.
pub const MIN_TILE_ENTRIES: usize = 1024;

/// Blocks each way wanted for load balance when the data allow it: 8 tiles
/// per round, enough to keep 2 to 4 threads busy however uneven the tiles.
pub const PARALLEL_BLOCKS: usize = 8;

/// The most blocks each way: each round costs a synchronization, and each
/// row's cursor is visited once per round.
pub const MAX_BLOCKS: usize = 64;

/// The number of blocks `B` each way (users and items) of the tiling of a
/// `rows × cols` pattern with `nnz` entries; a function of the data alone,
/// never of the thread count:
///
/// `B = min(max(⌈cols / TILE_COLUMNS⌉, PARALLEL_BLOCKS), ⌊√(nnz / MIN_TILE_ENTRIES)⌋, MAX_BLOCKS)`,
/// at least 1 and at most `rows` and `cols`.
///
/// The first term keeps an item block's rows in cache ([`TILE_COLUMNS`]),
/// the second gives rounds enough tiles to balance 2 or more threads, the
/// third keeps tiles from becoming too small to be worth scheduling.
///
/// ```
/// use mf_runtime::kernel::tile_blocks;
/// assert_eq!(tile_blocks(100, 10, 10), 1); // tiny: one tile
/// assert_eq!(tile_blocks(80_000, 943, 1682), 8); // MovieLens 100k: load balance
/// assert_eq!(tile_blocks(20_000_000, 1_000_000, 100_000), 8); // load balance
/// assert_eq!(tile_blocks(100_000_000, 4_800_000, 180_000), 11); // cache: 16,364 items per block
/// ```
pub fn tile_blocks(nnz: usize, rows: usize, cols: usize) -> usize {
    let for_cache = cols.div_ceil(TILE_COLUMNS);
    let worth = (nnz / MIN_TILE_ENTRIES).isqrt();
    for_cache
        .max(PARALLEL_BLOCKS)
        .min(worth)
        .min(MAX_BLOCKS)
        .min(rows)
        .min(cols)
        .max(1)
}

/// The tiles of a CSR pattern: `B` blocks of rows times `B` blocks of
/// columns (see [`tile_blocks`]), both balanced by entries (cut where the
/// cumulative row counts, or column counts, pass `t · nnz / B`).
///
/// Because each row's column indices are sorted, a row's entries in a column
/// block are a contiguous run of its CSR entries, so a tiling needs no copy
/// or permutation of the entries: only the block bounds, and per row the
/// offset of its first entry in the column block it starts with (its own
/// block index, round 0), 4 bytes per row. During a pass each row keeps a
/// cursor that moves through its entries block by block.
///
/// Built once per data binding, from the CSR arrays only.
///
/// ```
/// use mf_runtime::kernel::Tiling;
/// // 2 × 3: row 0 has columns 0 and 2, row 1 has column 1
/// let tiling = Tiling::new(&[0, 2, 3], &[0, 2, 1], 3);
/// assert_eq!(tiling.blocks(), 1);
/// ```
#[derive(Clone, Debug)]
pub struct Tiling {
    /// Row block `b` is `row_bounds[b]..row_bounds[b + 1]`.
    row_bounds: Vec<usize>,
    /// Column block `c` is `col_bounds[c]..col_bounds[c + 1]`.
    col_bounds: Vec<usize>,
    /// For a row of block `b`: the offset from the row's start of its first
    /// entry in column block `b` or later.
    first: Vec<u32>,
    /// The pattern's `nnz`, to check a pass is given the same pattern.
    nnz: usize,
    /// Whether passes prefetch ([`PREFETCH_MIN_LINES`]).
    prefetch: bool,
}

impl Tiling {
    /// The tiling of the CSR pattern `indptr`, `indices` of a matrix with
    /// `cols` columns, with [`tile_blocks`] blocks each way.
    ///
    /// # Panics
    /// If a row's indices are not strictly increasing, or an index is not
    /// below `cols`, or `cols` does not fit in a `u32`.
    ///
    /// ```
    /// use mf_runtime::kernel::Tiling;
    /// assert_eq!(Tiling::new(&[0, 1], &[0], 1).blocks(), 1);
    /// ```
    pub fn new(indptr: &[usize], indices: &[u32], cols: usize) -> Tiling {
        let rows = indptr.len().saturating_sub(1);
        let nnz = indices.len();
        Tiling::with_blocks(indptr, indices, cols, tile_blocks(nnz, rows, cols))
    }

    /// The tiling with `blocks` blocks each way (at least 1), whatever the
    /// size of the data.
    ///
    /// # Panics
    /// As [`Tiling::new`].
    ///
    /// ```
    /// use mf_runtime::kernel::Tiling;
    /// let tiling = Tiling::with_blocks(&[0, 2, 3], &[0, 2, 1], 3, 2);
    /// assert_eq!(tiling.blocks(), 2);
    /// ```
    pub fn with_blocks(indptr: &[usize], indices: &[u32], cols: usize, blocks: usize) -> Tiling {
        assert!(
            u32::try_from(cols).is_ok_and(|c| c < u32::MAX),
            "too many columns for a tiling"
        );
        let blocks = blocks.max(1);
        let rows = indptr.len().saturating_sub(1);
        let nnz = indices.len();
        assert_eq!(
            indptr.last().copied().unwrap_or(0),
            nnz,
            "indptr ends at nnz"
        );
        let mut col_prefix = vec![0usize; cols + 1];
        for w in indptr.windows(2) {
            let row = &indices[w[0]..w[1]];
            assert!(
                row.windows(2).all(|p| p[0] < p[1]),
                "a row's column indices must be strictly increasing"
            );
            for &j in row {
                assert!((j as usize) < cols, "column index {j} out of range");
                col_prefix[j as usize + 1] += 1;
            }
        }
        for j in 0..cols {
            col_prefix[j + 1] += col_prefix[j];
        }
        let row_bounds = balanced_bounds(indptr, blocks);
        let col_bounds = balanced_bounds(&col_prefix, blocks);
        let mut first = vec![0u32; rows];
        for b in 0..blocks {
            let lo = col_bounds[b];
            for u in row_bounds[b]..row_bounds[b + 1] {
                let row = &indices[indptr[u]..indptr[u + 1]];
                first[u] = row.partition_point(|&j| (j as usize) < lo) as u32;
            }
        }
        Tiling {
            row_bounds,
            col_bounds,
            first,
            nnz,
            prefetch: rows + cols > PREFETCH_MIN_LINES,
        }
    }

    /// The number of blocks each way, `B`: a pass runs `B` rounds of `B`
    /// tiles.
    ///
    /// ```
    /// use mf_runtime::kernel::Tiling;
    /// assert_eq!(Tiling::with_blocks(&[0, 0, 0], &[], 4, 2).blocks(), 2);
    /// ```
    pub fn blocks(&self) -> usize {
        self.row_bounds.len() - 1
    }
}

/// `blocks + 1` bounds cutting `0..n` where the cumulative count `prefix`
/// (of length `n + 1`) passes `t · total / blocks`.
fn balanced_bounds(prefix: &[usize], blocks: usize) -> Vec<usize> {
    let n = prefix.len() - 1;
    let (base, total) = (prefix[0], prefix[n] - prefix[0]);
    let mut bounds: Vec<usize> = (0..blocks)
        .map(|t| {
            let target = (t as u128 * total as u128 / blocks as u128) as usize;
            prefix.partition_point(|&x| x - base < target).min(n)
        })
        .collect();
    bounds.push(n);
    bounds
}

/// Where a row stands in its entries during a pass: the offset of its next
/// entry from the row's start, and that entry's column (`u32::MAX` once the
/// row is done).
#[derive(Clone, Copy, Default)]
struct Cursor {
    offset: u32,
    next: u32,
}

/// A block of rows in a pass: its rows, its parts of the row outputs and
/// its rows' cursors.
struct RowBlock<'a, const R: usize> {
    rows: Range<usize>,
    outs: [&'a mut [f64]; R],
    cursors: &'a mut [Cursor],
}

/// A block of columns in a pass: its index, its columns and its parts of
/// the column outputs.
struct ColBlock<'a, const C: usize> {
    index: usize,
    cols: Range<usize>,
    outs: [&'a mut [f64]; C],
}

/// Runs `per_entry(row, col, entry, row_outs, col_outs, sums)` for every
/// entry of a CSR pattern (`indptr`, `indices`, tiled by `tiling`) and
/// returns the `N` sums accumulated in `sums`.
///
/// - `row_outs` are the entry's row of each of the `R` row outputs
///   (`rows × width`, row-major);
/// - `col_outs` are the entry's column of each of the `C` column outputs,
///   laid out column by column (`cols × width`: `width` values per column,
///   contiguous; a caller wanting `width × cols` copies it transposed).
///
/// `ahead` hears of the rows and columns about to be processed (see
/// [`Ahead`]), to prefetch what `per_entry` gathers; the pass itself
/// prefetches the rows of its outputs.
///
/// Outputs are zeroed first unless made with [`RowOutput::onto`]. Tiles run
/// round by round (see the [module docs](self)); each output value and each
/// sum is accumulated in an order fixed by the data, so the result does not
/// depend on the number of threads.
///
/// ```
/// use mf_runtime::kernel::{over_tiles, RowOutput, Tiling};
/// // 2 × 3: row 0 has columns 0 and 2, row 1 has column 1; values 1, 2, 3
/// let (indptr, indices, values) = ([0, 2, 3], [0u32, 2, 1], [1.0, 2.0, 3.0]);
/// let tiling = Tiling::new(&indptr, &indices, 3);
/// let (mut per_row, mut per_col) = (vec![0.0; 2], vec![0.0; 3]);
/// let [total] = over_tiles(
///     &tiling, &indptr, &indices,
///     [RowOutput::new(&mut per_row, 1)],
///     [RowOutput::new(&mut per_col, 1)],
///     |_ahead| {},
///     |_row, _col, entry, row_outs, col_outs, sums: &mut [f64; 1]| {
///         row_outs[0][0] += values[entry];
///         col_outs[0][0] += values[entry];
///         sums[0] += values[entry];
///     },
/// );
/// assert_eq!((total, per_row, per_col), (6.0, vec![3.0, 3.0], vec![1.0, 3.0, 2.0]));
/// ```
pub fn over_tiles<const N: usize, const R: usize, const C: usize>(
    tiling: &Tiling,
    indptr: &[usize],
    indices: &[u32],
    row_outputs: [RowOutput<'_>; R],
    col_outputs: [RowOutput<'_>; C],
    ahead: impl Fn(Ahead) + Sync,
    per_entry: impl Fn(usize, usize, usize, &mut [&mut [f64]; R], &mut [&mut [f64]; C], &mut [f64; N])
        + Sync,
) -> [f64; N] {
    let blocks = tiling.blocks();
    let rows = tiling.first.len();
    assert!(
        indptr.len() == rows + 1 && indices.len() == tiling.nnz,
        "the tiling was built for another pattern"
    );
    let row_widths: [usize; R] = row_outputs.each_ref().map(|o| o.width);
    let col_widths: [usize; C] = col_outputs.each_ref().map(|o| o.width);
    let row_clear: [bool; R] = row_outputs.each_ref().map(|o| !o.keep);
    let col_clear: [bool; C] = col_outputs.each_ref().map(|o| !o.keep);
    let row_lens: Vec<usize> = tiling.row_bounds.windows(2).map(|w| w[1] - w[0]).collect();
    let col_lens: Vec<usize> = tiling.col_bounds.windows(2).map(|w| w[1] - w[0]).collect();
    let mut row_parts: Vec<_> = row_outputs
        .into_iter()
        .map(|o| split_by(o.values, row_lens.iter().map(|n| n * o.width)).into_iter())
        .collect();
    let mut col_parts: Vec<_> = col_outputs
        .into_iter()
        .map(|o| split_by(o.values, col_lens.iter().map(|n| n * o.width)).into_iter())
        .collect();
    let mut cursors = vec![Cursor::default(); rows];
    let mut cursor_parts = split_by(&mut cursors, row_lens.iter().copied()).into_iter();
    let mut row_blocks: Vec<RowBlock<'_, R>> = (0..blocks)
        .map(|b| RowBlock {
            rows: tiling.row_bounds[b]..tiling.row_bounds[b + 1],
            outs: std::array::from_fn(|r| row_parts[r].next().unwrap_or_default()),
            cursors: cursor_parts.next().unwrap_or_default(),
        })
        .collect();
    let mut col_blocks: Vec<ColBlock<'_, C>> = (0..blocks)
        .map(|c| ColBlock {
            index: c,
            cols: tiling.col_bounds[c]..tiling.col_bounds[c + 1],
            outs: std::array::from_fn(|r| col_parts[r].next().unwrap_or_default()),
        })
        .collect();
    row_blocks
        .par_iter_mut()
        .for_each(|block| clear_outputs(&mut block.outs, row_clear));
    col_blocks
        .par_iter_mut()
        .for_each(|block| clear_outputs(&mut block.outs, col_clear));
    let mut total = [0.0; N];
    for round in 0..blocks {
        // Column blocks rotate by one each round: row block b meets column
        // block (b + round) mod B.
        let partials: Vec<[f64; N]> = row_blocks
            .par_iter_mut()
            .zip(col_blocks.par_iter_mut())
            .map(|(row_block, col_block)| {
                let mut sums = [0.0; N];
                tile(
                    TileArgs {
                        tiling,
                        indptr,
                        indices,
                        row_widths: &row_widths,
                        col_widths: &col_widths,
                        first_round: round == 0,
                    },
                    row_block,
                    col_block,
                    &ahead,
                    &per_entry,
                    &mut sums,
                );
                sums
            })
            .collect();
        let round_total = add_in_order(partials);
        for (t, p) in total.iter_mut().zip(round_total) {
            *t += p;
        }
        col_blocks.rotate_left(1);
    }
    total
}

/// What every tile of a pass shares.
struct TileArgs<'a, const R: usize, const C: usize> {
    tiling: &'a Tiling,
    indptr: &'a [usize],
    indices: &'a [u32],
    row_widths: &'a [usize; R],
    col_widths: &'a [usize; C],
    first_round: bool,
}

/// Rows and columns together above which passes prefetch what they gather
/// (see [`Ahead`]). Below, the gathered rows (at rank 32 and below, with
/// their gradients, at most 8 MiB) mostly sit in cache already, and the
/// prefetching bookkeeping was measured to cost a quarter of a pass over
/// MovieLens 100k.
pub const PREFETCH_MIN_LINES: usize = 16384;

/// Entries ahead at which a tile prefetches the column rows an entry will
/// touch ([`Ahead::Entry`], and the column outputs).
pub const PREFETCH_ENTRIES: usize = 8;

/// Runs ahead (rows with entries in the tile) at which a tile prefetches
/// the rows a run will touch ([`Ahead::Row`], and the row outputs).
pub const PREFETCH_ROWS: usize = 12;

/// What a pass will soon touch, handed to its `ahead` closure so that it can
/// [`prefetch`] the rows it gathers: inside a tile, users stream past in
/// order but skip the users without entries there, and items come in any
/// order, so neither is predictable by the hardware.
///
/// ```
/// use mf_runtime::kernel::Ahead;
/// let table = [[1.0; 4]; 3];
/// let hint = |ahead: Ahead| match ahead {
///     Ahead::Row(_) => {}
///     Ahead::Entry { col, .. } => mf_runtime::kernel::prefetch(&table[col]),
/// };
/// hint(Ahead::Entry { entry: 5, col: 2 });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ahead {
    /// Row `usize` will get entries processed soon.
    Row(usize),
    /// Entry `entry` (a CSR position), in column `col`, will be processed
    /// soon.
    Entry {
        /// The entry's position in the CSR arrays.
        entry: usize,
        /// Its column.
        col: usize,
    },
}

/// Asks for the cache lines of `values` (a hint, it never faults; no
/// effect off x86-64).
///
/// ```
/// mf_runtime::kernel::prefetch(&[1.0, 2.0]);
/// ```
#[inline(always)]
pub fn prefetch(values: &[f64]) {
    #[cfg(target_arch = "x86_64")]
    for line in values.chunks(8) {
        // SAFETY: a prefetch is a hint and never faults; the address is in bounds.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                line.as_ptr().cast(),
            )
        };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = values;
}

/// One tile: the entries of `rows.rows` in the columns of `cols.cols`, row
/// by row, each row's run starting at its cursor. The runs are found first
/// (moving the cursors on), then processed, with prefetches ahead when the
/// tiling asks for them.
#[inline(always)]
fn tile<const N: usize, const R: usize, const C: usize>(
    args: TileArgs<'_, R, C>,
    rows: &mut RowBlock<'_, R>,
    cols: &mut ColBlock<'_, C>,
    ahead: &impl Fn(Ahead),
    per_entry: &impl Fn(usize, usize, usize, &mut [&mut [f64]; R], &mut [&mut [f64]; C], &mut [f64; N]),
    sums: &mut [f64; N],
) {
    let TileArgs {
        tiling,
        indptr,
        indices,
        row_widths,
        col_widths,
        first_round,
    } = args;
    let (lo, hi) = (cols.cols.start, cols.cols.end);
    let RowBlock {
        rows: row_range,
        outs: row_outs,
        cursors,
    } = rows;
    // (row, first entry, end) of each row with entries in the tile.
    let mut runs: Vec<(usize, usize, usize)> = Vec::new();
    for (row, cursor) in row_range.clone().zip(cursors.iter_mut()) {
        // A row starts at its first entry in its own column block (round 0)
        // and wraps back to its start at column block 0.
        if first_round || cols.index == 0 {
            let offset = if first_round { tiling.first[row] } else { 0 };
            let at = indptr[row] + offset as usize;
            *cursor = Cursor {
                offset,
                next: if at < indptr[row + 1] {
                    indices[at]
                } else {
                    u32::MAX
                },
            };
        }
        if (cursor.next as usize) >= hi {
            continue;
        }
        let (start, end) = (indptr[row], indptr[row + 1]);
        let first = start + cursor.offset as usize;
        let last = first + 1 + indices[first + 1..end].partition_point(|&j| (j as usize) < hi);
        runs.push((row, first, last));
        *cursor = Cursor {
            offset: (last - start) as u32,
            next: if last < end { indices[last] } else { u32::MAX },
        };
    }
    let first_row = row_range.start;
    let hint_row = |row: usize, outs: &[&mut [f64]; R]| {
        for (out, &w) in outs.iter().zip(row_widths) {
            prefetch(&out[(row - first_row) * w..(row - first_row + 1) * w]);
        }
        ahead(Ahead::Row(row));
    };
    // The entry PREFETCH_ENTRIES ahead: (run, entry).
    let (mut ahead_run, mut ahead_entry) = (0, runs.first().map_or(0, |r| r.1));
    let mut step_ahead = |col_outs: &[&mut [f64]; C]| {
        while let Some(&(_, _, end)) = runs.get(ahead_run) {
            if ahead_entry < end {
                let col = indices[ahead_entry] as usize;
                for (out, &w) in col_outs.iter().zip(col_widths) {
                    prefetch(&out[(col - lo) * w..(col - lo + 1) * w]);
                }
                ahead(Ahead::Entry {
                    entry: ahead_entry,
                    col,
                });
                ahead_entry += 1;
                return;
            }
            ahead_run += 1;
            ahead_entry = runs.get(ahead_run).map_or(0, |r| r.1);
        }
    };
    let prefetching = tiling.prefetch;
    if prefetching {
        for &(row, ..) in runs.iter().take(PREFETCH_ROWS) {
            hint_row(row, row_outs);
        }
        for _ in 0..PREFETCH_ENTRIES {
            step_ahead(&cols.outs);
        }
    }
    // One loop, with or without prefetching: a single call site of
    // `per_entry`, which the compiler then inlines (with two, it kept the
    // generated closure out of line, a call per entry).
    for (t, &(row, first, last)) in runs.iter().enumerate() {
        if prefetching {
            if let Some(&(next, ..)) = runs.get(t + PREFETCH_ROWS) {
                hint_row(next, row_outs);
            }
        }
        let mut outs = row_slices(row_outs, row_widths, row - first_row);
        for (entry, &col) in (first..last).zip(&indices[first..last]) {
            if prefetching {
                step_ahead(&cols.outs);
            }
            let col = col as usize;
            let mut col_outs = row_slices(&mut cols.outs, col_widths, col - lo);
            per_entry(row, col, entry, &mut outs, &mut col_outs, sums);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A random pattern: `rows × cols`, row `r` holding about `density` of
    /// the columns (a few rows dense, a few empty).
    fn pattern(rows: usize, cols: usize, seed: u64) -> (Vec<usize>, Vec<u32>) {
        let mut state = seed;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as usize
        };
        let mut indptr = vec![0];
        let mut indices = Vec::new();
        for r in 0..rows {
            let every = [1, 2, 7, 40, 1000][r % 5];
            for j in 0..cols {
                if next() % every == 0 {
                    indices.push(j as u32);
                }
            }
            indptr.push(indices.len());
        }
        (indptr, indices)
    }

    /// Row sums, column sums and the total of `f(entry)` by a plain loop.
    fn plain(indptr: &[usize], indices: &[u32], cols: usize) -> (Vec<f64>, Vec<f64>, f64) {
        let (mut r, mut c, mut t) = (vec![0.0; indptr.len() - 1], vec![0.0; cols], 0.0);
        for row in 0..indptr.len() - 1 {
            for e in indptr[row]..indptr[row + 1] {
                let v = value(row, indices[e] as usize, e);
                r[row] += v;
                c[indices[e] as usize] += v;
                t += v;
            }
        }
        (r, c, t)
    }

    fn value(row: usize, col: usize, entry: usize) -> f64 {
        ((row * 31 + col * 7 + entry) % 13) as f64 - 6.0
    }

    /// Every entry visited once with its own row and column, whatever the
    /// number of blocks (exact sums of small integers).
    #[test]
    fn every_entry_once_in_its_row_and_column() {
        for (rows, cols, prefetch) in [(300, 200, false), (17_000, 40, true)] {
            once_in_row_and_column(rows, cols, prefetch);
        }
    }

    fn once_in_row_and_column(rows: usize, cols: usize, prefetch: bool) {
        let (indptr, indices) = pattern(rows, cols, 3);
        let expected = plain(&indptr, &indices, cols);
        for blocks in [1, 2, 3, 7, 16, 64, 500] {
            let tiling = Tiling::with_blocks(&indptr, &indices, cols, blocks);
            assert_eq!(tiling.prefetch, prefetch);
            let (mut r, mut c) = (vec![1.0; rows], vec![1.0; 2 * cols]);
            let [t, visits] = over_tiles(
                &tiling,
                &indptr,
                &indices,
                [RowOutput::new(&mut r, 1)],
                [RowOutput::new(&mut c, 2)],
                |_| {},
                |row, col, entry, ro, co, sums: &mut [f64; 2]| {
                    assert_eq!(indices[entry] as usize, col);
                    assert!((indptr[row]..indptr[row + 1]).contains(&entry));
                    let v = value(row, col, entry);
                    ro[0][0] += v;
                    co[0][0] += v;
                    co[0][1] += 1.0;
                    sums[0] += v;
                    sums[1] += 1.0;
                },
            );
            let per_col: Vec<f64> = c.chunks(2).map(|p| p[0]).collect();
            assert_eq!((r, per_col, t), expected.clone(), "{blocks} blocks");
            assert_eq!(visits, indices.len() as f64);
        }
    }

    #[test]
    fn blocks_are_balanced_by_entries() {
        let (indptr, indices) = pattern(400, 300, 5);
        let tiling = Tiling::with_blocks(&indptr, &indices, 300, 4);
        let nnz = indices.len();
        for w in tiling.row_bounds.windows(2) {
            let n = indptr[w[1]] - indptr[w[0]];
            assert!(n.abs_diff(nnz / 4) < nnz / 10, "{n} of {nnz}");
        }
        let mut per_block = [0usize; 4];
        for &j in &indices {
            per_block[tiling.col_bounds.partition_point(|&b| b <= j as usize) - 1] += 1;
        }
        for n in per_block {
            assert!(n.abs_diff(nnz / 4) < nnz / 10, "{n} of {nnz}");
        }
    }

    #[test]
    fn transposes_both_ways_round() {
        for (rows, cols) in [(3, 200), (200, 3), (130, 70), (1, 1)] {
            let src: Vec<f64> = (0..rows * cols).map(|v| v as f64).collect();
            let mut dst = vec![0.0; rows * cols];
            transpose(&src, rows, cols, &mut dst);
            for t in 0..rows {
                for j in 0..cols {
                    assert_eq!(dst[j * rows + t], src[t * cols + j]);
                }
            }
        }
    }

    #[test]
    #[should_panic(expected = "strictly increasing")]
    fn unsorted_rows_are_refused() {
        Tiling::new(&[0, 2], &[1, 0], 2);
    }

    #[test]
    fn sums_and_outputs_do_not_depend_on_the_number_of_threads() {
        let (rows, cols) = (2000, 700);
        let (indptr, indices) = pattern(rows, cols, 11);
        let tiling = Tiling::with_blocks(&indptr, &indices, cols, 8);
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("pool");
            pool.install(|| {
                let (mut r, mut c) = (vec![0.0; rows * 3], vec![0.5; cols * 3]);
                let [s] = over_tiles(
                    &tiling,
                    &indptr,
                    &indices,
                    [RowOutput::new(&mut r, 3)],
                    [RowOutput::onto(&mut c, 3)],
                    |_| {},
                    |row, col, entry, ro, co, sums: &mut [f64; 1]| {
                        let v = ((row * 7 + col * 3 + entry) as f64).sin() * 1e-3;
                        for t in 0..3 {
                            ro[0][t] += v * (t + 1) as f64;
                            co[0][t] += v / (t + 1) as f64;
                        }
                        sums[0] += v;
                    },
                );
                let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                (s.to_bits(), bits(&r), bits(&c))
            })
        };
        let one = run(1);
        assert_eq!(one, run(2));
        assert_eq!(one, run(4));
    }
}
