//! Train/test splits: random holdout, k-fold, per-user holdout, cold-start
//! users, given files; the time-ordered splits are in the `time` submodule.
//!
//! Every random split is a function of its seed alone
//! (`StdRng::seed_from_u64`): the same data and seed give the same split on
//! every machine and thread count.
//!
//! **Unseen users and items.** A model can only predict users and items it
//! was trained on. In every split the test side uses the training side's id
//! maps, and a test entry whose user or item has *no rating in training* is
//! left out of [`Split::test`] and counted — never silently dropped:
//! [`Split::dropped_entries`] such entries, [`Split::unseen_users`] and
//! [`Split::unseen_items`] distinct ids. For given files that means ids
//! absent from the training file; for splits of one `Ratings`, whose two
//! sides share the full id maps (and so the same dimensions), users or items
//! all of whose ratings fell on the test side.
//!
//! ```
//! use mf_runtime::data::{Holdout, Ratings};
//! let r = Ratings::from_triplets(50, 20, (0..1000).map(|k| (k / 20, k % 20, 3.0))).unwrap();
//! let random = r.split_random(0.1, 42).unwrap();
//! let per_user = r.split_per_user(Holdout::Fraction(0.2), 42).unwrap();
//! let folds: Vec<_> = r.k_fold(5, 42).unwrap().collect();
//! assert_eq!(folds.len(), 5);
//! println!("{random}\n{per_user}");
//! ```

use std::fmt;
use std::path::Path;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::error::DataError;
use super::load::LoadOptions;
use super::ratings::Ratings;

mod time;

/// A training set, a test set on its id maps, and what the test set lost.
///
/// ```
/// use mf_runtime::data::Ratings;
/// let r = Ratings::from_triplets(20, 10, (0..200).map(|k| (k / 10, k % 10, 1.0))).unwrap();
/// let s = r.split_random(0.2, 42).unwrap();
/// assert_eq!(s.train.nnz() + s.test.nnz() + s.dropped_entries, 200);
/// assert_eq!(s.left_out.nnz(), s.dropped_entries);
/// println!("{s}");
/// ```
#[derive(Clone, Debug)]
pub struct Split {
    /// The training entries.
    pub train: Ratings,
    /// The test entries whose user and item both have training ratings.
    pub test: Ratings,
    /// Distinct test users with no training rating.
    pub unseen_users: usize,
    /// Distinct test items with no training rating.
    pub unseen_items: usize,
    /// Test entries left out of `test` because their user or item is unseen.
    pub dropped_entries: usize,
    /// Those entries, by raw id (on the data's id maps for a split of one
    /// `Ratings`, on the test file's own for given files): a model with an
    /// unknown-id policy can score them too.
    pub left_out: Ratings,
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "train: {} ratings ({} users × {} items); test: {} ratings",
            self.train.nnz(),
            self.train.num_users(),
            self.train.num_items(),
            self.test.nnz()
        )?;
        if self.dropped_entries > 0 {
            write!(
                f,
                "; {} test ratings left out: {} users and {} items unseen in training",
                self.dropped_entries, self.unseen_users, self.unseen_items
            )?;
        }
        Ok(())
    }
}

impl Split {
    /// A split of `data` into the entries for which `in_test(position)` is
    /// false (train) and true (test), unseen ones left out of test.
    pub(super) fn of(data: &Ratings, in_test: impl Fn(usize) -> bool) -> Split {
        let train = data.select(|p| !in_test(p));
        let user_seen: Vec<bool> = train.user_counts().map(|c| c > 0).collect();
        let item_seen: Vec<bool> = train.item_counts().map(|c| c > 0).collect();
        let mut unseen_user = vec![false; data.num_users()];
        let mut unseen_item = vec![false; data.num_items()];
        // Per position: not in test, in test and known, in test and unseen.
        let csr = data.csr();
        let mut user = 0;
        let side: Vec<u8> = (0..data.nnz())
            .map(|p| {
                if !in_test(p) {
                    return 0;
                }
                while csr.indptr[user + 1] <= p {
                    user += 1;
                }
                let item = csr.indices[p] as usize;
                if user_seen[user] && item_seen[item] {
                    return 1;
                }
                unseen_user[user] |= !user_seen[user];
                unseen_item[item] |= !item_seen[item];
                2
            })
            .collect();
        Split {
            train,
            test: data.select(|p| side[p] == 1),
            left_out: data.select(|p| side[p] == 2),
            unseen_users: unseen_user.iter().filter(|&&b| b).count(),
            unseen_items: unseen_item.iter().filter(|&&b| b).count(),
            dropped_entries: side.iter().filter(|&&s| s == 2).count(),
        }
    }

