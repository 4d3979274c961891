//! Sparse data as a matrix operand in every orientation: `S @ X`, `X @ S`,
//! `Sᵀ @ X` and `X @ Sᵀ`, with `S` the mask, the values under it or a
//! function of them, written by the user or produced by differentiation
//! (the gradient of `X @ S` in `X` is `G @ Sᵀ`). Each loss is lowered over
//! the observed entries, agrees with its dense twin and has gradients equal
//! to finite differences; the AutoRec autoencoders, both ways round, are the
//! models that need it.

mod common;

use mf_runtime::gradcheck::check_gradient;
use mf_runtime::{loss, Init, MaskedMatrix, Objective, Ratings};
use rand::Rng;

loss! {
    /// Item-based AutoRec: each item's column of ratings, encoded through
    /// `V` to `k` hidden units and decoded through `W`.
    pub struct ItemAutoRec {
        data D: sparse[users, items],
        param V: [k, users],
        param b: [k, 1],
        param W: [users, k],
        param c: [users, 1],
        hyper lambda: f64 = 0.05,
    }
    minimize sum(mask * (D - W @ sigmoid(V @ (mask(D) * D) + b) - c)^2) + lambda*(sum(V^2) + sum(W^2))
}

loss! {
    pub struct DenseItemAutoRec {
        data D: [users, items],
        param V: [k, users],
        param b: [k, 1],
        param W: [users, k],
        param c: [users, 1],
        hyper lambda: f64 = 0.05,
    }
    minimize sum(mask * (D - W @ sigmoid(V @ (mask(D) * D) + b) - c)^2) + lambda*(sum(V^2) + sum(W^2))
}

loss! {
    /// User-based AutoRec: each user's row of ratings, encoded through `V`
    /// and decoded through `W`.
    pub struct UserAutoRec {
        data D: sparse[users, items],
        param V: [items, k],
        param b: [1, k],
        param W: [k, items],
        param c: [1, items],
        hyper lambda: f64 = 0.05,
    }
    minimize sum(mask * (D - sigmoid((mask(D) * D) @ V + b) @ W - c)^2) + lambda*(sum(V^2) + sum(W^2))
}

loss! {
    pub struct DenseUserAutoRec {
        data D: [users, items],
        param V: [items, k],
        param b: [1, k],
        param W: [k, items],
        param c: [1, items],
        hyper lambda: f64 = 0.05,
    }
    minimize sum(mask * (D - sigmoid((mask(D) * D) @ V + b) @ W - c)^2) + lambda*(sum(V^2) + sum(W^2))
}

loss! {
    /// The mask, the values under it and a function of them, each on the
    /// left and on the right of a product, plain and transposed; every
    /// gradient is a product in another orientation.
    pub struct Orientations {
        data D: sparse[users, items],
        param A: [items, k],
        param X: [k, users],
        param Y: [users, k],
        param Z: [k, items],
    }
    minimize sum(tanh(mask(D) @ A)^2) + sum(tanh(X @ mask(D))^2)
        + sum(tanh(mask(D).T @ Y)^2) + sum(tanh(Z @ mask(D).T)^2)
        + sum(tanh((mask(D) * D) @ A)^2) + sum(tanh(X @ (mask(D) * D))^2)
        + sum(tanh((mask(D) * D).T @ Y)^2) + sum(tanh(Z @ (mask(D) * D).T)^2)
        + sum(tanh((mask(D) * sqrt(D)) @ A)^2) + sum(tanh(X @ (mask(D) * sqrt(D)))^2)
        + sum(tanh((mask(D) * sqrt(D)).T @ Y)^2) + sum(tanh(Z @ (mask(D) * sqrt(D)).T)^2)
}

loss! {
    pub struct DenseOrientations {
        data D: [users, items],
        param A: [items, k],
        param X: [k, users],
        param Y: [users, k],
        param Z: [k, items],
    }
    minimize sum(tanh(mask(D) @ A)^2) + sum(tanh(X @ mask(D))^2)
        + sum(tanh(mask(D).T @ Y)^2) + sum(tanh(Z @ mask(D).T)^2)
        + sum(tanh((mask(D) * D) @ A)^2) + sum(tanh(X @ (mask(D) * D))^2)
        + sum(tanh((mask(D) * D).T @ Y)^2) + sum(tanh(Z @ (mask(D) * D).T)^2)
        + sum(tanh((mask(D) * sqrt(D)) @ A)^2) + sum(tanh(X @ (mask(D) * sqrt(D)))^2)
        + sum(tanh((mask(D) * sqrt(D)).T @ Y)^2) + sum(tanh(Z @ (mask(D) * sqrt(D)).T)^2)
}

