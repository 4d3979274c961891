//! Every derived gradient against fourth-order central finite differences of
//! the generated value, on random inputs whose missing cells hold NaN.
//!
//! One loss per operation of the language, plus composite losses; each is
//! checked on several random problems of random sizes. A wrong adjoint rule,
//! a wrong simplification or a mask that lets a missing cell through fails
//! here.

mod common;

use common::{positive_matrix, ratings_with_nan_holes, rng};
use mf_runtime::gradcheck::check_gradient;
use mf_runtime::{loss, Init, Objective};
use rand::Rng;

const TOLERANCE: f64 = 1e-6;
const STEP: f64 = 1e-3;
const TRIALS: u64 = 4;

/// Checks `$loss` on `TRIALS` random problems: data `D` with NaN holes,
/// params drawn from `$init`, free dimension `k` random.
macro_rules! check_loss {
    ($loss:ty, $init:expr) => {{
        for trial in 0..TRIALS {
            let mut rng = rng(trial * 7919 + 1);
            let (users, items, k) = (
                rng.random_range(2..6),
                rng.random_range(2..6),
                rng.random_range(1..4),
            );
            let d = ratings_with_nan_holes(&mut rng, users, items);
            let params = <$loss>::init(&d, k, $init, &mut rng).unwrap();
            let mut objective = <$loss>::default().objective(&d, &params).unwrap();
            let check = check_gradient(&mut objective, params.as_slice(), STEP);
            assert!(
                check.max_error < TOLERANCE,
                "{}: trial {trial} ({users}×{items}, k={k}): {check:?}",
                stringify!($loss)
            );
        }
    }};
}

const NORMAL: Init = Init::Normal {
    mean: 0.0,
    std: 0.7,
};
const UNIFORM: Init = Init::Uniform {
    low: 0.2,
    high: 1.5,
};

loss! {
    /// The design card's loss, exactly as written there.
    pub struct Seed {
        data D: [users, items],
        param P: [users, k],
        param Q: [k, items],
        hyper beta: f64 = 0.02,
    }
    minimize sum(mask * (D - P@Q)^2) + beta*(norm(P)+norm(Q))
}

loss! {
    pub struct SquaredL2 {
        data D: [users, items],
        param P: [users, k],
        param Q: [k, items],
        hyper beta: f64 = 0.3,
    }
    minimize sum(mask * (D - P@Q)^2) + beta * (norm(P)^2 + norm(Q)^2)
}

loss! {
    /// Biases as column vector, row vector and scalar, broadcast in the model.
    pub struct Biased {
        data D: [users, items],
        param P: [users, k],
        param Q: [k, items],
        param bu: [users, 1],
        param bi: [1, items],
        param mu: [],
        hyper beta: f64 = 0.1,
    }
    minimize sum(mask * (D - P@Q - bu - bi - mu)^2) + beta * (sum(P^2) + sum(Q^2) + sum(bu^2) + sum(bi^2))
}

loss! {
    pub struct AbsoluteError {
        data D: [users, items],
        param P: [users, k],
        param Q: [k, items],
    }
    minimize sum(mask * abs(D - P@Q)) + 0.1 * sum(abs(P)) + 0.1 * sum(abs(Q))
}

loss! {
    /// Item factors stored item-major, used through a transpose.
    pub struct Transposed {
        data D: [users, items],
        param P: [users, k],
        param Q: [items, k],
    }
    minimize sum(mask * (D - P@Q.T)^2) + 0.05 * norm(Q.T)^2
}

loss! {
    pub struct SoftplusError {
        data D: [users, items],
        param P: [users, k],
        param Q: [k, items],
    }
    minimize sum(mask * log(1 + exp(P@Q - D))) + 0.5 * mean(P^2)
}

loss! {
    /// A pseudo-Huber error through `sqrt`.
    pub struct PseudoHuber {
        data D: [users, items],
        param P: [users, k],
        param Q: [k, items],
    }
    minimize sum(mask * sqrt((D - P@Q)^2 + 1)) + 0.1 * norm(P) * norm(Q)
}

loss! {
    pub struct Quotient {
        data D: [users, items],
        param P: [users, k],
        param Q: [k, items],
    }
    minimize sum(mask * (D - P@Q)^2) / (1 + norm(P)^2) + sum(Q^2) / 4
}

