//! Experiments as a library: any losses compared on any data in a few
//! lines, on the model of Surprise's `cross_validate` and `GridSearchCV`.
//!
//! The protocol, for every split (a random holdout, k folds, a per-user
//! holdout, or given files such as MovieLens u1–u5; see [`NamedSplit`]):
//!
//! 1. a validation set is carved from the training side (10 % by default,
//!    seeded); the test side is not looked at until the end;
//! 2. per [`Candidate`], its grids are searched on the validation RMSE, one
//!    hyper-setting after the other at the best setting so far, then the
//!    ranks; each run starts from the same seeded start, trains with ALS
//!    (validated every step) when the loss has row systems or L-BFGS
//!    (validated every [`Experiment::validate_every`] steps), stops early
//!    and keeps its best step;
//! 3. the chosen setting is trained again on the whole training side for
//!    the steps its validation run kept, and its [`Model`](crate::Model)
//!    (predictions clipped to the training ratings' range; ids without
//!    training ratings predicted with their rows at zero) is scored on the
//!    test side.
//!
//! Splits, candidates and the settings of a stage run concurrently on
//! rayon's pool; every run is seeded and deterministic and each choice is
//! made in grid order, so the results are the same on any thread count
//! (seconds aside). With [`Experiment::ranking`] settings are chosen by
//! validation NDCG@k and the results carry ranking metrics, for
//! implicit-feedback losses. On ratings with timestamps, the splits can be
//! time-ordered ([`NamedSplit::latest_per_user`], [`NamedSplit::at_time`]).
//!
//! ```
//! use mf_runtime::experiment::{Candidate, Experiment, NamedSplit};
//! use mf_runtime::{data::Synthetic, loss};
//! loss! {
//!     struct Ridge { data D: sparse[users, items], param P: [users, k], param Q: [k, items], hyper lambda: f64 = 1.0, }
//!     minimize sum(mask * (D - P@Q)^2) + lambda * (sum(P^2) + sum(Q^2))
//! }
//! let data = Synthetic::new(60, 40, 1200).generate()?;
//! let results = Experiment::new(vec![NamedSplit::holdout(&data, 0.2, 42)?])
//!     .ranks([2, 4])?
//!     .candidate(Candidate::new("ridge", &Ridge::default()).grid("lambda", [0.3, 3.0])?)
//!     .run()?;
//! assert!(results.outcomes[0][0].test.rmse.is_finite());
//! println!("{results}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod candidate;
mod results;
mod search;

use std::path::Path;
use std::time::Instant;

use rayon::prelude::*;

pub use candidate::{Candidate, Method, Setting, SideDataFn};
pub use results::{mean_std, Results, SplitSummary};
pub use search::{Outcome, Trial};

use crate::data::{DataError, Holdout, Split};
use crate::metrics::RankingProtocol;
use crate::Ratings;

/// A bad experiment: a setting refused where it enters, or data that
/// cannot be split.
#[derive(thiserror::Error)]
pub enum ExperimentError {
    /// A setting out of range, NaN or infinite, or naming nothing.
    #[error("{0}")]
    Setting(String),
    /// Splitting or reading the data failed.
    #[error(transparent)]
    Data(#[from] DataError),
}

debug_as_display!(ExperimentError);

/// A named train/test split.
#[derive(Clone, Debug)]
pub struct NamedSplit {
    /// Its name in the results (`holdout`, `fold 2`, `u1`).
    pub name: String,
    /// The split.
    pub split: Split,
}

impl NamedSplit {
    /// A random holdout of `test_fraction` of `data` (seeded).
    ///
    /// # Errors
    /// As [`Ratings::split_random`].
    pub fn holdout(
        data: &Ratings,
        test_fraction: f64,
        seed: u64,
    ) -> Result<NamedSplit, ExperimentError> {
        Ok(NamedSplit {
            name: "holdout".into(),
            split: data.split_random(test_fraction, seed)?,
        })
    }

    /// `folds`-fold cross-validation of `data` (seeded), `fold 1` … `fold k`.
    ///
    /// # Errors
    /// As [`Ratings::k_fold`].
    pub fn k_fold(
        data: &Ratings,
        folds: usize,
        seed: u64,
    ) -> Result<Vec<NamedSplit>, ExperimentError> {
        Ok(data
            .k_fold(folds, seed)?
            .enumerate()
            .map(|(f, split)| NamedSplit {
                name: format!("fold {}", f + 1),
                split,
            })
            .collect())
    }

