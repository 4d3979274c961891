//! Sparse data: the same losses lowered over the observed entries only
//! agree with their dense lowering, never touch the full grid, and give
//! bit-identical results whatever the number of threads.

mod common;

use mf_runtime::gradcheck::check_gradient;
use mf_runtime::{loss, Init, Objective, Ratings};

loss! {
    pub struct DenseBiased {
        data D: [users, items],
        param P: [users, k],
        param Q: [k, items],
        param bu: [users, 1],
        param bi: [1, items],
        param mu: [],
        hyper beta: f64 = 0.1,
    }
    minimize sum(mask * (D - P@Q - bu - bi - mu)^2) + beta * (norm(P)^2 + norm(Q)^2 + sum(bu^2) + sum(bi^2))
}

loss! {
    pub struct SparseBiased {
        data D: sparse[users, items],
        param P: [users, k],
        param Q: [k, items],
        param bu: [users, 1],
        param bi: [1, items],
        param mu: [],
        hyper beta: f64 = 0.1,
    }
    minimize sum(mask * (D - P@Q - bu - bi - mu)^2) + beta * (norm(P)^2 + norm(Q)^2 + sum(bu^2) + sum(bi^2))
}

loss! {
    pub struct SparseSeed {
        data D: sparse[users, items],
        param P: [users, k],
        param Q: [k, items],
        hyper beta: f64 = 0.02,
    }
    minimize sum(mask * (D - P@Q)^2) + beta*(norm(P)+norm(Q))
}

fn problem(seed: u64, users: usize, items: usize) -> (mf_runtime::MaskedMatrix, Ratings) {
    let mut rng = common::rng(seed);
    let dense = common::ratings_with_nan_holes(&mut rng, users, items);
    let sparse = Ratings::from_masked(&dense).expect("observed entries make a Ratings");
    (dense, sparse)
}

#[test]
fn sparse_and_dense_lowerings_agree() {
    for seed in 0..4 {
        let (dense, sparse) = problem(seed, 7 + seed as usize, 5);
        let mut rng = common::rng(seed + 50);
        let params = DenseBiased::init(
            &dense,
            3,
            Init::Normal {
                mean: 0.0,
                std: 0.5,
            },
            &mut rng,
        )
        .unwrap();
        let mut d = DenseBiased::default().objective(&dense, &params).unwrap();
        let sparse_params = SparseBiased::init(&sparse, 3, Init::Zeros, &mut rng).unwrap();
        let mut s = SparseBiased::default()
            .objective(&sparse, &sparse_params)
            .unwrap();
        let n = d.num_params();
        assert_eq!(n, s.num_params());
        let (mut gd, mut gs) = (vec![0.0; n], vec![0.0; n]);
        let vd = d.value_and_gradient(params.as_slice(), &mut gd);
        let vs = s.value_and_gradient(params.as_slice(), &mut gs);
        assert!((vd - vs).abs() <= 1e-10 * vd.abs(), "{vd} vs {vs}");
        for (a, b) in gd.iter().zip(&gs) {
            assert!((a - b).abs() <= 1e-10 * a.abs().max(1.0), "{a} vs {b}");
        }
        assert!((s.value(params.as_slice()) - vs).abs() <= 1e-12 * vs.abs());
    }
}

#[test]
fn sparse_gradients_match_finite_differences() {
    let (_, sparse) = problem(7, 6, 8);
    let mut rng = common::rng(8);
    let params = SparseSeed::init(
        &sparse,
        2,
        Init::Uniform {
            low: 0.1,
            high: 1.0,
        },
        &mut rng,
    )
    .unwrap();
    let mut objective = SparseSeed::default().objective(&sparse, &params).unwrap();
    let check = check_gradient(&mut objective, params.as_slice(), 1e-3);
    assert!(check.max_error < 1e-6, "{check:?}");
}

