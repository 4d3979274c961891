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
//! each user's interactions (random, seed 42) are held out. Through
//! `mf_runtime::experiment`, each loss has α and λ chosen by NDCG@10 on a
//! validation carve of the rest, trains by ALS (the row-block method
//! `loss!` derives; the Gram term `sum((P@Q)^2)` makes it implicit ALS) and
//! ranks, for every user, the items they did not interact with in
//! training. The table gives NDCG@10, precision@10, recall@10, MAP@10 and
//! AUC (`mf_runtime::metrics::Ranking`); the most-popular-items ranking is
//! the baseline above it.

use mf_runtime::data::{find_dataset, Header, Holdout, LoadOptions, Synthetic};
use mf_runtime::experiment::{Candidate, Experiment, NamedSplit};
use mf_runtime::loss;
use mf_runtime::metrics::{Ranking, RankingProtocol};

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
    predict P@Q
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
    predict P@Q
}

type BoxError = Box<dyn std::error::Error>;

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
    let split = NamedSplit::per_user(&ratings, Holdout::Fraction(0.2), 42)?;
    let protocol = RankingProtocol::default();
    let (train, test) = (&split.split.train, &split.split.test);
    let popularity: Vec<f64> = train.item_counts().map(|c| c as f64).collect();
    let popular = Ranking::of(train, test, protocol, |_, out| {
        out.copy_from_slice(&popularity)
    })?;
    println!(
        "{label}: {} training and {} held-out interactions; most popular items: NDCG@10 {:.4}, \
         precision@10 {:.4}, recall@10 {:.4}, MAP@10 {:.4}, AUC {:.4}\n",
        train.nnz(),
        test.nnz(),
        popular.ndcg,
        popular.precision,
        popular.recall,
        popular.map,
        popular.auc
    );
    let results = Experiment::new(vec![split])
        .ranks([32])?
        .max_iters(15)
        .ranking(protocol)
        .candidate(
            Candidate::new("linear confidence 1 + α r", &LinearConfidence::default())
                .grid("alpha", [1.0, 0.3, 3.0, 10.0])?
                .grid("lambda", [10.0, 3.0, 30.0, 100.0])?
                .init_std(0.01)?,
        )
        .candidate(
            Candidate::new("log confidence 1 + α log(1 + r)", &LogConfidence::default())
                .grid("alpha", [1.0, 0.3, 3.0, 10.0])?
                .grid("lambda", [10.0, 3.0, 30.0, 100.0])?
                .init_std(0.01)?,
        )
        .run()?;
    println!("{results}");
    Ok(())
}
