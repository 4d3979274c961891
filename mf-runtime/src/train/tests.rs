//! Tests of the training loop: stopping rules, history, validation,
//! callbacks and divergence.

use super::history::CSV_HEADER;
use super::*;
use crate::optim::test_problems::{Counting, Quadratic, Rosenbrock};
use crate::optim::NonFinite;
use crate::{Adam, Backtracking, GradientDescent, Lbfgs, Nesterov};

/// `f(x) = x²` in one dimension.
fn square() -> Quadratic {
    Quadratic {
        a: vec![2.0],
        c: vec![0.0],
    }
}

#[test]
fn divergence_is_an_error_that_keeps_the_last_finite_parameters() {
    // α = 1.5 on x²: x ← x − 3x = −2x, so x_k = (−2)^k exactly, and the
    // loss 4^k overflows to +inf at step 512.
    let mut x = [1.0];
    let err = GradientDescent::new(1.5)
        .train()
        .max_iters(10_000)
        .progress(false)
        .minimize(&mut square(), &mut x)
        .unwrap_err();
    let TrainError::Diverged {
        method,
        step,
        what,
        last_finite_loss,
        ref hint,
    } = err
    else {
        panic!("expected divergence, got {err}");
    };
    assert_eq!(method, "gradient descent");
    assert_eq!(step, 512);
    assert_eq!(
        what,
        NonFinite::Loss {
            value: f64::INFINITY
        }
    );
    assert_eq!(last_finite_loss, 2f64.powi(1022));
    assert_eq!(
        x,
        [-(2f64.powi(511))],
        "x keeps step 511, the last finite one"
    );
    assert!(hint.contains("smaller learning rate than 1.5"));
    let message = err.to_string();
    for part in [
        "diverged at step 512",
        "the loss is inf",
        "step 511",
        "smaller learning rate",
    ] {
        assert!(message.contains(part), "{message:?} lacks {part:?}");
    }
}

#[test]
fn a_nan_gradient_is_divergence_too() {
    /// Finite loss, NaN gradient once x leaves [−10, 10].
    struct NanGrad;
    impl Objective for NanGrad {
        fn num_params(&self) -> usize {
            1
        }
        fn value(&mut self, x: &[f64]) -> f64 {
            x[0] * x[0]
        }
        fn value_and_gradient(&mut self, x: &[f64], g: &mut [f64]) -> f64 {
            g[0] = if x[0].abs() > 10.0 {
                f64::NAN
            } else {
                2.0 * x[0]
            };
            self.value(x)
        }
    }
    let mut x = [1.0];
    let err = Nesterov::new(1.5)
        .momentum(0.5)
        .train()
        .progress(false)
        .minimize(&mut NanGrad, &mut x)
        .unwrap_err();
    match err {
        TrainError::Diverged { what, .. } => {
            assert!(matches!(what, NonFinite::Gradient { index: 0, value } if value.is_nan()))
        }
        other => panic!("{other}"),
    }
    assert!(x[0].abs() <= 10.0 && x[0].is_finite());
    assert!(err.to_string().contains("less momentum"));
}

#[test]
fn a_non_finite_start_is_reported() {
    let mut x = [f64::NAN];
    let err = Adam::default().minimize(&mut square(), &mut x).unwrap_err();
    assert!(matches!(err, TrainError::NonFiniteStart { .. }), "{err}");
}

