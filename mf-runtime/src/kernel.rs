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
//! Work is split into chunks of a fixed number of rows, whatever the number
//! of threads; every output value is produced by one sequential loop in a
//! fixed order, and chunk partial sums are added in chunk order. The same
//! inputs therefore give bit-identical results on 1 or 64 threads, with no
//! atomics and no per-thread accumulators.

use rayon::prelude::*;
use std::ops::Range;

/// Rows per chunk of a pass. Fixed, so results do not depend on threads.
pub const ROWS_PER_CHUNK: usize = 256;

/// Runs `per_entry(row, entry, slots, sums)` for every entry of a CSR
/// pattern, `slots` being the entry's `width` values in `stored`; returns
/// the `N` sums accumulated in `sums`, added chunk by chunk in order.
///
/// ```
/// use mf_runtime::kernel::over_entries;
/// let indptr = [0, 2, 3]; // row 0 has entries 0 and 1, row 1 has entry 2
/// let mut stored = vec![0.0; 3];
/// let [count] = over_entries(&indptr, &mut stored, 1, |row, entry, slot, sums: &mut [f64; 1]| {
///     slot[0] = (10 * row + entry) as f64;
///     sums[0] += 1.0;
/// });
/// assert_eq!((count, stored), (3.0, vec![0.0, 1.0, 12.0]));
/// ```
pub fn over_entries<const N: usize>(
    indptr: &[usize],
    stored: &mut [f64],
    width: usize,
    per_entry: impl Fn(usize, usize, &mut [f64], &mut [f64; N]) + Sync,
) -> [f64; N] {
    let rows = indptr.len().saturating_sub(1);
    let chunks = row_chunks(rows);
    let mut parts = Vec::with_capacity(chunks.len());
    let mut rest = stored;
    for chunk in &chunks {
        let len = (indptr[chunk.end] - indptr[chunk.start]) * width;
        let (part, tail) = std::mem::take(&mut rest).split_at_mut(len);
        parts.push(part);
        rest = tail;
    }
    let partials: Vec<[f64; N]> = chunks
        .into_par_iter()
        .zip(parts)
        .map(|(chunk, part)| {
            let mut sums = [0.0; N];
            let first = indptr[chunk.start];
            for row in chunk {
                for entry in indptr[row]..indptr[row + 1] {
                    let at = (entry - first) * width;
                    per_entry(row, entry, &mut part[at..at + width], &mut sums);
                }
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

/// `out[r, t] = Σ_e stored[e · width + slot] · other(indices[e], t)` over
/// the entries `e` of row `r`, for a row-major `out` with `cols` columns.
///
/// ```
/// use mf_runtime::kernel::scatter_rows;
/// // rows: 0 → columns {0, 1}, 1 → column {1}; adjoints 1, 2, 3
/// let (indptr, indices, stored) = ([0, 2, 3], [0u32, 1, 1], [1.0, 2.0, 3.0]);
/// let mut out = vec![0.0; 2];
/// scatter_rows(&indptr, &indices, |e| e, &stored, 1, 0, &mut out, 1, |col, _| 10.0 + col as f64);
/// assert_eq!(out, [1.0 * 10.0 + 2.0 * 11.0, 3.0 * 11.0]);
/// ```
#[allow(clippy::too_many_arguments)]
pub fn scatter_rows(
    indptr: &[usize],
    indices: &[u32],
    stored_index: impl Fn(usize) -> usize + Sync,
    stored: &[f64],
    width: usize,
    slot: usize,
    out: &mut [f64],
    cols: usize,
    other: impl Fn(usize, usize) -> f64 + Sync,
) {
    if cols == 0 {
        return;
    }
    out.par_chunks_mut(cols * ROWS_PER_CHUNK)
        .enumerate()
        .for_each(|(chunk, block)| {
            for (offset, row_out) in block.chunks_mut(cols).enumerate() {
                let row = chunk * ROWS_PER_CHUNK + offset;
                row_out.fill(0.0);
                for entry in indptr[row]..indptr[row + 1] {
                    let g = stored[stored_index(entry) * width + slot];
                    let col = indices[entry] as usize;
                    for (t, o) in row_out.iter_mut().enumerate() {
                        *o += g * other(col, t);
                    }
                }
            }
        });
}

/// The chunks of a pass over `rows` rows.
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
        let rows = 3 * ROWS_PER_CHUNK + 17;
        let indptr: Vec<usize> = (0..=rows).map(|r| r * 3).collect();
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("pool");
            pool.install(|| {
                let mut stored = vec![0.0; rows * 3];
                let sums = over_entries(
                    &indptr,
                    &mut stored,
                    1,
                    |row, entry, slot, sums: &mut [f64; 1]| {
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
