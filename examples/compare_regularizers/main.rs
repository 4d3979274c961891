//! The regularizer comparison: sixteen losses written with `loss!`, each
//! trained on the same splits with its hyper-settings chosen on validation
//! data carved from the training side, and scored on the test side. One
//! more row trains the √n-weighted penalty again with four times the ranks
//! from a smaller start, and the last, SVD++, adds implicit feedback.
//!
//! ```text
//! cargo run --release --example compare_regularizers                      # synthetic, no download
//! cargo run --release --example compare_regularizers -- --data ml-100k/u.data   # any MovieLens file, random 80/20 split
//! cargo run --release --example compare_regularizers -- --folds           # ml-100k u1–u5, mean ± std
//! cargo run --release --example compare_regularizers -- --folds --data DIR --out DIR --k 10,50
//! cargo run --release --example compare_regularizers -- --explain          # every loss's explain()
//! cargo run --release --example compare_regularizers -- --folds --only svd++   # the rows whose name contains this
//! cargo run --release --example compare_regularizers -- --synthetic 610,9724,100836 --k 100  # users,items,ratings
//! cargo run --release --example compare_regularizers -- --only huber --lambdas huber=0.05,0.08,0.12 --deltas huber=1,1.5
//! ```
//!
//! `--lambdas TEXT=a,b,c` and `--deltas TEXT=a,b` replace the λ or δ grid
//! of the rows whose name contains `TEXT` (widen a grid when the choice
//! lands on its edge; repeatable).
//!
//! For every split (the synthetic one, a random split of `--data`, or each
//! of the canonical u1–u5 of MovieLens 100k):
//!
//! 1. 10 % of the training side (random, seeded) is carved off for
//!    validation; the test side is never looked at until the end.
//! 2. For every loss, a small grid of hyper-settings is searched on the
//!    validation RMSE: λ over the loss's grid at the first k of the k grid,
//!    then (Huber and SVD++ only) the second hyper-setting δ at the best
//!    λ, then the other ranks at the best (λ, δ). A row may scale the k grid
//!    ([`Candidate::rank_scale`]). Each run starts from the same kind of
//!    start (P and Q normal with the row's standard deviation, [`INIT_STD`]
//!    unless set) and restores its best step. A loss with row systems and
//!    a penalty trains with ALS, validated every step and stopped after
//!    [`ALS_PATIENCE`] steps without improvement; the others (no penalty:
//!    early stopping is their regularizer; the Frobenius norms, see
//!    [`Candidate::als`]; L1, elastic net, absolute error and SVD++, which
//!    have no row systems) with L-BFGS, validated every [`VALIDATE_EVERY`]
//!    steps and stopped after [`PATIENCE`] checks.
//! 3. The chosen setting is trained again on the whole training side for the
//!    number of steps its validation run kept (its restored step), and that
//!    model is scored on the test side: RMSE and MAE of its predictions,
//!    clipped to the range of the training ratings.
//!
//! The table gives the test errors, the iterations and seconds of the final
//! run, the seconds of the whole search and final run (runs share the
//! pool, so they overlap), and the chosen setting; the line above it says
//! how many test ratings each split scored and left out. A plot of the validation RMSE per step of
//! each loss's chosen validation run (first split) goes to `--out`.
//!
//! Splits, losses and the settings of a stage run concurrently on rayon's
//! pool; every run is deterministic and each choice is made in grid order,
//! so the table is the one of a run after run search (seconds aside).

use std::path::{Path, PathBuf};
use std::time::Instant;

use mf_runtime::data::{find_dataset, Ratings, Split, Synthetic};
use mf_runtime::metrics::Accuracy;
use mf_runtime::model::{Model, Prediction, Unknown};
use mf_runtime::{
    Als, CurvePlot, History, Init, Lbfgs, Minimizer, Objective, Params, Report, Trainer,
};
use rand::SeedableRng;
use rayon::prelude::*;

mod losses;
pub use losses::*;

// ---------------------------------------------------------------------------
// Settings of the protocol.
// ---------------------------------------------------------------------------

