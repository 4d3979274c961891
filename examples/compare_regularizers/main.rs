//! The regularizer comparison: sixteen losses written with `loss!`, each
//! trained on the same splits with its hyper-settings chosen on validation
//! data carved from the training side, and scored on the test side. One
//! more row trains the √n-weighted penalty again with four times the ranks
//! from a smaller start, and the last, SVD++, adds implicit feedback.
//! `--autorec` adds two autoencoder rows, item- and user-based AutoRec;
//! `--side`, on MovieLens 100k, a row that reads the users' and items'
//! attributes.
//!
//! The protocol is the library's ([`mf_runtime::experiment`]): this file
//! declares the rows (loss, grids, start, method) and reads the command
//! line; one call runs the comparison.
//!
//! ```text
//! cargo run --release --example compare_regularizers                      # synthetic, no download
//! cargo run --release --example compare_regularizers -- --data ratings.csv      # any ratings file (format told by content), random 80/20 split
//! cargo run --release --example compare_regularizers -- --folds           # ml-100k u1–u5, mean ± std
//! cargo run --release --example compare_regularizers -- --folds --data DIR --out DIR --k 10,50
//! cargo run --release --example compare_regularizers -- --explain          # every loss's explain()
//! cargo run --release --example compare_regularizers -- --folds --only svd++   # the rows whose name contains this (repeatable)
//! cargo run --release --example compare_regularizers -- --folds --autorec --only autorec   # the AutoRec rows alone
//! cargo run --release --example compare_regularizers -- --fold u1 --autorec --only item-based   # one of the five folds
//! cargo run --release --example compare_regularizers -- --folds --side --only "frobenius) + biases" --only side   # side information against the same loss without it
//! cargo run --release --example compare_regularizers -- --data DIR/ml-100k/u.data --cold-users 0.2 --side --only "frobenius) + biases" --only side   # new users, predicted from their attributes
//! cargo run --release --example compare_regularizers -- --synthetic 610,9724,100836 --k 100  # users,items,ratings
//! cargo run --release --example compare_regularizers -- --only huber --grid huber:lambda=0.05,0.08 --grid huber:delta=1,1.5
//! ```
//!
//! The AutoRec rows are not in the default table: their search on ml-100k
//! u1–u5 adds about 60 % to the CPU time of the others'. `--autorec` adds
//! them after the others (with `--only autorec`, alone). `--fold NAME`
//! runs one of the five folds only. `--side` adds the biased L2 loss whose
//! user and item factors are offset by learned maps of `u.user`'s and
//! `u.item`'s attributes, `(P + F@W) @ (Q + V@G.T)`, next to the same loss
//! without them (the row `L2 (squared Frobenius) + biases`).
//!
//! `--cold-users F` splits a `--data` file by users instead: a fraction
//! `F` of them have all their ratings on the test side, scored by each
//! model's baseline for ids without training ratings (`--score-left-out`
//! is implied).
//!
//! `--grid TEXT:NAME=a,b,c` replaces the grid of hyper-setting `NAME` of
//! the rows whose name contains `TEXT` (widen a grid when the choice lands
//! on its edge; repeatable). `--score-left-out` also scores the test
//! ratings whose user or item has no training rating (with those rows of
//! params at zero), instead of leaving them out. The table, `results.csv`,
//! `results.json` and the validation plots go to `--out` (default
//! `compare_regularizers` in the target directory: `$CARGO_TARGET_DIR` when
//! set, else `target`).

use std::path::{Path, PathBuf};
use std::time::Instant;

use mf_runtime::data::{find_dataset, Features, Ratings, SideData, Synthetic};
use mf_runtime::experiment::{Candidate, Experiment, ExperimentError, Method, NamedSplit};
use mf_runtime::model::Trainable;

mod losses;
pub use losses::*;

/// Seed of the random splits (the experiment's own seed, of the validation
/// carve and the starts, is 42 as well).
pub const SEED: u64 = 42;
/// Share of a `--data` file held out as the test side.
pub const TEST_FRACTION: f64 = 0.2;
/// The rank grid of the synthetic default run.
pub const SYNTHETIC_KS: [usize; 2] = [5, 10];
/// The rank grid of MovieLens runs.
pub const MOVIELENS_KS: [usize; 2] = [50, 100];

