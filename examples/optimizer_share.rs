//! The optimizer's share of a training iteration: how much of one step is
//! the method's own vector work (the L-BFGS two-loop recursion, the line
//! search's points and slopes, the curvature pairs, the driver's finiteness
//! checks and gradient norm) rather than the objective pass it drives.
//!
//! ```text
//! cargo run --release --example optimizer_share
//! cargo run --release --example optimizer_share -- --iters 40 --threads 1,2 --data DIR
//! cargo run --release --example optimizer_share -- --problems u1 --methods lbfgs
//! ```
//!
//! `--problems` (`u1`, `synthetic`) and `--methods` (`lbfgs`, `adam`) pick
//! what runs; `--memory` sets L-BFGS's number of pairs (default 10), whose
//! two-loop recursion is most of its vector work. To profile one case:
//!
//! ```text
//! perf record -e cpu-clock -g target/release/examples/optimizer_share \
//!     --problems u1 --methods lbfgs --threads 1 --iters 300
//! perf report --no-children
//! ```
//!
//! Two problems, both with the count-weighted loss
//! `sum(mask*(D - P@Q)^2) + 0.1*(sum(count_rows(D)*P^2) + sum(count_cols(D)*Q^2))`:
//!
//! * `u1.base` of MovieLens 100k (80,000 ratings of 1,650 items by 943
//!   users) at k = 50, 129,650 parameters; the `ml-100k` directory is found
//!   by `mf_runtime::data::find_dataset`, or given with `--data`;
//! * a seeded synthetic set of 6,000 users × 10,000 items with about 1M
//!   ratings at k = 100, 1.6M parameters.
//!
//! The objective is wrapped in an adaptor that times each
//! `value_and_gradient` call; the driver's callback marks the end of each
//! iteration. Per iteration, the share is `1 − (time in the objective) /
//! (time of the iteration)`; the program prints the median share, the median
//! iteration time, the mean evaluations per iteration and the objective
//! after the last iteration, for L-BFGS and Adam (rate 0.01), on each
//! thread count of `--threads`.

use std::cell::Cell;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

use mf_runtime::data::{find_dataset, Ratings, Split, Synthetic};
use mf_runtime::{loss, Adam, Init, Lbfgs, Minimizer, Objective};
use rand::SeedableRng;

loss! {
    /// Squared error with each user's and item's penalty weighted by its
    /// number of ratings.
    pub struct Weighted {
        data D: sparse[users, items],
        param P: [users, k],
        param Q: [k, items],
        hyper lambda: f64 = 0.1,
    }
    minimize sum(mask * (D - P@Q)^2)
        + lambda * (sum(count_rows(D) * P^2) + sum(count_cols(D) * Q^2))
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// An objective that adds the wall time of each call to a shared clock.
struct Timed<'a, O> {
    inner: &'a mut O,
    spent: Rc<Cell<Duration>>,
}

impl<O: Objective> Objective for Timed<'_, O> {
    fn num_params(&self) -> usize {
        self.inner.num_params()
    }

    fn value(&mut self, x: &[f64]) -> f64 {
        let start = Instant::now();
        let v = self.inner.value(x);
        self.spent.set(self.spent.get() + start.elapsed());
        v
    }

    fn value_and_gradient(&mut self, x: &[f64], grad: &mut [f64]) -> f64 {
        let start = Instant::now();
        let v = self.inner.value_and_gradient(x, grad);
        self.spent.set(self.spent.get() + start.elapsed());
        v
    }
}

