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
use super::vector::{axpy_dot, axpy_into_dot, curvature_pair, dot, norm};
use super::{Evaluator, Iterate, Minimizer, Step};
use crate::Objective;

/// One curvature pair: `s = x⁺ − x`, `y = ∇f(x⁺) − ∇f(x)`, `ρ = 1 / yᵀs`.
#[derive(Clone, Debug, PartialEq)]
struct Pair {
    s: Vec<f64>,
    y: Vec<f64>,
    rho: f64,
    /// `sᵀy / yᵀy`, the scale γ of the initial Hessian approximation when
    /// this pair is the newest.
    gamma: f64,
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
/// The vector work of a step is parallel and deterministic (see
/// [`vector`](super::vector)): `2m` fused sweeps for the two-loop recursion
/// with `m` pairs, one for the new pair, and two per trial point.
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
    /// The buffers of a pair that failed the curvature test, for the next one.
    spare: Option<Pair>,
    /// `sᵀ∇f` of the newest pair at the point its step led to, from the
    /// sweep that stored the pair: the first dot product of the next
    /// two-loop recursion (the driver's next `current` is that point).
    /// `None` when the newest pair is older than the last step.
    newest_s_grad: Option<f64>,
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
            spare: None,
            newest_s_grad: None,
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

    /// `direction = −H ∇f` by the two-loop recursion; returns the slope
    /// `direction · ∇f`.
    ///
    /// Each sweep updates `q` for one pair and takes the dot product the
    /// next pair needs: the first loop runs `q ← q − αᵢ yᵢ` with `sᵢ₋₁ · q`
    /// (the first from the gradient, the last scaling by γ and taking
    /// `y₀ · q`), the second `q ← q + (αᵢ − βᵢ) sᵢ` with `yᵢ₊₁ · q` (the last
    /// negating and taking the slope).
    fn set_direction(&mut self, grad: &[f64]) -> f64 {
        let Some(newest) = self.pairs.back() else {
            return self.set_steepest_descent(grad);
        };
        let gamma = newest.gamma;
        let q = &mut self.direction;
        let m = self.pairs.len();
        let mut dot_next = match self.newest_s_grad.take() {
            Some(s_grad) => s_grad,
            None => dot(&newest.s, grad),
        };
        for i in (0..m).rev() {
            let pair = &self.pairs[i];
            let alpha = pair.rho * dot_next;
            self.alphas[i] = alpha;
            let (scale, partner) = match i {
                0 => (gamma, &pair.y),
                _ => (1.0, &self.pairs[i - 1].s),
            };
            dot_next = if i == m - 1 {
                axpy_into_dot(q, grad, -alpha, &pair.y, scale, partner)
            } else {
                axpy_dot(q, -alpha, &pair.y, scale, partner)
            };
        }
        for i in 0..m {
            let pair = &self.pairs[i];
            let beta = pair.rho * dot_next;
            let (scale, partner) = match self.pairs.get(i + 1) {
                Some(next) => (1.0, &next.y[..]),
                None => (-1.0, grad),
            };
            dot_next = axpy_dot(q, self.alphas[i] - beta, &pair.s, scale, partner);
        }
        dot_next
    }

    /// `direction = −∇f`, forgetting the pairs; returns the slope `−‖∇f‖²`.
    fn set_steepest_descent(&mut self, grad: &[f64]) -> f64 {
        self.forget();
        axpy_into_dot(&mut self.direction, grad, 0.0, grad, -1.0, grad)
    }

    fn forget(&mut self) {
        while let Some(pair) = self.pairs.pop_back() {
            self.spare.get_or_insert(pair);
        }
        self.newest_s_grad = None;
    }

    /// Stores the pair of the accepted step, recycling the oldest buffers
    /// (a pair that fails the curvature test `sᵀy > ε yᵀy` is not stored,
    /// and the oldest is dropped all the same when the memory is full).
    fn remember(&mut self, current: &Iterate, next: &Iterate) {
        let recycled = if self.pairs.len() == self.memory {
            self.spare = None;
            self.pairs.pop_front()
        } else {
            self.spare.take()
        };
        let mut pair = recycled.unwrap_or_else(|| Pair {
            s: vec![0.0; current.x.len()],
            y: vec![0.0; current.x.len()],
            rho: 0.0,
            gamma: 0.0,
        });
        let c = curvature_pair(
            &mut pair.s,
            &mut pair.y,
            &next.x,
            &current.x,
            &next.grad,
            &current.grad,
        );
        if c.sy > f64::EPSILON * c.yy {
            pair.rho = 1.0 / c.sy;
            pair.gamma = c.sy / c.yy;
            self.pairs.push_back(pair);
            self.newest_s_grad = Some(c.s_grad);
        } else {
            self.spare = Some(pair);
            self.newest_s_grad = None;
        }
    }
}