#[test]
fn results_are_bit_identical_on_1_2_and_4_threads() {
    let (_, sparse) = problem(3, 700, 90);
    let mut rng = common::rng(4);
    let params = SparseBiased::init(
        &sparse,
        5,
        Init::Normal {
            mean: 0.0,
            std: 0.3,
        },
        &mut rng,
    )
    .unwrap();
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let mut objective = SparseBiased::default().objective(&sparse, &params).unwrap();
            let mut grad = vec![0.0; objective.num_params()];
            let value = objective.value_and_gradient(params.as_slice(), &mut grad);
            (
                value.to_bits(),
                grad.iter().map(|g| g.to_bits()).collect::<Vec<_>>(),
            )
        })
    };
    let one = run(1);
    assert_eq!(one, run(2));
    assert_eq!(one, run(4));
}

#[test]
fn a_million_by_a_million_problem_never_builds_the_grid() {
    // 10^12 cells would need 8 TB as a dense f64 grid; the sparse lowering
    // holds only the 10,000 observed entries and the factors.
    let n: u32 = 1_000_000;
    let entries = (0..10_000u32).map(|e| {
        let user = (u64::from(e) * 7919 % u64::from(n)) as u32;
        let item = (u64::from(e) * 104_729 % u64::from(n)) as u32;
        (user, item, 1.0 + f64::from(e % 5))
    });
    let ratings = Ratings::from_triplets(n, n, entries).unwrap();
    let mut rng = common::rng(1);
    let params = SparseSeed::init(
        &ratings,
        1,
        Init::Uniform {
            low: 0.0,
            high: 0.1,
        },
        &mut rng,
    )
    .unwrap();
    let mut objective = SparseSeed::default().objective(&ratings, &params).unwrap();
    let mut grad = vec![0.0; objective.num_params()];
    let value = objective.value_and_gradient(params.as_slice(), &mut grad);
    assert!(value.is_finite() && grad.iter().all(|g| g.is_finite()));
    // Nor the column-major copy of the entries: the passes read rows only.
    assert!(!ratings.has_csc());
}

loss! {
    /// Implicit feedback: every cell counts, unobserved ones as 0 with weight
    /// w0; the full-grid square takes the Gram form and never builds the grid.
    pub struct Implicit {
        data D: sparse[users, items],
        param P: [users, k],
        param Q: [k, items],
        hyper w0: f64 = 0.1,
    }
    minimize sum(mask * ((D - P@Q)^2 - w0 * (P@Q)^2)) + w0 * sum((P@Q)^2) + 0.01 * sum(P^2)
}

#[test]
fn the_gram_form_equals_the_full_grid_square() {
    let (dense, sparse) = problem(11, 6, 7);
    let mut rng = common::rng(12);
    let params = Implicit::init(
        &sparse,
        3,
        Init::Normal {
            mean: 0.0,
            std: 0.5,
        },
        &mut rng,
    )
    .unwrap();
    let mut objective = Implicit::default().objective(&sparse, &params).unwrap();
    let value = objective.value(params.as_slice());
    let pq = params.P().dot(&params.Q());
    let mut expected = 0.01 * params.P().iter().map(|x| x * x).sum::<f64>();
    for ((u, i), &x) in pq.indexed_iter() {
        expected += if dense.is_observed(u, i) {
            (dense.values()[[u, i]] - x).powi(2)
        } else {
            0.1 * x * x
        };
    }
    assert!(
        (value - expected).abs() < 1e-10 * expected,
        "{value} vs {expected}"
    );
    assert!(
        Implicit::explain().contains("Pᵀ P"),
        "{}",
        Implicit::explain()
    );
    let check = check_gradient(&mut objective, params.as_slice(), 1e-3);
    assert!(check.max_error < 1e-6, "{check:?}");
}

loss! {
    /// A confidence weight per observed entry, on the ratings' pattern.
    pub struct SparseWeighted {
        data D: sparse[users, items],
        data C: sparse[users, items],
        param P: [users, k],
        param Q: [k, items],
    }
    minimize sum(mask(D) * C * (D - P@Q)^2) + 0.1 * sum(P^2)
}

loss! {
    pub struct DenseWeighted {
        data D: [users, items],
        data C: [users, items],
        param P: [users, k],
        param Q: [k, items],
    }
    minimize sum(mask(D) * C * (D - P@Q)^2) + 0.1 * sum(P^2)
}

