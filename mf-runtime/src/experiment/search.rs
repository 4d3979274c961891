//! One candidate on one split: the staged grid search on the validation
//! carve, the chosen setting retrained on the whole training side, and its
//! model scored on the test side.

use std::time::Instant;

use rand::SeedableRng;
use rayon::prelude::*;

use super::{Candidate, Experiment, Method, Setting};
use crate::data::SideData;
use crate::metrics::{Accuracy, Ranking, RankingProtocol};
use crate::model::{Model, Rated, Unknown};
use crate::{Als, History, Init, Lbfgs, Minimizer, Params, Ratings, Report, Trainer};

/// Conjugate gradient iterations per row when a run trains by ALS (the
/// `implicit` library's default): a step costs a few passes over a row's
/// entries instead of a `k × k` Hessian and its factorization, and the
/// validation checks after every step decide when to stop either way.
const ALS_CG_STEPS: usize = 3;

/// One trained setting of the search.
#[derive(Clone, Debug, PartialEq)]
pub struct Trial {
    /// The setting.
    pub setting: Setting,
    /// Its best validation RMSE, or 1 − NDCG@k when the experiment
    /// compares by ranking (infinite when the run failed).
    pub validation_rmse: f64,
}

/// A candidate's result on one split.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Every setting tried, in the order of the search.
    pub trials: Vec<Trial>,
    /// The chosen setting (best validation RMSE, first in grid order on ties).
    pub chosen: Setting,
    /// Its validation RMSE.
    pub validation_rmse: f64,
    /// The history of the chosen validation run.
    pub validation_history: History,
    /// Test RMSE and MAE of the final model (NaN when a run failed).
    pub test: Accuracy,
    /// The final model's ranking metrics on the test side, when the
    /// experiment compares by ranking.
    pub ranking: Option<Ranking>,
    /// The final model, trained on the whole training side.
    pub model: Option<Model>,
    /// The method of the final run (`"ALS"`, `"L-BFGS"`).
    pub method: &'static str,
    /// Steps of the final run.
    pub iterations: usize,
    /// Seconds of the final run.
    pub seconds: f64,
    /// Seconds of the whole search and final run.
    pub total_seconds: f64,
    /// What failed (a divergence, a shape error), if anything.
    pub failure: Option<String>,
}

/// What to train: the data, the validation ratings (for early stopping),
/// the setting and the step budget.
struct Job<'a> {
    fit: &'a Ratings,
    side: &'a SideData,
    validation: Option<&'a Ratings>,
    setting: &'a Setting,
    max_iters: usize,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A trained run: the report and the model at its params.
