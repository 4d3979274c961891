//! The acceptance run of the optimizers on MovieLens 100k: the seed loss
//! with the squared Frobenius penalty, k = 10, beta = 10, trained on
//! `u1.base` and evaluated on `u1.test`.
//!
//! ```text
//! cargo run --release --example movielens
//! cargo run --release --example movielens -- --data DIR --out DIR --evals 2000
//! ```
//!
//! `--data` is the directory holding `u1.base` and `u1.test` (default: the
//! `ml-100k` data set found by `mf_runtime::data::find_dataset`); `--out` is
//! where the loss-against-time plots go (default `movielens` in the target
//! directory: `$CARGO_TARGET_DIR` when set, else `target`);
//! `--evals` is the budget of objective evaluations per method in the
//! comparison table.
//!
//! Every run starts from the same parameters: P and Q normal with mean 0
//! and standard deviation 0.1, seeded with [`SEED`].
//!
//! 1. L-BFGS until the relative change of the loss between two steps is
//!    below 1e-6: the reference minimum.
//! 2. The comparison table: fixed-rate descent at the original alpha =
//!    0.0002 and at the largest stable fixed rate (searched by halving and
//!    bisection), backtracking (Armijo) descent, Nesterov momentum, Adam and
//!    L-BFGS, each with the same budget of objective evaluations.
//! 3. One plot of the loss against time for all of them (SVG and PNG).
//! 4. Early stopping: a validation split carved from `u1.base` (never
//!    `u1.test`), validation RMSE every few steps, the best parameters
//!    restored, and the `u1.test` RMSE of the result.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use mf_runtime::data::{find_dataset, Ratings, Split};
use mf_runtime::model::Unknown;
use mf_runtime::plot::XAxis;
use mf_runtime::{
    loss, Adam, Backtracking, CurvePlot, GradientDescent, History, Init, Lbfgs, Minimizer, Model,
    Nesterov, Params, Record, Report, TrainError,
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

type BoxError = Box<dyn std::error::Error>;

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

/// The value after `flag` on the command line, if any.
fn arg(flag: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    let i = args.iter().position(|a| a == flag)?;
    args.get(i + 1).cloned()
}

fn data_dir() -> Option<PathBuf> {
    match arg("--data") {
        Some(dir) => Some(PathBuf::from(dir)),
        None => find_dataset("ml-100k"),
    }
}

fn main() -> Result<(), BoxError> {
    let Some(dir) = data_dir() else {
        eprintln!(
            "MovieLens 100k is absent: no `ml-100k` directory under $MF_DATASETS or \
             ../shared/datasets. Point to it with `--data DIR` (the directory holding \
             u1.base and u1.test); nothing was run."
        );
        return Ok(());
    };
    if !dir.join("u1.base").exists() || !dir.join("u1.test").exists() {
        eprintln!(
            "{} holds no u1.base and u1.test: MovieLens 100k is absent there; nothing was run.",
            dir.display()
        );
        return Ok(());
    }
    let out = arg("--out").map_or_else(default_out, PathBuf::from);
    let max_evals: usize = match arg("--evals") {
        Some(v) => v.parse().map_err(|_| "--evals needs a whole number")?,
        None => 2000,
    };

    let split = load_u1(&dir)?;
    let (train, test) = (&split.train, &split.test);
    println!("data: {} ({})", dir.display(), split);
    let x0 = start(train, K, SEED)?;
    let like: &Params = &x0;
    println!(
        "loss: {LOSS}; k = {K}, beta = {BETA}; start: P, Q ~ normal(0, {INIT_STD}), seed {SEED}"
    );
    println!("threads: {}", rayon_threads());

    // 1. The reference minimum.
    let (reference, _) = lbfgs_minimum(train, &x0, BETA, 300)?;
    let minimum = reference.loss;
    println!(
        "\nL-BFGS reference: {} iterations, {} evaluations, {:.2} s, stop: {}; loss {:.6}",
        reference.iterations,
        reference.evaluations,
        reference.elapsed.as_secs_f64(),
        reference.stop,
        minimum
    );
    let mut objective = SeedLoss { beta: BETA }.objective(train, &x0)?;
    let mut x = x0.as_slice().to_vec();
    let tight = Lbfgs::default()
        .train()
        .max_iters(2000)
        .tol_rel_loss(1e-13)
        .progress(false)
        .minimize(&mut objective, &mut x)?;
    println!(
        "L-BFGS continued to a relative change < 1e-13: {} iterations ({}), loss {:.6} \
         ({:+.2e} relative to the reference)",
        tight.iterations,
        tight.stop,
        tight.loss,
        (tight.loss - minimum) / minimum
    );

    // 2. The largest stable fixed rates (same budget as the table).
    let (gd_rate, gd_trials) = largest_stable_rate(
        GradientDescent::new,
        8.0 * ORIGINAL_ALPHA,
        3,
        train,
        &x0,
        max_evals,
    )?;
    println!("\nlargest stable fixed rate, over {max_evals} steps from the same start:");
    for (rate, verdict) in &gd_trials {
        println!("  alpha = {}: {verdict}", rate_str(*rate));
    }
    println!("  → alpha = {}", rate_str(gd_rate));
    let (nesterov_rate, nesterov_trials) =
        largest_stable_rate(Nesterov::new, gd_rate, 2, train, &x0, max_evals)?;
    println!("largest stable Nesterov rate (momentum 0.9):");
    for (rate, verdict) in &nesterov_trials {
        println!("  rate = {}: {verdict}", rate_str(*rate));
    }
    println!("  → rate = {}", rate_str(nesterov_rate));
    let adam_rate = ADAM_RATE;

    let runs = vec![
        run(
            format!("batch descent, alpha = {ORIGINAL_ALPHA} (original)"),
            GradientDescent::new(ORIGINAL_ALPHA),
            train,
            &x0,
            BETA,
            max_evals,
            0.0,
        )?,
        run(
            format!(
                "batch descent, alpha = {} (largest stable)",
                rate_str(gd_rate)
            ),
            GradientDescent::new(gd_rate),
            train,
            &x0,
            BETA,
            max_evals,
            0.0,
        )?,
        run(
            "backtracking (Armijo) descent",
            Backtracking::default(),
            train,
            &x0,
            BETA,
            max_evals,
            0.0,
        )?,
        run(
            format!("Nesterov, rate {}, momentum 0.9", rate_str(nesterov_rate)),
            Nesterov::new(nesterov_rate),
            train,
            &x0,
            BETA,
            max_evals,
            0.0,
        )?,
        run(
            format!("Adam, rate {adam_rate}"),
            Adam::new(adam_rate),
            train,
            &x0,
            BETA,
            max_evals,
            0.0,
        )?,
        run(
            "L-BFGS (stops at relative change < 1e-6)".to_string(),
            Lbfgs::default(),
            train,
            &x0,
            BETA,
            max_evals,
            LBFGS_TOL,
        )?,
    ];

    println!(
        "\nSame start, budget {max_evals} objective evaluations per method; \
         RMSE of P·Q, unclipped.\n"
    );
    println!("| method | iterations | evaluations | seconds | loss reached | gap to L-BFGS minimum | train RMSE | u1.test RMSE |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for r in &runs {
        let status = match &r.outcome {
            Err(TrainError::Diverged { step, what, .. }) => {
                format!(" (diverged at step {step}: {what})")
            }
            Err(e) => format!(" ({e})"),
            Ok(_) => String::new(),
        };
        let finite = r.outcome.is_ok();
        let metric = |data: &Ratings| match finite {
            true => format!("{:.4}", rmse(like, &r.x, train, data)),
            false => "—".into(),
        };
        println!(
            "| {}{status} | {} | {} | {:.2} | {:.1} | {:+.2e} | {} | {} |",
            r.label,
            r.iterations(),
            r.evaluations(),
            r.seconds(),
            r.loss(),
            (r.loss() - minimum) / minimum,
            metric(train),
            metric(test),
        );
    }

    // 3. Loss against time.
    std::fs::create_dir_all(&out)?;
    let curves: Vec<(&str, &History)> = runs
        .iter()
        .map(|r| (r.label.as_str(), &r.history))
        .collect();
    let plot = CurvePlot::new()
        .x_axis(XAxis::Seconds)
        .size(1000, 650)
        .title(format!(
            "ml-100k u1.base, seed loss, k = {K}, beta = {BETA}"
        ));
    // The same curves as the distance to the lowest loss found (L-BFGS run
    // to 1e-13), where the methods differ: on the loss itself they overlap
    // after the first second.
    let floor = tight
        .loss
        .min(runs.iter().map(Run::loss).fold(f64::INFINITY, f64::min));
    let gaps: Vec<History> = runs
        .iter()
        .map(|r| {
            let above = r.history.records().iter().map(|rec| Record {
                loss: rec.loss - floor,
                ..*rec
            });
            History::from(above.filter(|rec| rec.loss > 0.0).collect::<Vec<_>>())
        })
        .collect();
    let gap_curves: Vec<(&str, &History)> = runs
        .iter()
        .zip(&gaps)
        .map(|(r, h)| (r.label.as_str(), h))
        .collect();
    let gap_plot = CurvePlot::new()
        .x_axis(XAxis::Seconds)
        .size(1000, 650)
        .title(format!(
            "loss − {floor:.1} (the lowest loss found), log scale"
        ));
    for ext in ["svg", "png"] {
        let path = out.join(format!("movielens-loss.{ext}"));
        plot.write(&path, &curves)?;
        println!("wrote {}", path.display());
        let path = out.join(format!("movielens-loss-gap.{ext}"));
        gap_plot.write(&path, &gap_curves)?;
        println!("wrote {}", path.display());
    }

    // 4. Early stopping on a validation split of u1.base.
    let carved = carve(train, SEED)?;
    println!(
        "\nEarly stopping: Adam (rate {ADAM_RATE}) on {} ratings of u1.base, validation RMSE \
         on the other {} (random, seed {SEED}) every {VALIDATE_EVERY} steps, patience \
         {PATIENCE} checks, best parameters restored; beta chosen on validation RMSE.\n",
        carved.fit.nnz(),
        carved.validation.nnz()
    );
    let selected = select_beta(&carved, K, &BETA_GRID, SEED)?;
    println!("| k | beta | stopped at step | restored step | validation RMSE | u1.test RMSE |");
    println!("|---:|---:|---:|---:|---:|---:|");
    let mut by_beta: Vec<&EarlyStopping> = selected.iter().collect();
    by_beta.sort_by(|a, b| a.beta.total_cmp(&b.beta));
    for es in &by_beta {
        let best = es.report.best.expect("a validation metric was computed");
        let chosen = match std::ptr::eq(*es, &selected[0]) {
            true => " (chosen)",
            false => "",
        };
        println!(
            "| {K} | {}{chosen} | {} | {} | {:.4} | {:.4} |",
            es.beta,
            es.report.iterations,
            best.step,
            es.validation_rmse,
            es.rmse(&carved, test)
        );
    }
    let chosen = &selected[0];
    println!(
        "\nchosen on validation: beta = {}; u1.test RMSE {:.4}",
        chosen.beta,
        chosen.rmse(&carved, test)
    );
    if chosen.beta != CHOSEN_BETA {
        println!("note: CHOSEN_BETA = {CHOSEN_BETA} (used by the acceptance test) differs from this choice");
    }
    let histories: Vec<(String, &History)> = by_beta
        .iter()
        .map(|es| (format!("beta = {}", es.beta), &es.report.history))
        .collect();
    let labelled: Vec<(&str, &History)> = histories.iter().map(|(l, h)| (l.as_str(), *h)).collect();
    let es_plot = CurvePlot::new()
        .title(format!("early stopping with Adam, k = {K}"))
        .validation_label("validation RMSE");
    for ext in ["svg", "png"] {
        let path = out.join(format!("movielens-early-stopping.{ext}"));
        es_plot.write(&path, &labelled)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

/// A searched rate without binary round-off in its decimal form (0.0006,
/// not 0.0006000000000000001).
fn rate_str(rate: f64) -> String {
    format!("{}", (rate * 1e10).round() / 1e10)
}

/// Threads available to the passes over the ratings.
fn rayon_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Where the files go without `--out`: `movielens` in the build's target
/// directory, `$CARGO_TARGET_DIR` when set (cargo passes it on to `cargo
/// run`), else `./target`.
fn default_out() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| PathBuf::from("target"), PathBuf::from)
        .join("movielens")
}
