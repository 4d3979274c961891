//! Tests of L-BFGS: the direction against the textbook recursion, the
//! stored pairs, and convergence on problems with known minima.

use super::*;
use crate::optim::test_problems::{solve, Quadratic, Rosenbrock};
use crate::optim::vector::{norm, CHUNK};
use crate::{GradientDescent, StopReason};

fn plain_dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The two-loop recursion as in the textbook (N&W Alg. 7.4), one
/// operation per pass, sequential sums, on pairs `(s, y)` oldest first.
fn textbook_direction(pairs: &[(Vec<f64>, Vec<f64>)], grad: &[f64]) -> Vec<f64> {
    let mut q = grad.to_vec();
    let mut alphas = vec![0.0; pairs.len()];
    let rho = |(s, y): &(Vec<f64>, Vec<f64>)| 1.0 / plain_dot(s, y);
    for (i, p) in pairs.iter().enumerate().rev() {
        alphas[i] = rho(p) * plain_dot(&p.0, &q);
        q.iter_mut()
            .zip(&p.1)
            .for_each(|(q, y)| *q -= alphas[i] * y);
    }
    let (s, y) = pairs.last().expect("a pair");
    let gamma = plain_dot(s, y) / plain_dot(y, y);
    q.iter_mut().for_each(|q| *q *= gamma);
    for (i, p) in pairs.iter().enumerate() {
        let beta = rho(p) * plain_dot(&p.1, &q);
        q.iter_mut()
            .zip(&p.0)
            .for_each(|(q, s)| *q += (alphas[i] - beta) * s);
    }
    q.iter().map(|q| -q).collect()
}

/// A point of the quadratic `½ Σ aᵢ xᵢ²` (gradient `a ∘ x`), times `scale`.
fn point(a: &[f64], k: usize, scale: f64) -> Iterate {
    let x: Vec<f64> = (0..a.len())
        .map(|i| scale * (0.37 * i as f64 + 1.3 * k as f64).sin())
        .collect();
    let grad = x.iter().zip(a).map(|(x, a)| a * x).collect();
    Iterate { x, loss: 0.0, grad }
}

/// The direction by the compact form, on coefficients, is the textbook
/// two-loop recursion on the stored (rounded) pairs, up to round-off. Both
/// apply the same matrix to the same gradient; they differ in where the
/// `n`-term dot products are taken (once per pair of stored vectors, or
/// with the partly updated `q`), and in the order of the operations: two
/// triangular solves with `R = triu(SᵀY)` against two loops over the
/// pairs. Each dot product carries a relative error of at most `n u`
/// (`u = 2⁻⁵³`; with `n ≈ 25,000`, 3e-12, and far less with 8 running sums
/// per chunk), which the `m ≤ 10` steps of either computation pass on with
/// factors `‖sᵢ‖ ‖yᵢ‖ / sᵢᵀyᵢ` (the conditioning of `R`'s diagonal) that
/// the curvatures 1 to 17 of these quadratics keep below 17: 1e-10 of
/// `‖d‖` is above that bound with a margin, and far below any error of the
/// method (a wrong sign, pair, index or scale is an O(1) error).
#[test]
fn the_direction_is_the_textbook_two_loop_recursion() {
    for (memory, steps) in [(1, 3), (3, 2), (3, 6), (10, 12)] {
        for n in [5, 3 * CHUNK + 7] {
            // 1e-42 and 1e40: values outside f32's range, stored scaled.
            for scale in [1.0, 1e-42, 1e40] {
                let a: Vec<f64> = (0..n).map(|i| 1.0 + (i % 17) as f64).collect();
                let mut lbfgs = Lbfgs::default().memory(memory);
                lbfgs.start(n);
                for k in 0..steps {
                    lbfgs.history.remember(
                        &point(&a, k, scale),
                        &point(&a, k + 1, scale),
                        &mut |_| {},
                    );
                }
                let pairs = lbfgs.history.pairs();
                assert_eq!(pairs.len(), memory.min(steps));
                let grad = point(&a, steps, scale).grad;
                let want = textbook_direction(&pairs, &grad);
                assert!(lbfgs.history.grad_fresh());
                let slope = lbfgs.set_direction(&grad, &mut |_| {});
                let got = lbfgs.direction.clone();
                let tolerance = 1e-10 * norm(&want);
                for (g, w) in got.iter().zip(&want) {
                    assert!((g - w).abs() <= tolerance, "{g} vs {w}");
                }
                let want_slope = plain_dot(&want, &grad);
                assert!((slope - want_slope).abs() <= tolerance * norm(&grad));
                // Without the gradient's dot products from `remember`: the same bits.
                assert!(!lbfgs.history.grad_fresh());
                assert_eq!(
                    lbfgs.set_direction(&grad, &mut |_| {}).to_bits(),
                    slope.to_bits()
                );
                assert_eq!(lbfgs.direction, got);
            }
        }
    }
}