type BoxError = Box<dyn std::error::Error>;

/// λ grid of the squared penalties.
const LAMBDAS: [f64; 5] = [0.3, 1.0, 3.0, 10.0, 30.0];
/// λ grid of the count-weighted penalties.
const WEIGHTED: [f64; 6] = [0.01, 0.03, 0.06, 0.1, 0.15, 0.3];
/// λ grid of the AutoRec rows.
const AUTOREC_LAMBDAS: [f64; 3] = [50.0, 100.0, 200.0];
/// The AutoRec rows' hidden sizes are the experiment's ranks times this
/// (MovieLens: 250 and 500, the published size).
pub const AUTOREC_RANK_SCALE: usize = 5;

/// A row: `loss` named `name`, in plot group `biased` or `unbiased`, with
/// its grids (only their first values unless `full_grid`).
fn row(
    name: &str,
    loss: &dyn Trainable,
    grids: &[(&str, &[f64])],
    full_grid: bool,
) -> Result<Candidate, ExperimentError> {
    let biased = loss.params().iter().any(|p| p.name == "mu");
    let mut c = Candidate::new(name, loss).group(if biased { "biased" } else { "unbiased" });
    for (hyper, values) in grids {
        let values = if full_grid { values } else { &values[..1] };
        c = c.grid(hyper, values.iter().copied())?;
    }
    Ok(c)
}

/// The sixteen losses and the larger-rank row of the √n-weighted one, in
/// table order. The losses without a penalty (their only regularizer is
/// early stopping, which L-BFGS's small steps give and an exact block
/// minimum does not) and the Frobenius norms, not squared (their majorized
/// ALS steps converge slowly and validated worse than L-BFGS's
/// early-stopped path on ml-100k u1–u5: 0.977 and 1.001 against 0.965 and
/// 0.945) train with L-BFGS; the others with ALS when they have row
/// systems.
pub fn candidates(full_grid: bool) -> Result<Vec<Candidate>, ExperimentError> {
    let l = |values: &'static [f64]| ("lambda", values);
    let f = full_grid;
    Ok(vec![
        row("squared error, no penalty", &Plain {}, &[], f)?.method(Method::Lbfgs),
        row(
            "squared error, no penalty + biases",
            &PlainBiased {},
            &[],
            f,
        )?
        .method(Method::Lbfgs),
        row("L2 (squared Frobenius)", &L2::default(), &[l(&LAMBDAS)], f)?,
        row(
            "L2 (squared Frobenius) + biases",
            &L2Biased::default(),
            &[l(&LAMBDAS)],
            f,
        )?,
        row("L1", &L1::default(), &[l(&LAMBDAS)], f)?,
        row("L1 + biases", &L1Biased::default(), &[l(&LAMBDAS)], f)?,
        row(
            "elastic net (½ L1 + ½ L2)",
            &Elastic::default(),
            &[l(&LAMBDAS)],
            f,
        )?,
        row(
            "elastic net (½ L1 + ½ L2) + biases",
            &ElasticBiased::default(),
            &[l(&LAMBDAS)],
            f,
        )?,
        row("weighted-λ", &Weighted::default(), &[l(&WEIGHTED)], f)?,
        row(
            "weighted-λ + biases",
            &WeightedBiased::default(),
            &[l(&WEIGHTED)],
            f,
        )?,
        row(
            "Frobenius, not squared",
            &Frobenius::default(),
            &[l(&[30.0, 100.0, 300.0, 1000.0, 3000.0])],
            f,
        )?
        .method(Method::Lbfgs),
        row(
            "Frobenius, not squared + biases",
            &FrobeniusBiased::default(),
            &[l(&[30.0, 100.0, 300.0, 1000.0, 3000.0])],
            f,
        )?
        .method(Method::Lbfgs),
        row(
            "Huber error + biases, weighted-λ",
            &HuberBiased::default(),
            &[
                l(&[0.005, 0.015, 0.03, 0.05, 0.08]),
                ("delta", &[1.0, 0.5, 2.0]),
            ],
            f,
        )?,
        row(
            "absolute error + biases, weighted-λ",
            &AbsoluteBiased::default(),
            &[l(&[0.003, 0.01, 0.03, 0.1])],
            f,
        )?,
        row(
            "√n-weighted (popular items penalized less) + biases",
            &PopularLess::default(),
            &[l(&[0.1, 0.3, 0.6, 1.0, 2.0])],
            f,
        )?,
        row(
            "√n-weighted + biases, 4 × the ranks, start std 0.01",
            &PopularLess::default(),
            &[l(&[1.0, 1.3, 1.6])],
            f,
        )?
        .rank_scale(4)
        .init_std(0.01)?,
        row(
            "SVD++ (implicit feedback) + biases, √n-weighted",
            &Svdpp::default(),
            &[l(&[1.0, 1.5, 2.0, 3.0]), ("ratio", &[3.0, 1.0, 10.0])],
            f,
        )?,
    ])
}