/// Seed of the starting parameters, of the validation carve and of random splits.
pub const SEED: u64 = 42;
/// Standard deviation of the normal start of P and Q (biases start at 0, mu
/// at the mean training rating), unless a loss's row sets its own.
pub const INIT_STD: f64 = 0.1;
/// Share of the training side carved off for validation.
pub const VALIDATION_FRACTION: f64 = 0.1;
/// Share of a `--data` file held out as the test side.
pub const TEST_FRACTION: f64 = 0.2;
/// Validation RMSE every this many L-BFGS steps.
pub const VALIDATE_EVERY: usize = 5;
/// Checks without improvement before early stopping (L-BFGS).
pub const PATIENCE: usize = 10;
/// Steps without improvement before early stopping (ALS, validated every
/// step).
pub const ALS_PATIENCE: usize = 3;
/// L-BFGS stops when the relative change of the loss over a step is below this.
pub const TOL_REL_LOSS: f64 = 1e-7;
/// Upper bound on L-BFGS steps per run.
pub const MAX_ITERS: usize = 1500;

type BoxError = Box<dyn std::error::Error>;

/// One hyper-setting: rank, penalty weight and a second hyper-setting δ
/// (unused entries are ignored by the losses that have no such hyper).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Setting {
    /// Rank of the factorization.
    pub k: usize,
    /// Penalty weight (0 for the losses with no penalty).
    pub lambda: f64,
    /// The second hyper-setting: Huber's threshold, or SVD++'s ratio of
    /// the implicit factors' penalty to λ (the other losses ignore it).
    pub delta: f64,
}

/// What to train: data, validation (for early stopping) and setting.
pub struct Job<'a> {
    /// The ratings trained on.
    pub fit: &'a Ratings,
    /// Held-out ratings for the validation RMSE and early stopping, if any.
    pub validation: Option<&'a Ratings>,
    /// The hyper-setting.
    pub setting: Setting,
    /// Standard deviation of the normal start of P and Q.
    pub init_std: f64,
    /// Step budget.
    pub max_iters: usize,
    /// Train with ALS when the loss has row systems (else L-BFGS).
    pub als: bool,
    /// Validation checks without improvement before early stopping.
    pub patience: usize,
}

/// A trained model: the trainer's report and the generated model of the
/// loss (clipped to the training ratings' range; an id without training
/// ratings, as a validation carve leaves some, predicts with its rows at
/// zero).
pub struct Trained {
    /// The trainer's report (history with the validation RMSE when validated).
    pub report: Report,
    /// The model at the trained params.
    pub model: Model,
}

impl Trained {
    /// RMSE and MAE on `data` (same id maps as the training side).
    pub fn accuracy(&self, data: &Ratings) -> Accuracy {
        self.model
            .accuracy(data)
            .expect("the baseline policy predicts every id")
    }
}

/// A loss of the comparison: how to train it, and its hyper-setting grid.
pub struct Candidate {
    /// Row label.
    pub name: &'static str,
    /// Whether it predicts P@Q + bu + bi + mu.
    pub biased: bool,
    /// The generated `explain()`.
    pub explain: fn() -> &'static str,
    /// Penalty weights tried (`[0.0]` when the loss has no penalty).
    pub lambdas: Vec<f64>,
    /// Values of δ tried (`[1.0]`, unused, for the losses without one).
    pub deltas: Vec<f64>,
    /// Standard deviation of the normal start of P and Q.
    pub init_std: f64,
    /// The rank grid of this loss is the run's rank grid times this.
    pub rank_scale: usize,
    /// Train with ALS when the loss has row systems. Off for the losses
    /// without a penalty (their only regularizer is early stopping, which
    /// L-BFGS's small steps give and an exact block minimum does not) and
    /// for the Frobenius norms, not squared: their majorized ALS steps
    /// converge slowly (the radius lags one step behind) and validated
    /// worse than L-BFGS's early-stopped path on ml-100k u1–u5 (test RMSE
    /// 0.977 and 1.001 against 0.965 and 0.945).
    pub als: bool,
    /// Trains the loss.
    pub train: fn(&Job<'_>) -> Result<Trained, BoxError>,
}

/// Range of the values of `r`.
fn value_range(r: &Ratings) -> (f64, f64) {
    r.csr()
        .values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        })
}

