//! The protocol of the MovieLens acceptance run, shared by the example and
//! its acceptance test (`tests/movielens_acceptance.rs`): the seed loss, the
//! u1 split, the start, the runs of each optimizer under one budget, the
//! largest stable rate, the validation carve and early stopping.

use std::ops::ControlFlow;
use std::path::Path;

use mf_runtime::data::{Ratings, Split};
use mf_runtime::model::Unknown;
use mf_runtime::{
    loss, Adam, History, Init, Lbfgs, Minimizer, Model, Params, Record, Report, TrainError,
};
use rand::SeedableRng;

loss! {
    /// The seed loss: squared error on the observed ratings plus a squared
    /// Frobenius penalty on both factors.
    pub struct SeedLoss {
        /// The ratings, as their observed entries only.
        data D: sparse[users, items],
        /// User factors.
        param P: [users, k],
        /// Item factors.
        param Q: [k, items],
        /// Penalty weight.
        hyper beta: f64 = 10.0,
    }
    minimize sum(mask * (D - P@Q)^2) + beta * (norm(P)^2 + norm(Q)^2)
}

/// The loss, as written in the `loss!` block.
pub const LOSS: &str = "sum(mask * (D - P@Q)^2) + beta * (norm(P)^2 + norm(Q)^2)";
/// Rank of the factorization.
pub const K: usize = 10;
/// Penalty weight.
pub const BETA: f64 = 10.0;
/// Seed of the starting parameters (and of the validation split).
pub const SEED: u64 = 42;
/// Standard deviation of the normal starting parameters.
pub const INIT_STD: f64 = 0.1;
/// Relative change of the loss between two steps at which L-BFGS stops.
pub const LBFGS_TOL: f64 = 1e-6;
/// The original fixed learning rate.
pub const ORIGINAL_ALPHA: f64 = 0.0002;
/// Share of `u1.base` held out for validation in the early-stopping run.
pub const VALIDATION_FRACTION: f64 = 0.1;
/// Validation RMSE every this many steps in the early-stopping runs.
pub const VALIDATE_EVERY: usize = 10;
/// Checks without improvement before early stopping.
pub const PATIENCE: usize = 10;
/// Adam's learning rate (table and early stopping).
pub const ADAM_RATE: f64 = 0.01;
/// The penalty weights tried with early stopping, chosen on validation.
pub const BETA_GRID: [f64; 5] = [1.0, 2.0, 3.0, 5.0, 10.0];
/// The beta [`select_beta`] chooses from [`BETA_GRID`] on the validation
/// split (the example prints the choice; the acceptance test trains with it).
pub const CHOSEN_BETA: f64 = 2.0;

pub type BoxError = Box<dyn std::error::Error>;

/// The `u1` split of MovieLens 100k in `dir` (`u1.test` on `u1.base`'s id maps).
pub fn load_u1(dir: &Path) -> Result<Split, BoxError> {
    Ok(Split::movielens(dir, "u1")?)
}

/// The common start: P and Q normal(0, [`INIT_STD`]), seeded with `seed`.
pub fn start(train: &Ratings, k: usize, seed: u64) -> Result<SeedLossParams, BoxError> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let init = Init::Normal {
        mean: 0.0,
        std: INIT_STD,
    };
    Ok(SeedLoss::init(train, k, init, &mut rng)?)
}

/// A model of the flat parameters `x` (laid out like `like`) on `train`'s
/// id maps; predictions are P·Q, unclipped. A user or item without a
/// training rating (a validation carve leaves some) predicts with its row
/// at zero: 0, where its row of the start would give nearly 0 too.
pub fn model(like: &Params, x: &[f64], train: &Ratings) -> Model {
    let params = Params::from_vec(like.layout().clone(), x.to_vec()).expect("same layout");
    Model::builder(&SeedLoss::default(), params, train)
        .unknown(Unknown::Baseline)
        .build()
        .expect("the params are SeedLoss's")
}

/// RMSE of the model of `x` on `data`, whose ids are `train`'s.
pub fn rmse(like: &Params, x: &[f64], train: &Ratings, data: &Ratings) -> f64 {
    model(like, x, train)
        .accuracy(data)
        .expect("every id of the split is known to the model")
        .rmse
}

/// The outcome of one run, whether it finished or diverged.
pub struct Run {
    /// Row label.
    pub label: String,
    /// The trainer's report, or the divergence error.
    pub outcome: Result<Report, TrainError>,
    /// Every record the callback saw (also when the run diverged).
    pub history: History,
    /// The parameters the run left (the last finite ones on divergence).
    pub x: Vec<f64>,
}