loss! {
    pub struct RealPowers {
        data D: [users, items],
        param P: [users, k],
        param Q: [k, items],
    }
    minimize sum(mask * ((D - P@Q)^2 + 1)^1.5) + sum(abs(Q)^3) + sum((1 + P^2)^-1)
}

loss! {
    /// Unary minus, a nested exponential and the norm of a product.
    pub struct Welsch {
        data D: [users, items],
        param P: [users, k],
        param Q: [k, items],
    }
    minimize -sum(mask * exp(-(D - P@Q)^2 / 4)) + 0.1 * norm(P@Q) - -0.01 * sum(P)
}

loss! {
    /// An orthogonality penalty on a k × k Gram matrix.
    pub struct Gram {
        data D: [users, items],
        param P: [users, k],
        param Q: [k, items],
    }
    minimize mean(mask * (D - P@Q)^2) + 0.1 * sum((P.T@P)^2) + 0.1 * sum((Q@Q.T - 1)^2)
}

loss! {
    /// A scalar param only: the mean rating, found by least squares.
    pub struct MeanOnly {
        data D: [users, items],
        param mu: [],
        param bu: [users, 1],
        param bi: [1, items],
    }
    minimize sum(mask * (D - mu - bu - bi)^2) + 0.5 * (bu.T @ bu) + 0.5 * sum(bi * bi)
}

#[test]
fn seed_loss() {
    check_loss!(Seed, UNIFORM);
}

#[test]
fn squared_frobenius_penalty() {
    check_loss!(SquaredL2, NORMAL);
}

#[test]
fn biases_broadcast_over_rows_columns_and_scalars() {
    check_loss!(Biased, NORMAL);
}

#[test]
fn absolute_error_and_l1() {
    check_loss!(AbsoluteError, NORMAL);
}

#[test]
fn transpose() {
    check_loss!(Transposed, NORMAL);
}

#[test]
fn log_exp_and_mean() {
    check_loss!(SoftplusError, NORMAL);
}

#[test]
fn sqrt_and_product_of_norms() {
    check_loss!(PseudoHuber, UNIFORM);
}

#[test]
fn division_by_a_parameter_expression() {
    check_loss!(Quotient, NORMAL);
}

#[test]
fn real_and_negative_exponents() {
    check_loss!(RealPowers, NORMAL);
}

#[test]
fn unary_minus_and_nested_exponential() {
    check_loss!(Welsch, NORMAL);
}

#[test]
fn gram_matrices_and_constant_offsets() {
    check_loss!(Gram, NORMAL);
}

#[test]
fn scalar_and_vector_params_alone() {
    for trial in 0..TRIALS {
        let mut rng = rng(trial + 100);
        let d = ratings_with_nan_holes(&mut rng, 4, 5);
        let params = MeanOnly::init(&d, NORMAL, &mut rng).unwrap();
        let mut objective = MeanOnly::default().objective(&d, &params).unwrap();
        let check = check_gradient(&mut objective, params.as_slice(), STEP);
        assert!(check.max_error < TOLERANCE, "{check:?}");
    }
}

loss! {
    /// Two data matrices: a confidence weight per entry.
    pub struct Weighted {
        data D: [users, items],
        data W: [users, items],
        param P: [users, k],
        param Q: [k, items],
    }
    minimize sum(mask(D) * W * (D - P@Q)^2) + sum(P^2)
}

#[test]
fn two_data_matrices() {
    for trial in 0..TRIALS {
        let mut rng = rng(trial + 200);
        let d = ratings_with_nan_holes(&mut rng, 5, 3);
        let w = positive_matrix(&mut rng, 5, 3);
        let data = WeightedData { D: &d, W: &w };
        let params = Weighted::init(data, 2, NORMAL, &mut rng).unwrap();
        let mut objective = Weighted::default().objective(data, &params).unwrap();
        let check = check_gradient(&mut objective, params.as_slice(), STEP);
        assert!(check.max_error < TOLERANCE, "{check:?}");
    }
}