impl Minimizer for Lbfgs {
    fn name(&self) -> &'static str {
        "L-BFGS"
    }

    fn start(&mut self, num_params: usize) {
        self.pairs.clear();
        self.spare = None;
        self.newest_s_grad = None;
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
        let mut slope = self.set_direction(&current.grad);
        if slope.is_nan() || slope >= 0.0 {
            slope = self.set_steepest_descent(&current.grad);
        }
        loop {
            let t0 = if self.pairs.is_empty() {
                (1.0 / norm(&current.grad)).min(1.0)
            } else {
                1.0
            };
            match self
                .search
                .search(eval, current, &self.direction, slope, t0, next)
            {
                Step::Moved => {
                    self.remember(current, next);
                    return Step::Moved;
                }
                Step::Stalled if !self.pairs.is_empty() => {
                    slope = self.set_steepest_descent(&current.grad);
                }
                other => return other,
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
    use crate::optim::vector::CHUNK;
    use crate::{GradientDescent, StopReason};

    fn plain_dot(a: &[f64], b: &[f64]) -> f64 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    /// The two-loop recursion as in the textbook (N&W Alg. 7.4), one
    /// operation per pass, sequential sums.
    fn textbook_direction(pairs: &VecDeque<Pair>, grad: &[f64]) -> Vec<f64> {
        let mut q = grad.to_vec();
        let mut alphas = vec![0.0; pairs.len()];
        for (i, p) in pairs.iter().enumerate().rev() {
            alphas[i] = p.rho * plain_dot(&p.s, &q);
            q.iter_mut()
                .zip(&p.y)
                .for_each(|(q, y)| *q -= alphas[i] * y);
        }
        let newest = pairs.back().expect("a pair");
        let gamma = plain_dot(&newest.s, &newest.y) / plain_dot(&newest.y, &newest.y);
        q.iter_mut().for_each(|q| *q *= gamma);
        for (i, p) in pairs.iter().enumerate() {
            let beta = p.rho * plain_dot(&p.y, &q);
            q.iter_mut()
                .zip(&p.s)
                .for_each(|(q, s)| *q += (alphas[i] - beta) * s);
        }
        q.iter().map(|q| -q).collect()
    }

    /// A point of the quadratic `½ Σ aᵢ xᵢ²` (gradient `a ∘ x`).
    fn point(a: &[f64], k: usize) -> Iterate {
        let x: Vec<f64> = (0..a.len())
            .map(|i| (0.37 * i as f64 + 1.3 * k as f64).sin())
            .collect();
        let grad = x.iter().zip(a).map(|(x, a)| a * x).collect();
        Iterate { x, loss: 0.0, grad }
    }

    #[test]
    fn the_fused_two_loop_recursion_is_the_textbook_one() {
        for (memory, steps) in [(1, 3), (3, 2), (3, 6), (10, 12)] {
            for n in [5, 3 * CHUNK + 7] {
                let a: Vec<f64> = (0..n).map(|i| 1.0 + (i % 17) as f64).collect();
                let mut lbfgs = Lbfgs::default().memory(memory);
                lbfgs.start(n);
                for k in 0..steps {
                    lbfgs.remember(&point(&a, k), &point(&a, k + 1));
                }
                assert_eq!(lbfgs.pairs.len(), memory.min(steps));
                let grad = point(&a, steps).grad;
                let want = textbook_direction(&lbfgs.pairs, &grad);
                assert!(lbfgs.newest_s_grad.is_some());
                let slope = lbfgs.set_direction(&grad);
                let got = lbfgs.direction.clone();
                let scale = norm(&want);
                for (g, w) in got.iter().zip(&want) {
                    assert!((g - w).abs() <= 1e-12 * scale, "{g} vs {w}");
                }
                let want_slope = plain_dot(&want, &grad);
                assert!((slope - want_slope).abs() <= 1e-12 * scale * norm(&grad));
                // Without the first dot product from `remember`: the same bits.
                assert!(lbfgs.newest_s_grad.is_none());
                assert_eq!(lbfgs.set_direction(&grad).to_bits(), slope.to_bits());
                assert_eq!(lbfgs.direction, got);
            }
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
        lbfgs.remember(&it(0.0, 0.0), &it(1.0, -1.0));
        assert!(lbfgs.pairs.is_empty() && lbfgs.spare.is_some());
        assert_eq!(lbfgs.newest_s_grad, None);
        // The next pair reuses the skipped one's buffers.
        lbfgs.remember(&it(0.0, 0.0), &it(1.0, 2.0));
        assert_eq!((lbfgs.pairs.len(), lbfgs.spare.is_none()), (1, true));
        assert_eq!(lbfgs.newest_s_grad, Some(2.0));
        assert_eq!((lbfgs.pairs[0].rho, lbfgs.pairs[0].gamma), (0.5, 0.5));
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
}
