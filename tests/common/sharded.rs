//! What the tests of training over shards compare: four losses (counts
//! and biases with a mean start, SVD++'s `mask(D) @ Y`, a Gram term with
//! `norm`, dense terms that reduce over the users: `mean(P^2)`, `norm(bu)`,
//! `P.T @ P`), a small ratings set, and each loss's value, gradient and
//! parameters after a few steps of gradient descent, Adam and L-BFGS,
//! gathered to rank 0.
//! Included by the tests that need it (`#[path]`), not by `common`.

use mf_runtime::data::Ratings;
use mf_runtime::shard::{row_bounds, shard_rows, Link, ShardError, Shards};
use mf_runtime::{loss, Adam, GradientDescent, Init, Lbfgs, Minimizer, Objective};
use rand::{Rng, SeedableRng};

loss! {
    /// Weighted-λ with biases and a global offset started at the mean.
    pub struct Weighted {
        data  D: sparse[users, items],
        param P: [users, k],
        param Q: [k, items],
        param bu: [users, 1] = 0,
        param bi: [1, items] = 0,
        param mu: [] = mean(D),
        hyper lambda: f64 = 0.05,
    }
    minimize sum(mask * (D - P@Q - bu - bi - mu)^2)
        + lambda * (sum(count_rows(D) * P^2) + sum(count_cols(D) * Q^2) + sum(bu^2) + sum(bi^2))
}

loss! {
    /// SVD++: the implicit feedback `mask(D) @ Y` reads each user's items.
    pub struct SvdPp {
        data  D: sparse[users, items],
        param P: [users, k],
        param Q: [k, items],
        param Y: [items, k],
    }
    minimize sum(mask * (D - (P + (mask(D) @ Y) / sqrt(count_rows(D))) @ Q)^2)
        + 0.05 * (sum(P^2) + norm(Q) + sum(Y^2))
}

loss! {
    /// Implicit feedback's Gram term over every cell, `norm` penalties.
    pub struct Gram {
        data  D: sparse[users, items],
        param P: [users, k],
        param Q: [k, items],
    }
    minimize sum(mask * ((D - P@Q)^2 - 0.1 * (P@Q)^2)) + 0.1 * sum((P@Q)^2)
        + 0.05 * (norm(P) + norm(Q))
}

loss! {
    /// Dense terms that reduce over the users, each rank's part summed.
    pub struct OverUsers {
        data  D: sparse[users, items],
        param P: [users, k],
        param Q: [k, items],
        param bu: [users, 1] = 0,
    }
    minimize sum(mask * (D - P@Q - bu)^2) + 0.5 * mean(P^2) + 0.1 * norm(bu)
        + 0.01 * sum((P.T @ P)^2) + 0.05 * norm(Q)
}

/// Steps of each optimizer.
pub const STEPS: usize = 15;

/// 40 users × 25 items, about a third observed, ratings 1 to 5 (seeded:
/// every rank builds the same set).
pub fn ratings() -> Ratings {
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let mut entries = Vec::new();
    for u in 0..40 {
        for i in 0..25 {
            // Later users rate more, so row blocks balanced by entries differ
            // from blocks of equal row counts.
            if rng.random_bool(0.1 + 0.5 * f64::from(u) / 40.0) {
                entries.push((u, i, f64::from(rng.random_range(1..=5u8))));
            }
        }
    }
    Ratings::from_triplets(40, 25, entries).expect("valid triplets")
}

/// Makes the link of this rank to the others, once per loss bound.
pub type Connect<'a> = &'a dyn Fn() -> Box<dyn Link>;

/// Per loss: `[value], gradient, after gradient descent, after Adam, after
/// L-BFGS`, each over the whole of `ratings` (`connect` none) or over the
/// rank's block of rows, combined across the ranks `connect` links and
/// gathered to rank 0 (the other ranks' vectors are empty).
pub fn outcomes(
    ratings: &Ratings,
    connect: Option<Connect>,
) -> Result<Vec<Vec<Vec<f64>>>, ShardError> {
    let (rank, ranks) = connect.map_or((0, 1), |c| {
        let link = c();
        (link.rank(), link.ranks())
    });
    let bounds = row_bounds(ratings, ranks)?;
    let block = shard_rows(ratings, bounds[rank]..bounds[rank + 1])?;
    let init = Init::Normal {
        mean: 0.0,
        std: 0.3,
    };
    // Binds `$loss` over the whole data or the rank's shard, then runs it.
    macro_rules! outcome {
        ($ty:ident, $loss:expr, $seed:expr) => {{
            let x = $ty::init(
                ratings,
                3,
                init,
                &mut rand::rngs::StdRng::seed_from_u64($seed),
            )
            .expect("init");
            match connect {
                None => run(
                    &mut $loss.objective(ratings, &x).expect("binds"),
                    x.as_slice(),
                ),
                Some(c) => {
                    let shards = Shards::new(c(), bounds.clone())?;
                    let mine = $ty::rows_of(&x, bounds[rank]..bounds[rank + 1])?;
                    let mut o = $loss
                        .objective(&block, &mine)
                        .expect("binds")
                        .over_shards(shards)?;
                    let mut local = run(&mut o, mine.as_slice()).into_iter();
                    let value = local.next().expect("the value");
                    let whole = local.map(|v| o.gather(&v).unwrap_or_default());
                    std::iter::once(value).chain(whole).collect()
                }
            }
        }};
    }
    Ok(vec![
        outcome!(Weighted, Weighted::default(), 1),
        outcome!(SvdPp, SvdPp::default(), 2),
        outcome!(Gram, Gram::default(), 3),
        outcome!(OverUsers, OverUsers::default(), 4),
    ])
}

/// Value, gradient and the three optimizers' parameters from `x0`.
fn run(objective: &mut dyn Objective, x0: &[f64]) -> Vec<Vec<f64>> {
    let mut grad = vec![0.0; x0.len()];
    let value = objective.value_and_gradient(x0, &mut grad);
    let trained = |method: &dyn Fn(&mut dyn Objective, &mut [f64]),
                   objective: &mut dyn Objective| {
        let mut x = x0.to_vec();
        method(objective, &mut x);
        x
    };
    vec![
        vec![value],
        grad,
        trained(&|o, x| train(GradientDescent::new(2e-3), o, x), objective),
        trained(&|o, x| train(Adam::new(0.02), o, x), objective),
        trained(&|o, x| train(Lbfgs::default(), o, x), objective),
    ]
}

fn train(method: impl Minimizer, objective: &mut dyn Objective, x: &mut [f64]) {
    method
        .train()
        .max_iters(STEPS)
        .tol_rel_loss(0.0)
        .progress(false)
        .minimize(objective, x)
        .expect("trains");
}

/// The largest difference between `a` and `b` relative to `b`'s largest
/// magnitude (at least 1), over every vector.
pub fn max_relative_difference(a: &[Vec<Vec<f64>>], b: &[Vec<Vec<f64>>]) -> f64 {
    let mut worst = 0.0f64;
    for (la, lb) in a.iter().zip(b) {
        assert_eq!(la.len(), lb.len());
        for (va, vb) in la.iter().zip(lb) {
            assert_eq!(va.len(), vb.len());
            let scale = vb.iter().fold(1.0f64, |m, v| m.max(v.abs()));
            for (x, y) in va.iter().zip(vb) {
                worst = worst.max((x - y).abs() / scale);
            }
        }
    }
    worst
}
