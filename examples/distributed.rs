//! A loss trained over MPI ranks: each rank holds the entries of a block of
//! users and those users' parameter rows (the item side whole), the
//! partial results of each evaluation are summed across the ranks, and
//! rank 0 gathers the users' rows, reports and saves the model (the files
//! of a single-process run).
//!
//! ```sh
//! cargo build --release --features mpi --example distributed
//! mpirun -n 4 target/release/examples/distributed --data ratings.csv --out model
//! mpirun -n 2 target/release/examples/distributed --data ml-100k/u.data --method adam --iters 200
//! # time per evaluation and the share spent communicating, on synthetic data:
//! mpirun -n 2 target/release/examples/distributed --synthetic 20000000 --k 32 --evals 5
//! ```
//!
//! The ratings file's format is told by its content (MovieLens `u.data`,
//! `ratings.dat`, `ratings.csv`, delimited text; see `docs/data.md`). Every
//! rank reads the whole file, so that ids and the start values (`mu` at the
//! mean rating, the random draw) are those of a single-process run, and
//! keeps its block.
//! Run as root, Open MPI needs `--allow-run-as-root`, and on a machine with
//! fewer cores than ranks `--oversubscribe`.

use std::time::Instant;

use mf_runtime::data::{Ratings, Synthetic};
use mf_runtime::shard::{row_bounds, shard_rows, Link, MpiLink, Shards};
use mf_runtime::{
    loss, Adam, GradientDescent, Init, Lbfgs, Minimizer, Model, Objective, Report, TrainError,
};
use mpi::traits::Communicator;
use rand::rngs::StdRng;
use rand::SeedableRng;

loss! {
    /// Squared error on the observed ratings with biases and a global
    /// offset, plus a squared penalty on every param.
    pub struct Biased {
        data  D: sparse[users, items],
        param P: [users, k],
        param Q: [k, items],
        param bu: [users, 1] = 0,
        param bi: [1, items] = 0,
        param mu: [] = mean(D),
        hyper lambda: f64 = 0.05,
    }
    minimize sum(mask * (D - P@Q - bu - bi - mu)^2)
        + lambda * (sum(P^2) + sum(Q^2) + sum(bu^2) + sum(bi^2))
}

const USAGE: &str = "usage: distributed (--data FILE | --synthetic NNZ [--users N] [--items N]) \
[--k N] [--method lbfgs|adam|gd] [--iters N] [--rate R] [--lambda L] [--seed N] [--out DIR] [--evals N]";

/// The command line.
struct Settings {
    data: Option<String>,
    synthetic: Option<usize>,
    users: u32,
    items: u32,
    k: usize,
    method: String,
    iters: usize,
    rate: Option<f64>,
    lambda: f64,
    seed: u64,
    out: Option<String>,
    evals: Option<usize>,
}

fn parse() -> Result<Settings, String> {
    let mut s = Settings {
        data: None,
        synthetic: None,
        users: 1_000_000,
        items: 100_000,
        k: 10,
        method: "lbfgs".into(),
        iters: 50,
        rate: None,
        lambda: Biased::default().lambda,
        seed: 42,
        out: None,
        evals: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--help" || flag == "-h" {
            return Err(USAGE.into());
        }
        let value = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let whole = |v: &str| {
            v.parse::<usize>()
                .map_err(|e| format!("{flag} {v}: {e}\n{USAGE}"))
        };
        let number = |v: &str| {
            v.parse::<f64>()
                .ok()
                .filter(|x| x.is_finite() && *x >= 0.0)
                .ok_or_else(|| format!("{flag} {v}: not a finite number ≥ 0\n{USAGE}"))
        };
        let id_count = |v: &str| {
            v.parse::<u32>()
                .map_err(|e| format!("{flag} {v}: {e}\n{USAGE}"))
        };
        match flag.as_str() {
            "--data" => s.data = Some(value),
            "--synthetic" => s.synthetic = Some(whole(&value)?),
            "--users" => s.users = id_count(&value)?,
            "--items" => s.items = id_count(&value)?,
            "--k" => s.k = whole(&value)?,
            "--method" => match value.as_str() {
                "lbfgs" | "adam" | "gd" => s.method = value,
                _ => return Err(format!("--method {value}: one of lbfgs, adam, gd\n{USAGE}")),
            },
            "--iters" => s.iters = whole(&value)?,
            "--rate" => s.rate = Some(number(&value)?).filter(|r| *r > 0.0),
            "--lambda" => s.lambda = number(&value)?,
            "--seed" => s.seed = whole(&value)? as u64,
            "--out" => s.out = Some(value),
            "--evals" => s.evals = Some(whole(&value)?),
            _ => return Err(format!("unknown option {flag}\n{USAGE}")),
        }
    }
    if s.data.is_some() == s.synthetic.is_some() {
        return Err(format!(
            "give one of --data FILE and --synthetic NNZ\n{USAGE}"
        ));
    }
    if s.k == 0 {
        return Err(format!("--k must be at least 1\n{USAGE}"));
    }
    Ok(s)
}

