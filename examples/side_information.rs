//! Side information on MovieLens 100k: the biased, L2-penalised
//! factorization against the same loss whose user and item factors are
//! offset by learned maps of the users' and items' attributes,
//! `(P + F@W) @ (Q + V@G.T)`, with `F` from `u.user` (age group, gender,
//! occupation, zip region, one-hot) and `G` from `u.item` (genres,
//! multi-hot; release decade).
//!
//! The protocol is the experiment API's ([`mf_runtime::experiment`]),
//! written out here because that API binds a loss to the ratings alone
//! (`Trainable::bind`), and a loss that reads more data has no `Model`
//! (its prediction reads `F` and `G`): 10 % of the training side carved
//! off for validation (seed 42), λ searched on the validation RMSE at the
//! first rank, then γ (the penalty on the attribute maps), then the ranks, each run from the same seeded start by
//! L-BFGS validated every 5 steps with a patience of 10 checks; the choice
//! retrained on the whole training side for the steps its validation run
//! kept, and scored on the test side, predictions clipped to the training
//! ratings' range.
//!
//! ```text
//! cargo run --release --example side_information                  # ml-100k u1
//! cargo run --release --example side_information -- --split u2 --k 50
//! ```

use std::time::Instant;

use mf_runtime::data::{find_dataset, Features, Ratings, Split};
use mf_runtime::metrics::Accuracy;
use mf_runtime::ndarray::Array2;
use mf_runtime::rand::{rngs::StdRng, SeedableRng};
use mf_runtime::{loss, Init, Lbfgs, MaskedMatrix, Minimizer, Objective, Params};

loss! {
    /// Squared error with biases, L2 penalty: the loss without side
    /// information.
    pub struct Biased {
        data D: sparse[users, items],
        param P: [users, k],
        param Q: [k, items],
        param bu: [users, 1] = 0,
        param bi: [1, items] = 0,
        param mu: [] = mean(D),
        hyper lambda: f64 = 1.0,
    }
    minimize sum(mask * (D - P@Q - bu - bi - mu)^2)
        + lambda * (sum(P^2) + sum(Q^2) + sum(bu^2) + sum(bi^2))
}

loss! {
    /// The same loss with each user's factors offset by `F@W` (the user's
    /// attributes, mapped) and each item's by `V@G.T`.
    pub struct WithFeatures {
        data D: sparse[users, items],
        data F: [users, f],
        data G: [items, g],
        param P: [users, k],
        param W: [f, k],
        param Q: [k, items],
        param V: [k, g],
        param bu: [users, 1] = 0,
        param bi: [1, items] = 0,
        param mu: [] = mean(D),
        hyper lambda: f64 = 1.0,
        hyper gamma: f64 = 1.0,
    }
    minimize sum(mask(D) * (D - (P + F@W) @ (Q + V@G.T) - bu - bi - mu)^2)
        + lambda * (sum(P^2) + sum(Q^2) + sum(bu^2) + sum(bi^2))
        + gamma * (sum(W^2) + sum(V^2))
}

type BoxError = Box<dyn std::error::Error>;

/// The λ grid of the comparison's squared penalties, widened by 100 (the
/// choice lands on 30 otherwise).
const LAMBDAS: [f64; 6] = [0.3, 1.0, 3.0, 10.0, 30.0, 100.0];
/// The grid of γ, the penalty on the attribute maps `W` and `V`, searched
/// after λ as the experiment searches grids; its first value, at which λ
/// is searched, is a strong penalty, so that λ is chosen near the loss
/// without attributes.
const GAMMAS: [f64; 6] = [100.0, 0.1, 1.0, 10.0, 1000.0, 10000.0];

/// A point of the search.
#[derive(Clone, Copy, Debug)]
struct Setting {
    lambda: f64,
    gamma: f64,
    k: usize,
}

impl std::fmt::Display for Setting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "λ = {}, γ = {}, k = {}", self.lambda, self.gamma, self.k)
    }
}
/// Seed of the validation carve and of every start.
const SEED: u64 = 42;

/// A loss of the comparison: without side information, or with the users'
/// and items' attribute matrices.
#[derive(Clone, Copy)]
enum Row<'a> {
    Plain,
    Features {
        users: &'a MaskedMatrix,
        items: &'a MaskedMatrix,
    },
}