/// The AutoRec rows, added by `--autorec`: item- and user-based AutoRec
/// with the hidden size `k` (the free dimension of the loss, which the
/// rank sets) over the experiment's ranks times [`AUTOREC_RANK_SCALE`]
/// and λ chosen on validation, trained with L-BFGS (they have no row
/// systems).
pub fn autorec_candidates(full_grid: bool) -> Result<Vec<Candidate>, ExperimentError> {
    let autorec = |name: &str, loss: &dyn Trainable| -> Result<Candidate, ExperimentError> {
        Ok(row(name, loss, &[("lambda", &AUTOREC_LAMBDAS)], full_grid)?
            .group("autorec")
            .rank_scale(AUTOREC_RANK_SCALE)
            .method(Method::Lbfgs))
    };
    Ok(vec![
        autorec("AutoRec, item-based", &ItemAutoRec::default())?,
        autorec("AutoRec, user-based", &UserAutoRec::default())?,
    ])
}

/// The λ grid of the side-information row, [`LAMBDAS`] widened by 100
/// (the choice lands on 30 otherwise).
const ATTRIBUTE_LAMBDAS: [f64; 6] = [0.3, 1.0, 3.0, 10.0, 30.0, 100.0];
/// The grid of γ, the penalty on the attribute maps, searched after λ: its
/// first value, at which λ is searched, is a strong penalty, so that λ is
/// chosen near the loss without attributes (starting at γ = 1 chose
/// λ = 100 and lost 0.0075 on u1).
const GAMMAS: [f64; 6] = [100.0, 0.1, 1.0, 10.0, 1000.0, 10000.0];

/// The side-information row, added by `--side` on MovieLens 100k: the
/// biased L2 loss with the users' attributes (`u.user`) and the items'
/// (`u.item`) in `dir`, loaded for each split's id maps; λ, then γ, then
/// the ranks searched on validation.
pub fn side_candidates(dir: &Path, full_grid: bool) -> Result<Vec<Candidate>, ExperimentError> {
    let (users, items) = (dir.join("u.user"), dir.join("u.item"));
    let grids: [(&str, &[f64]); 2] = [("lambda", &ATTRIBUTE_LAMBDAS), ("gamma", &GAMMAS)];
    let c = row(
        "L2 + biases + side information (u.user, u.item)",
        &L2BiasedAttributes::default(),
        &grids,
        full_grid,
    )?
    .side_data(move |train| {
        let f = Features::movielens_users(&users, train.user_ids())?;
        let g = Features::movielens_items(&items, train.item_ids())?;
        Ok(SideData::new().with("F", f)?.with("G", g)?)
    });
    Ok(vec![c])
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
    let mut split = NamedSplit::holdout(&ratings, TEST_FRACTION, SEED)?;
    split.name = "synthetic".into();
    Ok(split)
}

/// The value after `flag` on the command line, if any.
fn arg(flag: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    let i = args.iter().position(|a| a == flag)?;
    args.get(i + 1).cloned()
}