struct Trained {
    report: Report,
    model: Model,
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

/// Trains `c` on the job: start, bind, ALS or L-BFGS with the job's
/// validation (every step for ALS, every [`Experiment::validate_every`]
/// steps for L-BFGS) and early stopping, then the model of the kept
/// params, clipped to the training range, unknown ids at zero rows.
fn run_job(e: &Experiment, c: &Candidate, job: &Job<'_>) -> Result<Trained, BoxError> {
    let mut loss = c.loss.boxed_trainable();
    for (name, value) in &job.setting.hypers {
        loss.set_hyper(name, *value)?;
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(e.seed);
    let init = Init::Normal {
        mean: 0.0,
        std: c.init_std,
    };
    let params = loss.start(job.fit, job.side, job.setting.rank, init, &mut rng)?;
    let layout = params.layout().clone();
    let range = value_range(job.fit);
    // Gathered once: every validation check builds a model on `job.fit`.
    let rated = std::sync::Arc::new(Rated::of(job.fit));
    let model_at = |x: &[f64]| {
        let params =
            Params::from_vec(layout.clone(), x.to_vec()).expect("x has the layout's length");
        Model::builder_rated(loss.as_ref(), params, job.fit, rated.clone())
            .side(job.side)
            .clip(range.0, range.1)
            .unknown(Unknown::Baseline)
            .build()
    };
    let mut objective = loss.bind(job.fit, job.side, &params)?;
    let mut x = params.as_slice().to_vec();
    let model_at = &model_at;
    let validation = job.validation.map(|validation| {
        move |x: &[f64]| {
            let Ok(model) = model_at(x) else {
                return f64::NAN;
            };
            match e.ranking {
                Some(protocol) => ranking(&model, job.fit, validation, protocol)
                    .map_or(f64::NAN, |r| 1.0 - r.ndcg),
                None => model.accuracy(validation).map_or(f64::NAN, |a| a.rmse),
            }
        }
    });
    let als = c.method == Method::Auto && objective.row_systems().is_ok();
    let (objective, x) = (objective.as_mut(), &mut x);
    let report = match als {
        true => minimize(
            Als::default().conjugate_gradient(ALS_CG_STEPS).train(),
            1,
            e.als_patience,
            e,
            job,
            validation,
            objective,
            x,
        )?,
        false => minimize(
            Lbfgs::default().train(),
            e.validate_every,
            e.patience,
            e,
            job,
            validation,
            objective,
            x,
        )?,
    };
    Ok(Trained {
        report,
        model: model_at(x)?,
    })
}

/// `trainer` on `objective` from `x` with the job's step budget and, when
/// given, `validation` every `every` steps, stopping after `patience`
/// checks without improvement.
#[allow(clippy::too_many_arguments)]
fn minimize<'a, M: Minimizer>(
    trainer: Trainer<'a, M>,
    every: usize,
    patience: usize,
    e: &Experiment,
    job: &Job<'_>,
    validation: Option<impl FnMut(&[f64]) -> f64 + 'a>,
    objective: &mut dyn crate::Objective,
    x: &mut [f64],
) -> Result<Report, crate::TrainError> {
    let trainer = trainer
        .max_iters(job.max_iters)
        .tol_rel_loss(e.tol_rel_loss)
        .progress(false);
    match validation {
        Some(v) => trainer
            .metrics_every(every)
            .patience(patience)
            .validation(v)
            .minimize(objective, x),
        None => trainer.minimize(objective, x),
    }
}

/// The ranking metrics of `model` (trained on `train`) over the users'
/// items in `test`.
fn ranking(
    model: &Model,
    train: &Ratings,
    test: &Ratings,
    protocol: RankingProtocol,
) -> Result<Ranking, String> {
    Ranking::of(train, test, protocol, |u, out| {
        if model.scores(u as u32, out).is_err() {
            out.fill(f64::NEG_INFINITY);
        }
    })
}

/// The settings of a search, stage by stage: each grid in turn at the best
/// setting so far (the first stage with all its values, the others without
/// the value already tried), then the ranks.
fn stage(c: &Candidate, ranks: &[usize], index: usize, at: &Setting) -> Vec<Setting> {
    let skip = usize::from(index > 0);
    match c.grids.get(index) {
        Some((name, values)) => values[skip..]
            .iter()
            .map(|&v| {
                let mut s = at.clone();
                s.hypers
                    .iter_mut()
                    .filter(|(n, _)| n == name)
                    .for_each(|h| h.1 = v);
                s
            })
            .collect(),
        None => ranks[skip..]
            .iter()
            .map(|&rank| Setting { rank, ..at.clone() })
            .collect(),
    }
}

/// What a candidate is searched and trained on in one split.
pub(super) struct Data<'a> {
    /// The training side less the validation carve.
    pub(super) fit: &'a Ratings,
    /// The validation carve.
    pub(super) validation: &'a Ratings,
    /// The whole training side.
    pub(super) train: &'a Ratings,
    /// The candidate's side data for the split's id maps.
    pub(super) side: &'a SideData,
}