/// Trains `objective` (the loss `loss` bound to the job's data) from
/// `params`, validated and early-stopped when the job has validation data.
/// A loss with row systems trains with [`Als`] (row-block Newton steps,
/// validated every step: a step moves every row to its block minimum, so a
/// few steps suffice) unless the job says otherwise; the others (L1 and
/// absolute-error kinks, SVD++'s `mask(D) @ Y`) with L-BFGS, validated
/// every [`VALIDATE_EVERY`] steps.
pub fn fit<O: Objective>(
    job: &Job<'_>,
    loss: &dyn Prediction,
    params: Params,
    objective: &mut O,
) -> Result<Trained, BoxError> {
    let layout = params.layout().clone();
    let range = value_range(job.fit);
    let model_at = |x: &[f64]| {
        let params =
            Params::from_vec(layout.clone(), x.to_vec()).expect("x has the layout's length");
        Model::builder(loss, params, job.fit)
            .clip(range.0, range.1)
            .unknown(Unknown::Baseline)
            .build()
    };
    let mut x = params.as_slice().to_vec();
    let model_at = &model_at;
    let validation = job.validation.map(|validation| {
        move |x: &[f64]| match model_at(x).map(|m| m.accuracy(validation)) {
            Ok(Ok(accuracy)) => accuracy.rmse,
            _ => f64::NAN,
        }
    });
    let report = match job.als && objective.row_systems().is_ok() {
        true => run(
            Als::default().train(),
            1,
            ALS_PATIENCE,
            job,
            validation,
            objective,
            &mut x,
        )?,
        false => run(
            Lbfgs::default().train(),
            VALIDATE_EVERY,
            job.patience,
            job,
            validation,
            objective,
            &mut x,
        )?,
    };
    Ok(Trained {
        report,
        model: model_at(&x)?,
    })
}

/// `trainer` on `objective` from `x`, with the job's step budget and, when
/// given, `validation` every `every` steps, stopping after `patience`
/// checks without improvement.
fn run<'a, M: Minimizer, O: Objective>(
    trainer: Trainer<'a, M>,
    every: usize,
    patience: usize,
    job: &Job<'_>,
    validation: Option<impl FnMut(&[f64]) -> f64 + 'a>,
    objective: &mut O,
    x: &mut [f64],
) -> Result<Report, BoxError> {
    let mut trainer = trainer
        .max_iters(job.max_iters)
        .tol_rel_loss(TOL_REL_LOSS)
        .progress(false);
    if let Some(validation) = validation {
        trainer = trainer
            .metrics_every(every)
            .patience(patience)
            .validation(validation);
    }
    Ok(trainer.minimize(objective, x)?)
}

/// A [`Candidate`] for a loss struct; `|s| expr` builds the loss from a
/// [`Setting`] `s`.
macro_rules! candidate {
    ($ty:ident, $name:expr, biased: $biased:expr, lambdas: $lambdas:expr, deltas: $deltas:expr,
     |$s:ident| $make:expr) => {
        Candidate {
            name: $name,
            biased: $biased,
            explain: $ty::explain,
            lambdas: $lambdas.to_vec(),
            deltas: $deltas.to_vec(),
            init_std: INIT_STD,
            rank_scale: 1,
            als: true,
            train: |job: &Job<'_>| -> Result<Trained, BoxError> {
                let $s = job.setting;
                let loss: $ty = $make;
                let mut rng = rand::rngs::StdRng::seed_from_u64(SEED);
                let init = Init::Normal {
                    mean: 0.0,
                    std: job.init_std,
                };
                // Biases start at 0 and `mu` at the mean rating, as the
                // losses declare.
                let params = $ty::init(job.fit, $s.k, init, &mut rng)?;
                let mut objective = loss.objective(job.fit, &params)?;
                fit(job, &loss, params.into_params(), &mut objective)
            },
        }
    };
}

/// No penalty: nothing to choose but k.
pub const NONE: &[f64] = &[0.0];
/// δ placeholder for the losses without one.
const NO_DELTA: &[f64] = &[1.0];

