//! Parallel, deterministic passes over the observed entries of a sparse
//! data matrix, called by the code `loss!` generates for `sparse[..]` data.
//!
//! A masked term over sparse data is evaluated in three kinds of pass, none
//! of which touches the `users × items` grid:
//!
//! 1. [`over_entries`]: every observed entry once, in CSR order, computing
//!    the loss terms (summed) and, for each gradient product, the entry's
//!    adjoint (stored, one slot per product);
//! 2. [`scatter_rows`]: user-side gradient rows, `out[u, :] = Σᵢ g_ui · B[i, :]`
//!    (a sparse × dense product over each user's entries);
//! 3. [`scatter_columns`]: item-side gradient rows, the same over each item's
//!    entries through the CSC view.
//!
//! Work is split into chunks of whole rows computed from the data alone,
//! whatever the number of threads: over sparse data, chunks balanced by
//! entries ([`entry_chunks`]); over a dense domain, [`ROWS_PER_CHUNK`] rows.
//! Every output value is produced by one sequential loop in a fixed order,
//! and chunk partial sums are added in chunk order. The same inputs
//! therefore give bit-identical results on 1 or 64 threads, with no atomics
//! and no per-thread accumulators.

use rayon::prelude::*;
use std::ops::Range;

/// Rows per chunk of a pass over a dense domain. Fixed, so results do not
/// depend on threads.
pub const ROWS_PER_CHUNK: usize = 256;

/// The fewest entries a chunk of a pass over sparse data aims at: below
/// that, scheduling a chunk costs more than its work.
pub const MIN_ENTRIES_PER_CHUNK: usize = 2048;

/// Chunks of whole rows of a CSR pattern, balanced by entries: each takes
/// rows until it holds at least `max(nnz / 64, MIN_ENTRIES_PER_CHUNK)`
/// entries (the last one may hold fewer). Computed from `indptr` alone, so
/// a pass split this way gives the same result on any number of threads.
///
/// ```
/// use mf_runtime::kernel::entry_chunks;
/// // 5000 rows of one entry, then one row of 3000: about 2048 entries each
/// let mut indptr: Vec<usize> = (0..=5000).collect();
/// indptr.push(8000);
/// let chunks = entry_chunks(&indptr);
/// assert_eq!(chunks, vec![0..2048, 2048..4096, 4096..5001]);
/// ```
pub fn entry_chunks(indptr: &[usize]) -> Vec<Range<usize>> {
    let rows = indptr.len().saturating_sub(1);
    let nnz = indptr.last().copied().unwrap_or(0) - indptr.first().copied().unwrap_or(0);
    let target = (nnz / 64).max(MIN_ENTRIES_PER_CHUNK);
    let mut chunks = Vec::new();
    let mut start = 0;
    for row in 0..rows {
        if indptr[row + 1] - indptr[start] >= target {
            chunks.push(start..row + 1);
            start = row + 1;
        }
    }
    if start < rows {
        chunks.push(start..rows);
    }
    chunks
}

/// A row-major output of a pass: `width` values per row, each row owned by
/// the chunk that holds it. Cleared before the pass unless [`RowOutput::onto`]
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
    /// let [] = over_rows(2, [RowOutput::onto(&mut g, 1)], |row, outs, _: &mut [f64; 0]| {
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