    /// A per-user holdout of `data` (seeded): each user's test ratings as
    /// `holdout` says (a fraction, or leave-one-out).
    ///
    /// # Errors
    /// As [`Ratings::split_per_user`].
    pub fn per_user(
        data: &Ratings,
        holdout: Holdout,
        seed: u64,
    ) -> Result<NamedSplit, ExperimentError> {
        Ok(NamedSplit {
            name: "per-user holdout".into(),
            split: data.split_per_user(holdout, seed)?,
        })
    }

    /// Cold-start users (seeded): every rating of a `test_fraction` of the
    /// users is held out. Those users have no training rating, so their
    /// ratings are all in the split's `left_out` (its `test` is empty):
    /// an experiment on it must call
    /// [`Experiment::score_left_out`]`(true)` (it refuses to run
    /// otherwise), and they are predicted by the models' baseline for ids
    /// without training ratings.
    ///
    /// # Errors
    /// As [`Ratings::split_users`].
    ///
    /// ```
    /// use mf_runtime::data::Ratings;
    /// use mf_runtime::experiment::NamedSplit;
    /// let r = Ratings::from_triplets(10, 4, (0..40).map(|k| (k / 4, k % 4, 1.0)))?;
    /// let split = NamedSplit::cold_users(&r, 0.3, 1)?;
    /// assert_eq!((split.name.as_str(), split.split.left_out.nnz()), ("cold-start users", 12));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn cold_users(
        data: &Ratings,
        test_fraction: f64,
        seed: u64,
    ) -> Result<NamedSplit, ExperimentError> {
        Ok(NamedSplit {
            name: "cold-start users".into(),
            split: data.split_users(test_fraction, seed)?,
        })
    }

    /// A time-ordered per-user holdout of `data`: each user's latest
    /// ratings as `holdout` says go to the test side.
    ///
    /// # Errors
    /// As [`Ratings::split_latest_per_user`]: the data must have timestamps.
    ///
    /// ```
    /// use mf_runtime::data::{Holdout, Ratings, RatingsBuilder};
    /// use mf_runtime::experiment::NamedSplit;
    /// let mut b = RatingsBuilder::new();
    /// for k in 0..40i64 {
    ///     b.push_timed(k % 4, k / 4, 3.0, 1000 + (k * 7) % 40); // 4 users × 10 items
    /// }
    /// let split = NamedSplit::latest_per_user(&b.build()?, Holdout::Count(2))?;
    /// assert_eq!((split.name.as_str(), split.split.train.nnz()), ("latest per user", 32));
    /// let untimed = Ratings::from_triplets(2, 2, [(0, 0, 1.0), (1, 1, 2.0)])?;
    /// assert!(NamedSplit::latest_per_user(&untimed, Holdout::Count(1)).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn latest_per_user(
        data: &Ratings,
        holdout: Holdout,
    ) -> Result<NamedSplit, ExperimentError> {
        Ok(NamedSplit {
            name: "latest per user".into(),
            split: data.split_latest_per_user(holdout)?,
        })
    }

    /// A global time-ordered split of `data`: the ratings at or after
    /// `cutoff` (seconds since the Unix epoch) are the test side; named
    /// `from <cutoff>`.
    ///
    /// # Errors
    /// As [`Ratings::split_at_time`]: the data must have timestamps on
    /// both sides of the cut-off.
    ///
    /// ```
    /// use mf_runtime::data::RatingsBuilder;
    /// use mf_runtime::experiment::NamedSplit;
    /// let mut b = RatingsBuilder::new();
    /// for k in 0..40i64 {
    ///     b.push_timed(k % 4, k / 4, 3.0, 1000 + (k * 7) % 40); // 4 users × 10 items
    /// }
    /// let split = NamedSplit::at_time(&b.build()?, 1030)?;
    /// let s = &split.split;
    /// assert_eq!(split.name, "from 1030");
    /// assert_eq!((s.train.nnz(), s.test.nnz() + s.dropped_entries), (30, 10));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn at_time(data: &Ratings, cutoff: i64) -> Result<NamedSplit, ExperimentError> {
        Ok(NamedSplit {
            name: format!("from {cutoff}"),
            split: data.split_at_time(cutoff)?,
        })
    }

    /// The five canonical MovieLens 100k splits `u1` … `u5` in `dir`.
    ///
    /// # Errors
    /// As [`Split::movielens`], naming the file.
    pub fn movielens_folds(dir: &Path) -> Result<Vec<NamedSplit>, ExperimentError> {
        (1..=5)
            .map(|f| {
                let name = format!("u{f}");
                Ok(NamedSplit {
                    split: Split::movielens(dir, &name)?,
                    name,
                })
            })
            .collect()
    }
}