/// The sixteen losses and the larger-rank row of the √n-weighted one, in
/// table order.
pub fn candidates() -> Vec<Candidate> {
    vec![
        Candidate {
            als: false,
            ..candidate!(Plain, "squared error, no penalty", biased: false,
                lambdas: NONE, deltas: NO_DELTA, |s| { let _ = s; Plain {} })
        },
        Candidate {
            als: false,
            ..candidate!(PlainBiased, "squared error, no penalty + biases", biased: true,
                lambdas: NONE, deltas: NO_DELTA, |s| { let _ = s; PlainBiased {} })
        },
        candidate!(L2, "L2 (squared Frobenius)", biased: false,
            lambdas: &[0.3, 1.0, 3.0, 10.0, 30.0], deltas: NO_DELTA, |s| L2 { lambda: s.lambda }),
        candidate!(L2Biased, "L2 (squared Frobenius) + biases", biased: true,
            lambdas: &[0.3, 1.0, 3.0, 10.0, 30.0], deltas: NO_DELTA, |s| L2Biased { lambda: s.lambda }),
        candidate!(L1, "L1", biased: false,
            lambdas: &[0.3, 1.0, 3.0, 10.0, 30.0], deltas: NO_DELTA, |s| L1 { lambda: s.lambda }),
        candidate!(L1Biased, "L1 + biases", biased: true,
            lambdas: &[0.3, 1.0, 3.0, 10.0, 30.0], deltas: NO_DELTA, |s| L1Biased { lambda: s.lambda }),
        candidate!(Elastic, "elastic net (½ L1 + ½ L2)", biased: false,
            lambdas: &[0.3, 1.0, 3.0, 10.0, 30.0], deltas: NO_DELTA,
            |s| Elastic { lambda: s.lambda, ..Elastic::default() }),
        candidate!(ElasticBiased, "elastic net (½ L1 + ½ L2) + biases", biased: true,
            lambdas: &[0.3, 1.0, 3.0, 10.0, 30.0], deltas: NO_DELTA,
            |s| ElasticBiased { lambda: s.lambda, ..ElasticBiased::default() }),
        candidate!(Weighted, "weighted-λ", biased: false,
            lambdas: &[0.01, 0.03, 0.06, 0.1, 0.15, 0.3], deltas: NO_DELTA, |s| Weighted { lambda: s.lambda }),
        candidate!(WeightedBiased, "weighted-λ + biases", biased: true,
            lambdas: &[0.01, 0.03, 0.06, 0.1, 0.15, 0.3], deltas: NO_DELTA,
            |s| WeightedBiased { lambda: s.lambda }),
        Candidate {
            als: false,
            ..candidate!(Frobenius, "Frobenius, not squared", biased: false,
                lambdas: &[30.0, 100.0, 300.0, 1000.0, 3000.0], deltas: NO_DELTA,
                |s| Frobenius { lambda: s.lambda })
        },
        Candidate {
            als: false,
            ..candidate!(FrobeniusBiased, "Frobenius, not squared + biases", biased: true,
                lambdas: &[30.0, 100.0, 300.0, 1000.0, 3000.0], deltas: NO_DELTA,
                |s| FrobeniusBiased { lambda: s.lambda })
        },
        candidate!(HuberBiased, "Huber error + biases, weighted-λ", biased: true,
            lambdas: &[0.005, 0.015, 0.03, 0.05, 0.08], deltas: &[1.0, 0.5, 2.0],
            |s| HuberBiased { lambda: s.lambda, delta: s.delta }),
        candidate!(AbsoluteBiased, "absolute error + biases, weighted-λ", biased: true,
            lambdas: &[0.003, 0.01, 0.03, 0.1], deltas: NO_DELTA,
            |s| AbsoluteBiased { lambda: s.lambda }),
        candidate!(PopularLess, "√n-weighted (popular items penalized less) + biases", biased: true,
            lambdas: &[0.1, 0.3, 0.6, 1.0, 2.0], deltas: NO_DELTA,
            |s| PopularLess { lambda: s.lambda }),
        Candidate {
            init_std: 0.01,
            rank_scale: 4,
            ..candidate!(PopularLess,
                "√n-weighted + biases, 4 × the ranks, start std 0.01", biased: true,
                lambdas: &[1.0, 1.3, 1.6], deltas: NO_DELTA,
                |s| PopularLess { lambda: s.lambda })
        },
        candidate!(Svdpp, "SVD++ (implicit feedback) + biases, √n-weighted", biased: true,
            lambdas: &[1.0, 1.5, 2.0, 3.0], deltas: &[3.0, 1.0, 10.0],
            |s| Svdpp { lambda: s.lambda, ratio: s.delta }),
    ]
}

// ---------------------------------------------------------------------------
// The protocol.
// ---------------------------------------------------------------------------

/// One validation run of the search.
#[derive(Clone, Copy, Debug)]
pub struct Trial {
    /// Its setting.
    pub setting: Setting,
    /// Validation RMSE of the restored step (infinite when it failed).
    pub validation_rmse: f64,
}