    /// A split given as two files (the MovieLens `u1.base`/`u1.test`…
    /// `ua`/`ub` pairs, or your own), read with `options`; the test file is
    /// read on the training file's id maps.
    ///
    /// ```
    /// use mf_runtime::data::{LoadOptions, Split};
    /// let dir = std::env::temp_dir().join(format!("mf-doc-split-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// std::fs::write(dir.join("u1.base"), "1\t1\t5\t0\n2\t2\t3\t0\n").unwrap();
    /// std::fs::write(dir.join("u1.test"), "1\t2\t4\t0\n3\t1\t2\t0\n").unwrap();
    /// let s = Split::from_files(dir.join("u1.base"), dir.join("u1.test"), &LoadOptions::new()).unwrap();
    /// std::fs::remove_dir_all(&dir).unwrap();
    /// assert_eq!((s.train.nnz(), s.test.nnz()), (2, 1));
    /// assert_eq!((s.unseen_users, s.unseen_items, s.dropped_entries), (1, 0, 1));
    /// assert_eq!(s.left_out.get_raw(3, 1), Some(2.0));
    /// ```
    pub fn from_files(
        train: impl AsRef<Path>,
        test: impl AsRef<Path>,
        options: &LoadOptions,
    ) -> Result<Split, DataError> {
        let train = options.load(train)?;
        let (known, unseen) = options.load_on(&test, &train)?;
        let whole = options.load(&test)?;
        let (users, items) = (train.user_ids(), train.item_ids());
        let csr = whole.csr();
        let mut user = 0;
        let left_out = whole.select(|p| {
            while csr.indptr[user + 1] <= p {
                user += 1;
            }
            let u = whole
                .user_ids()
                .raw(user as u32)
                .expect("a user of the file");
            let i = whole
                .item_ids()
                .raw(csr.indices[p])
                .expect("an item of the file");
            users.index(u).is_none() || items.index(i).is_none()
        });
        Ok(Split {
            train,
            test: known,
            left_out,
            unseen_users: unseen.users,
            unseen_items: unseen.items,
            dropped_entries: unseen.entries,
        })
    }

    /// A canonical MovieLens 100k split: `dir/{name}.base` and
    /// `dir/{name}.test`, for `name` in `u1`…`u5`, `ua`, `ub`. (This example
    /// is compiled, not run: `mf-runtime/tests/data_movielens.rs` checks
    /// every split's counts.)
    ///
    /// ```no_run
    /// use mf_runtime::data::{find_dataset, Split};
    /// if let Some(dir) = find_dataset("ml-100k") {
    ///     let s = Split::movielens(&dir, "u1").unwrap();
    ///     assert_eq!(s.train.nnz() + s.test.nnz() + s.dropped_entries, 100_000);
    /// }
    /// ```
    pub fn movielens(dir: impl AsRef<Path>, name: &str) -> Result<Split, DataError> {
        let dir = dir.as_ref();
        Split::from_files(
            dir.join(format!("{name}.base")),
            dir.join(format!("{name}.test")),
            &LoadOptions::movielens_tab(),
        )
    }
}

/// How many ratings of each user a per-user holdout puts in the test set.
///
/// ```
/// use mf_runtime::data::{Holdout, Ratings};
/// let r = Ratings::from_triplets(2, 10, (0..20).map(|k| (k / 10, k % 10, 1.0))).unwrap();
/// assert_eq!(r.split_per_user(Holdout::Count(3), 1).unwrap().train.user_count(0), 7);
/// assert_eq!(r.split_per_user(Holdout::Fraction(0.5), 1).unwrap().train.user_count(1), 5);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Holdout {
    /// `n` ratings per user (at most all but one).
    Count(usize),
    /// `round(fraction × count)` ratings per user (at most all but one).
    Fraction(f64),
}

impl Holdout {
    /// Refuses a fraction outside (0, 1).
    fn check(self) -> Result<(), DataError> {
        match self {
            Holdout::Fraction(f) => check_fraction(f),
            Holdout::Count(_) => Ok(()),
        }
    }