/// Searches `c`'s grid on `data.validation` (fitting `data.fit`), retrains
/// the choice on `data.train` for the steps its validation run kept, and
/// scores it on the test ratings, and on the left-out ones when given. The
/// settings of a stage train concurrently; the choice is made in grid
/// order.
pub(super) fn evaluate(
    e: &Experiment,
    c: &Candidate,
    data: &Data<'_>,
    (test, left_out): (&Ratings, Option<&Ratings>),
) -> Outcome {
    let (fit, validation, train, side) = (data.fit, data.validation, data.train, data.side);
    let started = Instant::now();
    let ranks: Vec<usize> = e.ranks.iter().map(|k| k * c.rank_scale).collect();
    let base = Setting {
        rank: ranks[0],
        hypers: c.grids.iter().map(|(n, v)| (n.clone(), v[0])).collect(),
    };
    let mut trials = Vec::new();
    let mut best: Option<(Trial, Trained)> = None;
    let mut failure = None;
    for index in 0..=c.grids.len() {
        let at = best.as_ref().map_or(&base, |(t, _)| &t.setting).clone();
        let settings = stage(c, &ranks, index, &at);
        let runs: Vec<(Setting, Result<Trained, String>)> = settings
            .into_par_iter()
            .map(|setting| {
                let job = Job {
                    fit,
                    side,
                    validation: Some(validation),
                    setting: &setting,
                    max_iters: e.max_iters,
                };
                let run = run_job(e, c, &job).map_err(|err| err.to_string());
                (setting, run)
            })
            .collect();
        for (setting, run) in runs {
            let rmse = match &run {
                Ok(run) => run.report.best.map_or(f64::INFINITY, |b| b.validation),
                Err(err) => {
                    failure = Some(format!("{setting}: {err}"));
                    f64::INFINITY
                }
            };
            let trial = Trial {
                setting,
                validation_rmse: rmse,
            };
            trials.push(trial.clone());
            if let Ok(run) = run {
                if best.as_ref().is_none_or(|(b, _)| rmse < b.validation_rmse) {
                    best = Some((trial, run));
                }
            }
        }
    }
    let failed = |failure, trials, chosen| Outcome {
        trials,
        chosen,
        validation_rmse: f64::NAN,
        validation_history: History::default(),
        test: Accuracy {
            rmse: f64::NAN,
            mae: f64::NAN,
            count: 0,
        },
        ranking: None,
        model: None,
        method: "",
        iterations: 0,
        seconds: 0.0,
        total_seconds: started.elapsed().as_secs_f64(),
        failure,
    };
    let Some((chosen, run)) = best else {
        return failed(failure, trials, base);
    };
    let steps = run.report.best.map_or(run.report.iterations, |b| b.step);
    let job = Job {
        fit: train,
        side,
        validation: None,
        setting: &chosen.setting,
        max_iters: steps,
    };
    let model = match run_job(e, c, &job) {
        Ok(model) => model,
        Err(err) => return failed(Some(format!("final run: {err}")), trials, chosen.setting),
    };
    let scored = model.model.accuracy(test).and_then(|a| match left_out {
        Some(more) => Ok(a.merged(model.model.accuracy(more)?)),
        None => Ok(a),
    });
    let test_accuracy = match scored {
        Ok(a) => a,
        Err(err) => return failed(Some(format!("scoring: {err}")), trials, chosen.setting),
    };
    let ranked = match e.ranking {
        Some(protocol) => match ranking(&model.model, train, test, protocol) {
            Ok(r) => Some(r),
            Err(err) => return failed(Some(format!("ranking: {err}")), trials, chosen.setting),
        },
        None => None,
    };
    Outcome {
        trials,
        chosen: chosen.setting,
        ranking: ranked,
        validation_rmse: chosen.validation_rmse,
        validation_history: run.report.history,
        test: test_accuracy,
        method: model.report.method,
        iterations: model.report.iterations,
        seconds: model.report.elapsed.as_secs_f64(),
        model: Some(model.model),
        total_seconds: started.elapsed().as_secs_f64(),
        failure,
    }
}