/// The chosen setting of a loss on one split, and its test result.
pub struct Outcome {
    /// Index into [`candidates`].
    pub candidate: usize,
    /// Every validation run of the search, in order.
    pub trials: Vec<Trial>,
    /// The chosen setting.
    pub chosen: Setting,
    /// Its validation RMSE.
    pub validation_rmse: f64,
    /// The history of the chosen validation run (for the plot).
    pub validation_history: History,
    /// Test RMSE and MAE of the final model.
    pub test: Accuracy,
    /// The method of the final run (`"ALS"` or `"L-BFGS"`).
    pub method: &'static str,
    /// Steps of the final run.
    pub iterations: usize,
    /// Seconds of the final run.
    pub seconds: f64,
    /// Seconds of the whole search and final run.
    pub total_seconds: f64,
    /// Set when something failed (divergence): the message.
    pub failure: Option<String>,
}

/// A failed test result (NaN errors).
const NO_ACCURACY: Accuracy = Accuracy {
    rmse: f64::NAN,
    mae: f64::NAN,
    count: 0,
};

/// Searches `c`'s grid on `validation`, trains the choice on `train` (=
/// `fit` ∪ `validation`) and scores it on `test`. The settings of a stage
/// (λ, δ, k) train concurrently; the choice is made in grid order after.
#[allow(clippy::too_many_arguments)]
pub fn evaluate(
    index: usize,
    c: &Candidate,
    ks: &[usize],
    full_grid: bool,
    fit: &Ratings,
    validation: &Ratings,
    train: &Ratings,
    test: &Ratings,
) -> Outcome {
    let started = Instant::now();
    let mut trials = Vec::new();
    let mut best: Option<(Trial, Trained)> = None;
    let mut failure = None;
    let ks: Vec<usize> = ks.iter().map(|k| k * c.rank_scale).collect();
    let base = Setting {
        k: ks[0],
        lambda: c.lambdas[0],
        delta: c.deltas[0],
    };
    let (lambdas, deltas, ks) = match full_grid {
        true => (&c.lambdas[..], &c.deltas[..], &ks[..]),
        false => (&c.lambdas[..1], &c.deltas[..1], &ks[..1]),
    };
    // λ at the first rank, then δ, then the other ranks, at the best so far.
    let stages: [&dyn Fn(Setting) -> Vec<Setting>; 3] = [
        &|s| {
            lambdas
                .iter()
                .map(|&lambda| Setting { lambda, ..s })
                .collect()
        },
        &|s| {
            deltas[1..]
                .iter()
                .map(|&delta| Setting { delta, ..s })
                .collect()
        },
        &|s| ks[1..].iter().map(|&k| Setting { k, ..s }).collect(),
    ];
    for settings in stages {
        let at = best.as_ref().map_or(base, |(t, _)| t.setting);
        let runs: Vec<_> = settings(at)
            .into_par_iter()
            .map(|setting| {
                let job = Job {
                    fit,
                    validation: Some(validation),
                    setting,
                    init_std: c.init_std,
                    max_iters: MAX_ITERS,
                    patience: PATIENCE,
                    als: c.als,
                };
                (setting, (c.train)(&job).map_err(|e| e.to_string()))
            })
            .collect();
        for (setting, run) in runs {
            let rmse = match &run {
                Ok(run) => run.report.best.map_or(f64::INFINITY, |b| b.validation),
                Err(e) => {
                    failure = Some(format!("{setting:?}: {e}"));
                    f64::INFINITY
                }
            };
            let trial = Trial {
                setting,
                validation_rmse: rmse,
            };
            trials.push(trial);
            if let Ok(run) = run {
                if best.as_ref().is_none_or(|(b, _)| rmse < b.validation_rmse) {
                    best = Some((trial, run));
                }
            }
        }
    }

    let Some((chosen, run)) = best else {
        return Outcome {
            candidate: index,
            trials,
            chosen: base,
            validation_rmse: f64::NAN,
            validation_history: History::default(),
            test: NO_ACCURACY,
            method: "",
            iterations: 0,
            seconds: 0.0,
            total_seconds: started.elapsed().as_secs_f64(),
            failure,
        };
    };
    let steps = run.report.best.map_or(run.report.iterations, |b| b.step);
    let final_job = Job {
        fit: train,
        validation: None,
        setting: chosen.setting,
        init_std: c.init_std,
        max_iters: steps,
        patience: PATIENCE,
        als: c.als,
    };
    let (test_acc, method, iterations, seconds) = match (c.train)(&final_job) {
        Ok(model) => (
            model.accuracy(test),
            model.report.method,
            model.report.iterations,
            model.report.elapsed.as_secs_f64(),
        ),
        Err(e) => {
            failure = Some(format!("final run: {e}"));
            (NO_ACCURACY, "", 0, 0.0)
        }
    };
    Outcome {
        candidate: index,
        trials,
        chosen: chosen.setting,
        validation_rmse: chosen.validation_rmse,
        validation_history: run.report.history,
        test: test_acc,
        method,
        iterations,
        seconds,
        total_seconds: started.elapsed().as_secs_f64(),
        failure,
    }
}