impl<'a> Row<'a> {
    fn name(self) -> &'static str {
        match self {
            Row::Plain => "L2 + biases",
            Row::Features { .. } => "L2 + biases + side information (u.user, u.item)",
        }
    }

    /// The seeded start on `train` at rank `k`.
    fn start(self, train: &Ratings, k: usize) -> Result<Params, BoxError> {
        let init = Init::Normal {
            mean: 0.0,
            std: 0.1,
        };
        let rng = &mut StdRng::seed_from_u64(SEED);
        Ok(match self {
            Row::Plain => Biased::init(train, k, init, rng)?.into(),
            Row::Features { users, items } => {
                let data = WithFeaturesData {
                    D: train,
                    F: users,
                    G: items,
                };
                WithFeatures::init(data, k, init, rng)?.into()
            }
        })
    }

    /// The loss at `at`'s hyper-settings bound to `train`.
    fn objective<'t>(
        self,
        train: &'t Ratings,
        at: Setting,
        params: &Params,
    ) -> Result<Box<dyn Objective + 't>, BoxError>
    where
        'a: 't,
    {
        Ok(match self {
            Row::Plain => {
                let params = BiasedParams::from_params(params.clone())?;
                let lambda = at.lambda;
                Box::new(Biased { lambda }.objective(train, &params)?)
            }
            Row::Features { users, items } => {
                let params = WithFeaturesParams::from_params(params.clone())?;
                let data = WithFeaturesData {
                    D: train,
                    F: users,
                    G: items,
                };
                let (lambda, gamma) = (at.lambda, at.gamma);
                Box::new(WithFeatures { lambda, gamma }.objective(data, &params)?)
            }
        })
    }

    /// The user factors (`P`, or `P + F W`) and item factors (`Q`, or
    /// `Q + V Gᵀ`) of `params`, and the biases.
    fn factors(self, params: &Params) -> Factors {
        let block = |name: &str| params.view(name).expect("a block of the loss").to_owned();
        let (mut users, mut items) = (block("P"), block("Q"));
        if let Row::Features { users: f, items: g } = self {
            users = users + f.values().dot(&block("W"));
            items = items + block("V").dot(&g.values().t());
        }
        Factors {
            users,
            items,
            bu: block("bu"),
            bi: block("bi"),
            mu: block("mu")[[0, 0]],
        }
    }
}

/// What a prediction reads: `users[u] · items[:, i] + bu[u] + bi[i] + mu`.
struct Factors {
    users: Array2<f64>,
    items: Array2<f64>,
    bu: Array2<f64>,
    bi: Array2<f64>,
    mu: f64,
}

impl Factors {
    /// Accuracy on `data`, predictions clipped to `[lo, hi]`.
    fn accuracy(&self, data: &Ratings, (lo, hi): (f64, f64)) -> Accuracy {
        Accuracy::of(data, |u, i| {
            let (u, i) = (u as usize, i as usize);
            let dot = self.users.row(u).dot(&self.items.column(i));
            (dot + self.bu[[u, 0]] + self.bi[[0, i]] + self.mu).clamp(lo, hi)
        })
    }
}

/// One run: `row` at `at` trained on `fit` by L-BFGS, validated on
/// `validation` (early stopping) or for exactly `steps`.
struct Run {
    params: Params,
    validation_rmse: f64,
    steps: usize,
}

fn run(
    row: Row<'_>,
    fit: &Ratings,
    validation: Option<&Ratings>,
    at: Setting,
    steps: usize,
) -> Result<Run, BoxError> {
    let range = rating_range(fit);
    let mut params = row.start(fit, at.k)?;
    let layout = params.layout().clone();
    let mut objective = row.objective(fit, at, &params)?;
    let trainer = Lbfgs::default()
        .train()
        .max_iters(steps)
        .tol_rel_loss(1e-7)
        .progress(false);
    let report = match validation {
        Some(v) => trainer
            .metrics_every(5)
            .patience(10)
            .validation(|x: &[f64]| {
                let p = Params::from_vec(layout.clone(), x.to_vec()).expect("the layout's length");
                row.factors(&p).accuracy(v, range).rmse
            })
            .minimize(objective.as_mut(), params.as_mut_slice())?,
        None => trainer.minimize(objective.as_mut(), params.as_mut_slice())?,
    };
    let best = report.best.as_ref();
    Ok(Run {
        validation_rmse: best.map_or(f64::NAN, |b| b.validation),
        steps: best.map_or(report.iterations, |b| b.step),
        params,
    })
}

