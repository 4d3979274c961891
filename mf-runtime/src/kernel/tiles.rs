//! Passes over the observed entries of sparse data, tile by tile: the
//! tiling, its rounds, and the prefetching of the rows a tile gathers.

use std::ops::Range;

use rayon::prelude::*;

use super::{add_in_order, clear_outputs, row_slices, split_by, RowOutput};

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
    pub(super) row_bounds: Vec<usize>,
    /// Column block `c` is `col_bounds[c]..col_bounds[c + 1]`.
    pub(super) col_bounds: Vec<usize>,
    /// For a row of block `b`: the offset from the row's start of its first
    /// entry in column block `b` or later.
    first: Vec<u32>,
    /// The pattern's `nnz`, to check a pass is given the same pattern.
    nnz: usize,
    /// Whether passes prefetch ([`PREFETCH_MIN_LINES`]).
    pub(super) prefetch: bool,
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
/// round by round (see the [`kernel`](crate::kernel) module docs); each output value and each
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