impl Run {
    /// Loss at the returned parameters (the last finite loss on divergence).
    pub fn loss(&self) -> f64 {
        match &self.outcome {
            Ok(report) => report.loss,
            Err(TrainError::Diverged {
                last_finite_loss, ..
            }) => *last_finite_loss,
            Err(_) => f64::NAN,
        }
    }

    /// Steps taken (up to the divergence).
    pub fn iterations(&self) -> usize {
        match &self.outcome {
            Ok(report) => report.iterations,
            Err(TrainError::Diverged { step, .. }) => *step,
            Err(_) => 0,
        }
    }

    /// Objective evaluations.
    pub fn evaluations(&self) -> usize {
        self.history.records().last().map_or(0, |r| r.evaluations)
    }

    /// Wall-clock seconds.
    pub fn seconds(&self) -> f64 {
        match &self.outcome {
            Ok(report) => report.elapsed.as_secs_f64(),
            Err(_) => self.history.records().last().map_or(0.0, |r| r.elapsed),
        }
    }

    /// The first step whose loss is above the previous one by more than
    /// 1e-9 relative, if any.
    pub fn first_rise(&self) -> Option<usize> {
        self.history
            .records()
            .windows(2)
            .find(|w| w[1].loss > w[0].loss * (1.0 + 1e-9))
            .map(|w| w[1].step)
    }

    /// Stable over the run: no divergence, and the loss never went up by
    /// more than 1e-9 relative over one step.
    pub fn stable(&self) -> bool {
        self.outcome.is_ok() && self.first_rise().is_none()
    }

    /// "stable", or how the run was not.
    pub fn verdict(&self) -> String {
        match (&self.outcome, self.first_rise()) {
            (Err(TrainError::Diverged { step, what, .. }), rise) => {
                let rise = rise.map_or(String::new(), |s| {
                    format!(", the loss rising from step {s}")
                });
                format!("diverged at step {step} ({what}){rise}")
            }
            (Err(e), _) => e.to_string(),
            (Ok(_), Some(step)) => format!("the loss rose at step {step}"),
            (Ok(_), None) => "stable".into(),
        }
    }
}

/// Runs `method` on the seed loss over `train` from `x0` until `max_evals`
/// objective evaluations are spent (or the trainer's own rules stop it:
/// here only the relative loss change `tol_rel_loss`).
pub fn run<M: Minimizer>(
    label: impl Into<String>,
    method: M,
    train: &Ratings,
    x0: &SeedLossParams,
    beta: f64,
    max_evals: usize,
    tol_rel_loss: f64,
) -> Result<Run, BoxError> {
    let mut objective = SeedLoss { beta }.objective(train, x0)?;
    let mut x = x0.as_slice().to_vec();
    let mut records: Vec<Record> = Vec::new();
    let outcome = method
        .train()
        .max_iters(usize::MAX)
        .tol_rel_loss(tol_rel_loss)
        .progress(false)
        .callback(|r| {
            records.push(*r);
            match r.evaluations >= max_evals {
                true => ControlFlow::Break(()),
                false => ControlFlow::Continue(()),
            }
        })
        .minimize(&mut objective, &mut x);
    Ok(Run {
        label: label.into(),
        outcome,
        history: History::from(records),
        x,
    })
}

/// L-BFGS until the relative change of the loss is below [`LBFGS_TOL`] (at
/// most `max_iters` steps); returns the report and the parameters reached.
pub fn lbfgs_minimum(
    train: &Ratings,
    x0: &SeedLossParams,
    beta: f64,
    max_iters: usize,
) -> Result<(Report, Vec<f64>), BoxError> {
    let mut objective = SeedLoss { beta }.objective(train, x0)?;
    let mut x = x0.as_slice().to_vec();
    let report = Lbfgs::default()
        .train()
        .max_iters(max_iters)
        .tol_rel_loss(LBFGS_TOL)
        .progress(false)
        .minimize(&mut objective, &mut x)?;
    Ok((report, x))
}