fn main() {
    let s = match parse() {
        Ok(s) => s,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    let Some(universe) = mpi::initialize() else {
        eprintln!("error: MPI was initialised already");
        std::process::exit(1);
    };
    let link = MpiLink::new(universe.world());
    let rank = link.rank();
    if let Err(e) = train(&s, link) {
        // Every rank that fails says so (most errors are every rank's) and
        // ends the job: the other ranks may be waiting for it.
        eprintln!("rank {rank}: error: {e}");
        universe.world().abort(1);
    }
}

/// Reads the data, binds the loss to this rank's shard and trains it (or
/// times `--evals` evaluations); rank 0 reports and saves the model.
fn train(s: &Settings, link: MpiLink) -> Result<(), Box<dyn std::error::Error>> {
    let (rank, ranks) = (link.rank(), link.ranks());
    let say = |text: String| {
        if rank == 0 {
            println!("{text}");
        }
    };

    let start = Instant::now();
    let ratings = match (&s.data, s.synthetic) {
        (Some(path), _) => Ratings::load(path)?,
        (None, Some(nnz)) => Synthetic {
            seed: s.seed,
            ..Synthetic::new(s.users, s.items, nnz)
        }
        .generate()?,
        (None, None) => unreachable!("parse() asks for one of them"),
    };
    say(format!(
        "data: {} users × {} items, {} ratings, read in {:.2} s on each of {ranks} ranks ({} threads each)",
        ratings.num_users(),
        ratings.num_items(),
        ratings.nnz(),
        start.elapsed().as_secs_f64(),
        rayon::current_num_threads()
    ));

    let loss = Biased { lambda: s.lambda };
    let mut rng = StdRng::seed_from_u64(s.seed);
    let init = Init::Normal {
        mean: 0.0,
        std: 0.1,
    };
    // Every rank draws the whole start (the single-process one) and keeps
    // its users' rows of it.
    let whole = Biased::init(&ratings, s.k, init, &mut rng)?;
    let bounds = row_bounds(&ratings, ranks)?;
    let rows = bounds[rank]..bounds[rank + 1];
    let block = shard_rows(&ratings, rows.clone())?;
    let mut params = Biased::rows_of(&whole, rows)?;
    drop(whole);
    say(format!(
        "shards: users split at {:?}; this rank holds {} ratings",
        bounds,
        block.nnz()
    ));
    // Only rank 0 builds the model; the others keep their block alone.
    let ratings = (rank == 0).then_some(ratings);
    let shards = Shards::new(Box::new(link), bounds)?;
    let mut objective = loss.objective(&block, &params)?.over_shards(shards)?;

    if let Some(evals) = s.evals {
        let mut grad = vec![0.0; objective.num_params()];
        for e in 1..=evals {
            let (before, start) = (communication(&objective), Instant::now());
            let value = objective.value_and_gradient(params.as_slice(), &mut grad);
            let secs = start.elapsed().as_secs_f64();
            let talk = communication(&objective) - before;
            // Every rank reports: the rank that waits least in the
            // combining shows its cost without the wait for the slowest.
            println!(
                "rank {rank}, evaluation {e}: {secs:.3} s, of which combining {talk:.3} s ({:.1} %); loss {value:.6e}",
                100.0 * talk / secs
            );
        }
        let bytes = objective.shards().map_or(0, |s| s.bytes_received());
        println!(
            "rank {rank}: received {:.1} MB per evaluation; {} parameters held",
            bytes as f64 / evals.max(1) as f64 / 1e6,
            params.as_slice().len()
        );
        if let Some((now, peak)) = resident_mb() {
            println!("rank {rank}: resident memory {now:.0} MB now, {peak:.0} MB at the peak");
        }
        return Ok(());
    }

    let x = params.as_mut_slice();
    let report = match s.method.as_str() {
        "adam" => run(
            Adam::new(s.rate.unwrap_or(0.01)),
            s.iters,
            &mut objective,
            x,
        )?,
        "gd" => run(
            GradientDescent::new(s.rate.unwrap_or(1e-5)),
            s.iters,
            &mut objective,
            x,
        )?,
        _ => run(Lbfgs::default(), s.iters, &mut objective, x)?,
    };
    let talk = communication(&objective);
    say(format!(
        "{}: {} steps, {} evaluations, {:.2} s ({:.2} s combining), stop: {}; loss {:.6}",
        report.method,
        report.iterations,
        report.evaluations,
        report.elapsed.as_secs_f64(),
        talk,
        report.stop,
        report.loss
    ));
    // Every rank sends its users' rows; rank 0 gets the whole model.
    let gathered = objective.gather_params(&params);
    if let (Some(ratings), Some(params)) = (ratings, gathered) {
        let model = Model::builder(&loss, params, &ratings).build()?;
        println!("train RMSE {:.4}", model.accuracy(&ratings)?.rmse);
        if let Some(dir) = &s.out {
            model.save(dir)?;
            println!("model saved in {dir}");
        }
    }
    Ok(())
}

/// `iters` steps of `method` from `x`, with the training loop every rank
/// runs identically (no progress bar: ranks share a terminal).
fn run(
    method: impl Minimizer,
    iters: usize,
    objective: &mut BiasedObjective<'_>,
    x: &mut [f64],
) -> Result<Report, TrainError> {
    method
        .train()
        .max_iters(iters)
        .progress(false)
        .minimize(objective, x)
}

/// This process's resident memory now and at its peak, in MB (Linux's
/// `/proc/self/status`; `None` elsewhere).
fn resident_mb() -> Option<(f64, f64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| -> Option<f64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb / 1e3)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// Seconds the objective's ranks have spent combining so far.
fn communication(objective: &BiasedObjective<'_>) -> f64 {
    objective
        .shards()
        .map_or(0.0, |s| s.communication().as_secs_f64())
}