fn rating_range(r: &Ratings) -> (f64, f64) {
    let values = r.csr().values;
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (lo, hi)
}

/// Trains `row` at `at` on the carve's training side, validated on its
/// test side; keeps it in `best` when its validation RMSE is the lowest so
/// far (the first in grid order on a tie).
fn consider(
    best: &mut Option<(Setting, Run)>,
    row: Row<'_>,
    carve: &Split,
    at: Setting,
) -> Result<(), BoxError> {
    let r = run(row, &carve.train, Some(&carve.test), at, 1500)?;
    eprintln!(
        "  {}: {at}: validation RMSE {:.4} at step {}",
        row.name(),
        r.validation_rmse,
        r.steps
    );
    if best
        .as_ref()
        .is_none_or(|(_, b)| r.validation_rmse < b.validation_rmse)
    {
        *best = Some((at, r));
    }
    Ok(())
}

/// λ on validation at the first rank, then γ (with side information),
/// then the ranks; retrained on the whole training side for the kept
/// steps; scored on the test side.
fn compare(row: Row<'_>, split: &Split, ranks: &[usize]) -> Result<String, BoxError> {
    let started = Instant::now();
    let carve = split.train.split_random(0.1, SEED)?;
    let mut best: Option<(Setting, Run)> = None;
    let first = Setting {
        lambda: LAMBDAS[0],
        gamma: GAMMAS[0],
        k: ranks[0],
    };
    for &lambda in &LAMBDAS {
        consider(&mut best, row, &carve, Setting { lambda, ..first })?;
    }
    if let Row::Features { .. } = row {
        let at = best.as_ref().expect("a setting").0;
        for &gamma in &GAMMAS[1..] {
            consider(&mut best, row, &carve, Setting { gamma, ..at })?;
        }
    }
    let at = best.as_ref().expect("a setting").0;
    for &k in &ranks[1..] {
        consider(&mut best, row, &carve, Setting { k, ..at })?;
    }
    let (at, chosen) = best.expect("a setting");
    let last = run(row, &split.train, None, at, chosen.steps.max(1))?;
    let test = row
        .factors(&last.params)
        .accuracy(&split.test, rating_range(&split.train));
    let shown = match row {
        Row::Plain => format!("λ = {}, k = {}", at.lambda, at.k),
        Row::Features { .. } => at.to_string(),
    };
    Ok(format!(
        "| {} | {:.4} | {:.4} | {:.4} | {} | {shown} | {:.0} |",
        row.name(),
        test.rmse,
        test.mae,
        chosen.validation_rmse,
        chosen.steps,
        started.elapsed().as_secs_f64()
    ))
}

fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|p| args.get(p + 1))
    };
    let split_name = flag("--split").map_or("u1", String::as_str);
    let ranks: Vec<usize> = match flag("--k") {
        Some(list) => list.split(',').map(str::parse).collect::<Result<_, _>>()?,
        None => vec![50, 100],
    };
    if ranks.is_empty() || ranks.contains(&0) {
        return Err(format!("--k: ranks of at least 1, not {ranks:?}").into());
    }
    let Some(dir) = find_dataset("ml-100k") else {
        return Err(
            "MovieLens 100k not found: set MF_DATASETS to a directory holding ml-100k".into(),
        );
    };
    let split = Split::movielens(&dir, split_name)?;
    let users = Features::movielens_users(dir.join("u.user"), split.train.user_ids())?;
    let items = Features::movielens_items(dir.join("u.item"), split.train.item_ids())?;
    println!("ml-100k {split_name}: {split}");
    println!("user attributes: {users}\nitem attributes: {items}\n");
    let (f, g) = (users.to_data(), items.to_data());
    let rows = [
        Row::Plain,
        Row::Features {
            users: &f,
            items: &g,
        },
    ];
    println!("| loss | test RMSE | test MAE | validation RMSE | steps | chosen | seconds |");
    println!("|---|---:|---:|---:|---:|---|---:|");
    for row in rows {
        println!("{}", compare(row, &split, &ranks)?);
    }
    Ok(())
}