/// A comparison of candidates over splits; see the [module docs](self).
pub struct Experiment {
    splits: Vec<NamedSplit>,
    candidates: Vec<Candidate>,
    ranks: Vec<usize>,
    validation_fraction: f64,
    seed: u64,
    max_iters: usize,
    validate_every: usize,
    patience: usize,
    als_patience: usize,
    tol_rel_loss: f64,
    progress: bool,
    score_left_out: bool,
    ranking: Option<RankingProtocol>,
}

impl Experiment {
    /// An experiment on `splits` with no candidate yet, ranks `[10]`, a 10 %
    /// validation carve, seed 42, at most 1500 steps a run, L-BFGS validated
    /// every 5 steps with a patience of 10 checks, ALS with a patience of 3
    /// steps, L-BFGS stopping at a relative change of the loss below 1e-7,
    /// and no progress lines.
    pub fn new(splits: Vec<NamedSplit>) -> Experiment {
        Experiment {
            splits,
            candidates: Vec::new(),
            ranks: vec![10],
            validation_fraction: 0.1,
            seed: 42,
            max_iters: 1500,
            validate_every: 5,
            patience: 10,
            als_patience: 3,
            tol_rel_loss: 1e-7,
            progress: false,
            score_left_out: false,
            ranking: None,
        }
    }

    /// Adds a candidate (a row of the results).
    pub fn candidate(mut self, candidate: Candidate) -> Experiment {
        self.candidates.push(candidate);
        self
    }

    /// The rank grid (searched after the hyper-settings; the first rank is
    /// where the hyper-settings are searched).
    ///
    /// # Errors
    /// [`ExperimentError::Setting`] for an empty grid or a rank of 0.
    pub fn ranks(
        mut self,
        ranks: impl IntoIterator<Item = usize>,
    ) -> Result<Experiment, ExperimentError> {
        let ranks: Vec<usize> = ranks.into_iter().collect();
        if ranks.is_empty() || ranks.contains(&0) {
            return Err(ExperimentError::Setting(format!(
                "the rank grid must hold ranks of at least 1, not {ranks:?}"
            )));
        }
        self.ranks = ranks;
        Ok(self)
    }

    /// The share of the training side carved off for validation.
    ///
    /// # Errors
    /// [`ExperimentError::Setting`] unless strictly between 0 and 1.
    pub fn validation_fraction(mut self, fraction: f64) -> Result<Experiment, ExperimentError> {
        if !(fraction > 0.0 && fraction < 1.0) {
            return Err(ExperimentError::Setting(format!(
                "the validation fraction must be strictly between 0 and 1, not {fraction}"
            )));
        }
        self.validation_fraction = fraction;
        Ok(self)
    }

    /// The seed of the validation carve and of every start.
    pub fn seed(mut self, seed: u64) -> Experiment {
        self.seed = seed;
        self
    }

    /// At most `n` steps per run (at least 1).
    pub fn max_iters(mut self, n: usize) -> Experiment {
        self.max_iters = n.max(1);
        self
    }

    /// L-BFGS runs are validated every `n` steps and stop after `patience`
    /// checks without improvement (both at least 1).
    pub fn validate_every(mut self, n: usize, patience: usize) -> Experiment {
        self.validate_every = n.max(1);
        self.patience = patience.max(1);
        self
    }

    /// Also scores the test ratings a split left out (their user or item
    /// has no training rating), with the model's policy for unknown ids:
    /// the prediction with their rows of params at zero (default: they are
    /// left out, and counted in [`SplitSummary::left_out`]).
    pub fn score_left_out(mut self, on: bool) -> Experiment {
        self.score_left_out = on;
        self
    }

    /// Compares by ranking, for implicit feedback: each setting is chosen by
    /// its validation NDCG@k (the validation runs stop early on it), and
    /// each final model is also scored by precision@k, recall@k, NDCG@k,
    /// MAP@k and AUC over each user's test items, ranking the items the user
    /// had no training rating for ([`Ranking`](crate::metrics::Ranking)).
    pub fn ranking(mut self, protocol: RankingProtocol) -> Experiment {
        self.ranking = Some(protocol);
        self
    }