const INIT: Init = Init::Normal {
    mean: 0.0,
    std: 0.3,
};

/// Random ratings with NaN in the missing cells (any read of one poisons
/// the dense loss), and the same entries as sparse data.
fn problem(seed: u64) -> (MaskedMatrix, Ratings, usize) {
    let mut rng = common::rng(seed);
    let (users, items, k) = (
        rng.random_range(3..8),
        rng.random_range(3..8),
        rng.random_range(1..4),
    );
    let dense = common::ratings_with_nan_holes(&mut rng, users, items);
    let sparse = Ratings::from_masked(&dense).expect("observed entries make a Ratings");
    (dense, sparse, k)
}

/// The sparse loss `$sparse` against its dense twin `$dense` (value and
/// gradient to 1e-10) and against finite differences, on a few problems.
macro_rules! check_twins {
    ($sparse:ty, $dense:ty) => {{
        for seed in 0..4 {
            let (dense, sparse, k) = problem(seed);
            let params = <$dense>::init(&dense, k, INIT, &mut common::rng(seed + 100)).unwrap();
            let mut d = <$dense>::default().objective(&dense, &params).unwrap();
            let shapes = <$sparse>::init(&sparse, k, Init::Zeros, &mut common::rng(0)).unwrap();
            let mut s = <$sparse>::default().objective(&sparse, &shapes).unwrap();
            let n = d.num_params();
            assert_eq!(n, s.num_params());
            let (mut gd, mut gs) = (vec![0.0; n], vec![0.0; n]);
            let vd = d.value_and_gradient(params.as_slice(), &mut gd);
            let vs = s.value_and_gradient(params.as_slice(), &mut gs);
            assert!(vd.is_finite() && vd > 0.0, "{vd}");
            assert!(
                (vd - vs).abs() <= 1e-10 * vd.abs(),
                "seed {seed}: {vd} vs {vs}"
            );
            for (i, (a, b)) in gd.iter().zip(&gs).enumerate() {
                assert!(
                    (a - b).abs() <= 1e-10 * a.abs().max(1.0),
                    "seed {seed}, gradient entry {i}: {a} vs {b}"
                );
            }
            assert!(gs.iter().all(|g| g.is_finite()) && gs.iter().any(|&g| g != 0.0));
            for objective in [&mut s as &mut dyn Objective, &mut d] {
                let check = check_gradient(objective, params.as_slice(), 1e-3);
                assert!(check.max_error < 1e-6, "seed {seed}: {check:?}");
            }
        }
    }};
}

#[test]
fn item_based_autorec_is_lowered_over_the_entries_with_exact_gradients() {
    check_twins!(ItemAutoRec, DenseItemAutoRec);
}

#[test]
fn user_based_autorec_is_lowered_over_the_entries_with_exact_gradients() {
    check_twins!(UserAutoRec, DenseUserAutoRec);
}

#[test]
fn sparse_operands_in_every_orientation_agree_with_the_dense_lowering() {
    check_twins!(Orientations, DenseOrientations);
}

#[test]
fn a_million_by_a_million_problem_never_builds_the_grid() {
    // 10^12 cells would need 8 TB as a dense f64 grid: every product with
    // the data, forward and derived, must run over the 10,000 entries.
    let n: u32 = 1_000_000;
    let entries = (0..10_000u32).map(|e| {
        let user = (u64::from(e) * 7919 % u64::from(n)) as u32;
        let item = (u64::from(e) * 104_729 % u64::from(n)) as u32;
        (user, item, 1.0 + f64::from(e % 5))
    });
    let ratings = Ratings::from_triplets(n, n, entries).unwrap();
    let init = Init::Uniform {
        low: 0.0,
        high: 0.1,
    };
    let params = ItemAutoRec::init(&ratings, 1, init, &mut common::rng(1)).unwrap();
    let mut item = ItemAutoRec::default().objective(&ratings, &params).unwrap();
    let params = Orientations::init(&ratings, 1, init, &mut common::rng(2)).unwrap();
    let mut orientations = Orientations::default()
        .objective(&ratings, &params)
        .unwrap();
    for objective in [&mut item as &mut dyn Objective, &mut orientations] {
        let x = vec![0.05; objective.num_params()];
        let mut grad = vec![0.0; x.len()];
        let value = objective.value_and_gradient(&x, &mut grad);
        assert!(value.is_finite() && value > 0.0);
        assert!(grad.iter().all(|g| g.is_finite()) && grad.iter().any(|&g| g != 0.0));
    }
}