/// The value after every `flag` on the command line.
fn all_args(flag: &str) -> Vec<String> {
    let args: Vec<String> = std::env::args().collect();
    args.windows(2)
        .filter(|w| w[0] == flag)
        .map(|w| w[1].clone())
        .collect()
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

/// Every `--grid TEXT:NAME=a,b,c` on the command line: the rows whose
/// name contains `TEXT` (lower case), the hyper-setting and its grid.
fn grid_flags() -> Result<Vec<(String, String, Vec<f64>)>, BoxError> {
    let args: Vec<String> = std::env::args().collect();
    let usage = "--grid takes TEXT:NAME=a,b,c (hyper-setting NAME of the rows whose name contains TEXT), e.g. --grid \"weighted-λ + biases:lambda=0.1,0.15\"";
    let mut out = Vec::new();
    for (i, _) in args.iter().enumerate().filter(|(_, a)| *a == "--grid") {
        let value = args.get(i + 1).ok_or(usage)?;
        let (rows, list) = value.rsplit_once('=').ok_or(usage)?;
        let (text, name) = rows.rsplit_once(':').ok_or(usage)?;
        let grid = list
            .split(',')
            .map(|v| {
                v.trim()
                    .parse::<f64>()
                    .map_err(|_| format!("--grid {value}: `{v}` is not a number"))
            })
            .collect::<Result<Vec<f64>, String>>()?;
        out.push((text.trim().to_lowercase(), name.trim().to_string(), grid));
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

/// What the command line asks to compare on.
struct Plan {
    splits: Vec<NamedSplit>,
    ranks: Vec<usize>,
    title: String,
}

/// The fraction after `--cold-users`, if given: that share of the users
/// of a `--data` file have all their ratings on the test side.
fn cold_users() -> Result<Option<f64>, BoxError> {
    let Some(text) = arg("--cold-users") else {
        return Ok(None);
    };
    match text.parse::<f64>() {
        Ok(f) if f > 0.0 && f < 1.0 => Ok(Some(f)),
        _ => Err(
            format!("--cold-users {text}: a fraction of the users strictly between 0 and 1").into(),
        ),
    }
}

/// Whether the command line asks for MovieLens 100k folds.
fn movielens_folds() -> bool {
    has_flag("--folds") || arg("--fold").is_some()
}

/// The MovieLens 100k directory: `--data` (the directory, or a file in it),
/// else found under $MF_DATASETS or ../shared/datasets; `None`, said on
/// stderr, when absent.
fn movielens_dir() -> Option<PathBuf> {
    match arg("--data").map(PathBuf::from) {
        Some(d) if d.is_dir() => Some(d),
        Some(d) => Some(d.parent().map(Path::to_path_buf).unwrap_or_default()),
        None => {
            let found = find_dataset("ml-100k");
            if found.is_none() {
                eprintln!(
                    "MovieLens 100k is absent: no `ml-100k` directory under $MF_DATASETS or \
                     ../shared/datasets. Point to it with `--data DIR`; nothing was run."
                );
            }
            found
        }
    }
}

/// The splits the command line asks for, the rank grid and a title; `None`
/// when `--folds` finds no MovieLens 100k.
fn plan() -> Result<Option<Plan>, BoxError> {
    let fold = arg("--fold");
    if movielens_folds() {
        let Some(dir) = movielens_dir() else {
            return Ok(None);
        };
        let mut splits = NamedSplit::movielens_folds(&dir)?;
        if let Some(fold) = fold {
            splits.retain(|s| s.name == fold);
            if splits.is_empty() {
                return Err(format!("--fold {fold}: the folds are u1 … u5").into());
            }
        }
        let title = format!("ml-100k {}", splits[0].name); // the plots are of the first split
        let ranks = MOVIELENS_KS.to_vec();
        return Ok(Some(Plan {
            splits,
            ranks,
            title,
        }));
    }
    if let Some(path) = arg("--data").map(PathBuf::from) {
        let ratings = Ratings::load(&path)?;
        let mut split = match cold_users()? {
            Some(fraction) => NamedSplit::cold_users(&ratings, fraction, SEED)?,
            None => NamedSplit::holdout(&ratings, TEST_FRACTION, SEED)?,
        };
        split.name = path.display().to_string();
        let title = split.name.clone();
        let (splits, ranks) = (vec![split], MOVIELENS_KS.to_vec());
        return Ok(Some(Plan {
            splits,
            ranks,
            title,
        }));
    }
    let split = match numbers("--synthetic", "users, items, ratings: 610,9724,100836")? {
        Some(n) if n.len() == 3 => synthetic_split_sized(n[0] as u32, n[1] as u32, n[2])?,
        Some(_) => return Err("--synthetic needs three numbers: users,items,ratings".into()),
        None => synthetic_split()?,
    };
    Ok(Some(Plan {
        splits: vec![split],
        ranks: SYNTHETIC_KS.to_vec(),
        title: "synthetic".into(),
    }))
}

/// The command: splits, grids and losses from the command line, then the
/// comparison, the table, the files and the plots.
fn run_comparison() -> Result<(), BoxError> {
    let started = Instant::now();
    let mut cands = candidates(true)?;
    if has_flag("--autorec") {
        cands.extend(autorec_candidates(true)?);
    }
    if has_flag("--side") {
        if !movielens_folds() && arg("--data").is_none() {
            return Err("--side reads ml-100k's u.user and u.item: use it with --folds, --fold or --data ml-100k/u.data".into());
        }
        let Some(dir) = movielens_dir() else {
            return Ok(());
        };
        cands.extend(side_candidates(&dir, true)?);
    }
    if has_flag("--explain") {
        for c in &cands {
            println!("{}\n{}", c.name(), c.loss().explanation());
        }
        return Ok(());
    }
    let out = arg("--out").map_or_else(default_out, PathBuf::from);
    let Some(Plan {
        splits,
        ranks: mut ks,
        title,
    }) = plan()?
    else {
        return Ok(());
    };
    if let Some(list) = numbers("--k", "ranks: 20,50")? {
        ks = list;
    }
    let only = all_args("--only");
    if !only.is_empty() {
        let only: Vec<String> = only.iter().map(|o| o.to_lowercase()).collect();
        cands.retain(|c| only.iter().any(|o| c.name().to_lowercase().contains(o)));
        if cands.is_empty() {
            return Err(format!("--only {}: no loss's name contains it", only.join(", ")).into());
        }
    }
    for (text, name, grid) in grid_flags()? {
        let mut matched = false;
        cands = cands
            .into_iter()
            .map(|c| match c.name().to_lowercase().contains(&text) {
                true => {
                    matched = true;
                    c.grid(&name, grid.iter().copied())
                }
                false => Ok(c),
            })
            .collect::<Result<_, _>>()?;
        if !matched {
            return Err(format!("--grid {text}:…: no loss's name contains `{text}`").into());
        }
    }
    let names: Vec<String> = splits.iter().map(|s| s.name.clone()).collect();
    let experiment = cands.into_iter().fold(
        Experiment::new(splits)
            .ranks(ks.clone())?
            .score_left_out(has_flag("--score-left-out") || arg("--cold-users").is_some())
            .progress(true),
        Experiment::candidate,
    );
    let results = experiment.run()?;
    println!(
        "\n{} split(s): {}; rank grid {ks:?}; ALS or L-BFGS with early stopping on 10 % of the \
         training side; {}\n",
        names.len(),
        names.join(", "),
        match names.len() {
            1 => "test errors of the final model",
            _ => "mean ± std over the splits",
        }
    );
    for s in &results.splits {
        println!(
            "{}: {} test ratings scored, {} left out (their user or item has no training rating)",
            s.name, s.scored, s.left_out
        );
    }
    println!("\n{results}");
    if let Some((c, rmse)) = results.best() {
        println!("best: {} (test RMSE {rmse:.4})", results.names[c]);
    }
    std::fs::create_dir_all(&out)?;
    for (file, text) in [
        ("results.csv", results.csv()),
        ("results.json", results.json()),
        ("results.md", results.markdown()),
    ] {
        std::fs::write(out.join(file), text)?;
        println!("wrote {}", out.join(file).display());
    }
    for path in results.plot(&out, &title)? {
        println!("wrote {}", path.display());
    }
    println!(
        "whole run: {:.1} s, {} rayon threads",
        started.elapsed().as_secs_f64(),
        rayon::current_num_threads()
    );
    Ok(())
}

/// Where the files go without `--out`: `compare_regularizers` in the build's target
/// directory, `$CARGO_TARGET_DIR` when set (cargo passes it on to `cargo
/// run`), else `./target`.
fn default_out() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| PathBuf::from("target"), PathBuf::from)
        .join("compare_regularizers")
}