#[test]
fn early_stopping_restores_the_best_parameters() {
    // α = 0.25 on x²: x_k = 10 · 2^(−k) exactly; the validation metric
    // |x − 2.5| is lowest (0) at step 2.
    let mut x = [10.0];
    let report = GradientDescent::new(0.25)
        .train()
        .validation(|x: &[f64]| (x[0] - 2.5).abs())
        .patience(3)
        .progress(false)
        .minimize(&mut square(), &mut x)
        .unwrap();
    assert_eq!(report.stop, StopReason::EarlyStopping);
    assert_eq!(
        report.iterations, 5,
        "three checks without improvement after step 2"
    );
    assert_eq!(x, [2.5]);
    assert_eq!(
        report.best,
        Some(Best {
            step: 2,
            validation: 0.0,
            loss: 6.25
        })
    );
    assert_eq!((report.loss, report.grad_norm), (6.25, 5.0));
    let validations: Vec<_> = report
        .history
        .records()
        .iter()
        .map(|r| r.validation)
        .collect();
    assert_eq!(
        validations,
        [7.5, 2.5, 0.0, 1.25, 1.875, 2.1875].map(Some),
        "validation on every step"
    );
}

#[test]
fn restore_best_can_be_turned_off() {
    let mut x = [10.0];
    let report = GradientDescent::new(0.25)
        .train()
        .max_iters(4)
        .validation(|x: &[f64]| (x[0] - 2.5).abs())
        .restore_best(false)
        .progress(false)
        .minimize(&mut square(), &mut x)
        .unwrap();
    assert_eq!((report.stop, x), (StopReason::MaxIters, [0.625]));
    assert_eq!(report.best.map(|b| b.step), Some(2));
}

#[test]
fn no_optimizer_calls_value_or_gradient_separately() {
    fn check<M: Minimizer>(method: M) {
        let name = method.name();
        let mut counted = Counting::new(Rosenbrock);
        let mut x = Rosenbrock::START.to_vec();
        let report = method
            .train()
            .max_iters(200)
            .progress(false)
            .minimize(&mut counted, &mut x)
            .unwrap();
        assert_eq!(counted.value_calls, 0, "{name} called value");
        assert_eq!(counted.gradient_calls, 0, "{name} called gradient");
        assert_eq!(
            counted.value_and_gradient_calls, report.evaluations,
            "{name}: the report counts every evaluation"
        );
        assert!(report.evaluations > report.iterations, "{name}");
        assert_eq!(
            report.history.records().last().unwrap().evaluations,
            report.evaluations
        );
    }
    check(GradientDescent::new(1e-3));
    check(Backtracking::default());
    check(Nesterov::new(1e-4));
    check(Adam::new(0.01));
    check(Lbfgs::default());
}

#[test]
fn runs_are_bit_identical() {
    fn twice<M: Minimizer + Clone>(method: M) {
        let run = || {
            let mut x = Rosenbrock::START.to_vec();
            let report = method
                .clone()
                .train()
                .max_iters(300)
                .progress(false)
                .minimize(&mut Rosenbrock, &mut x)
                .unwrap();
            let losses: Vec<u64> = report
                .history
                .records()
                .iter()
                .map(|r| r.loss.to_bits())
                .collect();
            (x.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), losses)
        };
        assert_eq!(run(), run(), "{}", method.name());
    }
    twice(GradientDescent::new(1e-3));
    twice(Backtracking::default());
    twice(Nesterov::new(1e-4));
    twice(Adam::new(0.01));
    twice(Lbfgs::default());
}

#[test]
fn stops_on_the_gradient_norm() {
    let mut q = Quadratic::small();
    let mut x = vec![0.0; 4];
    let report = GradientDescent::new(0.15)
        .train()
        .tol_grad(1e-3)
        .tol_rel_loss(0.0)
        .progress(false)
        .minimize(&mut q, &mut x)
        .unwrap();
    assert_eq!(report.stop, StopReason::GradientNorm);
    assert!(report.grad_norm <= 1e-3);
    let norms: Vec<f64> = report
        .history
        .records()
        .iter()
        .map(|r| r.grad_norm)
        .collect();
    assert!(
        norms[..norms.len() - 1].iter().all(|&g| g > 1e-3),
        "stopped at the first one"
    );
}

