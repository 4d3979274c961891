//! Two implicit-feedback losses compared as their users compare them: by
//! ranking metrics over each user's held-out items.
//!
//! ```text
//! cargo run --release --example implicit_ranking                          # ml-100k if found, else synthetic
//! cargo run --release --example implicit_ranking -- --data ml-100k/u.data  # any ratings file
//! cargo run --release --example implicit_ranking -- --data mine.csv.gz --delimiter ';' --no-header --columns item,user,rating
//! ```
//!
//! `--data` reads any file `LoadOptions::new()` reads (format told by its
//! content); `--delimiter`, `--header`/`--no-header` and `--columns` override
//! what it detects.
//!
//! Every rating is an interaction whose value is its confidence. 20 % of
//! each user's interactions (random, seed 42) are held out; each loss
//! trains by ALS (the row-block method `loss!` derives; the Gram term
//! `sum((P@Q)^2)` makes it implicit ALS) on the rest, and ranks, for every
//! user, the items they did not interact with in training. The table gives
//! precision@10, recall@10, NDCG@10, MAP@10 and AUC (`mf_runtime::metrics::
//! Ranking`), with the most-popular-items ranking as the baseline.
//! The settings (α, λ, k = 32, 15 steps) are fixed, not searched.

use std::time::Instant;

use mf_runtime::data::{find_dataset, Header, Holdout, LoadOptions, Synthetic};
use mf_runtime::metrics::{Ranking, RankingProtocol};
use mf_runtime::{loss, Als, Init, Minimizer};
use rand::SeedableRng;

loss! {
    /// Hu, Koren & Volinsky (2008): preference 1 with confidence 1 + α r on
    /// the interactions, preference 0 with confidence 1 on every other cell.
    pub struct LinearConfidence {
        data D: sparse[users, items],
        param P: [users, k],
        param Q: [k, items],
        hyper alpha: f64 = 10.0,
        hyper lambda: f64 = 0.1,
    }
    minimize sum(mask * ((1 + alpha * D) * (1 - P@Q)^2 - (P@Q)^2)) + sum((P@Q)^2)
        + lambda * (sum(P^2) + sum(Q^2))
}

loss! {
    /// The same with the paper's logarithmic confidence 1 + α log(1 + r).
    pub struct LogConfidence {
        data D: sparse[users, items],
        param P: [users, k],
        param Q: [k, items],
        hyper alpha: f64 = 10.0,
        hyper lambda: f64 = 0.1,
    }
    minimize sum(mask * ((1 + alpha * log(1 + D)) * (1 - P@Q)^2 - (P@Q)^2)) + sum((P@Q)^2)
        + lambda * (sum(P^2) + sum(Q^2))
}

const K: usize = 32;
const STEPS: usize = 15;

type BoxError = Box<dyn std::error::Error>;

/// One row of the table.
fn row(name: &str, r: &Ranking, seconds: f64) {
    println!(
        "| {name} | {:.4} | {:.4} | {:.4} | {:.4} | {:.4} | {seconds:.2} |",
        r.precision, r.recall, r.ndcg, r.map, r.auc
    );
}

/// Scores of user `u` for every item: `P[u, :] · Q`.
fn factor_scores(p: &ndarray::Array2<f64>, q: &ndarray::Array2<f64>, u: usize, out: &mut [f64]) {
    let scores = p.row(u).dot(q);
    out.copy_from_slice(scores.as_slice().expect("a fresh row is contiguous"));
}

fn main() -> Result<(), BoxError> {
    let (mut path, mut load) = (None, LoadOptions::new());
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--data" => path = Some(std::path::PathBuf::from(value()?)),
            "--delimiter" => load = load.delimiter(value()?.parse()?),
            "--columns" => load = load.columns(value()?.parse()?),
            "--header" => load = load.header(Header::Present),
            "--no-header" => load = load.header(Header::Absent),
            other => return Err(format!("unknown flag {other}").into()),
        }
    }
    let path = path.or_else(|| find_dataset("ml-100k").map(|d| d.join("u.data")));
    let (ratings, label) = match path {
        Some(p) => (load.load(&p)?, p.display().to_string()),
        None => {
            let s = Synthetic {
                seed: 42,
                ..Synthetic::new(800, 400, 24_000)
            };
            (
                s.generate()?,
                "synthetic 800 × 400 (no ml-100k found)".into(),
            )
        }
    };
    let split = ratings.split_per_user(Holdout::Fraction(0.2), 42)?;
    let (train, test) = (&split.train, &split.test);
    println!(
        "{label}: {} training and {} held-out interactions, k = {K}, {STEPS} ALS steps\n",
        train.nnz(),
        test.nnz()
    );
    println!("| ranking | precision@10 | recall@10 | NDCG@10 | MAP@10 | AUC | seconds |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let protocol = RankingProtocol::default();

    let popularity: Vec<f64> = train.item_counts().map(|c| c as f64).collect();
    let popular = Ranking::of(train, test, protocol, |_, out| {
        out.copy_from_slice(&popularity)
    })?;
    row("most popular items", &popular, 0.0);

    macro_rules! compare {
        ($name:expr, $loss:expr, $ty:ident) => {{
            let started = Instant::now();
            let mut rng = rand::rngs::StdRng::seed_from_u64(42);
            let mut params = $ty::init(
                train,
                K,
                Init::Normal {
                    mean: 0.0,
                    std: 0.01,
                },
                &mut rng,
            )?;
            let mut objective = $loss.objective(train, &params)?;
            Als::default()
                .train()
                .max_iters(STEPS)
                .progress(false)
                .minimize(&mut objective, params.as_mut_slice())?;
            let seconds = started.elapsed().as_secs_f64();
            let (p, q) = (params.P().to_owned(), params.Q().to_owned());
            let ranking = Ranking::of(train, test, protocol, |u, out| {
                factor_scores(&p, &q, u, out)
            })?;
            row($name, &ranking, seconds);
        }};
    }
    compare!(
        "linear confidence 1 + α r (α = 10, λ = 0.1)",
        LinearConfidence::default(),
        LinearConfidence
    );
    compare!(
        "log confidence 1 + α log(1 + r) (α = 10, λ = 0.1)",
        LogConfidence::default(),
        LogConfidence
    );
    Ok(())
}