    /// How many of a user's `count` ratings go to the test side: at most
    /// all but one.
    fn test_count(self, count: usize) -> usize {
        let wanted = match self {
            Holdout::Count(n) => n,
            Holdout::Fraction(f) => (f * count as f64).round() as usize,
        };
        wanted.min(count.saturating_sub(1))
    }
}

fn check_fraction(f: f64) -> Result<(), DataError> {
    if f > 0.0 && f < 1.0 {
        Ok(())
    } else {
        Err(DataError::Invalid(format!(
            "a test fraction must lie strictly between 0 and 1, not {f}"
        )))
    }
}

/// Moves `k` uniformly chosen elements of `v` to its front (partial Fisher–Yates).
fn choose_front<T>(v: &mut [T], k: usize, rng: &mut StdRng) {
    for j in 0..k.min(v.len()) {
        let pick = rng.random_range(j..v.len());
        v.swap(j, pick);
    }
}

impl Ratings {
    /// Random holdout: exactly `round(test_fraction × nnz)` entries, chosen
    /// uniformly, go to the test side (before unseen ones are left out).
    ///
    /// ```
    /// use mf_runtime::data::Ratings;
    /// let r = Ratings::from_triplets(10, 10, (0..100).map(|k| (k / 10, k % 10, 1.0))).unwrap();
    /// let a = r.split_random(0.25, 7).unwrap();
    /// let b = r.split_random(0.25, 7).unwrap();
    /// assert_eq!(a.test, b.test);
    /// assert_eq!(a.test.nnz() + a.dropped_entries, 25);
    /// assert!(r.split_random(1.5, 7).is_err());
    /// ```
    pub fn split_random(&self, test_fraction: f64, seed: u64) -> Result<Split, DataError> {
        check_fraction(test_fraction)?;
        let n = self.nnz();
        let n_test = (test_fraction * n as f64).round() as usize;
        let mut positions: Vec<u32> = (0..n as u32).collect();
        choose_front(&mut positions, n_test, &mut StdRng::seed_from_u64(seed));
        let mut in_test = vec![false; n];
        for &p in &positions[..n_test] {
            in_test[p as usize] = true;
        }
        drop(positions);
        Ok(Split::of(self, |p| in_test[p]))
    }

    /// Per-user holdout: for each user, a uniformly chosen
    /// [`Holdout`] share of their ratings goes to the test side; every user
    /// keeps at least one training rating (users with one rating keep it).
    ///
    /// ```
    /// use mf_runtime::data::{Holdout, Ratings};
    /// let r = Ratings::from_triplets(3, 4, [(0, 0, 1.0), (1, 0, 1.0), (1, 1, 1.0), (2, 2, 1.0), (2, 3, 1.0)]).unwrap();
    /// let s = r.split_per_user(Holdout::Count(1), 3).unwrap();
    /// assert_eq!(s.train.user_counts().collect::<Vec<_>>(), [1, 1, 1]);
    /// ```
    pub fn split_per_user(&self, holdout: Holdout, seed: u64) -> Result<Split, DataError> {
        holdout.check()?;
        let mut rng = StdRng::seed_from_u64(seed);
        let mut in_test = vec![false; self.nnz()];
        let mut row: Vec<usize> = Vec::new();
        for (u, count) in self.user_counts().enumerate() {
            let n_test = holdout.test_count(count);
            let start = self.csr().indptr[u];
            row.clear();
            row.extend(start..start + count);
            choose_front(&mut row, n_test, &mut rng);
            for &p in &row[..n_test] {
                in_test[p] = true;
            }
        }
        Ok(Split::of(self, |p| in_test[p]))
    }