#[test]
fn stops_on_the_relative_loss_change() {
    let mut q = Quadratic::small();
    let mut x = vec![0.0; 4];
    let report = GradientDescent::new(0.01)
        .train()
        .tol_rel_loss(1e-3)
        .max_iters(100_000)
        .progress(false)
        .minimize(&mut q, &mut x)
        .unwrap();
    assert_eq!(report.stop, StopReason::LossChange);
    let r = report.history.records();
    let (prev, last) = (r[r.len() - 2].loss, r[r.len() - 1].loss);
    assert!((prev - last).abs() <= 1e-3 * prev);
    let (before, prev) = (r[r.len() - 3].loss, r[r.len() - 2].loss);
    assert!(
        (before - prev).abs() > 1e-3 * before,
        "stopped at the first such step"
    );
}

#[test]
fn stops_on_max_iters() {
    let mut x = vec![0.0; 4];
    let report = Adam::default()
        .train()
        .max_iters(7)
        .progress(false)
        .minimize(&mut Quadratic::small(), &mut x)
        .unwrap();
    assert_eq!((report.stop, report.iterations), (StopReason::MaxIters, 7));
    assert_eq!(report.history.records().len(), 8);
}

#[test]
fn stops_on_the_time_limit() {
    /// x², sleeping 2 ms per evaluation.
    struct Slow;
    impl Objective for Slow {
        fn num_params(&self) -> usize {
            1
        }
        fn value(&mut self, x: &[f64]) -> f64 {
            x[0] * x[0]
        }
        fn value_and_gradient(&mut self, x: &[f64], g: &mut [f64]) -> f64 {
            std::thread::sleep(Duration::from_millis(2));
            g[0] = 2.0 * x[0];
            x[0] * x[0]
        }
    }
    let mut x = [1.0];
    let report = GradientDescent::new(1e-6)
        .train()
        .max_iters(1_000_000)
        .time_limit(Duration::from_millis(30))
        .progress(false)
        .minimize(&mut Slow, &mut x)
        .unwrap();
    assert_eq!(report.stop, StopReason::TimeLimit);
    assert!(report.elapsed >= Duration::from_millis(30));
    // Every evaluation sleeps 2 ms, so 30 ms hold at most 15 and the one
    // that crosses the limit; a loaded machine may fit fewer, even none.
    assert!(report.iterations <= 16, "{}", report.iterations);
}

#[test]
fn the_callback_sees_each_record_and_can_stop() {
    let mut seen = Vec::new();
    let mut x = vec![0.0; 4];
    let report = GradientDescent::new(0.01)
        .train()
        .record_every(3)
        .callback(|r| {
            seen.push(r.step);
            if r.step >= 9 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .progress(false)
        .minimize(&mut Quadratic::small(), &mut x)
        .unwrap();
    assert_eq!(report.stop, StopReason::Callback);
    assert_eq!(seen, [0, 3, 6, 9]);
    let steps: Vec<_> = report.history.records().iter().map(|r| r.step).collect();
    assert_eq!(steps, [0, 3, 6, 9]);
}

#[test]
fn metrics_every_n_steps_and_the_last_step_is_recorded() {
    let mut x = vec![0.0; 4];
    let report = GradientDescent::new(0.01)
        .train()
        .max_iters(10)
        .record_every(100)
        .metrics_every(4)
        .train_metric(|x: &[f64]| x[0])
        .progress(false)
        .minimize(&mut Quadratic::small(), &mut x)
        .unwrap();
    let rows: Vec<_> = report
        .history
        .records()
        .iter()
        .map(|r| (r.step, r.train_metric.is_some(), r.validation))
        .collect();
    assert_eq!(
        rows,
        [
            (0, true, None),
            (4, true, None),
            (8, true, None),
            (10, false, None)
        ]
    );
}

#[test]
fn csv_round_trips_and_has_the_documented_format() {
    let mut x = vec![0.0; 4];
    let report = GradientDescent::new(0.05)
        .train()
        .max_iters(20)
        .metrics_every(5)
        .validation(|x: &[f64]| x[1].abs() / 3.0)
        .train_metric(|x: &[f64]| x[0] / 7.0)
        .progress(false)
        .minimize(&mut Quadratic::small(), &mut x)
        .unwrap();
    let mut bytes = Vec::new();
    report.history.write_csv(&mut bytes).unwrap();
    let text = String::from_utf8(bytes).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], CSV_HEADER);
    assert_eq!(lines.len(), 22);
    assert!(lines[1].starts_with("0,") && lines[1].matches(',').count() == 6);
    assert!(
        lines[2].ends_with(",,"),
        "no metrics at step 1: {}",
        lines[2]
    );
    assert_eq!(History::read_csv(text.as_bytes()).unwrap(), report.history);

    let path = std::env::temp_dir().join(format!("mf-history-{}.csv", std::process::id()));
    report.history.save_csv(&path).unwrap();
    let file = io::BufReader::new(std::fs::File::open(&path).unwrap());
    assert_eq!(History::read_csv(file).unwrap(), report.history);
    std::fs::remove_file(&path).unwrap();

    assert!(History::read_csv("step,loss\n".as_bytes()).is_err());
    let bad = format!("{CSV_HEADER}\n1,2,3\n");
    let err = History::read_csv(bad.as_bytes()).unwrap_err();
    assert!(err.to_string().contains("line 2"), "{err}");
}