/// One named train/test split.
pub struct NamedSplit {
    /// Its name (`u1`, `synthetic`, …).
    pub name: String,
    /// The split.
    pub split: Split,
}

/// Every loss on one split: carve validation, search, train, score. With
/// `full_grid` false only one setting per loss is trained (the smallest λ
/// of its grid, the first δ and k): the quick path of the test.
pub fn compare_split(
    named: &NamedSplit,
    cands: &[Candidate],
    ks: &[usize],
    full_grid: bool,
    verbose: bool,
) -> Result<Vec<Outcome>, BoxError> {
    let train = &named.split.train;
    let carved = train.split_random(VALIDATION_FRACTION, SEED)?;
    let (fit, validation) = (&carved.train, &carved.test);
    if verbose {
        eprintln!(
            "{}: {} (validation: {} of the training ratings held out, {} fitted)",
            named.name,
            named.split,
            validation.nnz(),
            fit.nnz()
        );
    }
    Ok(cands
        .par_iter()
        .enumerate()
        .map(|(i, c)| {
            let o = evaluate(
                i,
                c,
                ks,
                full_grid,
                fit,
                validation,
                train,
                &named.split.test,
            );
            if verbose {
                eprintln!(
                    "  {} {:<40} {:<34} validation {:.4}  test {:.4}  ({:.1} s)",
                    named.name,
                    c.name,
                    setting_text(c, o.chosen),
                    o.validation_rmse,
                    o.test.rmse,
                    o.total_seconds
                );
            }
            o
        })
        .collect())
}

/// The synthetic data set of the default run: planted rank-5 matrix of 800
/// users × 400 items, about 24,000 ratings, noise std 0.5, popularity
/// following a power law, seed [`SEED`]; 20 % of it (random) is the test side.
pub fn synthetic_split() -> Result<NamedSplit, BoxError> {
    synthetic_split_sized(800, 400, 24_000)
}

/// [`synthetic_split`] at another size (same rank, noise and seed).
pub fn synthetic_split_sized(users: u32, items: u32, nnz: usize) -> Result<NamedSplit, BoxError> {
    let ratings = Synthetic {
        rank: 5,
        seed: SEED,
        ..Synthetic::new(users, items, nnz)
    }
    .generate()?;
    Ok(NamedSplit {
        name: "synthetic".into(),
        split: ratings.split_random(TEST_FRACTION, SEED)?,
    })
}

/// The rank grid of the synthetic default run.
pub const SYNTHETIC_KS: [usize; 2] = [5, 10];
/// The rank grid of MovieLens runs.
pub const MOVIELENS_KS: [usize; 2] = [50, 100];

/// Mean and sample standard deviation.
pub fn mean_std(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = match xs.len() {
        0 | 1 => 0.0,
        _ => xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0),
    };
    (mean, var.sqrt())
}

fn setting_text(c: &Candidate, s: Setting) -> String {
    let mut t = format!("k = {}", s.k);
    if c.lambdas != NONE {
        t += &format!(", λ = {}", s.lambda);
    }
    if c.deltas.len() > 1 {
        t += &format!(", δ = {}", s.delta);
    }
    t
}

/// The Markdown table of `results` (one entry per split).
pub fn table(cands: &[Candidate], results: &[Vec<Outcome>]) -> String {
    let many = results.len() > 1;
    let mut out = String::new();
    out += "| loss | method | test RMSE | test MAE | iterations | seconds (final fit) | seconds (search + final) | chosen setting |\n";
    out += "|---|---|---:|---:|---:|---:|---:|---|\n";
    for (i, c) in cands.iter().enumerate() {
        let col = |f: &dyn Fn(&Outcome) -> f64, digits: usize| -> String {
            let xs: Vec<f64> = results.iter().map(|r| f(&r[i])).collect();
            let (m, s) = mean_std(&xs);
            match many {
                true => format!("{m:.digits$} ± {s:.digits$}"),
                false => format!("{m:.digits$}"),
            }
        };
        let settings: Vec<String> = results
            .iter()
            .map(|r| setting_text(c, r[i].chosen))
            .collect();
        let setting = match settings.iter().all(|s| s == &settings[0]) {
            true => settings[0].clone(),
            false => settings.join("; "),
        };
        let failed = results.iter().filter_map(|r| r[i].failure.as_ref()).next();
        let name = match failed {
            Some(f) => format!("{} (failed: {f})", c.name),
            None => c.name.to_string(),
        };
        let method = results.iter().map(|r| r[i].method).find(|m| !m.is_empty());
        out += &format!(
            "| {name} | {} | {} | {} | {} | {} | {} | {setting} |\n",
            method.unwrap_or("—"),
            col(&|o| o.test.rmse, 4),
            col(&|o| o.test.mae, 4),
            col(&|o| o.iterations as f64, 0),
            col(&|o| o.seconds, 2),
            col(&|o| o.total_seconds, 1),
        );
    }
    out
}

