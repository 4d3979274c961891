//! Predictions: inferred from the loss's residual, or given with `predict`.

mod common;

use mf_runtime::model::Prediction;
use mf_runtime::{loss, Init, Ratings};

loss! {
    pub struct Biased {
        data D: sparse[users, items],
        param P: [users, k],
        param Q: [k, items],
        param bu: [users, 1],
        param bi: [1, items],
        param mu: [],
        hyper beta: f64 = 0.1,
    }
    minimize sum(mask * (D - P@Q - bu - bi - mu)^2) + beta * (sum(P^2) + sum(Q^2))
}

loss! {
    /// Logistic loss on ±1 data; the prediction is a probability.
    pub struct Logistic {
        data Y: sparse[users, items],
        param P: [users, k],
        param Q: [items, k],
    }
    minimize sum(mask * softplus(-Y * (P@Q.T))) + 0.01 * sum(P^2)
    predict sigmoid(P@Q.T)
}

#[test]
fn the_prediction_is_what_the_residual_subtracts_from_the_data() {
    let mut rng = common::rng(3);
    let ratings = Ratings::from_masked(&common::ratings_with_nan_holes(&mut rng, 5, 6)).unwrap();
    let params = Biased::init(
        &ratings,
        3,
        Init::Normal {
            mean: 0.0,
            std: 1.0,
        },
        &mut rng,
    )
    .unwrap();
    let loss = Biased::default();
    let (p, q, bu, bi, mu) = (
        params.P(),
        params.Q(),
        params.bu(),
        params.bi(),
        params.mu(),
    );
    for u in 0..5 {
        for i in 0..6 {
            let want = p.row(u).dot(&q.column(i)) + bu[[u, 0]] + bi[[0, i]] + mu[[0, 0]];
            let got = loss.predict(&params, u, i);
            assert!((got - want).abs() < 1e-12, "({u}, {i}): {got} vs {want}");
        }
    }
    assert!(
        Biased::explain().contains("prediction at an entry"),
        "{}",
        Biased::explain()
    );
}

#[test]
fn an_explicit_prediction_is_used() {
    let mut rng = common::rng(4);
    let signs = common::ratings_with_nan_holes(&mut rng, 4, 3)
        .values()
        .mapv(|v| if v > 3.0 { 1.0 } else { -1.0 });
    let ratings = Ratings::from_masked(&mf_runtime::MaskedMatrix::fully_observed(signs)).unwrap();
    let params = Logistic::init(
        &ratings,
        2,
        Init::Normal {
            mean: 0.0,
            std: 1.0,
        },
        &mut rng,
    )
    .unwrap();
    let (p, q) = (params.P(), params.Q());
    for u in 0..4 {
        for i in 0..3 {
            let z = p.row(u).dot(&q.row(i));
            let want = 1.0 / (1.0 + (-z).exp());
            let got =
                Logistic::default().predict_flat(params.layout(), params.as_slice(), &[], u, i);
            assert!((got - want).abs() < 1e-12);
        }
    }
}