/// The seed loss's gradient, derived by hand:
/// ∂L/∂P = -2 (M∘(D - PQ)) Qᵀ + β P/‖P‖, ∂L/∂Q = -2 Pᵀ (M∘(D - PQ)) + β Q/‖Q‖.
#[test]
fn seed_gradient_equals_the_hand_derived_one() {
    let mut rng = rng(5);
    let d = ratings_with_nan_holes(&mut rng, 6, 5);
    let params = Seed::init(&d, 3, UNIFORM, &mut rng).unwrap();
    let loss = Seed { beta: 0.7 };
    let mut objective = loss.objective(&d, &params).unwrap();
    let mut grad = vec![0.0; objective.num_params()];
    let value = objective.value_and_gradient(params.as_slice(), &mut grad);

    let (p, q) = (params.P(), params.Q());
    let residual = ndarray::Zip::from(&d.values())
        .and(&d.observed())
        .and(&p.dot(&q))
        .map_collect(|&v, &seen, &pq| if seen { v - pq } else { 0.0 });
    let norm = |m: ndarray::ArrayView2<f64>| m.iter().map(|x| x * x).sum::<f64>().sqrt();
    let expected_value =
        residual.iter().map(|r| r * r).sum::<f64>() + loss.beta * (norm(p) + norm(q));
    let grad_p = residual.dot(&q.t()) * -2.0 + &p * (loss.beta / norm(p));
    let grad_q = p.t().dot(&residual) * -2.0 + &q * (loss.beta / norm(q));
    let expected: Vec<f64> = grad_p.iter().chain(grad_q.iter()).copied().collect();

    assert!((value - expected_value).abs() <= 1e-12 * expected_value);
    for (got, want) in grad.iter().zip(&expected) {
        assert!(
            (got - want).abs() <= 1e-12 * want.abs().max(1.0),
            "{got} vs {want}"
        );
    }
}

#[test]
fn missing_cells_never_reach_the_loss_or_the_gradient() {
    let mut rng = rng(9);
    let mut d = ratings_with_nan_holes(&mut rng, 5, 4);
    let params = Biased::init(&d, 2, NORMAL, &mut rng).unwrap();
    let run = |d: &mf_runtime::MaskedMatrix| {
        let mut objective = Biased::default().objective(d, &params).unwrap();
        let mut grad = vec![0.0; objective.num_params()];
        let value = objective.value_and_gradient(params.as_slice(), &mut grad);
        (value, grad)
    };
    let (value, grad) = run(&d);
    assert!(value.is_finite() && grad.iter().all(|g| g.is_finite()));
    // Other garbage in the same holes changes nothing, bit for bit.
    let observed = d.observed().to_owned();
    let mut values = d.values().to_owned();
    values.zip_mut_with(&observed, |v, &seen| {
        if !seen {
            *v = 1e300
        }
    });
    d = mf_runtime::MaskedMatrix::new(values, observed).unwrap();
    assert_eq!(run(&d), (value, grad));
}

#[test]
fn squared_norm_is_the_sum_of_squares() {
    let mut rng = rng(11);
    let d = ratings_with_nan_holes(&mut rng, 4, 4);
    let params = SquaredL2::init(&d, 2, NORMAL, &mut rng).unwrap();
    let value = SquaredL2 { beta: 0.0 }
        .objective(&d, &params)
        .unwrap()
        .value(params.as_slice());
    let penalty = SquaredL2 { beta: 1.0 }
        .objective(&d, &params)
        .unwrap()
        .value(params.as_slice())
        - value;
    let squares: f64 = params.as_slice().iter().map(|x| x * x).sum();
    assert!((penalty - squares).abs() < 1e-10 * squares);
}

loss! {
    /// Logistic-style and saturating functions under the mask.
    pub struct Saturating {
        data D: [users, items],
        param P: [users, k],
        param Q: [k, items],
    }
    minimize sum(mask * (softplus(P@Q - D) + sigmoid(P@Q) ^ 2 + tanh(D - P@Q) ^ 2 + log1p((D - P@Q)^2)))
        + 0.1 * sum(softplus(-P))
}

loss! {
    /// Piecewise functions: the trial points avoid their kinks (a random
    /// value lands on a kink with probability 0).
    pub struct Piecewise {
        data D: [users, items],
        param P: [users, k],
        param Q: [k, items],
    }
    minimize sum(mask * huber(D - P@Q, 1.0)) + sum(relu(P)^2) + sum(max(Q, 0.2)^2)
}

