//! A seeded synthetic ratings matrix: planted low rank, Gaussian noise,
//! power-law popularity.
//!
//! # Model
//!
//! * **Values.** `r_ui = mean + p_u · q_i + ε`, with `p_u`, `q_i` rows of
//!   planted factors `P` (users × rank) and `Qᵀ` (items × rank) whose entries
//!   are i.i.d. `N(0, σ²)`, `σ = (signal_std² / rank)^{1/4}` so that `p_u · q_i`
//!   has standard deviation `signal_std`, and `ε ~ N(0, noise_std²)`. Values
//!   are not rounded or clipped: the planted model is exactly right, up to
//!   the noise.
//! * **Which entries are observed.** Missing at random, independently, with
//!   `P(observed u,i) = min(1, c · a_u · b_i)` (the Chung–Lu model), where
//!   the user with popularity rank `r` (0-based) has weight
//!   `a = (r + 1)^-user_exponent` and likewise items with `item_exponent`:
//!   user and item rating counts follow a Zipf-like power law. Popularity
//!   ranks are assigned to indices by a seeded random permutation (popular
//!   users are not the low indices). `c` is solved for so that the expected
//!   number of observed entries is `nnz` (the realised count is within a
//!   few standard deviations, `≈ √nnz`, of it).
//!
//! Defaults: rank 10, user exponent 0.6, item exponent 0.9, mean 3.5,
//! signal std 1, noise std 0.5, seed 0.
//!
//! # Cost
//!
//! Observed entries are drawn per user by geometric skipping over items in
//! popularity order (Miller & Hagberg, 2011): O(entries) work, never
//! O(users × items). Users are processed in fixed blocks of 4096, each with
//! its own random stream, in parallel: the result depends on the seed only,
//! not on the number of threads. Peak memory is that of the result: the 12
//! bytes per entry of [`Ratings`] (the item indices are briefly held twice,
//! 8 bytes, before the values exist; the column-major copy is only built
//! if asked for) plus the planted factors.
//!
//! Measured (release build, 2 cores): 20M entries, 1M users × 100k items,
//! rank 32, in about 2.4 s with a 567 MB peak RSS (240 MB of `Ratings`,
//! 256 MB of `P`); see `examples/data_scale.rs` (`cargo run --release
//! --example data_scale`).
//!
//! ```
//! use mf_runtime::data::Synthetic;
//! let r = Synthetic { rank: 5, seed: 3, ..Synthetic::new(2_000, 500, 20_000) }.generate().unwrap();
//! assert!(r.nnz().abs_diff(20_000) < 1_000);
//! ```

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Exp1, StandardNormal};
use rayon::prelude::*;
use std::sync::Arc;

use ndarray::Array2;

use super::error::DataError;
use super::ids::IdMap;
use super::ratings::Ratings;

const BLOCK: usize = 4096;

/// Settings of the synthetic generator; see the [module docs](self).
///
/// ```
/// use mf_runtime::data::Synthetic;
/// let (r, planted) = Synthetic { rank: 3, noise_std: 0.0, ..Synthetic::new(200, 100, 2_000) }
///     .generate_with_factors()
///     .unwrap();
/// assert_eq!((r.num_users(), r.num_items()), (200, 100));
/// assert!(r.nnz().abs_diff(2_000) < 300);
/// let (u, i, v) = r.iter().next().unwrap();
/// let dot = planted.p.row(u as usize).dot(&planted.q.column(i as usize));
/// assert!((v - (planted.mean + dot)).abs() < 1e-12);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Synthetic {
    /// Number of users (rows).
    pub num_users: u32,
    /// Number of items (columns).
    pub num_items: u32,
    /// Expected number of observed entries.
    pub nnz: usize,
    /// Rank of the planted factors.
    pub rank: usize,
    /// Zipf exponent of user popularity (0 = uniform).
    pub user_exponent: f64,
    /// Zipf exponent of item popularity (0 = uniform).
    pub item_exponent: f64,
    /// Added to every value.
    pub mean: f64,
    /// Standard deviation of `p_u · q_i`.
    pub signal_std: f64,
    /// Standard deviation of the Gaussian noise.
    pub noise_std: f64,
    /// Seed of every random choice.
    pub seed: u64,
}

/// The planted model behind a synthetic matrix: `r_ui ≈ mean + (P Q)_ui`.
///
/// ```
/// use mf_runtime::data::Synthetic;
/// let (_, planted) = Synthetic { rank: 4, ..Synthetic::new(30, 20, 100) }.generate_with_factors().unwrap();
/// assert_eq!(planted.p.dim(), (30, 4));
/// assert_eq!(planted.q.dim(), (4, 20));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Planted {
    /// User factors, users × rank.
    pub p: Array2<f64>,
    /// Item factors, rank × items.
    pub q: Array2<f64>,
    /// The constant added to every value.
    pub mean: f64,
}

