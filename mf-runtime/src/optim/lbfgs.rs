//! L-BFGS with a strong-Wolfe line search.
//!
//! Written here rather than taken from `argmin`: argmin's L-BFGS and its
//! line searches ask the problem for the cost and the gradient through
//! separate calls (`CostFunction::cost`, `Gradient::gradient`), so every
//! trial point would cost two passes over the data instead of the single
//! fused `value_and_gradient` pass a generated loss provides; it also brings
//! its own state, observer and dependency tree, while this module is ~200
//! lines on top of the shared driver.

use std::collections::VecDeque;

use super::line_search::StrongWolfe;
use super::{dot, norm, Evaluator, Iterate, Minimizer, Step};
use crate::Objective;

/// One curvature pair: `s = x⁺ − x`, `y = ∇f(x⁺) − ∇f(x)`, `ρ = 1 / yᵀs`.
#[derive(Clone, Debug, PartialEq)]
struct Pair {
    s: Vec<f64>,
    y: Vec<f64>,
    rho: f64,
}

/// Limited-memory BFGS (Nocedal & Wright, Alg. 7.4 and 7.5) with a
/// strong-Wolfe line search (Alg. 3.5/3.6, cubic interpolation).
///
/// Keeps the last `m` curvature pairs (default 10); the first trial step is
/// 1 (the quasi-Newton step), or `1/‖∇f‖` when the memory is empty. A pair
/// whose curvature `yᵀs` is not positive is skipped; a direction that is not
/// a descent direction, or a line search that fails, resets the memory and
/// retries along the steepest descent before the run stops with
/// [`StopReason::LineSearchFailed`](crate::StopReason::LineSearchFailed).
///
/// **Projection is refused**: clamping a quasi-Newton step onto
/// `x ≥ 0` breaks the curvature pairs and can stall at points that are not
/// stationary, so [`Trainer::minimize`](crate::Trainer::minimize) returns
/// [`TrainError::ProjectionUnsupported`](crate::TrainError::ProjectionUnsupported)
/// for L-BFGS with a [`NonNegative`](crate::NonNegative) constraint (that
/// needs L-BFGS-B). Use [`Backtracking`](crate::Backtracking) or
/// [`Adam`](crate::Adam) for non-negative factors.
///
/// ```
/// use mf_runtime::{Lbfgs, Minimizer};
/// let lbfgs = Lbfgs::default().memory(5).wolfe(1e-4, 0.9).max_line_search_evals(30);
/// # let _ = lbfgs;
/// ```
#[derive(Clone, Debug)]
pub struct Lbfgs {
    memory: usize,
    search: StrongWolfe,
    /// Oldest pair first.
    pairs: VecDeque<Pair>,
    direction: Vec<f64>,
    alphas: Vec<f64>,
}

impl Default for Lbfgs {
    /// Memory 10, c1 = 1e-4, c2 = 0.9, 25 evaluations per line search.
    fn default() -> Self {
        Lbfgs {
            memory: 10,
            search: StrongWolfe::new(1e-4, 0.9, 25),
            pairs: VecDeque::new(),
            direction: Vec::new(),
            alphas: Vec::new(),
        }
    }
}

impl Lbfgs {
    /// Number of curvature pairs kept, at least 1 (default 10).
    ///
    /// ```
    /// # use mf_runtime::Lbfgs;
    /// let lbfgs = Lbfgs::default().memory(20);
    /// # let _ = lbfgs;
    /// ```
    pub fn memory(mut self, m: usize) -> Self {
        self.memory = m.max(1);
        self
    }

    /// Constants of the strong Wolfe conditions, `0 < c1 < c2 < 1`
    /// (default 1e-4 and 0.9).
    ///
    /// ```
    /// # use mf_runtime::Lbfgs;
    /// let lbfgs = Lbfgs::default().wolfe(1e-4, 0.5);
    /// # let _ = lbfgs;
    /// ```
    pub fn wolfe(mut self, c1: f64, c2: f64) -> Self {
        self.search.c1 = c1;
        self.search.c2 = c2;
        self
    }