loss! {
    /// `Piecewise` with its thresholds as hyper-settings.
    pub struct PiecewiseTuned {
        data D: [users, items],
        param P: [users, k],
        param Q: [k, items],
        hyper delta: f64 = 1.0,
        hyper floor: f64 = 0.2,
    }
    minimize sum(mask * huber(D - P@Q, delta)) + sum(relu(P)^2) + sum(max(Q, floor)^2)
}

loss! {
    /// Weighted-λ (ALS-WR) penalty: λ Σᵤ nᵤ ‖pᵤ‖² + λ Σᵢ nᵢ ‖qᵢ‖².
    pub struct WeightedLambda {
        data D: [users, items],
        param P: [users, k],
        param Q: [k, items],
        hyper lambda: f64 = 0.05,
    }
    minimize sum(mask * (D - P@Q)^2) + lambda * (sum(count_rows(D) * P^2) + sum(count_cols(D) * Q^2))
}

#[test]
fn sigmoid_softplus_tanh_log1p() {
    check_loss!(Saturating, NORMAL);
}

#[test]
fn huber_relu_and_max() {
    check_loss!(Piecewise, NORMAL);
}

#[test]
fn huber_and_max_thresholds_as_hyper_settings() {
    check_loss!(PiecewiseTuned, NORMAL);
    // At the constants of `Piecewise`, the same value and gradient.
    let mut rng = rng(33);
    let d = ratings_with_nan_holes(&mut rng, 6, 5);
    let params = Piecewise::init(&d, 3, NORMAL, &mut common::rng(34)).unwrap();
    let tuned_params = PiecewiseTuned::init(&d, 3, NORMAL, &mut common::rng(34)).unwrap();
    let x = params.as_slice();
    assert_eq!(x, tuned_params.as_slice());
    let (mut fixed_grad, mut tuned_grad) = (vec![0.0; x.len()], vec![0.0; x.len()]);
    let fixed = Piecewise::default()
        .objective(&d, &params)
        .unwrap()
        .value_and_gradient(x, &mut fixed_grad);
    let tuned = PiecewiseTuned::default()
        .objective(&d, &tuned_params)
        .unwrap()
        .value_and_gradient(x, &mut tuned_grad);
    assert!(
        (fixed - tuned).abs() < 1e-12 * fixed.abs(),
        "{fixed} vs {tuned}"
    );
    for (a, b) in fixed_grad.iter().zip(&tuned_grad) {
        assert!((a - b).abs() < 1e-12 * (1.0 + a.abs()), "{a} vs {b}");
    }
    // A larger threshold moves residuals from the linear to the quadratic
    // branch: the loss grows with delta when every residual is large.
    let value = |delta: f64| {
        PiecewiseTuned { delta, floor: 0.2 }
            .objective(&d, &tuned_params)
            .unwrap()
            .value(x)
    };
    assert!(value(2.0) > value(1.0) && value(1.0) > value(0.5));
}

#[test]
fn per_row_and_per_column_counts() {
    check_loss!(WeightedLambda, NORMAL);
}

#[test]
fn counts_are_the_observations_per_row_and_column() {
    let mut rng = rng(21);
    let d = ratings_with_nan_holes(&mut rng, 5, 4);
    let params = WeightedLambda::init(&d, 2, NORMAL, &mut rng).unwrap();
    let value = |lambda: f64| {
        let mut objective = WeightedLambda { lambda }.objective(&d, &params).unwrap();
        objective.value(params.as_slice())
    };
    let penalty = value(1.0) - value(0.0);
    let (p, q) = (params.P(), params.Q());
    let mut expected = 0.0;
    for u in 0..5 {
        let n = (0..4).filter(|&i| d.is_observed(u, i)).count() as f64;
        expected += n * p.row(u).iter().map(|x| x * x).sum::<f64>();
    }
    for i in 0..4 {
        let n = (0..5).filter(|&u| d.is_observed(u, i)).count() as f64;
        expected += n * q.column(i).iter().map(|x| x * x).sum::<f64>();
    }
    assert!(
        (penalty - expected).abs() < 1e-10 * expected.max(1.0),
        "{penalty} vs {expected}"
    );
}
