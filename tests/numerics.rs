//! Numerical edge cases: what the generated losses and the training loop do
//! at the points where arithmetic goes wrong. Each test is named in the
//! "Numerical edge cases" list of `docs/correctness.md`.

mod common;

use common::{ratings_with_nan_holes, rng};
use mf_runtime::{
    loss, Adam, Backtracking, GradientDescent, Init, Lbfgs, MaskedMatrix, Minimizer, Nesterov,
    Objective, Ratings, StopReason, TrainError,
};
use ndarray::{Array2, ArrayView2};

const UNIFORM: Init = Init::Uniform {
    low: 0.2,
    high: 1.5,
};

loss! {
    /// The design card's loss: a norm, not squared, in the penalty.
    pub struct Seed {
        data D: [users, items],
        param P: [users, k],
        param Q: [k, items],
        hyper beta: f64 = 0.02,
    }
    minimize sum(mask * (D - P@Q)^2) + beta*(norm(P)+norm(Q))
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

loss! {
    /// Squared penalties; beta = 0.25 makes the penalty's gradient 0.5 P,
    /// exact in floating point whatever the order of the products.
    pub struct Ridge {
        data D: [users, items],
        param P: [users, k],
        param Q: [k, items],
        hyper beta: f64 = 0.25,
    }
    minimize sum(mask * (D - P@Q)^2) + beta * (norm(P)^2 + norm(Q)^2)
}

loss! {
    pub struct SparseRidge {
        data D: sparse[users, items],
        param P: [users, k],
        param Q: [k, items],
        hyper beta: f64 = 0.25,
    }
    minimize sum(mask * (D - P@Q)^2) + beta * (norm(P)^2 + norm(Q)^2)
}

loss! {
    /// `log` of data and of params.
    pub struct LogRatio {
        data D: [users, items],
        param P: [users, k],
        param Q: [k, items],
    }
    minimize sum(mask * (log(D) - log(P@Q))^2)
}

loss! {
    /// `sqrt` of a param.
    pub struct SqrtPenalty {
        data D: [users, items],
        param P: [users, k],
        param Q: [k, items],
    }
    minimize sum(mask * (D - P@Q)^2) + 0.1 * sum(sqrt(P))
}

loss! {
    /// `exp` of the model: overflows past 709.78.
    pub struct ExpModel {
        data D: [users, items],
        param P: [users, k],
        param Q: [k, items],
    }
    minimize sum(mask * (D - exp(P@Q))^2)
}

loss! {
    /// The overflow-safe forms.
    pub struct Saturating {
        data D: [users, items],
        param P: [users, k],
        param Q: [k, items],
    }
    minimize sum(mask * (softplus(P@Q - D) + sigmoid(P@Q) + log1p(exp(-(P@Q)^2))))
}

/// `$loss`'s params for `$data` holding the values of `from` (another
/// loss's params of the same layout).
macro_rules! same_values {
    ($loss:ty, $data:expr, $k:expr, $from:expr) => {{
        let mut p = <$loss>::init($data, $k, Init::Zeros, &mut rng(0)).unwrap();
        p.as_mut_slice().copy_from_slice($from.as_slice());
        p
    }};
}

fn value_and_gradient(objective: &mut impl Objective, x: &[f64]) -> (f64, Vec<f64>) {
    let mut grad = vec![0.0; objective.num_params()];
    let value = objective.value_and_gradient(x, &mut grad);
    (value, grad)
}

fn all_finite(x: &[f64]) -> bool {
    x.iter().all(|v| v.is_finite())
}

/// Bits of a slice, for exact comparisons that also tell -0 from 0.
fn bits(x: &[f64]) -> Vec<u64> {
    x.iter().map(|v| v.to_bits()).collect()
}

/// Trains with `method()` from `x0`, expects a divergence, and checks that
/// the parameters left behind are finite and are exactly those of the step
/// before (a rerun stopped there gives the same bits and the same loss).
fn diverges_keeping_the_last_finite_step<M: Minimizer>(
    method: impl Fn() -> M,
    objective: &mut impl Objective,
    x0: &[f64],
) -> String {
    let mut x = x0.to_vec();
    let result = method()
        .train()
        .max_iters(1000)
        .progress(false)
        .minimize(objective, &mut x);
    let err = match result {
        Err(err) => err,
        Ok(report) => panic!("expected a divergence, got {report:?}"),
    };
    let TrainError::Diverged {
        step,
        last_finite_loss,
        ..
    } = err
    else {
        panic!("expected a divergence, got {err}");
    };
    assert!(all_finite(&x), "{x:?}");
    assert!(last_finite_loss.is_finite());
    let mut rerun = x0.to_vec();
    let report = method()
        .train()
        .max_iters(step - 1)
        .progress(false)
        .minimize(objective, &mut rerun)
        .unwrap();
    assert_eq!(report.iterations, step - 1);
    assert_eq!(
        bits(&rerun),
        bits(&x),
        "not the parameters of step {}",
        step - 1
    );
    assert_eq!(report.loss.to_bits(), last_finite_loss.to_bits());
    err.to_string()
}

/// -2 (M∘(D - P Q)) Qᵀ, the data part of ∂L/∂P of the seed loss.
fn data_gradient_p(d: &MaskedMatrix, p: ArrayView2<f64>, q: ArrayView2<f64>) -> Array2<f64> {
    let residual = ndarray::Zip::from(&d.values())
        .and(&d.observed())
        .and(&p.dot(&q))
        .map_collect(|&v, &seen, &pq| if seen { v - pq } else { 0.0 });
    residual.dot(&q.t()) * -2.0
}

#[test]
fn norm_at_zero_has_a_zero_subgradient() {
    let mut r = rng(1);
    let d = ratings_with_nan_holes(&mut r, 5, 4);
    let mut params = Seed::init(&d, 2, UNIFORM, &mut r).unwrap();
    params.P_mut().fill(0.0);
    let loss = Seed { beta: 0.5 };
    let mut objective = loss.objective(&d, &params).unwrap();
    let (value, grad) = value_and_gradient(&mut objective, params.as_slice());
    assert!(value.is_finite() && all_finite(&grad), "{value} {grad:?}");
    // ∂L/∂P is the data part alone: β P/‖P‖ is taken as 0 at P = 0.
    let (p, q) = (params.P(), params.Q());
    let q_norm = q.iter().map(|x| x * x).sum::<f64>().sqrt();
    let expected_p = data_gradient_p(&d, p, q);
    let expected_q = &q * (loss.beta / q_norm); // Pᵀ(…) is 0 at P = 0
    let expected: Vec<f64> = expected_p
        .iter()
        .chain(expected_q.iter())
        .copied()
        .collect();
    for (got, want) in grad.iter().zip(&expected) {
        assert!(
            (got - want).abs() <= 1e-12 * want.abs().max(1.0),
            "{got} vs {want}"
        );
    }
    // Training away from P = 0 works.
    let mut x = params.as_slice().to_vec();
    let report = GradientDescent::new(0.01)
        .train()
        .max_iters(200)
        .progress(false)
        .minimize(&mut objective, &mut x)
        .unwrap();
    assert!(report.loss < value && all_finite(&x));

    // The same through the sparse lowering.
    let sparse = Ratings::from_masked(&d).unwrap();
    let sparse_params = same_values!(SparseSeed, &sparse, 2, params);
    let mut objective = SparseSeed { beta: 0.5 }
        .objective(&sparse, &sparse_params)
        .unwrap();
    let (sparse_value, sparse_grad) = value_and_gradient(&mut objective, params.as_slice());
    assert!((sparse_value - value).abs() <= 1e-12 * value);
    for (a, b) in sparse_grad.iter().zip(&grad) {
        assert!((a - b).abs() <= 1e-12 * b.abs().max(1.0), "{a} vs {b}");
    }
}

/// All-zero factors are a stationary point of the seed loss: the gradient is
/// exactly 0, so training stops at once (initialise away from 0).
#[test]
fn all_zero_factors_are_a_stationary_point() {
    let mut r = rng(2);
    let d = ratings_with_nan_holes(&mut r, 4, 6);
    let params = Seed::init(&d, 3, Init::Zeros, &mut r).unwrap();
    let mut objective = Seed::default().objective(&d, &params).unwrap();
    let (value, grad) = value_and_gradient(&mut objective, params.as_slice());
    let squares: f64 = d
        .values()
        .iter()
        .zip(d.observed())
        .filter(|(_, seen)| **seen)
        .map(|(v, _)| v * v)
        .sum();
    assert_eq!(value, squares);
    assert!(grad.iter().all(|&g| g == 0.0), "{grad:?}");
    let mut x = params.as_slice().to_vec();
    let report = Lbfgs::default()
        .train()
        .progress(false)
        .minimize(&mut objective, &mut x)
        .unwrap();
    assert_eq!(
        (report.stop, report.iterations),
        (StopReason::GradientNorm, 0)
    );
}

#[test]
fn sqrt_at_zero_has_a_zero_derivative() {
    let mut r = rng(3);
    let d = ratings_with_nan_holes(&mut r, 4, 5);
    let mut params = SqrtPenalty::init(&d, 2, UNIFORM, &mut r).unwrap();
    params.P_mut().fill(0.0);
    let mut objective = SqrtPenalty::default().objective(&d, &params).unwrap();
    let (value, grad) = value_and_gradient(&mut objective, params.as_slice());
    assert!(value.is_finite() && all_finite(&grad));
    let expected_p = data_gradient_p(&d, params.P(), params.Q());
    for (got, want) in grad.iter().zip(expected_p.iter()) {
        assert!(
            (got - want).abs() <= 1e-12 * want.abs().max(1.0),
            "{got} vs {want}"
        );
    }
}

#[test]
fn log_of_non_positive_data_is_an_error_at_the_start() {
    let mut r = rng(4);
    let values = ndarray::array![[1.0, 2.0, 3.0], [4.0, 5.0, 1.5]];
    let good = MaskedMatrix::fully_observed(values.clone());
    let params = LogRatio::init(&good, 2, UNIFORM, &mut r).unwrap();
    let value_with = |d: &MaskedMatrix| {
        let mut objective = LogRatio::default().objective(d, &params).unwrap();
        value_and_gradient(&mut objective, params.as_slice())
    };
    assert!(value_with(&good).0.is_finite());

    // An observed 0: log(0) = -inf, so the loss is +inf.
    let mut zero = values.clone();
    zero[[1, 2]] = 0.0;
    let zero = MaskedMatrix::fully_observed(zero);
    assert_eq!(value_with(&zero).0, f64::INFINITY);
    // An observed negative rating: log(-1) = NaN.
    let mut negative = values.clone();
    negative[[0, 1]] = -1.0;
    let negative_observed = MaskedMatrix::fully_observed(negative.clone());
    assert!(value_with(&negative_observed).0.is_nan());
    // The same value in a missing cell is never read.
    let mut observed = Array2::from_elem((2, 3), true);
    observed[[0, 1]] = false;
    let negative_missing = MaskedMatrix::new(negative, observed).unwrap();
    let (value, grad) = value_with(&negative_missing);
    assert!(value.is_finite() && all_finite(&grad));

    // Training refuses to start, and leaves the parameters untouched.
    for d in [&zero, &negative_observed] {
        let mut objective = LogRatio::default().objective(d, &params).unwrap();
        let mut x = params.as_slice().to_vec();
        let err = GradientDescent::new(0.01)
            .train()
            .progress(false)
            .minimize(&mut objective, &mut x)
            .unwrap_err();
        assert!(matches!(err, TrainError::NonFiniteStart { .. }), "{err}");
        assert_eq!(bits(&x), bits(params.as_slice()));
    }
}

#[test]
fn log_and_sqrt_of_params_leaving_their_domain_stop_training() {
    let mut r = rng(5);
    let d = MaskedMatrix::fully_observed(Array2::from_shape_fn((4, 5), |(u, i)| {
        1.0 + ((u * 5 + i) % 4) as f64
    }));
    // log(P Q) at a point where P Q < 0: NaN.
    let params = LogRatio::init(&d, 2, UNIFORM, &mut r).unwrap();
    let mut objective = LogRatio::default().objective(&d, &params).unwrap();
    let mut flipped = params.as_slice().to_vec();
    let p_len = params.P().len();
    flipped[..p_len].iter_mut().for_each(|v| *v = -*v);
    assert!(objective.value(&flipped).is_nan());
    // A step that takes P Q below 0 stops the run at the step before.
    let msg = diverges_keeping_the_last_finite_step(
        || GradientDescent::new(10.0),
        &mut objective,
        params.as_slice(),
    );
    assert!(msg.contains("NaN"), "{msg}");

    // sqrt(P): its gradient pushes P towards 0 and past it.
    let params = SqrtPenalty::init(&d, 2, UNIFORM, &mut r).unwrap();
    let mut objective = SqrtPenalty::default().objective(&d, &params).unwrap();
    let msg = diverges_keeping_the_last_finite_step(
        || GradientDescent::new(1.0),
        &mut objective,
        params.as_slice(),
    );
    assert!(msg.contains("diverged"), "{msg}");
}

#[test]
fn exp_overflow_is_an_infinite_loss_and_stops_training() {
    let mut r = rng(6);
    let d = ratings_with_nan_holes(&mut r, 3, 4);
    let mut params = ExpModel::init(&d, 1, UNIFORM, &mut r).unwrap();
    let mut objective = ExpModel::default().objective(&d, &params).unwrap();
    assert!(objective.value(params.as_slice()).is_finite());
    // P Q = 900 > 709.78: exp overflows to +inf, and so does the loss.
    let big = vec![30.0; params.as_slice().len()];
    let (value, _) = value_and_gradient(&mut objective, &big);
    assert_eq!(value, f64::INFINITY);
    let mut x = big.clone();
    let err = Adam::new(0.1)
        .train()
        .progress(false)
        .minimize(&mut objective, &mut x)
        .unwrap_err();
    assert!(matches!(err, TrainError::NonFiniteStart { .. }), "{err}");
    assert_eq!(bits(&x), bits(&big));
    // During a run: a large step overshoots into overflow.
    params.as_mut_slice().fill(1.0);
    diverges_keeping_the_last_finite_step(
        || GradientDescent::new(1.0),
        &mut objective,
        params.as_slice(),
    );
}

#[test]
fn softplus_sigmoid_and_log1p_of_exp_do_not_overflow() {
    let mut r = rng(7);
    let d = ratings_with_nan_holes(&mut r, 3, 4);
    let mut params = Saturating::init(&d, 1, UNIFORM, &mut r).unwrap();
    let mut objective = Saturating::default().objective(&d, &params).unwrap();
    for scale in [30.0, -30.0] {
        // P Q = ±900 on every entry.
        params.P_mut().fill(scale);
        params.Q_mut().fill(30.0);
        let (value, grad) = value_and_gradient(&mut objective, params.as_slice());
        assert!(
            value.is_finite() && all_finite(&grad),
            "{scale}: {value} {grad:?}"
        );
    }
}

#[test]
fn huge_learning_rates_diverge_keeping_the_last_finite_parameters() {
    let mut r = rng(8);
    let d = ratings_with_nan_holes(&mut r, 6, 5);
    let params = Seed::init(&d, 2, UNIFORM, &mut r).unwrap();
    let mut objective = Seed::default().objective(&d, &params).unwrap();
    let x0 = params.as_slice();
    let msg =
        diverges_keeping_the_last_finite_step(|| GradientDescent::new(1e6), &mut objective, x0);
    assert!(msg.contains("learning rate"), "{msg}");
    let msg = diverges_keeping_the_last_finite_step(|| Nesterov::new(1e6), &mut objective, x0);
    assert!(msg.contains("learning rate"), "{msg}");
    // Adam's steps are bounded by its rate: 1e200 overflows P Q at once.
    let msg = diverges_keeping_the_last_finite_step(|| Adam::new(1e200), &mut objective, x0);
    assert!(msg.contains("learning rate"), "{msg}");
    // A line search shrinks a huge first step instead.
    let mut x = x0.to_vec();
    let start = objective.value(x0);
    let report = Backtracking::default()
        .initial_step(1e6)
        .train()
        .max_iters(50)
        .progress(false)
        .minimize(&mut objective, &mut x)
        .unwrap();
    assert!(report.loss < start && all_finite(&x), "{report:?}");
}

/// 6 users × 5 items with no rating for user 2 and item 3.
fn with_an_empty_row_and_column() -> (MaskedMatrix, Ratings) {
    let entries: Vec<(u32, u32, f64)> = (0..6u32)
        .flat_map(|u| (0..5u32).map(move |i| (u, i)))
        .filter(|&(u, i)| u != 2 && i != 3 && (u + i) % 3 != 0)
        .map(|(u, i)| (u, i, 1.0 + f64::from((u * 7 + i) % 5)))
        .collect();
    let mut values = Array2::from_elem((6, 5), f64::NAN);
    for &(u, i, v) in &entries {
        values[[u as usize, i as usize]] = v;
    }
    let dense = MaskedMatrix::nan_as_missing(values);
    let sparse = Ratings::from_triplets(6, 5, entries).unwrap();
    assert_eq!((sparse.num_users(), sparse.num_items()), (6, 5));
    (dense, sparse)
}

/// The gradient of an empty user's row (item's column) is exactly the
/// penalty's, 2 β P[u] = 0.5 P[u], bit for bit; both lowerings.
#[test]
fn empty_rows_and_columns_get_only_the_penalty_gradient() {
    let (dense, sparse) = with_an_empty_row_and_column();
    let mut r = rng(9);
    let params = Ridge::init(&dense, 3, UNIFORM, &mut r).unwrap();
    let (k, p_len) = (3, params.P().len());
    let check = |value: f64, grad: &[f64]| {
        assert!(value.is_finite() && all_finite(grad));
        let row: Vec<f64> = params.P().row(2).iter().map(|v| 0.5 * v).collect();
        assert_eq!(bits(&grad[2 * k..3 * k]), bits(&row));
        let col: Vec<f64> = params.Q().column(3).iter().map(|v| 0.5 * v).collect();
        let grad_col: Vec<f64> = (0..k).map(|j| grad[p_len + j * 5 + 3]).collect();
        assert_eq!(bits(&grad_col), bits(&col));
    };
    let mut d = Ridge::default().objective(&dense, &params).unwrap();
    let (value, grad) = value_and_gradient(&mut d, params.as_slice());
    check(value, &grad);
    let sparse_params = same_values!(SparseRidge, &sparse, k, params);
    let mut s = SparseRidge::default()
        .objective(&sparse, &sparse_params)
        .unwrap();
    let (sparse_value, sparse_grad) = value_and_gradient(&mut s, params.as_slice());
    check(sparse_value, &sparse_grad);

    // Training is unaffected: the empty row decays towards 0, nothing is NaN.
    for objective in [&mut d as &mut dyn Objective, &mut s] {
        let mut x = params.as_slice().to_vec();
        Lbfgs::default()
            .train()
            .max_iters(100)
            .progress(false)
            .minimize(objective, &mut x)
            .unwrap();
        assert!(all_finite(&x));
        assert!(x[2 * k..3 * k].iter().all(|v| v.abs() < 1e-4), "{x:?}");
    }

    // With the seed loss's unsquared norms too (β P[u] / ‖P‖), no NaN.
    let seed_params = same_values!(SparseSeed, &sparse, k, params);
    let mut seed = SparseSeed::default()
        .objective(&sparse, &seed_params)
        .unwrap();
    let (value, grad) = value_and_gradient(&mut seed, params.as_slice());
    assert!(value.is_finite() && all_finite(&grad));
}

#[test]
fn k_larger_than_the_matrix_works() {
    let (dense, sparse) = with_an_empty_row_and_column();
    let mut r = rng(10);
    for k in [6, 40] {
        let layout = Ridge::layout(&dense, k).unwrap();
        let shapes: Vec<_> = layout.blocks().iter().map(|b| (b.rows, b.cols)).collect();
        assert_eq!(shapes, [(6, k), (k, 5)]);
        let params = Ridge::init(&dense, k, UNIFORM, &mut r).unwrap();
        let mut d = Ridge { beta: 1e-3 }.objective(&dense, &params).unwrap();
        let sparse_params = same_values!(SparseRidge, &sparse, k, params);
        let mut s = SparseRidge { beta: 1e-3 }
            .objective(&sparse, &sparse_params)
            .unwrap();
        for objective in [&mut d as &mut dyn Objective, &mut s] {
            let mut x = params.as_slice().to_vec();
            let report = Lbfgs::default()
                .train()
                .max_iters(300)
                .progress(false)
                .minimize(objective, &mut x)
                .unwrap();
            assert!(all_finite(&x));
            // Enough capacity to fit every observed rating.
            assert!(report.loss < 0.05, "k = {k}: {report:?}");
        }
    }
}

loss! {
    /// A logistic baseline: user and item biases only.
    pub struct LogisticBaseline {
        data D: [users, items],
        param bu: [users, 1],
        param bi: [1, items],
    }
    minimize sum(mask * softplus(-D * (bu + bi)))
}

/// Regression: a saturating loss stays finite, with a zero gradient, at
/// infinite parameters; a huge rate used to end "converged" there, with
/// every bias infinite and a loss of 0. It is a divergence.
#[test]
fn infinite_parameters_at_a_finite_loss_are_a_divergence() {
    let d = MaskedMatrix::fully_observed(Array2::from_elem((2, 3), 1.0));
    let mut r = rng(11);
    let params = LogisticBaseline::init(&d, UNIFORM, &mut r).unwrap();
    let mut objective = LogisticBaseline::default().objective(&d, &params).unwrap();
    let msg = diverges_keeping_the_last_finite_step(
        || Adam::new(1e308),
        &mut objective,
        params.as_slice(),
    );
    assert!(msg.contains("parameter 0 is inf"), "{msg}");
    // The hint quotes the rate briefly.
    assert!(
        msg.contains("smaller learning rate than 1e308 (e.g. 1e307)"),
        "{msg}"
    );
    // At the start too.
    let mut x = params.as_slice().to_vec();
    x[0] = f64::INFINITY;
    let err = Adam::new(0.1)
        .train()
        .progress(false)
        .minimize(&mut objective, &mut x)
        .unwrap_err();
    assert!(matches!(err, TrainError::NonFiniteStart { .. }), "{err}");
}