#[test]
fn confidence_weights_on_the_same_pattern() {
    let (dense, sparse) = problem(21, 6, 5);
    // Weights on exactly the observed entries: 1 + the rating / 5.
    let weights_dense = mf_runtime::MaskedMatrix::new(
        dense.values().mapv(|v| 1.0 + v / 5.0),
        dense.observed().to_owned(),
    )
    .unwrap();
    let weights = Ratings::from_masked(&weights_dense).unwrap();
    let mut rng = common::rng(22);
    let data = SparseWeightedData {
        D: &sparse,
        C: &weights,
    };
    let params = SparseWeighted::init(
        data,
        2,
        Init::Normal {
            mean: 0.0,
            std: 0.5,
        },
        &mut rng,
    )
    .unwrap();
    let mut s = SparseWeighted::default().objective(data, &params).unwrap();
    let dense_data = DenseWeightedData {
        D: &dense,
        C: &weights_dense,
    };
    let dense_params = DenseWeighted::init(dense_data, 2, Init::Zeros, &mut rng).unwrap();
    let mut d = DenseWeighted::default()
        .objective(dense_data, &dense_params)
        .unwrap();
    let n = s.num_params();
    let (mut gs, mut gd) = (vec![0.0; n], vec![0.0; n]);
    let vs = s.value_and_gradient(params.as_slice(), &mut gs);
    let vd = d.value_and_gradient(params.as_slice(), &mut gd);
    assert!((vs - vd).abs() <= 1e-10 * vd.abs(), "{vs} vs {vd}");
    for (a, b) in gs.iter().zip(&gd) {
        assert!((a - b).abs() <= 1e-10 * b.abs().max(1.0));
    }
    let check = check_gradient(&mut s, params.as_slice(), 1e-3);
    assert!(check.max_error < 1e-6, "{check:?}");
}

#[test]
fn weights_on_another_pattern_are_refused() {
    let (_, sparse) = problem(23, 5, 5);
    let (_, other) = problem(24, 5, 5);
    let mut rng = common::rng(25);
    let data = SparseWeightedData {
        D: &sparse,
        C: &other,
    };
    let Err(error) = SparseWeighted::init(data, 2, Init::Zeros, &mut rng) else {
        panic!("weights with other observed entries must be refused");
    };
    assert_eq!(
        error.to_string(),
        "data `C` must have the same observed entries as `D` (they have the same shape), but they differ"
    );
}

loss! {
    /// `SparseSeed` with its terms transposed, which changes nothing.
    pub struct SparseSeedTransposed {
        data D: sparse[users, items],
        param P: [users, k],
        param Q: [k, items],
        hyper beta: f64 = 0.02,
    }
    minimize sum((mask * (D - P@Q)^2).T) + beta*(norm(P.T)+norm(Q.T))
}

#[test]
fn a_transposed_masked_term_runs_over_the_entries_like_the_plain_one() {
    let (_, sparse) = problem(11, 9, 6);
    let params = SparseSeed::init(
        &sparse,
        3,
        Init::Uniform {
            low: 0.1,
            high: 1.0,
        },
        &mut common::rng(12),
    )
    .unwrap();
    let mut plain = SparseSeed::default().objective(&sparse, &params).unwrap();
    let transposed_params =
        SparseSeedTransposed::init(&sparse, 3, Init::Zeros, &mut common::rng(12)).unwrap();
    let mut transposed = SparseSeedTransposed::default()
        .objective(&sparse, &transposed_params)
        .unwrap();
    let n = plain.num_params();
    let (mut g1, mut g2) = (vec![0.0; n], vec![0.0; n]);
    let v1 = plain.value_and_gradient(params.as_slice(), &mut g1);
    let v2 = transposed.value_and_gradient(params.as_slice(), &mut g2);
    assert_eq!(v1.to_bits(), v2.to_bits());
    assert_eq!(g1, g2);
    assert!(v1 > 0.0 && g1.iter().any(|&g| g != 0.0));
}
