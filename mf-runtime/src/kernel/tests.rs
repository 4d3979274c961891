//! Tests of the passes: tiles cover every entry once, passes equal their
//! sequential sums, results do not depend on the thread count.

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