    /// Prints a line to stderr as each candidate finishes on a split, with
    /// the time spent and an estimate of the time left.
    pub fn progress(mut self, on: bool) -> Experiment {
        self.progress = on;
        self
    }

    /// The candidates added.
    pub fn candidates(&self) -> &[Candidate] {
        &self.candidates
    }

    /// Runs the protocol; see the [module docs](self).
    ///
    /// # Errors
    /// [`ExperimentError::Setting`] with no split or no candidate, for a
    /// split with nothing to score (no test ratings, and its left-out ones
    /// not scored), and for side data that does not fit a candidate;
    /// [`ExperimentError::Data`] when a training side cannot be carved.
    /// A run that fails (diverges) does not stop the experiment: its
    /// outcome says so.
    pub fn run(&self) -> Result<Results, ExperimentError> {
        if self.splits.is_empty() || self.candidates.is_empty() {
            return Err(ExperimentError::Setting(
                "an experiment needs at least one split and one candidate".into(),
            ));
        }
        let unscored = self.splits.iter().find(|s| {
            let left_out = s.split.left_out.nnz();
            s.split.test.nnz() == 0 && !(self.score_left_out && left_out > 0)
        });
        if let Some(s) = unscored {
            let left_out = s.split.left_out.nnz();
            return Err(ExperimentError::Setting(match left_out {
                0 => format!("split `{}` has no test ratings", s.name),
                n => format!(
                    "split `{}` has no test ratings of trained users and items: its {n} are left out (their user or item has no training rating); score them with `Experiment::score_left_out(true)`",
                    s.name
                ),
            }));
        }
        let started = Instant::now();
        let total = self.splits.len() * self.candidates.len();
        let done = std::sync::atomic::AtomicUsize::new(0);
        let carved = self
            .splits
            .iter()
            .map(|s| {
                s.split
                    .train
                    .split_random(self.validation_fraction, self.seed)
            })
            .collect::<Result<Vec<_>, _>>()?;
        // Side data per split and candidate, for the split's id maps.
        let sides = self
            .splits
            .iter()
            .map(|s| {
                self.candidates
                    .iter()
                    .map(|c| c.side_for(&s.name, &s.split.train))
                    .collect::<Result<Vec<_>, _>>()
            })
            .collect::<Result<Vec<_>, _>>()?;
        let outcomes: Vec<Vec<Outcome>> = self
            .splits
            .par_iter()
            .zip(&carved)
            .zip(&sides)
            .map(|((named, carve), sides)| {
                self.candidates
                    .par_iter()
                    .zip(sides)
                    .map(|(c, side)| {
                        let train = &named.split.train;
                        let left_out = self.score_left_out.then_some(&named.split.left_out);
                        let test = (&named.split.test, left_out);
                        let data = search::Data {
                            fit: &carve.train,
                            validation: &carve.test,
                            train,
                            side,
                        };
                        let o = search::evaluate(self, c, &data, test);
                        if self.progress {
                            let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                            let elapsed = started.elapsed().as_secs_f64();
                            let left = elapsed / n as f64 * (total - n) as f64;
                            eprintln!(
                                "[{n}/{total}] {} {}: test RMSE {:.4} ({}; {:.1} s) — {:.0} s so far, about {:.0} s left",
                                named.name, c.name, o.test.rmse, o.chosen, o.total_seconds, elapsed, left
                            );
                        }
                        o
                    })
                    .collect()
            })
            .collect();
        Ok(Results {
            names: self.candidates.iter().map(|c| c.name.clone()).collect(),
            groups: self.candidates.iter().map(|c| c.group.clone()).collect(),
            splits: self
                .splits
                .iter()
                .map(|s| match self.score_left_out {
                    true => SplitSummary {
                        name: s.name.clone(),
                        scored: s.split.test.nnz() + s.split.left_out.nnz(),
                        left_out: 0,
                    },
                    false => SplitSummary {
                        name: s.name.clone(),
                        scored: s.split.test.nnz(),
                        left_out: s.split.dropped_entries,
                    },
                })
                .collect(),
            outcomes,
            ranking: self.ranking,
        })
    }
}