/// Runs `per_entry(row, entry, slots, outs, sums)` for every entry of a CSR
/// pattern and returns the `N` sums accumulated in `sums`, added chunk by
/// chunk in order.
///
/// - `slots` are the entry's `width` values in `stored` (kept for a later
///   pass by columns);
/// - `outs` are the current row's slices of the `R` row-owned outputs (each
///   `(buffer, row width)`, zeroed before the pass): a chunk owns its rows,
///   so gradient rows accumulate in place, without atomics.
///
/// ```
/// use mf_runtime::kernel::{over_entries, RowOutput};
/// let indptr = [0, 2, 3]; // row 0 has entries 0 and 1, row 1 has entry 2
/// let mut stored = vec![0.0; 3];
/// let mut per_row = vec![9.0; 2];
/// let [count] = over_entries(
///     &indptr, &mut stored, 1, [RowOutput::new(&mut per_row, 1)],
///     |row, entry, slot, outs, sums: &mut [f64; 1]| {
///         slot[0] = (10 * row + entry) as f64;
///         outs[0][0] += 1.0;
///         sums[0] += 1.0;
///     },
/// );
/// assert_eq!((count, stored, per_row), (3.0, vec![0.0, 1.0, 12.0], vec![2.0, 1.0]));
/// ```
pub fn over_entries<const N: usize, const R: usize>(
    indptr: &[usize],
    stored: &mut [f64],
    width: usize,
    outputs: [RowOutput<'_>; R],
    per_entry: impl Fn(usize, usize, &mut [f64], &mut [&mut [f64]; R], &mut [f64; N]) + Sync,
) -> [f64; N] {
    let chunks = entry_chunks(indptr);
    let stored_parts = split_by(
        stored,
        chunks
            .iter()
            .map(|c| (indptr[c.end] - indptr[c.start]) * width),
    );
    in_row_chunks(
        chunks,
        stored_parts,
        outputs,
        |chunk, row, stored, outs, sums| {
            let first = indptr[chunk.start];
            for entry in indptr[row]..indptr[row + 1] {
                let at = (entry - first) * width;
                per_entry(row, entry, &mut stored[at..at + width], outs, sums);
            }
        },
    )
}

/// Runs `per_row(row, outs, sums)` for every row `0..rows` of a dense
/// domain, in fixed chunks in parallel; `outs` are the row's slices of the
/// `R` outputs (each `(buffer, row width)`, zeroed first), and the `N` sums
/// are added chunk by chunk in order, whatever the thread count.
///
/// ```
/// use mf_runtime::kernel::{over_rows, RowOutput};
/// let mut squares = vec![7.0; 3];
/// let [total] = over_rows(3, [RowOutput::new(&mut squares, 1)], |row, outs, sums: &mut [f64; 1]| {
///     outs[0][0] += (row * row) as f64;
///     sums[0] += row as f64;
/// });
/// assert_eq!((total, squares), (3.0, vec![0.0, 1.0, 4.0]));
/// ```
pub fn over_rows<const N: usize, const R: usize>(
    rows: usize,
    outputs: [RowOutput<'_>; R],
    per_row: impl Fn(usize, &mut [&mut [f64]; R], &mut [f64; N]) + Sync,
) -> [f64; N] {
    let chunks = row_chunks(rows);
    let no_store: Vec<&mut [f64]> = chunks.iter().map(|_| <&mut [f64]>::default()).collect();
    in_row_chunks(chunks, no_store, outputs, |_, row, _, outs, sums| {
        per_row(row, outs, sums)
    })
}

/// One chunk's rows, its part of the stored values and its parts of the outputs.
type ChunkWork<'a, const R: usize> = (Range<usize>, &'a mut [f64], [&'a mut [f64]; R]);

/// The engine of [`over_entries`] and [`over_rows`]: runs `body` on every
/// row of every chunk, in parallel over chunks, handing it the chunk, the
/// row, the chunk's `stored` part and the row's slices of the outputs; adds the chunks' sums
/// in chunk order.
fn in_row_chunks<const N: usize, const R: usize>(
    chunks: Vec<Range<usize>>,
    stored_parts: Vec<&mut [f64]>,
    outputs: [RowOutput<'_>; R],
    body: impl Fn(&Range<usize>, usize, &mut [f64], &mut [&mut [f64]; R], &mut [f64; N]) + Sync,
) -> [f64; N] {
    let widths: [usize; R] = outputs.each_ref().map(|o| o.width);
    let clear: [bool; R] = outputs.each_ref().map(|o| !o.keep);
    let mut output_parts: Vec<_> = outputs
        .into_iter()
        .map(|o| split_by(o.values, chunks.iter().map(|c| c.len() * o.width)).into_iter())
        .collect();
    let work: Vec<ChunkWork<'_, R>> = chunks
        .into_iter()
        .zip(stored_parts)
        .map(|(chunk, stored)| {
            let outs = std::array::from_fn(|r| output_parts[r].next().unwrap_or_default());
            (chunk, stored, outs)
        })
        .collect();
    let partials: Vec<[f64; N]> = work
        .into_par_iter()
        .map(|(chunk, stored, mut outs)| {
            let mut sums = [0.0; N];
            for (out, clear) in outs.iter_mut().zip(clear) {
                if clear {
                    out.fill(0.0);
                }
            }
            for row in chunk.clone() {
                let local = row - chunk.start;
                let mut r = 0;
                let mut row_outs: [&mut [f64]; R] = outs.each_mut().map(|out| {
                    let w = widths[r];
                    r += 1;
                    &mut out[local * w..(local + 1) * w]
                });
                body(&chunk, row, stored, &mut row_outs, &mut sums);
            }
            sums
        })
        .collect();
    let mut total = [0.0; N];
    for part in partials {
        for (t, p) in total.iter_mut().zip(part) {
            *t += p;
        }
    }
    total
}

/// `out[r, :] = Σ_e stored[stored_index(e) · width + slot] · other_row(indices[e])`
/// over the entries `e` of row `r`, for a row-major `out` with `cols`
/// columns (`other_row` returns `cols` values).
///
/// ```
/// use mf_runtime::kernel::scatter_rows;
/// // rows: 0 → columns {0, 1}, 1 → column {1}; stored values 1, 2, 3
/// let (indptr, indices, stored) = ([0, 2, 3], [0u32, 1, 1], [1.0, 2.0, 3.0]);
/// let others = [[10.0], [11.0]];
/// let mut out = vec![0.0; 2];
/// scatter_rows(&indptr, &indices, |e| e, &stored, 1, 0, &mut out, 1, |col| &others[col][..]);
/// assert_eq!(out, [1.0 * 10.0 + 2.0 * 11.0, 3.0 * 11.0]);
/// ```
#[allow(clippy::too_many_arguments)]
pub fn scatter_rows<'a>(
    indptr: &[usize],
    indices: &[u32],
    stored_index: impl Fn(usize) -> usize + Sync,
    stored: &[f64],
    width: usize,
    slot: usize,
    out: &mut [f64],
    cols: usize,
    other_row: impl Fn(usize) -> &'a [f64] + Sync,
) {
    if cols == 0 {
        return;
    }
    let chunks = entry_chunks(indptr);
    split_by(out, chunks.iter().map(|c| c.len() * cols))
        .into_par_iter()
        .zip(chunks)
        .for_each(|(block, chunk)| {
            for (row, row_out) in chunk.zip(block.chunks_mut(cols)) {
                row_out.fill(0.0);
                for entry in indptr[row]..indptr[row + 1] {
                    let g = stored[stored_index(entry) * width + slot];
                    axpy(g, other_row(indices[entry] as usize), row_out);
                }
            }
        });
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

/// Cuts `buffer` into consecutive parts of the given lengths.
fn split_by(buffer: &mut [f64], lengths: impl Iterator<Item = usize>) -> Vec<&mut [f64]> {
    let mut parts = Vec::new();
    let mut rest = buffer;
    for len in lengths {
        let (part, tail) = std::mem::take(&mut rest).split_at_mut(len);
        parts.push(part);
        rest = tail;
    }
    parts
}

/// The chunks of a pass over `rows` rows of a dense domain.
fn row_chunks(rows: usize) -> Vec<Range<usize>> {
    (0..rows)
        .step_by(ROWS_PER_CHUNK)
        .map(|start| start..(start + ROWS_PER_CHUNK).min(rows))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_do_not_depend_on_the_number_of_threads() {
        // Rows of 0 to 6 entries: chunks of unequal row counts.
        let rows = 5000;
        let mut indptr = vec![0];
        for r in 0..rows {
            indptr.push(indptr[r] + (r * r) % 7);
        }
        let nnz = indptr[rows];
        assert!(entry_chunks(&indptr).len() > 4);
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("pool");
            pool.install(|| {
                let mut stored = vec![0.0; nnz];
                let sums = over_entries(
                    &indptr,
                    &mut stored,
                    1,
                    [],
                    |row, entry, slot: &mut [f64], _, sums: &mut [f64; 1]| {
                        let v = ((row * 7 + entry) as f64).sin() * 1e-3;
                        slot[0] = v;
                        sums[0] += v;
                    },
                );
                (sums[0].to_bits(), stored)
            })
        };
        let one = run(1);
        assert_eq!(one, run(2));
        assert_eq!(one, run(4));
    }
}
