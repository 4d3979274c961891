//! Batch gradient descent with a fixed learning rate: the original method.

use super::vector::set_point_on_ray;
use super::{Evaluator, Iterate, Minimizer, Step};
use crate::Objective;

/// Gradient descent with a fixed learning rate: `x ← x − α ∇f(x)`.
///
/// The reference method, one evaluation per step. The classic settings of
/// the original recipe are α = 0.0002 for 5000 steps — the [`Default`]:
///
/// ```
/// use mf_runtime::{GradientDescent, Minimizer};
/// let classic = GradientDescent::default().train().max_iters(5000);
/// # let _ = classic;
/// assert_eq!(GradientDescent::default(), GradientDescent::new(0.0002));
/// ```
///
/// Too large a rate diverges; the driver then stops with
/// [`TrainError::Diverged`](crate::TrainError::Diverged) and keeps the last
/// finite parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct GradientDescent {
    learning_rate: f64,
}

impl GradientDescent {
    /// Fixed learning rate `learning_rate` (α).
    ///
    /// ```
    /// # use mf_runtime::GradientDescent;
    /// let gd = GradientDescent::new(0.01);
    /// # let _ = gd;
    /// ```
    pub fn new(learning_rate: f64) -> Self {
        GradientDescent { learning_rate }
    }

    /// Sets the learning rate α.
    ///
    /// ```
    /// # use mf_runtime::GradientDescent;
    /// assert_eq!(GradientDescent::default().learning_rate(0.1), GradientDescent::new(0.1));
    /// ```
    pub fn learning_rate(mut self, learning_rate: f64) -> Self {
        self.learning_rate = learning_rate;
        self
    }
}

impl Default for GradientDescent {
    /// The original α = 0.0002.
    fn default() -> Self {
        GradientDescent::new(0.0002)
    }
}

impl Minimizer for GradientDescent {
    fn name(&self) -> &'static str {
        "gradient descent"
    }

    fn step<O: Objective + ?Sized>(
        &mut self,
        eval: &mut Evaluator<'_, O>,
        current: &Iterate,
        next: &mut Iterate,
    ) -> Step {
        // The driver checks the new point; the sweep's own check is not needed.
        let _ = set_point_on_ray(&mut next.x, &current.x, -self.learning_rate, &current.grad);
        eval.evaluate(next);
        Step::Moved
    }

    fn divergence_hint(&self) -> String {
        format!(
            "try a smaller learning rate than {} (e.g. {}), or a method with a line search \
             (Backtracking, Lbfgs)",
            super::setting(self.learning_rate),
            super::setting(self.learning_rate / 10.0)
        )
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
        // Stable for α < 2 / max a = 0.2.
        let report = solve(GradientDescent::new(0.15), &mut q, &mut x, 10_000, 1e-10);
        assert_eq!(report.stop, StopReason::GradientNorm);
        assert!(q.distance_to_minimum(&x) < 1e-10, "{x:?}");
        assert_eq!(report.evaluations, report.iterations + 1);
    }

    #[test]
    fn reaches_the_minimum_of_rosenbrock_slowly() {
        let mut x = Rosenbrock::START.to_vec();
        let report = solve(
            GradientDescent::new(1e-3),
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
}