/// A synthetic matrix with the default settings: shorthand for
/// `Synthetic { seed, ..Synthetic::new(num_users, num_items, nnz) }.generate()`.
///
/// ```
/// use mf_runtime::data::synthetic;
/// let a = synthetic(1000, 500, 10_000, 7).unwrap();
/// let b = synthetic(1000, 500, 10_000, 7).unwrap();
/// assert_eq!(a, b);
/// ```
pub fn synthetic(
    num_users: u32,
    num_items: u32,
    nnz: usize,
    seed: u64,
) -> Result<Ratings, DataError> {
    Synthetic {
        seed,
        ..Synthetic::new(num_users, num_items, nnz)
    }
    .generate()
}

/// SplitMix64: independent seeds for the random stream of each block.
fn stream_seed(seed: u64, stream: u64, block: u64) -> u64 {
    let mut z = seed
        ^ stream.wrapping_mul(0x9e37_79b9_7f4a_7c15)
        ^ block.wrapping_mul(0xd1b5_4a32_d192_ed03);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn block_rng(seed: u64, stream: u64, block: usize) -> StdRng {
    StdRng::seed_from_u64(stream_seed(seed, stream, block as u64))
}

/// `(r + 1)^-exponent` for ranks `0..n` (decreasing), and a seeded
/// permutation: `rank_to_index[r]` is the index with popularity rank `r`.
fn popularity(n: u32, exponent: f64, rng: &mut StdRng) -> (Vec<f64>, Vec<u32>) {
    let weights = (0..n)
        .map(|r| (f64::from(r) + 1.0).powf(-exponent))
        .collect();
    let mut rank_to_index: Vec<u32> = (0..n).collect();
    for j in (1..rank_to_index.len()).rev() {
        rank_to_index.swap(j, rng.random_range(0..=j));
    }
    (weights, rank_to_index)
}

/// Expected number of entries for scale `c`: `Σ_u Σ_i min(1, c a_u b_i)`,
/// with `b` decreasing and `b_suffix[j] = Σ_{i ≥ j} b_i`.
fn expected_entries(c: f64, a: &[f64], b: &[f64], b_suffix: &[f64]) -> f64 {
    a.iter()
        .map(|&au| {
            let w = c * au;
            let capped = b.partition_point(|&bi| w * bi >= 1.0);
            capped as f64 + w * b_suffix[capped]
        })
        .sum()
}

/// Standard normal draws.
fn normals(rng: &mut StdRng, out: &mut [f64], scale: f64) {
    for x in out {
        *x = scale * rng.sample::<f64, _>(StandardNormal);
    }
}

impl Synthetic {
    /// The default settings for a `num_users × num_items` matrix with about
    /// `nnz` observed entries.
    ///
    /// ```
    /// # use mf_runtime::data::Synthetic;
    /// let s = Synthetic::new(100, 50, 1000);
    /// assert_eq!((s.rank, s.user_exponent, s.item_exponent), (10, 0.6, 0.9));
    /// ```
    pub fn new(num_users: u32, num_items: u32, nnz: usize) -> Self {
        Synthetic {
            num_users,
            num_items,
            nnz,
            rank: 10,
            user_exponent: 0.6,
            item_exponent: 0.9,
            mean: 3.5,
            signal_std: 1.0,
            noise_std: 0.5,
            seed: 0,
        }
    }

    /// The ratings matrix.
    ///
    /// ```
    /// # use mf_runtime::data::Synthetic;
    /// let r = Synthetic::new(500, 300, 5_000).generate().unwrap();
    /// assert!(r.nnz().abs_diff(5_000) < 500);
    /// assert!(Synthetic::new(10, 10, 101).generate().is_err());
    /// ```
    pub fn generate(&self) -> Result<Ratings, DataError> {
        self.generate_with_factors().map(|(r, _)| r)
    }

    /// The ratings matrix and the planted model.
    ///
    /// ```
    /// # use mf_runtime::data::Synthetic;
    /// let (r, planted) = Synthetic::new(50, 40, 400).generate_with_factors().unwrap();
    /// assert_eq!(planted.p.nrows(), r.num_users());
    /// ```
    pub fn generate_with_factors(&self) -> Result<(Ratings, Planted), DataError> {
        self.check()?;
        let (m, n, k) = (self.num_users as usize, self.num_items as usize, self.rank);
        let mut rng = StdRng::seed_from_u64(stream_seed(self.seed, 0, 0));
        let (a, user_of_rank) = popularity(self.num_users, self.user_exponent, &mut rng);
        let (b, item_of_rank) = popularity(self.num_items, self.item_exponent, &mut rng);
        let mut a_of_user = vec![0.0; m];
        for (r, &u) in user_of_rank.iter().enumerate() {
            a_of_user[u as usize] = a[r];
        }
        drop(user_of_rank);
        let mut b_suffix = vec![0.0; n + 1];
        for j in (0..n).rev() {
            b_suffix[j] = b_suffix[j + 1] + b[j];
        }
        let target = self.nnz as f64;
        let mut c = target / (a.iter().sum::<f64>() * b_suffix[0]);
        for _ in 0..200 {
            let e = expected_entries(c, &a, &b, &b_suffix);
            if (e - target).abs() <= 1e-6 * target {
                break;
            }
            c *= target / e;
        }

        // Observed pattern, one block of users at a time.
        let blocks: Vec<(Vec<usize>, Vec<u32>)> = a_of_user
            .par_chunks(BLOCK)
            .enumerate()
            .map(|(blk, weights)| {
                let mut rng = block_rng(self.seed, 1, blk);
                let mut counts = Vec::with_capacity(weights.len());
                let mut items = Vec::new();
                for &au in weights {
                    let start = items.len();
                    sample_row(c * au, &b, &mut rng, |j| items.push(item_of_rank[j]));
                    items[start..].sort_unstable();
                    counts.push(items.len() - start);
                }
                (counts, items)
            })
            .collect();
        let mut row_ptr = Vec::with_capacity(m + 1);
        row_ptr.push(0);
        for &count in blocks.iter().flat_map(|(counts, _)| counts) {
            row_ptr.push(row_ptr[row_ptr.len() - 1] + count);
        }
        let nnz = row_ptr[m];
        if u32::try_from(nnz).is_err() {
            return Err(DataError::Invalid(format!(
                "{nnz} entries: at most u32::MAX are supported"
            )));
        }
        let mut col_idx = Vec::with_capacity(nnz);
        for (_, items) in blocks {
            col_idx.extend_from_slice(&items);
        }

        // Planted factors (Q stored item-major for the dot products).
        let sigma = (self.signal_std.powi(2) / k as f64).powf(0.25);
        let mut p = Array2::<f64>::zeros((m, k));
        let mut qt = Array2::<f64>::zeros((n, k));
        for (stream, factor) in [(2, &mut p), (3, &mut qt)] {
            let flat = factor.as_slice_mut().expect("standard layout");
            flat.par_chunks_mut(BLOCK * k)
                .enumerate()
                .for_each(|(blk, chunk)| {
                    normals(&mut block_rng(self.seed, stream, blk), chunk, sigma)
                });
        }

        // Values, block by block over the same user blocks.
        let mut values = vec![0.0; nnz];
        let mut slices = Vec::with_capacity(m.div_ceil(BLOCK));
        let mut rest = values.as_mut_slice();
        for first in (0..m).step_by(BLOCK) {
            let last = (first + BLOCK).min(m);
            let (head, tail) = rest.split_at_mut(row_ptr[last] - row_ptr[first]);
            slices.push(head);
            rest = tail;
        }
        slices.into_par_iter().enumerate().for_each(|(blk, out)| {
            let mut rng = block_rng(self.seed, 4, blk);
            let first = blk * BLOCK;
            let base = row_ptr[first];
            let (p, qt) = (
                p.as_slice().expect("standard"),
                qt.as_slice().expect("standard"),
            );
            for u in first..(first + BLOCK).min(m) {
                let pu = &p[u * k..(u + 1) * k];
                for pos in row_ptr[u]..row_ptr[u + 1] {
                    let i = col_idx[pos] as usize;
                    let qi = &qt[i * k..(i + 1) * k];
                    let dot: f64 = pu.iter().zip(qi).map(|(a, b)| a * b).sum();
                    let noise: f64 = rng.sample(StandardNormal);
                    out[pos - base] = self.mean + dot + self.noise_std * noise;
                }
            }
        });

        let ratings = Ratings::from_csr(
            Arc::new(IdMap::identity(self.num_users)),
            Arc::new(IdMap::identity(self.num_items)),
            row_ptr,
            col_idx,
            values,
            None,
        );
        let planted = Planted {
            p,
            q: qt.t().to_owned(),
            mean: self.mean,
        };
        Ok((ratings, planted))
    }

    fn check(&self) -> Result<(), DataError> {
        let non_negative = |x: f64| x.is_finite() && x >= 0.0;
        let cells = u64::from(self.num_users) * u64::from(self.num_items);
        let problem = if self.num_users == 0 || self.num_items == 0 {
            Some("the matrix needs at least one user and one item".to_string())
        } else if self.nnz == 0 || self.nnz as u64 > cells / 2 {
            Some(format!(
                "nnz must lie in 1..={} (half of the {cells} cells), not {}",
                cells / 2,
                self.nnz
            ))
        } else if self.rank == 0 {
            Some("rank must be at least 1".into())
        } else if !(non_negative(self.user_exponent) && non_negative(self.item_exponent)) {
            Some("popularity exponents must be finite and non-negative".into())
        } else if !(non_negative(self.noise_std)
            && non_negative(self.signal_std)
            && self.mean.is_finite())
        {
            Some("mean and standard deviations must be finite, deviations non-negative".into())
        } else {
            None
        };
        problem.map_or(Ok(()), |p| {
            Err(DataError::Invalid(format!("synthetic data: {p}")))
        })
    }
}

/// Calls `accept(j)` for each item rank `j` observed for a user of scaled
/// weight `w`, independently with probability `min(1, w b_j)`, `b`
/// decreasing: geometric skips under the running bound `p`, thinned by
/// `q / p` (Miller & Hagberg's algorithm).
fn sample_row(w: f64, b: &[f64], rng: &mut StdRng, mut accept: impl FnMut(usize)) {
    let n = b.len();
    let mut j = 0usize;
    let mut p = (w * b[0]).min(1.0);
    while j < n && p > 0.0 {
        if p < 1.0 {
            let e: f64 = rng.sample(Exp1); // -ln of a uniform draw
            let skip = (e / -(-p).ln_1p()).floor();
            j = j.saturating_add(skip as usize);
            if j >= n {
                break;
            }
        }
        let q = (w * b[j]).min(1.0);
        if rng.random::<f64>() * p < q {
            accept(j);
        }
        p = q;
        j += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_sampling_matches_its_probabilities() {
        // Expected count of each item rank over many draws.
        let b: Vec<f64> = (0..50).map(|r| (r as f64 + 1.0).powf(-0.9)).collect();
        let w = 0.8;
        let trials = 20_000;
        let mut hits = vec![0usize; b.len()];
        let mut rng = StdRng::seed_from_u64(3);
        for _ in 0..trials {
            sample_row(w, &b, &mut rng, |j| hits[j] += 1);
        }
        for (j, &h) in hits.iter().enumerate() {
            let p = (w * b[j]).min(1.0);
            let sd = (trials as f64 * p * (1.0 - p)).sqrt();
            let diff = (h as f64 - trials as f64 * p).abs();
            assert!(diff <= 5.0 * sd + 1.0, "rank {j}: {h} hits, p = {p}");
        }
    }

    #[test]
    fn counts_follow_popularity_and_are_deterministic() {
        let s = Synthetic {
            seed: 5,
            ..Synthetic::new(3000, 800, 60_000)
        };
        let r = s.generate().unwrap();
        assert!(r.nnz().abs_diff(60_000) < 5 * 245, "{}", r.nnz());
        let mut items: Vec<usize> = r.item_counts().collect();
        items.sort_unstable_by(|x, y| y.cmp(x));
        // Power law: the head is far above the median.
        assert!(items[0] > 10 * items[items.len() / 2], "{:?}", &items[..5]);
        assert_eq!(r, s.generate().unwrap());
        let other = Synthetic {
            seed: 6,
            ..s.clone()
        }
        .generate()
        .unwrap();
        assert_ne!(r, other);
    }

    #[test]
    fn same_result_on_one_and_several_threads() {
        let s = Synthetic::new(10_000, 300, 30_000);
        let pool = |threads| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
        };
        let one = pool(1).install(|| s.generate_with_factors().unwrap());
        let three = pool(3).install(|| s.generate_with_factors().unwrap());
        assert_eq!(one, three);
    }

    #[test]
    fn noise_has_the_requested_spread() {
        let s = Synthetic {
            noise_std: 0.3,
            ..Synthetic::new(400, 300, 20_000)
        };
        let (r, planted) = s.generate_with_factors().unwrap();
        let pq = planted.p.dot(&planted.q);
        let n = r.nnz() as f64;
        let (mut sum, mut sq) = (0.0, 0.0);
        for (u, i, v) in r.iter() {
            let e = v - planted.mean - pq[[u as usize, i as usize]];
            sum += e;
            sq += e * e;
        }
        let sd = (sq / n - (sum / n).powi(2)).sqrt();
        assert!((sd - 0.3).abs() < 0.02, "{sd}");
        let signal = pq.std(0.0);
        assert!((signal - 1.0).abs() < 0.3, "{signal}");
    }

    #[test]
    fn bad_settings_are_errors() {
        for s in [
            Synthetic::new(0, 10, 1),
            Synthetic::new(10, 10, 0),
            Synthetic {
                rank: 0,
                ..Synthetic::new(10, 10, 5)
            },
            Synthetic {
                item_exponent: f64::NAN,
                ..Synthetic::new(10, 10, 5)
            },
            Synthetic {
                noise_std: -1.0,
                ..Synthetic::new(10, 10, 5)
            },
        ] {
            assert!(matches!(s.generate(), Err(DataError::Invalid(_))), "{s:?}");
        }
    }
}