/// The validation-RMSE plots of the first split: every loss, and the
/// unbiased and biased ones separately (ten colours each at most).
pub fn plot(
    cands: &[Candidate],
    outcomes: &[Outcome],
    title: &str,
    out: &Path,
) -> Result<Vec<PathBuf>, BoxError> {
    std::fs::create_dir_all(out)?;
    let mut written = Vec::new();
    for (file, keep) in [
        ("validation-rmse", None),
        ("validation-rmse-unbiased", Some(false)),
        ("validation-rmse-biased", Some(true)),
    ] {
        let curves: Vec<(&str, &History)> = outcomes
            .iter()
            .filter(|o| keep.is_none_or(|b| cands[o.candidate].biased == b))
            .filter(|o| !o.validation_history.records().is_empty())
            .map(|o| (cands[o.candidate].name, &o.validation_history))
            .collect();
        if curves.is_empty() {
            continue;
        }
        let plot = CurvePlot::new()
            .size(1100, 800)
            .title(format!(
                "{title}: loss and validation RMSE per step (ALS or L-BFGS)"
            ))
            .validation_label("validation RMSE");
        for ext in ["svg", "png"] {
            let path = out.join(format!("{file}.{ext}"));
            plot.write(&path, &curves)?;
            written.push(path);
        }
    }
    Ok(written)
}

/// The value after `flag` on the command line, if any.
fn arg(flag: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    let i = args.iter().position(|a| a == flag)?;
    args.get(i + 1).cloned()
}

/// The comma-separated numbers after `flag`, if any (`what` for the error).
fn numbers(flag: &str, what: &str) -> Result<Option<Vec<usize>>, BoxError> {
    let Some(list) = arg(flag) else {
        return Ok(None);
    };
    let parsed = list.split(',').map(|s| s.trim().parse::<usize>());
    let err = |_| format!("{flag} needs a comma-separated list of {what}");
    Ok(Some(parsed.collect::<Result<_, _>>().map_err(err)?))
}

/// Every `flag TEXT=a,b,c` on the command line: the rows whose name
/// contains `TEXT` (lower case) and the grid, finite and non-negative.
fn grids(flag: &str) -> Result<Vec<(String, Vec<f64>)>, BoxError> {
    let args: Vec<String> = std::env::args().collect();
    let mut out = Vec::new();
    for (i, a) in args.iter().enumerate() {
        if a != flag {
            continue;
        }
        let usage = || {
            format!("{flag} takes TEXT=a,b,c (the rows whose name contains TEXT), e.g. {flag} \"weighted-λ + biases=0.1,0.15,0.2\"")
        };
        let value = args.get(i + 1).ok_or_else(usage)?;
        let (text, list) = value.rsplit_once('=').ok_or_else(usage)?;
        let grid = list
            .split(',')
            .map(|v| match v.trim().parse::<f64>() {
                Ok(x) if x.is_finite() && x >= 0.0 => Ok(x),
                _ => Err(format!(
                    "{flag} {value}: `{v}` is not a finite, non-negative number"
                )),
            })
            .collect::<Result<Vec<f64>, String>>()?;
        out.push((text.trim().to_lowercase(), grid));
    }
    Ok(out)
}

fn has_flag(flag: &str) -> bool {
    std::env::args().any(|a| a == flag)
}

