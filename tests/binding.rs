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
