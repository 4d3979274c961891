//! Objectives with known minima, shared by the optimizer and driver tests.

use crate::Objective;

/// `f(x) = ½ Σ aᵢ (xᵢ − cᵢ)²`: minimum 0 at `c`, condition number max a / min a.
pub(crate) struct Quadratic {
    pub(crate) a: Vec<f64>,
    pub(crate) c: Vec<f64>,
}

impl Quadratic {
    /// Curvatures 1, 2, 5, 10; minimum at (1, −2, 3, 0.5).
    pub(crate) fn small() -> Self {
        Quadratic {
            a: vec![1.0, 2.0, 5.0, 10.0],
            c: vec![1.0, -2.0, 3.0, 0.5],
        }
    }

    /// `n` curvatures log-spaced over [1, `condition`], minimum at cᵢ = (−1)ⁱ (1 + i/n).
    pub(crate) fn ill_conditioned(n: usize, condition: f64) -> Self {
        let a = (0..n)
            .map(|i| condition.powf(i as f64 / (n - 1) as f64))
            .collect();
        let c = (0..n)
            .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 } * (1.0 + i as f64 / n as f64))
            .collect();
        Quadratic { a, c }
    }

    pub(crate) fn distance_to_minimum(&self, x: &[f64]) -> f64 {
        x.iter()
            .zip(&self.c)
            .map(|(x, c)| (x - c).powi(2))
            .sum::<f64>()
            .sqrt()
    }
}

impl Objective for Quadratic {
    fn num_params(&self) -> usize {
        self.a.len()
    }

    fn value(&mut self, x: &[f64]) -> f64 {
        x.iter()
            .zip(self.a.iter().zip(&self.c))
            .map(|(x, (a, c))| 0.5 * a * (x - c).powi(2))
            .sum()
    }

    fn value_and_gradient(&mut self, x: &[f64], grad: &mut [f64]) -> f64 {
        for (g, (x, (a, c))) in grad
            .iter_mut()
            .zip(x.iter().zip(self.a.iter().zip(&self.c)))
        {
            *g = a * (x - c);
        }
        self.value(x)
    }
}

/// Rosenbrock's `(1 − x)² + 100 (y − x²)²`: minimum 0 at (1, 1).
pub(crate) struct Rosenbrock;

impl Rosenbrock {
    /// The classic start.
    pub(crate) const START: [f64; 2] = [-1.2, 1.0];
}

impl Objective for Rosenbrock {
    fn num_params(&self) -> usize {
        2
    }

    fn value(&mut self, x: &[f64]) -> f64 {
        (1.0 - x[0]).powi(2) + 100.0 * (x[1] - x[0] * x[0]).powi(2)
    }

    fn value_and_gradient(&mut self, x: &[f64], grad: &mut [f64]) -> f64 {
        let inner = x[1] - x[0] * x[0];
        grad[0] = -2.0 * (1.0 - x[0]) - 400.0 * x[0] * inner;
        grad[1] = 200.0 * inner;
        self.value(x)
    }
}

/// Wraps an objective and counts how it is called.
pub(crate) struct Counting<O> {
    pub(crate) inner: O,
    pub(crate) value_calls: usize,
    pub(crate) gradient_calls: usize,
    pub(crate) value_and_gradient_calls: usize,
}

impl<O> Counting<O> {
    pub(crate) fn new(inner: O) -> Self {
        Counting {
            inner,
            value_calls: 0,
            gradient_calls: 0,
            value_and_gradient_calls: 0,
        }
    }
}

impl<O: Objective> Objective for Counting<O> {
    fn num_params(&self) -> usize {
        self.inner.num_params()
    }

    fn value(&mut self, x: &[f64]) -> f64 {
        self.value_calls += 1;
        self.inner.value(x)
    }

    fn value_and_gradient(&mut self, x: &[f64], grad: &mut [f64]) -> f64 {
        self.value_and_gradient_calls += 1;
        self.inner.value_and_gradient(x, grad)
    }

    fn gradient(&mut self, x: &[f64], grad: &mut [f64]) {
        self.gradient_calls += 1;
        self.inner.value_and_gradient(x, grad);
    }
}

/// Runs `method` quietly from `x` with at most `max_iters` steps and the
/// gradient tolerance `tol_grad` (relative loss change off).
pub(crate) fn solve<M: crate::Minimizer, O: Objective>(
    method: M,
    objective: &mut O,
    x: &mut [f64],
    max_iters: usize,
    tol_grad: f64,
) -> crate::Report {
    method
        .train()
        .max_iters(max_iters)
        .tol_grad(tol_grad)
        .tol_rel_loss(0.0)
        .progress(false)
        .minimize(objective, x)
        .expect("the run succeeds")
}
