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

mod protocol;

use std::path::PathBuf;

use mf_runtime::data::{find_dataset, Ratings};
use mf_runtime::plot::XAxis;
use mf_runtime::{
    Adam, Backtracking, CurvePlot, GradientDescent, History, Lbfgs, Minimizer, Nesterov, Params,
    Record, TrainError,
};

use protocol::*;

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