/// Per-iteration figures of one run.
struct Shares {
    /// `1 − objective / total`, per iteration.
    share: Vec<f64>,
    /// Wall time of each iteration, seconds.
    total: Vec<f64>,
    /// Wall time of one objective call, seconds.
    per_call: Vec<f64>,
    /// Evaluations per iteration, mean.
    evals_per_iter: f64,
    /// The objective after the last iteration.
    loss: f64,
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Runs `method` for `iters` steps from `x0`, timing each iteration and the
/// objective's part of it.
fn measure<M: Minimizer, O: Objective>(
    method: M,
    objective: &mut O,
    x0: &[f64],
    iters: usize,
) -> Result<Shares, BoxError> {
    let spent = Rc::new(Cell::new(Duration::ZERO));
    let mut timed = Timed {
        inner: objective,
        spent: Rc::clone(&spent),
    };
    let mut x = x0.to_vec();
    let mut marks: Vec<(Instant, Duration, usize)> = Vec::with_capacity(iters + 1);
    let report = method
        .train()
        .max_iters(iters)
        .tol_rel_loss(0.0)
        .tol_grad(0.0)
        .progress(false)
        .callback(|record| {
            marks.push((Instant::now(), spent.get(), record.evaluations));
            ControlFlow::Continue(())
        })
        .minimize(&mut timed, &mut x)?;
    // The last record is pushed after the loop, outside any iteration.
    let steps = report.iterations.min(marks.len().saturating_sub(1));
    let mut shares = Shares {
        share: Vec::new(),
        total: Vec::new(),
        per_call: Vec::new(),
        evals_per_iter: 0.0,
        loss: report.loss,
    };
    for w in marks[..=steps].windows(2) {
        let total = (w[1].0 - w[0].0).as_secs_f64();
        let inside = (w[1].1 - w[0].1).as_secs_f64();
        let calls = w[1].2 - w[0].2;
        shares.share.push(1.0 - inside / total);
        shares.total.push(total);
        shares.per_call.push(inside / calls.max(1) as f64);
        shares.evals_per_iter += calls as f64 / steps as f64;
    }
    Ok(shares)
}

/// What to run, from the command line.
struct Settings {
    iters: usize,
    memory: usize,
    threads: Vec<usize>,
    methods: Vec<String>,
}

fn run(name: &str, ratings: &Ratings, k: usize, settings: &Settings) -> Result<(), BoxError> {
    let iters = settings.iters;
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let init = Init::Normal {
        mean: 0.0,
        std: 0.1,
    };
    let params = Weighted::init(ratings, k, init, &mut rng)?;
    let x0 = params.as_slice().to_vec();
    println!(
        "{name}: {} × {}, {} ratings, k = {k}, {} parameters, {iters} iterations, \
         L-BFGS memory {}",
        ratings.num_users(),
        ratings.num_items(),
        ratings.nnz(),
        x0.len(),
        settings.memory
    );
    println!(
        "  method   threads  share (median)  iteration (median)  one evaluation  \
         evaluations/iteration  final objective"
    );
    for &n in &settings.threads {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(n).build()?;
        for method in &settings.methods {
            let shares = pool.install(|| -> Result<Shares, BoxError> {
                let mut objective = Weighted::default().objective(ratings, &params)?;
                match method.as_str() {
                    "lbfgs" => {
                        let lbfgs = Lbfgs::default().memory(settings.memory);
                        measure(lbfgs, &mut objective, &x0, iters)
                    }
                    "adam" => measure(Adam::new(0.01), &mut objective, &x0, iters),
                    other => Err(format!("unknown method {other} (lbfgs, adam)").into()),
                }
            })?;
            let method = if method == "lbfgs" { "L-BFGS" } else { "Adam" };
            println!(
                "  {method:<8} {n:>7}  {:>13.1} %  {:>15.2} ms  {:>11.2} ms  {:>21.2}  {:>15.9e}",
                100.0 * median(&shares.share),
                1e3 * median(&shares.total),
                1e3 * median(&shares.per_call),
                shares.evals_per_iter,
                shares.loss
            );
        }
    }
    Ok(())
}

/// The value after `flag` on the command line, if any.
fn arg(flag: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    let i = args.iter().position(|a| a == flag)?;
    args.get(i + 1).cloned()
}

/// The comma-separated list after `flag`, or `default`.
fn list(flag: &str, default: &str) -> Vec<String> {
    arg(flag)
        .unwrap_or_else(|| default.into())
        .split(',')
        .map(String::from)
        .collect()
}

fn main() -> Result<(), BoxError> {
    let settings = Settings {
        iters: arg("--iters").map_or(Ok(40), |s| s.parse())?,
        memory: arg("--memory").map_or(Ok(10), |s| s.parse())?,
        threads: list("--threads", "1,2")
            .iter()
            .map(|s| s.parse())
            .collect::<Result<_, _>>()?,
        methods: list("--methods", "lbfgs,adam"),
    };
    let problems = list("--problems", "u1,synthetic");
    if problems.iter().any(|p| p == "u1") {
        let dir = arg("--data")
            .map(PathBuf::from)
            .or_else(|| find_dataset("ml-100k"));
        match dir {
            Some(dir) => {
                let split = Split::movielens(&dir, "u1")?;
                run("u1.base", &split.train, 50, &settings)?;
            }
            None => eprintln!(
                "MovieLens 100k is absent (no `ml-100k` under $MF_DATASETS or ../shared/datasets; \
                 `--data DIR` points to it): u1.base skipped"
            ),
        }
    }
    if problems.iter().any(|p| p == "synthetic") {
        let synthetic = Synthetic {
            seed: 1,
            ..Synthetic::new(6_000, 10_000, 1_000_000)
        }
        .generate()?;
        run("synthetic", &synthetic, 100, &settings)?;
    }
    Ok(())
}
