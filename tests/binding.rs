//! Run-time binding: every dimension symbol gets one size, and a mismatch is
//! an error naming the symbol, both sizes and where each came from.

mod common;

use mf_runtime::{loss, GradientDescent, Init, MaskedMatrix, Minimizer, ShapeError, TrainError};
use ndarray::Array2;

loss! {
    pub struct Seed {
        data D: [users, items],
        param P: [users, k],
        param Q: [k, items],
        hyper beta: f64 = 0.02,
    }
    minimize sum(mask * (D - P@Q)^2) + beta*(norm(P)+norm(Q))
}

#[test]
fn params_from_other_data_are_rejected_with_both_sizes() {
    let mut rng = common::rng(1);
    let small = common::ratings_with_nan_holes(&mut rng, 4, 5);
    let large = common::ratings_with_nan_holes(&mut rng, 6, 5);
    let params = Seed::init(&small, 3, Init::Zeros, &mut rng).unwrap();
    let Err(error) = Seed::default().objective(&large, &params) else {
        panic!("a 4-user parameter set must not bind to 6-user data");
    };
    assert_eq!(
        error,
        ShapeError::Mismatch {
            symbol: "users".into(),
            first: 6,
            first_source: "rows of data D".into(),
            second: 4,
            second_source: "rows of param P".into(),
        }
    );
    assert_eq!(
        error.to_string(),
        "dimension `users` is 6 (rows of data D) but 4 (rows of param P)"
    );
}

loss! {
    /// Start values declared in the header, over sparse data.
    pub struct Started {
        data D: sparse[users, items],
        param P: [users, k],
        param Q: [k, items],
        param bu: [users, 1] = 0,
        param bi: [1, items] = -0.5,
        param mu: [] = mean(D),
    }
    minimize sum(mask * (D - P@Q - bu - bi - mu)^2)
}

loss! {
    /// The mean start over dense data reads the observed values only.
    pub struct StartedDense {
        data D: [users, items],
        param P: [users, k],
        param Q: [k, items],
        param mu: [] = mean(D),
    }
    minimize sum(mask * (D - P@Q - mu)^2)
}

#[test]
fn declared_start_values_replace_the_random_draw() {
    let ratings =
        mf_runtime::Ratings::from_triplets(3, 2, [(0, 0, 5.0), (1, 1, 2.0), (2, 0, 4.0)]).unwrap();
    let init = Init::Normal {
        mean: 0.0,
        std: 1.0,
    };
    let params = Started::init(&ratings, 2, init, &mut common::rng(3)).unwrap();
    assert!(params.bu().iter().all(|&v| v == 0.0));
    assert!(params.bi().iter().all(|&v| v == -0.5));
    assert_eq!(params.mu()[[0, 0]], 11.0 / 3.0);
    // The other params are drawn as without start values: the same stream.
    let plain = Seed::init(
        &MaskedMatrix::fully_observed(Array2::zeros((3, 2))),
        2,
        init,
        &mut common::rng(3),
    )
    .unwrap();
    assert_eq!(params.P(), plain.P());
    assert!(params.P().iter().any(|&v| v != 0.0));

    let mut values = Array2::from_elem((2, 2), 100.0);
    values[[0, 0]] = 1.0;
    values[[1, 1]] = 3.0;
    let observed = ndarray::array![[true, false], [false, true]];
    let dense = MaskedMatrix::new(values, observed).unwrap();
    let params = StartedDense::init(&dense, 2, init, &mut common::rng(3)).unwrap();
    assert_eq!(params.mu()[[0, 0]], 2.0);
}

#[test]
fn hyper_settings_default_to_their_declaration() {
    assert_eq!(Seed::default().beta, 0.02);
}

#[test]
fn layout_follows_the_declaration_order() {
    let d = MaskedMatrix::fully_observed(Array2::zeros((3, 7)));
    let layout = Seed::layout(&d, 2).unwrap();
    let blocks: Vec<_> = layout
        .blocks()
        .iter()
        .map(|b| (b.name.as_str(), b.rows, b.cols))
        .collect();
    assert_eq!(blocks, [("P", 3, 2), ("Q", 2, 7)]);
}

#[test]
fn a_diverging_run_stops_with_an_error_and_keeps_finite_parameters() {
    let mut rng = common::rng(2);
    let d = common::ratings_with_nan_holes(&mut rng, 5, 5);
    let mut params = Seed::init(
        &d,
        2,
        Init::Uniform {
            low: 0.0,
            high: 1.0,
        },
        &mut rng,
    )
    .unwrap();
    let mut objective = Seed::default().objective(&d, &params).unwrap();
    let result = GradientDescent::new(10.0)
        .train()
        .max_iters(1000)
        .progress(false)
        .minimize(&mut objective, params.as_mut_slice());
    let Err(TrainError::Diverged { .. }) = result else {
        panic!("alpha = 10 must diverge, got {result:?}");
    };
    assert!(result.unwrap_err().to_string().contains("learning rate"));
    assert!(params.as_slice().iter().all(|v| v.is_finite()));
}

loss! {
    /// Dimensions named like the generated functions' own arguments.
    pub struct NamesLikeArguments {
        data D: [rng, dims],
        param P: [rng, data],
        param Q: [data, dims],
        param W: [init, layout],
    }
    minimize sum(mask * (D - P@Q)^2) + sum(W^2)
}

#[test]
fn dimensions_may_share_names_with_generated_arguments() {
    let d = MaskedMatrix::fully_observed(Array2::zeros((3, 7)));
    let mut rng = common::rng(2);
    let params = NamesLikeArguments::init(&d, 2, 4, 5, Init::Zeros, &mut rng).unwrap();
    let blocks: Vec<_> = params
        .layout()
        .blocks()
        .iter()
        .map(|b| (b.name.as_str(), b.rows, b.cols))
        .collect();
    assert_eq!(blocks, [("P", 3, 2), ("Q", 2, 7), ("W", 4, 5)]);
    assert!(NamesLikeArguments::default().objective(&d, &params).is_ok());
}