/// The largest fixed rate at which `method(rate)` stays [stable](Run::stable)
/// over a run of `max_evals` evaluations: halve from `first` until stable,
/// then bisect `refine` times between the stable rate and the smallest
/// unstable one. Returns the rate and every trial `(rate, verdict)`.
pub fn largest_stable_rate<M: Minimizer>(
    method: impl Fn(f64) -> M,
    first: f64,
    refine: usize,
    train: &Ratings,
    x0: &SeedLossParams,
    max_evals: usize,
) -> Result<(f64, Vec<(f64, String)>), BoxError> {
    let mut trials = Vec::new();
    let mut trial = |rate: f64| -> Result<bool, BoxError> {
        let run = run("", method(rate), train, x0, BETA, max_evals, 0.0)?;
        trials.push((rate, run.verdict()));
        Ok(run.stable())
    };
    let mut unstable = f64::INFINITY;
    let mut rate = first;
    while !trial(rate)? {
        unstable = rate;
        rate /= 2.0;
    }
    if unstable.is_infinite() {
        // `first` was already stable: double until it is not.
        unstable = 2.0 * rate;
        while trial(unstable)? {
            rate = unstable;
            unstable *= 2.0;
        }
    }
    for _ in 0..refine {
        let middle = 0.5 * (rate + unstable);
        if trial(middle)? {
            rate = middle;
        } else {
            unstable = middle;
        }
    }
    Ok((rate, trials))
}

/// `u1.base` cut in two for early stopping: a seeded random
/// [`VALIDATION_FRACTION`] held out for validation, the rest to fit. Both
/// keep `u1.base`'s id maps, so `u1.test` can be scored on the result.
pub struct Carved {
    /// The ratings trained on.
    pub fit: Ratings,
    /// The held-out ratings the validation RMSE is computed on.
    pub validation: Ratings,
}

/// Carves the validation split from `base` (never from a test set).
pub fn carve(base: &Ratings, seed: u64) -> Result<Carved, BoxError> {
    let split = base.split_random(VALIDATION_FRACTION, seed)?;
    Ok(Carved {
        fit: split.train,
        validation: split.test,
    })
}

/// What an early-stopping run found.
pub struct EarlyStopping {
    /// The penalty weight trained with.
    pub beta: f64,
    /// The trainer's report (its `best` is the restored step).
    pub report: Report,
    /// The restored parameters.
    pub params: Params,
    /// Validation RMSE at the restored parameters.
    pub validation_rmse: f64,
}

impl EarlyStopping {
    /// RMSE of the restored parameters on `data`, whose ids are `u1.base`'s.
    pub fn rmse(&self, carved: &Carved, data: &Ratings) -> f64 {
        rmse(&self.params, self.params.as_slice(), &carved.fit, data)
    }
}

/// Early stopping: Adam (rate [`ADAM_RATE`]) on the fitting part of
/// `carved`, from the common start, with the validation RMSE every
/// [`VALIDATE_EVERY`] steps and a patience of [`PATIENCE`] checks; the
/// trainer restores the parameters of the best check.
pub fn early_stopping(
    carved: &Carved,
    k: usize,
    beta: f64,
    seed: u64,
) -> Result<EarlyStopping, BoxError> {
    let (fit, validation) = (&carved.fit, &carved.validation);
    let x0 = start(fit, k, seed)?;
    let like: &Params = &x0;
    let mut objective = SeedLoss { beta }.objective(fit, &x0)?;
    let mut x = x0.as_slice().to_vec();
    let report = Adam::new(ADAM_RATE)
        .train()
        .max_iters(5000)
        .tol_rel_loss(0.0)
        .metrics_every(VALIDATE_EVERY)
        .validation(|x: &[f64]| rmse(like, x, fit, validation))
        .patience(PATIENCE)
        .progress(false)
        .minimize(&mut objective, &mut x)?;
    let params = Params::from_vec(like.layout().clone(), x).expect("same layout");
    Ok(EarlyStopping {
        beta,
        validation_rmse: rmse(&params, params.as_slice(), fit, validation),
        params,
        report,
    })
}

/// Early stopping for each beta of `grid`; the one with the lowest
/// validation RMSE comes first. Only the validation split is looked at.
pub fn select_beta(
    carved: &Carved,
    k: usize,
    grid: &[f64],
    seed: u64,
) -> Result<Vec<EarlyStopping>, BoxError> {
    let mut runs = grid
        .iter()
        .map(|&beta| early_stopping(carved, k, beta, seed))
        .collect::<Result<Vec<_>, _>>()?;
    runs.sort_by(|a, b| a.validation_rmse.total_cmp(&b.validation_rmse));
    Ok(runs)
}
