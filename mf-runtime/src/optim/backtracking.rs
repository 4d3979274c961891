//! Steepest descent with a backtracking (Armijo) line search.

use super::vector::{descent_and_non_finite, set_point_on_ray};
use super::{Evaluator, Iterate, Minimizer, Step};
use crate::Objective;

/// Gradient descent whose step is found by backtracking: try `t`, accept if
/// the loss decreased enough (Armijo), else shrink `t` and try again.
///
/// With `d = x_new − x` the actual displacement, a trial is accepted when
/// `f(x_new) ≤ f(x) + c1 ∇f(x)·d` and its loss and gradient are finite. Without a
/// projection `d = −t ∇f(x)` and this is the classic Armijo rule; with a
/// [`NonNegative`](crate::NonNegative) projection it is the Armijo rule along
/// the projection arc (Bertsekas), so projected backtracking is sound.
///
/// Each search starts at `grow` times the previous accepted step, so the
/// step adapts to the loss's scale and most steps cost one or two evaluations.
///
/// ```
/// use mf_runtime::{Backtracking, Minimizer};
/// let bt = Backtracking::default().initial_step(1e-3).shrink(0.5).c1(1e-4);
/// # let _ = bt;
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Backtracking {
    initial_step: f64,
    shrink: f64,
    grow: f64,
    c1: f64,
    max_backtracks: usize,
    /// First trial step of the next search.
    next_trial: f64,
}

impl Default for Backtracking {
    /// Initial step 1, shrink 0.5, grow 2, c1 = 1e-4, at most 60 backtracks.
    fn default() -> Self {
        Backtracking {
            initial_step: 1.0,
            shrink: 0.5,
            grow: 2.0,
            c1: 1e-4,
            max_backtracks: 60,
            next_trial: 1.0,
        }
    }
}

impl Backtracking {
    /// First trial step of the first search (default 1).
    ///
    /// ```
    /// # use mf_runtime::Backtracking;
    /// let bt = Backtracking::default().initial_step(0.01);
    /// # let _ = bt;
    /// ```
    pub fn initial_step(mut self, t: f64) -> Self {
        self.initial_step = t;
        self
    }

    /// Factor applied to a rejected step, in (0, 1) (default 0.5).
    ///
    /// ```
    /// # use mf_runtime::Backtracking;
    /// let bt = Backtracking::default().shrink(0.3);
    /// # let _ = bt;
    /// ```
    pub fn shrink(mut self, factor: f64) -> Self {
        self.shrink = factor;
        self
    }

    /// Factor from an accepted step to the next search's first trial, ≥ 1
    /// (default 2; 1 never increases the step).
    ///
    /// ```
    /// # use mf_runtime::Backtracking;
    /// let bt = Backtracking::default().grow(1.5);
    /// # let _ = bt;
    /// ```
    pub fn grow(mut self, factor: f64) -> Self {
        self.grow = factor;
        self
    }

    /// Sufficient-decrease constant of the Armijo rule, in (0, 1) (default 1e-4).
    ///
    /// ```
    /// # use mf_runtime::Backtracking;
    /// let bt = Backtracking::default().c1(0.1);
    /// # let _ = bt;
    /// ```
    pub fn c1(mut self, c1: f64) -> Self {
        self.c1 = c1;
        self
    }

    /// Rejected trials allowed per step before the run stops with
    /// [`StopReason::LineSearchFailed`](crate::StopReason::LineSearchFailed) (default 60).
    ///
    /// ```
    /// # use mf_runtime::Backtracking;
    /// let bt = Backtracking::default().max_backtracks(30);
    /// # let _ = bt;
    /// ```
    pub fn max_backtracks(mut self, n: usize) -> Self {
        self.max_backtracks = n;
        self
    }
}

