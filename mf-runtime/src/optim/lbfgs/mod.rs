//! L-BFGS with a strong-Wolfe line search.
//!
//! Written here rather than taken from `argmin`: argmin's L-BFGS and its
//! line searches ask the problem for the cost and the gradient through
//! separate calls (`CostFunction::cost`, `Gradient::gradient`), so every
//! trial point would cost two passes over the data instead of the single
//! fused `value_and_gradient` pass a generated loss provides; it also brings
//! its own state, observer and dependency tree; and its history is `f64`
//! vectors swept `2m` times per step, where this one keeps `f32` pairs
//! read twice per step (`history.rs`).

mod history;
mod sweeps;
#[cfg(test)]
mod tests;

use self::history::{History, Sum};
use super::line_search::StrongWolfe;
use super::{Evaluator, Iterate, Minimizer, Step};
use crate::Objective;

/// Limited-memory BFGS (Nocedal & Wright, Alg. 7.4 and 7.5) with a
/// strong-Wolfe line search (Alg. 3.5/3.6, cubic interpolation).
///
/// Keeps the last `m` curvature pairs (default 10); the first trial step is
/// 1 (the quasi-Newton step), or `1/‖∇f‖` when the memory is empty. A pair
/// whose curvature `yᵀs` (of the stored, rounded pair) is not positive is
/// skipped; a direction that is not
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
/// Vector-free (Chen, Wang & Zhou, "Large-scale L-BFGS using MapReduce",
/// NIPS 2014): the pairs are stored in `f32` (each scaled by a power of two
/// into `f32`'s range) with their dot products and the gradient's, and the
/// direction is computed on its `2m + 1` coefficients in the basis of the
/// pairs and the gradient, by the compact form of the two-loop recursion's
/// matrix (Byrd, Nocedal & Schnabel 1994, eq. 3.1; O(m²) scalar
/// operations). The direction is that of the two-loop recursion on the
/// rounded pairs, up to round-off: the quasi-Newton matrix is exactly
/// L-BFGS's for those pairs. The vector work of a step is parallel and
/// deterministic (see [`vector`](super::vector)): one sweep forms the
/// direction, one makes the new pair with its dot products against the
/// stored vectors and the new gradient, and two per trial point.
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
    history: History,
    direction: Vec<f64>,
}

impl Default for Lbfgs {
    /// Memory 10, c1 = 1e-4, c2 = 0.9, 25 evaluations per line search.
    fn default() -> Self {
        Lbfgs {
            memory: 10,
            search: StrongWolfe::new(1e-4, 0.9, 25),
            history: History::new(10),
            direction: Vec::new(),
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

    /// `direction = −H ∇f`; returns the slope `direction · ∇f` (its dot
    /// products summed over ranks by `sum`).
    fn set_direction(&mut self, grad: &[f64], sum: Sum) -> f64 {
        self.history.direction(grad, &mut self.direction, sum)
    }

    /// `direction = −∇f`, forgetting the pairs; returns the slope `−‖∇f‖²`.
    fn set_steepest_descent(&mut self, grad: &[f64], sum: Sum) -> f64 {
        self.history.forget();
        self.history.direction(grad, &mut self.direction, sum)
    }
}

impl Minimizer for Lbfgs {
    fn name(&self) -> &'static str {
        "L-BFGS"
    }

    fn start(&mut self, num_params: usize) {
        self.history = History::new(self.memory);
        self.direction = vec![0.0; num_params];
        self.search.start(num_params);
    }

    fn step<O: Objective + ?Sized>(
        &mut self,
        eval: &mut Evaluator<'_, O>,
        current: &Iterate,
        next: &mut Iterate,
    ) -> Step {
        let mut slope = self.set_direction(&current.grad, &mut |v| eval.sum_over_ranks(v));
        if slope.is_nan() || slope >= 0.0 {
            slope = self.set_steepest_descent(&current.grad, &mut |v| eval.sum_over_ranks(v));
        }
        loop {
            let t0 = if self.history.is_empty() {
                (1.0 / eval.norm(&current.grad)).min(1.0)
            } else {
                1.0
            };
            match self
                .search
                .search(eval, current, &self.direction, slope, t0, next)
            {
                Step::Moved => {
                    self.history
                        .remember(current, next, &mut |v| eval.sum_over_ranks(v));
                    return Step::Moved;
                }
                Step::Stalled if !self.history.is_empty() => {
                    slope =
                        self.set_steepest_descent(&current.grad, &mut |v| eval.sum_over_ranks(v));
                }
                other => return other,
            }
        }
    }

    fn supports_projection(&self) -> bool {
        false
    }
}
