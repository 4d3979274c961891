//! Sparse data times a dense matrix: `mask(D) @ Y` sums, for each user, the
//! rows of `Y` of the items that user rated (the implicit feedback of
//! SVD++), over the observed entries only.

mod common;

use mf_runtime::gradcheck::check_gradient;
use mf_runtime::{loss, Init, Objective, Ratings};

loss! {
    /// SVD++ on dense data with missing cells.
    pub struct DenseSvdpp {
        data D: [users, items],
        param P: [users, k],
        param Y: [items, k],
        param Q: [k, items],
        param bu: [users, 1],
        param bi: [1, items],
        hyper lambda: f64 = 0.1,
    }
    minimize sum(mask * (D - (P + (mask(D) @ Y) / sqrt(count_rows(D))) @ Q - bu - bi)^2)
        + lambda * (sum(P^2) + sum(Y^2) + sum(Q^2) + sum(bu^2) + sum(bi^2))
}

loss! {
    /// SVD++ over the observed entries of sparse data.
    pub struct SparseSvdpp {
        data D: sparse[users, items],
        param P: [users, k],
        param Y: [items, k],
        param Q: [k, items],
        param bu: [users, 1],
        param bi: [1, items],
        hyper lambda: f64 = 0.1,
    }
    minimize sum(mask * (D - (P + (mask(D) @ Y) / sqrt(count_rows(D))) @ Q - bu - bi)^2)
        + lambda * (sum(P^2) + sum(Y^2) + sum(Q^2) + sum(bu^2) + sum(bi^2))
}

fn problem(seed: u64, users: usize, items: usize) -> (mf_runtime::MaskedMatrix, Ratings) {
    let mut rng = common::rng(seed);
    let dense = common::ratings_with_nan_holes(&mut rng, users, items);
    let sparse = Ratings::from_masked(&dense).expect("observed entries make a Ratings");
    (dense, sparse)
}

/// Asserts that `a` and `b` give the same value and gradient at `x`, to
/// `tolerance` relative; returns `b`'s gradient.
fn same_value_and_gradient(
    a: &mut impl Objective,
    b: &mut impl Objective,
    x: &[f64],
    tolerance: f64,
) -> Vec<f64> {
    let n = a.num_params();
    assert_eq!(n, b.num_params());
    let (mut ga, mut gb) = (vec![0.0; n], vec![0.0; n]);
    let va = a.value_and_gradient(x, &mut ga);
    let vb = b.value_and_gradient(x, &mut gb);
    assert!((va - vb).abs() <= tolerance * va.abs(), "{va} vs {vb}");
    for (p, q) in ga.iter().zip(&gb) {
        assert!((p - q).abs() <= tolerance * p.abs().max(1.0), "{p} vs {q}");
    }
    gb
}

const START: Init = Init::Normal {
    mean: 0.0,
    std: 0.5,
};

#[test]
fn sparse_and_dense_implicit_feedback_agree() {
    for seed in 0..4 {
        let (dense, sparse) = problem(seed, 6 + seed as usize, 5);
        let params = DenseSvdpp::init(&dense, 3, START, &mut common::rng(seed + 50)).unwrap();
        let sparse_params =
            SparseSvdpp::init(&sparse, 3, START, &mut common::rng(seed + 50)).unwrap();
        assert_eq!(params.as_slice(), sparse_params.as_slice());
        let mut d = DenseSvdpp::default().objective(&dense, &params).unwrap();
        let mut s = SparseSvdpp::default()
            .objective(&sparse, &sparse_params)
            .unwrap();
        let gs = same_value_and_gradient(&mut d, &mut s, params.as_slice(), 1e-10);
        // Y's gradient is not zero: the implicit term is live.
        let y = params.layout().blocks()[1].clone();
        assert_eq!(y.name, "Y");
        assert!(gs[y.offset..y.offset + y.rows * y.cols]
            .iter()
            .any(|&g| g.abs() > 1e-6));
    }
}

#[test]
fn implicit_feedback_gradients_match_finite_differences() {
    for seed in 0..3 {
        let (dense, sparse) = problem(seed + 10, 7, 6);
        for check in [
            {
                let params = SparseSvdpp::init(&sparse, 2, START, &mut common::rng(seed)).unwrap();
                let mut objective = SparseSvdpp::default().objective(&sparse, &params).unwrap();
                check_gradient(&mut objective, params.as_slice(), 1e-3)
            },
            {
                let params = DenseSvdpp::init(&dense, 2, START, &mut common::rng(seed)).unwrap();
                let mut objective = DenseSvdpp::default().objective(&dense, &params).unwrap();
                check_gradient(&mut objective, params.as_slice(), 1e-3)
            },
        ] {
            assert!(check.max_error < 1e-6, "seed {seed}: {check:?}");
        }
    }
}

loss! {
    /// The implicit term written with the mask on the right: `Y.T @ mask(D).T`
    /// is `(mask(D) @ Y).T`.
    pub struct SparseSvdppRight {
        data D: sparse[users, items],
        param P: [users, k],
        param Y: [items, k],
        param Q: [k, items],
        param bu: [users, 1],
        param bi: [1, items],
        hyper lambda: f64 = 0.1,
    }
    minimize sum(mask * (D - (P + (Y.T @ mask(D).T).T / sqrt(count_rows(D))) @ Q - bu - bi)^2)
        + lambda * (sum(P^2) + sum(Y^2) + sum(Q^2) + sum(bu^2) + sum(bi^2))
}

#[test]
fn the_mask_on_either_side_of_the_product_is_the_same_loss() {
    let (_, sparse) = problem(3, 8, 7);
    let params = SparseSvdpp::init(&sparse, 3, START, &mut common::rng(4)).unwrap();
    let right_params = SparseSvdppRight::init(&sparse, 3, START, &mut common::rng(4)).unwrap();
    let mut left = SparseSvdpp::default().objective(&sparse, &params).unwrap();
    let mut right = SparseSvdppRight::default()
        .objective(&sparse, &right_params)
        .unwrap();
    same_value_and_gradient(&mut left, &mut right, params.as_slice(), 1e-12);
}

#[test]
fn explain_shows_the_implicit_term_and_its_gradient() {
    let text = SparseSvdpp::explain();
    assert!(text.contains("∂L/∂Y = maskᵀ ("), "{text}");
    // Both products with the mask run over the observed entries.
    let over_entries = |what: &str| {
        text.lines()
            .any(|line| line.contains("observed entries of D") && line.contains(what))
    };
    assert!(over_entries("mask Y → a buffer"), "{text}");
    assert!(over_entries("maskᵀ ("), "{text}");
    assert!(!text.contains("dense pass over [users, items]"), "{text}");
}