    /// Evaluations allowed per line search (default 25).
    ///
    /// ```
    /// # use mf_runtime::Lbfgs;
    /// let lbfgs = Lbfgs::default().max_line_search_evals(40);
    /// # let _ = lbfgs;
    /// ```
    pub fn max_line_search_evals(mut self, n: usize) -> Self {
        self.search.max_evals = n.max(1);
        self
    }

    /// `direction = −H ∇f` by the two-loop recursion.
    fn set_direction(&mut self, grad: &[f64]) {
        let q = &mut self.direction;
        q.copy_from_slice(grad);
        for (i, pair) in self.pairs.iter().enumerate().rev() {
            let alpha = pair.rho * dot(&pair.s, q);
            self.alphas[i] = alpha;
            q.iter_mut().zip(&pair.y).for_each(|(q, y)| *q -= alpha * y);
        }
        if let Some(newest) = self.pairs.back() {
            // γ = sᵀy / yᵀy scales the initial Hessian approximation.
            let gamma = 1.0 / (newest.rho * dot(&newest.y, &newest.y));
            q.iter_mut().for_each(|q| *q *= gamma);
        }
        for (i, pair) in self.pairs.iter().enumerate() {
            let beta = pair.rho * dot(&pair.y, q);
            let alpha = self.alphas[i];
            q.iter_mut()
                .zip(&pair.s)
                .for_each(|(q, s)| *q += (alpha - beta) * s);
        }
        q.iter_mut().for_each(|q| *q = -*q);
    }

    fn set_steepest_descent(&mut self, grad: &[f64]) {
        self.pairs.clear();
        self.direction
            .iter_mut()
            .zip(grad)
            .for_each(|(d, g)| *d = -g);
    }

    /// Stores the pair of the accepted step, recycling the oldest buffers.
    fn remember(&mut self, current: &Iterate, next: &Iterate) {
        let mut pair = if self.pairs.len() == self.memory {
            self.pairs.pop_front().expect("memory is at least 1")
        } else {
            Pair {
                s: vec![0.0; current.x.len()],
                y: vec![0.0; current.x.len()],
                rho: 0.0,
            }
        };
        for (s, (new, old)) in pair.s.iter_mut().zip(next.x.iter().zip(&current.x)) {
            *s = new - old;
        }
        for (y, (new, old)) in pair.y.iter_mut().zip(next.grad.iter().zip(&current.grad)) {
            *y = new - old;
        }
        let sy = dot(&pair.s, &pair.y);
        if sy > f64::EPSILON * dot(&pair.y, &pair.y) {
            pair.rho = 1.0 / sy;
            self.pairs.push_back(pair);
        }
    }
}

impl Minimizer for Lbfgs {
    fn name(&self) -> &'static str {
        "L-BFGS"
    }

    fn start(&mut self, num_params: usize) {
        self.pairs.clear();
        self.direction = vec![0.0; num_params];
        self.alphas = vec![0.0; self.memory];
        self.search.start(num_params);
    }

    fn step<O: Objective + ?Sized>(
        &mut self,
        eval: &mut Evaluator<'_, O>,
        current: &Iterate,
        next: &mut Iterate,
    ) -> Step {
        self.set_direction(&current.grad);
        let slope = dot(&self.direction, &current.grad);
        if slope.is_nan() || slope >= 0.0 {
            self.set_steepest_descent(&current.grad);
        }
        loop {
            let t0 = if self.pairs.is_empty() {
                (1.0 / norm(&current.grad)).min(1.0)
            } else {
                1.0
            };
            match self.search.search(eval, current, &self.direction, t0, next) {
                Step::Moved => {
                    self.remember(current, next);
                    return Step::Moved;
                }
                Step::Stalled if !self.pairs.is_empty() => self.set_steepest_descent(&current.grad),
                Step::Stalled => return Step::Stalled,
            }
        }
    }

    fn supports_projection(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::test_problems::{solve, Quadratic, Rosenbrock};
    use crate::{GradientDescent, StopReason};

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
}
