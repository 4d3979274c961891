//! Adam (Kingma & Ba, 2015).

use super::vector::sweep;
use super::{Evaluator, Iterate, Minimizer, Step};
use crate::Objective;

/// Adam: per-parameter steps from bias-corrected running means of the
/// gradient and of its square. One evaluation per step.
///
/// ```text
/// m ← β1 m + (1 − β1) g        v ← β2 v + (1 − β2) g²
/// x ← x − α (m / (1 − β1ᵗ)) / (√(v / (1 − β2ᵗ)) + ε)
/// ```
///
/// Its steps are about α in size per parameter whatever the loss's scale,
/// which makes it forgiving for matrix factorization; it does not settle
/// exactly at the minimum with a fixed α, so stop it on a tolerance or on
/// validation rather than on the gradient norm.
///
/// ```
/// use mf_runtime::{Adam, Minimizer};
/// let adam = Adam::new(0.01).betas(0.9, 0.999).epsilon(1e-8);
/// # let _ = adam;
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Adam {
    learning_rate: f64,
    beta1: f64,
    beta2: f64,
    epsilon: f64,
    m: Vec<f64>,
    v: Vec<f64>,
    /// β1ᵗ and β2ᵗ after t steps.
    beta1_t: f64,
    beta2_t: f64,
}

impl Adam {
    /// Learning rate α with the paper's β1 = 0.9, β2 = 0.999, ε = 1e-8.
    ///
    /// ```
    /// # use mf_runtime::Adam;
    /// let adam = Adam::new(0.05);
    /// # let _ = adam;
    /// ```
    pub fn new(learning_rate: f64) -> Self {
        Adam {
            learning_rate,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
            m: Vec::new(),
            v: Vec::new(),
            beta1_t: 1.0,
            beta2_t: 1.0,
        }
    }

    /// Learning rate α.
    ///
    /// ```
    /// # use mf_runtime::Adam;
    /// let adam = Adam::default().learning_rate(0.01);
    /// # let _ = adam;
    /// ```
    pub fn learning_rate(mut self, learning_rate: f64) -> Self {
        self.learning_rate = learning_rate;
        self
    }

    /// Decay rates of the first and second moment estimates, in [0, 1).
    ///
    /// ```
    /// # use mf_runtime::Adam;
    /// let adam = Adam::default().betas(0.8, 0.99);
    /// # let _ = adam;
    /// ```
    pub fn betas(mut self, beta1: f64, beta2: f64) -> Self {
        self.beta1 = beta1;
        self.beta2 = beta2;
        self
    }

    /// ε added to the denominator (default 1e-8).
    ///
    /// ```
    /// # use mf_runtime::Adam;
    /// let adam = Adam::default().epsilon(1e-10);
    /// # let _ = adam;
    /// ```
    pub fn epsilon(mut self, epsilon: f64) -> Self {
        self.epsilon = epsilon;
        self
    }
}

impl Default for Adam {
    /// The paper's defaults: α = 0.001, β1 = 0.9, β2 = 0.999, ε = 1e-8.
    fn default() -> Self {
        Adam::new(0.001)
    }
}

/// The constants of one Adam step.
#[derive(Clone, Copy)]
struct Rule {
    b1: f64,
    b2: f64,
    /// `α / (1 − β1ᵗ)`.
    step: f64,
    /// `1 / (1 − β2ᵗ)`.
    v_scale: f64,
    epsilon: f64,
}

impl Rule {
    /// The step on one chunk: moments `m`, `v` and the new point `new` from
    /// the point `x` and its gradient `g`.
    fn apply(self, new: &mut [f64], m: &mut [f64], v: &mut [f64], x: &[f64], g: &[f64]) {
        let Rule {
            b1,
            b2,
            step,
            v_scale,
            epsilon,
        } = self;
        for ((new, (m, v)), (x, g)) in new.iter_mut().zip(m.iter_mut().zip(v)).zip(x.iter().zip(g))
        {
            *m = b1 * *m + (1.0 - b1) * g;
            *v = b2 * *v + (1.0 - b2) * g * g;
            *new = x - step * *m / ((*v * v_scale).sqrt() + epsilon);
        }
    }
}

impl Minimizer for Adam {
    fn name(&self) -> &'static str {
        "Adam"
    }

    fn start(&mut self, num_params: usize) {
        self.m = vec![0.0; num_params];
        self.v = vec![0.0; num_params];
        self.beta1_t = 1.0;
        self.beta2_t = 1.0;
    }

    fn step<O: Objective + ?Sized>(
        &mut self,
        eval: &mut Evaluator<'_, O>,
        current: &Iterate,
        next: &mut Iterate,
    ) -> Step {
        let (b1, b2) = (self.beta1, self.beta2);
        self.beta1_t *= b1;
        self.beta2_t *= b2;
        let rule = Rule {
            b1,
            b2,
            step: self.learning_rate / (1.0 - self.beta1_t),
            v_scale: 1.0 / (1.0 - self.beta2_t),
            epsilon: self.epsilon,
        };
        let (x, grad) = (&current.x, &current.grad);
        let outs = [&mut next.x[..], &mut self.m[..], &mut self.v[..]];
        let [] = sweep(x.len(), outs, move |r, [new, m, v]| {
            rule.apply(new, m, v, &x[r.clone()], &grad[r]);
            []
        });
        eval.evaluate(next);
        Step::Moved
    }

    fn divergence_hint(&self) -> String {
        format!(
            "try a smaller learning rate than {} (e.g. {})",
            super::setting(self.learning_rate),
            super::setting(self.learning_rate / 10.0)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::test_problems::{Quadratic, Rosenbrock};

    fn run<O: Objective>(adam: Adam, objective: &mut O, x: &mut [f64], steps: usize) {
        adam.train()
            .max_iters(steps)
            .tol_rel_loss(0.0)
            .progress(false)
            .minimize(objective, x)
            .unwrap();
    }

    #[test]
    fn reaches_the_minimum_of_a_quadratic() {
        // With a fixed α Adam ends up within about α of the minimum;
        // a smaller α then refines it.
        let mut q = Quadratic::small();
        let mut x = vec![0.0; 4];
        run(Adam::new(0.1), &mut q, &mut x, 2000);
        assert!(q.distance_to_minimum(&x) < 1e-2, "{x:?}");
        run(Adam::new(1e-3), &mut q, &mut x, 5000);
        assert!(q.distance_to_minimum(&x) < 1e-5, "{x:?}");
    }

    #[test]
    fn reaches_the_minimum_of_rosenbrock() {
        let mut x = Rosenbrock::START.to_vec();
        run(Adam::new(0.01), &mut Rosenbrock, &mut x, 20_000);
        assert!(
            (x[0] - 1.0).abs() < 1e-3 && (x[1] - 1.0).abs() < 2e-3,
            "{x:?}"
        );
    }

    #[test]
    fn the_first_step_is_the_learning_rate_in_every_coordinate() {
        // Bias correction: m̂ = g, v̂ = g², so the first step is α·sign(g) (up to ε).
        let mut q = Quadratic::small();
        let mut x = vec![0.0; 4];
        run(Adam::new(0.1).epsilon(0.0), &mut q, &mut x, 1);
        let expected: Vec<f64> = q.c.iter().map(|c| 0.1 * c.signum()).collect();
        for (v, e) in x.iter().zip(&expected) {
            assert!((v - e).abs() < 1e-15, "{x:?}");
        }
    }
}
