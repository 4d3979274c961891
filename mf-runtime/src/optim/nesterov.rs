//! Gradient descent with Nesterov momentum.

use super::vector::sweep;
use super::{Evaluator, Iterate, Minimizer, Step};
use crate::Objective;

/// Nesterov's accelerated gradient with a fixed learning rate α and
/// momentum μ, one evaluation per step.
///
/// Written on the look-ahead point (Sutskever et al., 2013; as in PyTorch),
/// so the gradient is always taken at the iterate itself and the loss in the
/// history is the loss of the parameters returned:
///
/// ```text
/// v ← μ v − α ∇f(x)
/// x ← x + μ v − α ∇f(x)
/// ```
///
/// With a [`NonNegative`](crate::NonNegative) projection the new `x` is
/// clamped after the update (the velocity is not), i.e. projected momentum.
///
/// ```
/// use mf_runtime::{Minimizer, Nesterov};
/// let nag = Nesterov::new(0.01).momentum(0.95);
/// # let _ = nag;
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Nesterov {
    learning_rate: f64,
    momentum: f64,
    velocity: Vec<f64>,
}

impl Nesterov {
    /// Learning rate α, momentum 0.9.
    ///
    /// ```
    /// # use mf_runtime::Nesterov;
    /// let nag = Nesterov::new(1e-3);
    /// # let _ = nag;
    /// ```
    pub fn new(learning_rate: f64) -> Self {
        Nesterov {
            learning_rate,
            momentum: 0.9,
            velocity: Vec::new(),
        }
    }

    /// Sets the learning rate α.
    ///
    /// ```
    /// # use mf_runtime::Nesterov;
    /// let nag = Nesterov::default().learning_rate(1e-3);
    /// # let _ = nag;
    /// ```
    pub fn learning_rate(mut self, learning_rate: f64) -> Self {
        self.learning_rate = learning_rate;
        self
    }

    /// Momentum μ in [0, 1) (default 0.9; 0 is plain gradient descent).
    ///
    /// ```
    /// # use mf_runtime::Nesterov;
    /// let nag = Nesterov::new(1e-3).momentum(0.99);
    /// # let _ = nag;
    /// ```
    pub fn momentum(mut self, momentum: f64) -> Self {
        self.momentum = momentum;
        self
    }
}

impl Default for Nesterov {
    /// α = 0.0002 (the original rate) and μ = 0.9.
    fn default() -> Self {
        Nesterov::new(0.0002)
    }
}

/// The step on one chunk: velocity `v` and the new point `new` from the
/// point `x` and its gradient `g`, at rate `lr` and momentum `mu`.
fn update(new: &mut [f64], v: &mut [f64], x: &[f64], g: &[f64], lr: f64, mu: f64) {
    for ((new, v), (x, g)) in new.iter_mut().zip(v).zip(x.iter().zip(g)) {
        *v = mu * *v - lr * g;
        *new = x + mu * *v - lr * g;
    }
}

impl Minimizer for Nesterov {
    fn name(&self) -> &'static str {
        "Nesterov momentum"
    }

    fn start(&mut self, num_params: usize) {
        self.velocity = vec![0.0; num_params];
    }

    fn step<O: Objective + ?Sized>(
        &mut self,
        eval: &mut Evaluator<'_, O>,
        current: &Iterate,
        next: &mut Iterate,
    ) -> Step {
        let (lr, mu) = (self.learning_rate, self.momentum);
        let (x, grad) = (&current.x, &current.grad);
        let outs = [&mut next.x[..], &mut self.velocity[..]];
        let [] = sweep(x.len(), outs, move |r, [new, velocity]| {
            update(new, velocity, &x[r.clone()], &grad[r], lr, mu);
            []
        });
        eval.evaluate(next);
        Step::Moved
    }

    fn divergence_hint(&self) -> String {
        format!(
            "try a smaller learning rate than {} (e.g. {}) or less momentum than {}",
            super::setting(self.learning_rate),
            super::setting(self.learning_rate / 10.0),
            self.momentum
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::test_problems::{solve, Quadratic, Rosenbrock};
    use crate::{GradientDescent, StopReason};

    #[test]
    fn reaches_the_minimum_of_a_quadratic_faster_than_plain_descent() {
        let mut q = Quadratic::ill_conditioned(10, 1e3);
        let mut x = vec![0.0; 10];
        let lr = 1.0 / 1e3;
        let report = solve(
            Nesterov::new(lr).momentum(0.95),
            &mut q,
            &mut x,
            100_000,
            1e-8,
        );
        assert_eq!(report.stop, StopReason::GradientNorm);
        assert!(q.distance_to_minimum(&x) < 1e-8, "{x:?}");

        let mut x = vec![0.0; 10];
        let plain = solve(GradientDescent::new(lr), &mut q, &mut x, 100_000, 1e-8);
        assert!(
            3 * report.iterations < plain.iterations,
            "momentum {} vs plain {}",
            report.iterations,
            plain.iterations
        );
    }

    #[test]
    fn reaches_the_minimum_of_rosenbrock() {
        let mut x = Rosenbrock::START.to_vec();
        let report = solve(Nesterov::new(2e-4), &mut Rosenbrock, &mut x, 100_000, 1e-6);
        assert_eq!(report.stop, StopReason::GradientNorm);
        assert!(
            (x[0] - 1.0).abs() < 1e-4 && (x[1] - 1.0).abs() < 1e-4,
            "{x:?}"
        );
    }

    #[test]
    fn zero_momentum_is_plain_gradient_descent() {
        let run = |nesterov: bool| {
            let mut x = Rosenbrock::START.to_vec();
            if nesterov {
                solve(
                    Nesterov::new(1e-3).momentum(0.0),
                    &mut Rosenbrock,
                    &mut x,
                    50,
                    0.0,
                );
            } else {
                solve(GradientDescent::new(1e-3), &mut Rosenbrock, &mut x, 50, 0.0);
            }
            x
        };
        assert_eq!(run(true), run(false));
    }
}