#[test]
fn the_stored_pairs_are_the_exact_ones_rounded_to_f32() {
    let n = 2 * CHUNK + 5;
    let a: Vec<f64> = (0..n).map(|i| 1.0 + (i % 17) as f64).collect();
    for scale in [1.0, 1e-42, 1e40, 1e-150, 1e150] {
        let (x0, x1) = (point(&a, 0, scale), point(&a, 1, scale));
        let mut lbfgs = Lbfgs::default().memory(2);
        lbfgs.start(n);
        lbfgs.history.remember(&x0, &x1, &mut |_| {});
        let pairs = lbfgs.history.pairs();
        let (s, y) = &pairs[0];
        for i in 0..n {
            let (s_exact, y_exact) = (x1.x[i] - x0.x[i], x1.grad[i] - x0.grad[i]);
            // Relative rounding of f32 (2⁻²⁴), the scale a power of two.
            assert!((s[i] - s_exact).abs() <= 6e-8 * s_exact.abs(), "{scale}");
            assert!((y[i] - y_exact).abs() <= 6e-8 * y_exact.abs(), "{scale}");
        }
        let [sigma_s, sigma_y] = lbfgs.history.newest_scales().expect("a pair");
        assert_eq!(sigma_s.log2().fract(), 0.0);
        assert_eq!(sigma_y.log2().fract(), 0.0);
    }
}

#[test]
fn a_pair_without_positive_curvature_is_skipped() {
    let it = |x: f64, g: f64| Iterate {
        x: vec![x, 0.0],
        loss: 0.0,
        grad: vec![g, 0.0],
    };
    let mut lbfgs = Lbfgs::default().memory(2);
    lbfgs.start(2);
    lbfgs
        .history
        .remember(&it(0.0, 0.0), &it(1.0, -1.0), &mut |_| {});
    assert!(lbfgs.history.is_empty());
    lbfgs
        .history
        .remember(&it(0.0, 0.0), &it(1.0, 2.0), &mut |_| {});
    assert_eq!(lbfgs.history.pairs().len(), 1);
    assert_eq!(lbfgs.history.newest_rho_gamma(), Some((0.5, 0.5)));
    // Along the pair, H = γ: the direction is −γ g.
    let slope = lbfgs.set_direction(&[4.0, 0.0], &mut |_| {});
    assert_eq!(
        (lbfgs.direction.as_slice(), slope),
        (&[-2.0, 0.0][..], -8.0)
    );
    // Memory full: a second pair is kept; a skipped third still drops the oldest.
    lbfgs
        .history
        .remember(&it(0.0, 0.0), &it(2.0, 2.0), &mut |_| {});
    assert_eq!(lbfgs.history.pairs().len(), 2);
    lbfgs
        .history
        .remember(&it(0.0, 0.0), &it(1.0, -1.0), &mut |_| {});
    assert_eq!(lbfgs.history.pairs(), [(vec![2.0, 0.0], vec![2.0, 0.0])]);
    assert_eq!(lbfgs.history.newest_rho_gamma(), Some((0.25, 1.0)));
}

#[test]
fn reaches_the_minimum_of_a_quadratic() {
    let mut q = Quadratic::small();
    let mut x = vec![0.0; 4];
    let report = solve(Lbfgs::default(), &mut q, &mut x, 100, 1e-12);
    assert_eq!(report.stop, StopReason::GradientNorm);
    assert!(q.distance_to_minimum(&x) < 1e-12, "{x:?}");
    assert!(report.iterations <= 20, "{} iterations", report.iterations);
}

#[test]
fn reaches_the_minimum_of_rosenbrock() {
    let mut x = Rosenbrock::START.to_vec();
    let report = solve(Lbfgs::default(), &mut Rosenbrock, &mut x, 200, 1e-10);
    assert_eq!(report.stop, StopReason::GradientNorm);
    assert!(
        (x[0] - 1.0).abs() < 1e-9 && (x[1] - 1.0).abs() < 1e-9,
        "{x:?}"
    );
    assert!(report.iterations <= 60, "{} iterations", report.iterations);
    assert!(
        report.evaluations <= 2 * report.iterations,
        "{} evaluations",
        report.evaluations
    );
}

#[test]
fn converges_in_few_iterations_on_an_ill_conditioned_quadratic() {
    // 10 curvatures log-spaced from 1 to 1e4; stop when the gradient
    // norm has dropped by 1e-8. Fixed-rate descent at its largest stable
    // rate needs ~45 000 steps for this (the reference Python textbook
    // L-BFGS with unit steps needs the same order as here, ~130).
    let mut q = Quadratic::ill_conditioned(10, 1e4);
    let mut g0 = vec![0.0; 10];
    q.value_and_gradient(&[0.0; 10], &mut g0);
    let tol = 1e-8 * norm(&g0);

    let mut x = vec![0.0; 10];
    let report = solve(Lbfgs::default(), &mut q, &mut x, 1000, tol);
    assert_eq!(report.stop, StopReason::GradientNorm);
    // ‖∇f‖ ≤ tol bounds the error by tol / min a = tol.
    assert!(q.distance_to_minimum(&x) <= tol, "{x:?}");
    assert!(report.iterations <= 200, "{} iterations", report.iterations);
    assert!(
        report.evaluations <= 250,
        "{} evaluations",
        report.evaluations
    );

    let mut x = vec![0.0; 10];
    let gd = solve(GradientDescent::new(1.9 / 1e4), &mut q, &mut x, 20_000, tol);
    assert_eq!(
        gd.stop,
        StopReason::MaxIters,
        "fixed-rate descent is 100× slower"
    );
}

#[test]
fn memory_one_still_converges() {
    let mut x = Rosenbrock::START.to_vec();
    let report = solve(
        Lbfgs::default().memory(1),
        &mut Rosenbrock,
        &mut x,
        1000,
        1e-8,
    );
    assert_eq!(report.stop, StopReason::GradientNorm);
    assert!((x[0] - 1.0).abs() < 1e-7, "{x:?}");
}