fn main() {
    if let Err(e) = run_comparison() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

/// The command: splits, grids and losses from the command line, then the
/// comparison, the table and the plots.
fn run_comparison() -> Result<(), BoxError> {
    let started = Instant::now();
    if has_flag("--explain") {
        for c in candidates() {
            println!("{}\n{}", c.name, (c.explain)());
        }
        return Ok(());
    }
    let out = arg("--out").map_or_else(
        || PathBuf::from("target/compare_regularizers"),
        PathBuf::from,
    );
    let data = arg("--data").map(PathBuf::from);
    let (splits, mut ks, title) = if has_flag("--folds") {
        let dir = match data {
            Some(d) if d.is_dir() => d,
            Some(d) => d.parent().map(Path::to_path_buf).unwrap_or_default(),
            None => match find_dataset("ml-100k") {
                Some(d) => d,
                None => {
                    eprintln!(
                        "MovieLens 100k is absent: no `ml-100k` directory under $MF_DATASETS or \
                         ../shared/datasets. Point to it with `--data DIR`; nothing was run."
                    );
                    return Ok(());
                }
            },
        };
        let splits = (1..=5)
            .map(|f| {
                let name = format!("u{f}");
                Ok(NamedSplit {
                    split: Split::movielens(&dir, &name)?,
                    name,
                })
            })
            .collect::<Result<Vec<_>, BoxError>>()?;
        (splits, MOVIELENS_KS.to_vec(), "ml-100k u1".to_string())
    } else if let Some(path) = data {
        let ratings = Ratings::from_movielens(&path)?;
        let split = ratings.split_random(TEST_FRACTION, SEED)?;
        let name = path.display().to_string();
        (
            vec![NamedSplit {
                name: name.clone(),
                split,
            }],
            MOVIELENS_KS.to_vec(),
            name,
        )
    } else {
        let split = match numbers("--synthetic", "users, items, ratings: 610,9724,100836")? {
            Some(n) if n.len() == 3 => synthetic_split_sized(n[0] as u32, n[1] as u32, n[2])?,
            Some(_) => return Err("--synthetic needs three numbers: users,items,ratings".into()),
            None => synthetic_split()?,
        };
        (vec![split], SYNTHETIC_KS.to_vec(), "synthetic".to_string())
    };
    if let Some(list) = numbers("--k", "ranks: 20,50")? {
        ks = list;
    }
    let mut cands = candidates();
    if let Some(only) = arg("--only") {
        let only = only.to_lowercase();
        cands.retain(|c| c.name.to_lowercase().contains(&only));
        if cands.is_empty() {
            return Err(format!("--only {only}: no loss's name contains it").into());
        }
    }
    for (flag, what) in [("--lambdas", "λ"), ("--deltas", "δ")] {
        for (text, grid) in grids(flag)? {
            let matching = cands
                .iter_mut()
                .filter(|c| c.name.to_lowercase().contains(&text));
            let mut any = false;
            for c in matching {
                any = true;
                match flag {
                    "--lambdas" if c.lambdas == NONE => {
                        return Err(format!("{flag}: `{}` has no penalty to weigh", c.name).into())
                    }
                    "--lambdas" => c.lambdas = grid.clone(),
                    _ if c.deltas.len() < 2 => {
                        return Err(format!("{flag}: `{}` has no {what} to choose", c.name).into())
                    }
                    _ => c.deltas = grid.clone(),
                }
            }
            if !any {
                return Err(format!("{flag} {text}=…: no loss's name contains `{text}`").into());
            }
        }
    }
    let results = splits
        .par_iter()
        .map(|named| compare_split(named, &cands, &ks, true, true).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    println!(
        "\n{} split(s): {}; rank grid {:?}; ALS or L-BFGS with early stopping on 10 % of \
         the training side; {}\n",
        splits.len(),
        splits
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        ks,
        match splits.len() {
            1 => "test errors of the final model",
            _ => "mean ± std over the splits",
        }
    );
    for named in &splits {
        let split = &named.split;
        println!(
            "{}: {} test ratings scored, {} left out (their user or item has no training \
             rating)",
            named.name,
            split.test.nnz(),
            split.dropped_entries
        );
    }
    println!();
    print!("{}", table(&cands, &results));
    let best = (0..cands.len())
        .map(|i| {
            let xs: Vec<f64> = results.iter().map(|r| r[i].test.rmse).collect();
            (i, mean_std(&xs).0)
        })
        .filter(|(_, m)| m.is_finite())
        .min_by(|a, b| a.1.total_cmp(&b.1));
    if let Some((i, m)) = best {
        println!("\nbest: {} (test RMSE {m:.4})", cands[i].name);
    }
    for path in plot(&cands, &results[0], &title, &out)? {
        println!("wrote {}", path.display());
    }
    println!(
        "whole run: {:.1} s, {} rayon threads",
        started.elapsed().as_secs_f64(),
        rayon::current_num_threads()
    );
    Ok(())
}