    /// Cold-start users: `round(test_fraction × u)` of the `u` users with
    /// ratings, chosen uniformly, have every rating on the test side. They
    /// stay in the id maps with no training rating, so their ratings are
    /// all in [`Split::left_out`] (with those of items only they rated),
    /// for a model's unknown-id policy to score: the protocol for
    /// predicting new users, e.g. from their attributes.
    ///
    /// ```
    /// use mf_runtime::data::Ratings;
    /// let r = Ratings::from_triplets(10, 4, (0..40).map(|k| (k / 4, k % 4, 1.0))).unwrap();
    /// let s = r.split_users(0.2, 5).unwrap();
    /// assert_eq!((s.unseen_users, s.left_out.nnz(), s.test.nnz()), (2, 8, 0));
    /// assert_eq!(s.train.num_users(), 10); // the new users keep their place in the maps
    /// ```
    pub fn split_users(&self, test_fraction: f64, seed: u64) -> Result<Split, DataError> {
        check_fraction(test_fraction)?;
        let mut users: Vec<usize> = (0..self.num_users())
            .filter(|&u| self.csr().indptr[u + 1] > self.csr().indptr[u])
            .collect();
        let n_test = (test_fraction * users.len() as f64).round() as usize;
        choose_front(&mut users, n_test, &mut StdRng::seed_from_u64(seed));
        let mut in_test = vec![false; self.nnz()];
        for &u in &users[..n_test] {
            let indptr = self.csr().indptr;
            in_test[indptr[u]..indptr[u + 1]].fill(true);
        }
        Ok(Split::of(self, |p| in_test[p]))
    }

    /// K-fold cross-validation: the entries are shuffled and cut into `k`
    /// folds of sizes differing by at most one; split `f` tests on fold `f`
    /// and trains on the others. The test sets are disjoint and cover every
    /// entry (counting those left out as unseen). Splits are built lazily,
    /// one per iteration step.
    ///
    /// ```
    /// use mf_runtime::data::Ratings;
    /// let r = Ratings::from_triplets(10, 10, (0..100).map(|k| (k / 10, k % 10, 1.0))).unwrap();
    /// let folds = r.k_fold(5, 1).unwrap();
    /// assert_eq!(folds.len(), 5);
    /// let tested: usize = folds.map(|s| s.test.nnz() + s.dropped_entries).sum();
    /// assert_eq!(tested, 100);
    /// assert!(r.k_fold(1, 1).is_err());
    /// ```
    pub fn k_fold(&self, k: usize, seed: u64) -> Result<KFold<'_>, DataError> {
        let n = self.nnz();
        if k < 2 || k > n {
            return Err(DataError::Invalid(format!(
                "k-fold needs 2 ≤ k ≤ {n} (the number of entries), not k = {k}"
            )));
        }
        let mut positions: Vec<u32> = (0..n as u32).collect();
        choose_front(&mut positions, n, &mut StdRng::seed_from_u64(seed));
        let mut fold = vec![0u32; n];
        for (j, &p) in positions.iter().enumerate() {
            fold[p as usize] = (j * k / n) as u32;
        }
        Ok(KFold {
            data: self,
            fold,
            k,
            next: 0,
        })
    }
}

/// The `k` splits of [`Ratings::k_fold`], built one at a time.
///
/// ```
/// # use mf_runtime::data::Ratings;
/// let r = Ratings::from_triplets(4, 4, (0..16).map(|k| (k / 4, k % 4, 1.0))).unwrap();
/// let folds = r.k_fold(4, 9).unwrap();
/// let third = folds.split(2);
/// assert_eq!(third.test.nnz() + third.dropped_entries, 4);
/// ```
#[derive(Clone, Debug)]
pub struct KFold<'a> {
    data: &'a Ratings,
    fold: Vec<u32>,
    k: usize,
    next: usize,
}

impl KFold<'_> {
    /// Split `f` (`0 ≤ f < k`): test on fold `f`, train on the others.
    ///
    /// # Panics
    ///
    /// When `f ≥ k`.
    ///
    /// ```
    /// # use mf_runtime::data::Ratings;
    /// let r = Ratings::from_triplets(2, 3, (0..6).map(|k| (k / 3, k % 3, 1.0))).unwrap();
    /// let s = r.k_fold(3, 0).unwrap().split(0);
    /// assert_eq!(s.train.nnz(), 4);
    /// ```
    pub fn split(&self, f: usize) -> Split {
        assert!(f < self.k, "fold {f} of a {}-fold split", self.k);
        let f = f as u32;
        Split::of(self.data, |p| self.fold[p] == f)
    }
}