impl Minimizer for Backtracking {
    fn name(&self) -> &'static str {
        "backtracking descent"
    }

    fn start(&mut self, _num_params: usize) {
        self.next_trial = self.initial_step;
    }

    fn step<O: Objective + ?Sized>(
        &mut self,
        eval: &mut Evaluator<'_, O>,
        current: &Iterate,
        next: &mut Iterate,
    ) -> Step {
        let mut t = self.next_trial;
        for _ in 0..=self.max_backtracks {
            // The point is checked after the projection, below.
            let _ = set_point_on_ray(&mut next.x, &current.x, -t, &current.grad);
            eval.evaluate(next);
            // ∇f(x)·(x_new − x), with x_new after projection, if x_new and
            // its gradient are finite (on every rank).
            let mut sums = descent_and_non_finite(&current.grad, &next.x, &current.x, &next.grad);
            eval.sum_over_ranks(&mut sums);
            let [predicted, non_finite] = sums;
            let finite = non_finite == 0.0 && next.loss.is_finite();
            if finite && next.loss <= current.loss + self.c1 * predicted {
                self.next_trial = t * self.grow;
                return Step::Moved;
            }
            t *= self.shrink;
        }
        Step::Stalled
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::test_problems::{solve, Quadratic, Rosenbrock};
    use crate::StopReason;

    #[test]
    fn reaches_the_minimum_of_a_quadratic() {
        let mut q = Quadratic::small();
        let mut x = vec![0.0; 4];
        let report = solve(Backtracking::default(), &mut q, &mut x, 10_000, 1e-10);
        assert_eq!(report.stop, StopReason::GradientNorm);
        assert!(q.distance_to_minimum(&x) < 1e-10, "{x:?}");
    }

    #[test]
    fn reaches_the_minimum_of_rosenbrock() {
        let mut x = Rosenbrock::START.to_vec();
        let report = solve(
            Backtracking::default(),
            &mut Rosenbrock,
            &mut x,
            100_000,
            1e-6,
        );
        assert_eq!(report.stop, StopReason::GradientNorm);
        assert!(
            (x[0] - 1.0).abs() < 1e-4 && (x[1] - 1.0).abs() < 1e-4,
            "{x:?}"
        );
    }

    #[test]
    fn every_accepted_step_decreases_the_loss() {
        let mut x = Rosenbrock::START.to_vec();
        let report = solve(Backtracking::default(), &mut Rosenbrock, &mut x, 500, 0.0);
        let losses: Vec<f64> = report.history.records().iter().map(|r| r.loss).collect();
        assert!(losses.windows(2).all(|w| w[1] < w[0]), "monotone descent");
    }

    #[test]
    fn a_trial_with_a_non_finite_loss_is_rejected() {
        /// `x²`, but −∞ beyond 1 (a loss that breaks down far out).
        struct Cliff;
        impl Objective for Cliff {
            fn num_params(&self) -> usize {
                1
            }
            fn value(&mut self, x: &[f64]) -> f64 {
                if x[0].abs() > 1.0 {
                    f64::NEG_INFINITY
                } else {
                    x[0] * x[0]
                }
            }
            fn value_and_gradient(&mut self, x: &[f64], g: &mut [f64]) -> f64 {
                g[0] = 2.0 * x[0];
                self.value(x)
            }
        }
        let mut x = vec![0.5];
        // The first trial, x = 0.5 − 4·1 = −3.5, has a loss of −∞.
        let bt = Backtracking::default().initial_step(4.0);
        let report = solve(bt, &mut Cliff, &mut x, 1, 0.0);
        assert!(report.loss.is_finite() && x[0].abs() <= 1.0, "{x:?}");
        assert!(report.evaluations > 2);
    }

    #[test]
    fn a_huge_first_step_is_cut_back_instead_of_diverging() {
        let mut q = Quadratic::small();
        let mut x = vec![0.0; 4];
        // 1e12 overflows nothing but needs ~40 halvings, within the budget of 60.
        let bt = Backtracking::default().initial_step(1e12);
        let report = solve(bt, &mut q, &mut x, 1000, 1e-8);
        assert_eq!(report.stop, StopReason::GradientNorm);

        // 1e300 needs ~1000 halvings: the search gives up, and the run stops
        // (not an error) at the starting point.
        let mut x = vec![0.0; 4];
        let bt = Backtracking::default().initial_step(1e300);
        let report = solve(bt, &mut q, &mut x, 1000, 1e-8);
        assert_eq!(
            (report.stop, report.iterations),
            (StopReason::LineSearchFailed, 0)
        );
        assert_eq!(report.evaluations, 1 + 61);
        assert_eq!(x, [0.0; 4]);
    }
}