#[test]
fn projected_methods_reach_the_constrained_minimum() {
    // Unconstrained minimum (1, −2, 3, 0.5); with x ≥ 0: (1, 0, 3, 0.5).
    let constrained = [1.0, 0.0, 3.0, 0.5];
    fn check<M: Minimizer>(method: M, max_iters: usize, tol: f64, expected: &[f64]) {
        let name = method.name();
        let mut x = vec![-5.0; 4];
        method
            .train()
            .max_iters(max_iters)
            // The clamped x₁ adds a constant 4 to the loss, so the loss stops
            // changing in f64 once the others are within ~1e-7 of the minimum.
            .tol_rel_loss(0.0)
            .nonnegative(NonNegative::all())
            .progress(false)
            .minimize(&mut Quadratic::small(), &mut x)
            .unwrap();
        for (v, e) in x.iter().zip(expected) {
            assert!((v - e).abs() < tol, "{name}: {x:?}");
        }
    }
    check(GradientDescent::new(0.1), 1000, 1e-6, &constrained);
    check(Backtracking::default(), 1000, 1e-6, &constrained);
    check(Nesterov::new(0.05), 1000, 1e-6, &constrained);
    check(Adam::new(0.05), 3000, 1e-3, &constrained);

    // Only some ranges: x₁ is free and reaches −2, x₀ starts at −5 and is clamped.
    let mut x = vec![-5.0; 4];
    GradientDescent::new(0.1)
        .train()
        .nonnegative(NonNegative::ranges([0..1, 3..4]))
        .progress(false)
        .minimize(&mut Quadratic::small(), &mut x)
        .unwrap();
    assert!(Quadratic::small().distance_to_minimum(&x) < 1e-9, "{x:?}");
}

#[test]
fn projection_errors() {
    let mut x = vec![0.0; 4];
    let err = Lbfgs::default()
        .train()
        .nonnegative(NonNegative::all())
        .minimize(&mut Quadratic::small(), &mut x)
        .unwrap_err();
    assert!(
        matches!(err, TrainError::ProjectionUnsupported { method: "L-BFGS" }),
        "{err}"
    );
    let err = Adam::default()
        .train()
        .nonnegative(NonNegative::range(2..5))
        .minimize(&mut Quadratic::small(), &mut x)
        .unwrap_err();
    assert!(
        matches!(
            err,
            TrainError::ProjectionOutOfRange {
                start: 2,
                end: 5,
                len: 4
            }
        ),
        "{err}"
    );
}