impl Iterator for KFold<'_> {
    type Item = Split;

    fn next(&mut self) -> Option<Split> {
        (self.next < self.k).then(|| {
            self.next += 1;
            self.split(self.next - 1)
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.k - self.next;
        (n, Some(n))
    }
}

impl ExactSizeIterator for KFold<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// 30 users × 20 items, each user rating a varying number of items.
    fn data() -> Ratings {
        let mut t = Vec::new();
        for u in 0..30u32 {
            for i in 0..20u32 {
                if (u * 7 + i * 3) % 5 < 2 + (u % 3) {
                    t.push((u, i, (u + i) as f64 % 5.0 + 1.0));
                }
            }
        }
        Ratings::from_triplets(30, 20, t).unwrap()
    }

    fn entries(r: &Ratings) -> HashSet<(u32, u32)> {
        r.iter().map(|(u, i, _)| (u, i)).collect()
    }

    fn check_partition(all: &Ratings, s: &Split) {
        let (train, test) = (entries(&s.train), entries(&s.test));
        assert!(train.is_disjoint(&test));
        assert_eq!(train.len() + test.len() + s.dropped_entries, all.nnz());
        assert!(train.union(&test).all(|&(u, i)| all.get(u, i).is_some()));
        for (u, i, v) in s.test.iter() {
            assert_eq!(all.get(u, i), Some(v));
            assert!(s.train.user_count(u as usize) > 0 && s.train.item_count(i as usize) > 0);
        }
        assert_eq!(s.train.num_users(), all.num_users());
        assert_eq!(s.test.num_items(), all.num_items());
    }

    #[test]
    fn random_holdout() {
        let r = data();
        let s = r.split_random(0.2, 11).unwrap();
        check_partition(&r, &s);
        let expected = (0.2 * r.nnz() as f64).round() as usize;
        assert_eq!(s.test.nnz() + s.dropped_entries, expected);
        let again = r.split_random(0.2, 11).unwrap();
        assert_eq!((again.train, again.test), (s.train.clone(), s.test.clone()));
        let other = r.split_random(0.2, 12).unwrap();
        assert_ne!(other.test, s.test);
    }

    #[test]
    fn k_fold_covers_everything_once() {
        let r = data();
        let mut seen = HashSet::new();
        let mut total = 0;
        for s in r.k_fold(4, 5).unwrap() {
            check_partition(&r, &s);
            let n = s.test.nnz() + s.dropped_entries;
            assert!(n.abs_diff(r.nnz() / 4) <= 1);
            total += n;
            for e in entries(&s.test) {
                assert!(seen.insert(e), "{e:?} tested twice");
            }
        }
        assert_eq!(total, r.nnz());
        let a: Vec<_> = r.k_fold(4, 5).unwrap().map(|s| s.test).collect();
        let b: Vec<_> = r.k_fold(4, 5).unwrap().map(|s| s.test).collect();
        assert_eq!(a, b);
    }

    #[test]
    fn per_user_holdout() {
        let r = data();
        let s = r.split_per_user(Holdout::Count(2), 3).unwrap();
        check_partition(&r, &s);
        for u in 0..r.num_users() {
            let c = r.user_count(u);
            assert_eq!(s.train.user_count(u), c - 2.min(c - 1), "user {u}");
        }
        let f = r.split_per_user(Holdout::Fraction(0.3), 3).unwrap();
        check_partition(&r, &f);
        let g = r.split_per_user(Holdout::Fraction(0.3), 3).unwrap();
        assert_eq!(f.test, g.test);
    }

    #[test]
    fn unseen_are_counted() {
        // User 2 and item 3 have a single rating each, so whenever it lands
        // on the test side it must be counted, never kept or lost.
        let r = Ratings::from_triplets(
            3,
            4,
            [
                (0, 0, 1.0),
                (0, 1, 1.0),
                (1, 0, 1.0),
                (1, 1, 1.0),
                (2, 2, 5.0),
                (0, 3, 2.0),
            ],
        )
        .unwrap();
        for f in r.k_fold(6, 0).unwrap() {
            check_partition(&r, &f);
            let lonely = [(2, 2), (0, 3)]
                .iter()
                .filter(|&&(u, i)| f.train.get(u, i).is_none())
                .count();
            assert_eq!(f.dropped_entries, lonely);
            if f.train.get(2, 2).is_none() {
                assert_eq!((f.unseen_users, f.unseen_items), (1, 1));
                assert!(f.to_string().contains("1 users and 1 items unseen"), "{f}");
            }
        }
    }
}
