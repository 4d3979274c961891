//! [`Evaluator`]: an optimizer's only door to the objective (counted
//! evaluations, the projection), and the sums over ranks of what it
//! branches on.

use super::{vector, Iterate, NonFinite, NonNegative};
use crate::Objective;

/// The only door from an optimizer to the objective: one
/// [`Objective::value_and_gradient`] call per evaluation, counted.
///
/// Before each evaluation it applies the run's projection (if any) to the
/// point, so every evaluated point is feasible.
///
/// ```
/// use mf_runtime::optim::{Evaluator, Iterate, Minimizer, Step};
/// use mf_runtime::Objective;
///
/// /// A custom method: step halfway to the origin, whatever the gradient.
/// struct Halve;
/// impl Minimizer for Halve {
///     fn name(&self) -> &'static str { "halve" }
///     fn step<O: Objective + ?Sized>(
///         &mut self, eval: &mut Evaluator<'_, O>, current: &Iterate, next: &mut Iterate,
///     ) -> Step {
///         for (n, c) in next.x.iter_mut().zip(&current.x) { *n = 0.5 * c; }
///         eval.evaluate(next);
///         Step::Moved
///     }
/// }
/// # struct Sq;
/// # impl Objective for Sq {
/// #     fn num_params(&self) -> usize { 1 }
/// #     fn value(&mut self, x: &[f64]) -> f64 { x[0] * x[0] }
/// #     fn value_and_gradient(&mut self, x: &[f64], g: &mut [f64]) -> f64 { g[0] = 2.0 * x[0]; x[0] * x[0] }
/// # }
/// let mut x = [8.0];
/// let report = Halve.train().max_iters(3).minimize(&mut Sq, &mut x).unwrap();
/// assert_eq!((x[0], report.evaluations), (1.0, 4));
/// ```
pub struct Evaluator<'a, O: ?Sized> {
    objective: &'a mut O,
    projection: Option<&'a NonNegative>,
    evaluations: usize,
}

impl<'a, O: Objective + ?Sized> Evaluator<'a, O> {
    pub(crate) fn new(objective: &'a mut O, projection: Option<&'a NonNegative>) -> Self {
        Evaluator {
            objective,
            projection,
            evaluations: 0,
        }
    }

    /// Projects `at.x` (when the run has a projection), then sets `at.loss`
    /// and `at.grad` from a single `value_and_gradient` call.
    ///
    /// See [`Evaluator`] for an example.
    pub fn evaluate(&mut self, at: &mut Iterate) {
        if let Some(projection) = self.projection {
            projection.apply(&mut at.x);
        }
        self.evaluations += 1;
        at.loss = self.objective.value_and_gradient(&at.x, &mut at.grad);
    }

    /// Projects `at.x` (when the run has a projection), then sets `at.loss`
    /// from one [`Objective::value`] call, a cheaper pass than value and
    /// gradient; `at.grad` is set to NaN (not computed). For methods whose
    /// steps never read the gradient ([`Minimizer::needs_gradient`](crate::Minimizer::needs_gradient)).
    ///
    /// ```
    /// use mf_runtime::optim::{Evaluator, Iterate, Minimizer, Step};
    /// use mf_runtime::Objective;
    ///
    /// /// Halves the point and reads only the loss.
    /// struct Halve;
    /// impl Minimizer for Halve {
    ///     fn name(&self) -> &'static str { "halve" }
    ///     fn needs_gradient(&self) -> bool { false }
    ///     fn step<O: Objective + ?Sized>(
    ///         &mut self, eval: &mut Evaluator<'_, O>, current: &Iterate, next: &mut Iterate,
    ///     ) -> Step {
    ///         for (n, c) in next.x.iter_mut().zip(&current.x) { *n = 0.5 * c; }
    ///         eval.evaluate_value(next);
    ///         Step::Moved
    ///     }
    /// }
    /// # struct Sq;
    /// # impl Objective for Sq {
    /// #     fn num_params(&self) -> usize { 1 }
    /// #     fn value(&mut self, x: &[f64]) -> f64 { x[0] * x[0] }
    /// #     fn value_and_gradient(&mut self, x: &[f64], g: &mut [f64]) -> f64 { g[0] = 2.0 * x[0]; x[0] * x[0] }
    /// # }
    /// let mut x = [8.0];
    /// let report = Halve.train().max_iters(2).minimize(&mut Sq, &mut x).unwrap();
    /// assert_eq!(x[0], 2.0);
    /// assert!(report.history.records()[2].grad_norm.is_nan());
    /// ```
    pub fn evaluate_value(&mut self, at: &mut Iterate) {
        if let Some(projection) = self.projection {
            projection.apply(&mut at.x);
        }
        self.evaluations += 1;
        at.loss = self.objective.value(&at.x);
        at.grad.fill(f64::NAN);
    }

    /// Sums `partials` over the ranks the parameters are spread over
    /// ([`Objective::sum_over_ranks`]; nothing to do in one process): every
    /// dot product or count over the parameter vector a method branches on
    /// goes through here, so every rank takes the same decision.
    ///
    /// ```
    /// use mf_runtime::optim::{Evaluator, Iterate, Minimizer, Step};
    /// use mf_runtime::optim::vector::dot;
    /// use mf_runtime::Objective;
    ///
    /// /// Steps along −∇f by 1/‖∇f‖², the squared norm summed over ranks.
    /// struct Scaled;
    /// impl Minimizer for Scaled {
    ///     fn name(&self) -> &'static str { "scaled" }
    ///     fn step<O: Objective + ?Sized>(
    ///         &mut self, eval: &mut Evaluator<'_, O>, current: &Iterate, next: &mut Iterate,
    ///     ) -> Step {
    ///         let mut squares = [dot(&current.grad, &current.grad)];
    ///         eval.sum_over_ranks(&mut squares);
    ///         for ((n, c), g) in next.x.iter_mut().zip(&current.x).zip(&current.grad) {
    ///             *n = c - g / squares[0];
    ///         }
    ///         eval.evaluate(next);
    ///         Step::Moved
    ///     }
    /// }
    /// # struct Sq;
    /// # impl Objective for Sq {
    /// #     fn num_params(&self) -> usize { 1 }
    /// #     fn value(&mut self, x: &[f64]) -> f64 { x[0] * x[0] }
    /// #     fn value_and_gradient(&mut self, x: &[f64], g: &mut [f64]) -> f64 { g[0] = 2.0 * x[0]; x[0] * x[0] }
    /// # }
    /// let mut x = [1.0];
    /// Scaled.train().max_iters(1).minimize(&mut Sq, &mut x).unwrap();
    /// assert_eq!(x[0], 0.5);
    /// ```
    pub fn sum_over_ranks(&mut self, partials: &mut [f64]) {
        self.objective.sum_over_ranks(partials);
    }

    /// `‖a‖` of a vector of this rank's coordinates, over every rank (see
    /// [`vector::norm_over_ranks`]).
    pub fn norm(&mut self, a: &[f64]) -> f64 {
        vector::norm_over_ranks(a, &mut |v| self.objective.sum_over_ranks(v))
    }

    /// [`Iterate::finite_grad_norm`] over every rank: the gradient norm
    /// when the loss and every rank's gradient and parameters are finite,
    /// else what is not (this rank's first such value, or
    /// [`NonFinite::OnAnotherRank`]). The driver's check of each new point.
    pub fn finite_grad_norm(&mut self, at: &Iterate) -> Result<f64, NonFinite> {
        if at.loss.is_finite() {
            let sum = &mut |v: &mut [f64]| self.objective.sum_over_ranks(v);
            if let Some(norm) = vector::finite_norm_over_ranks(&at.grad, &at.x, sum) {
                return Ok(norm);
            }
        }
        Err(at.non_finite().unwrap_or(NonFinite::OnAnotherRank))
    }

    /// [`Iterate::finite_without_gradient`] over every rank.
    pub fn finite_without_gradient(&mut self, at: &Iterate) -> Result<(), NonFinite> {
        let mut bad = [f64::from(u8::from(at.finite_without_gradient().is_err()))];
        self.objective.sum_over_ranks(&mut bad);
        match bad[0] {
            0.0 => Ok(()),
            _ => Err(at
                .finite_without_gradient()
                .err()
                .unwrap_or(NonFinite::OnAnotherRank)),
        }
    }

    /// Whether the loss, gradient and parameters of `at` are finite on
    /// every rank.
    pub fn is_finite(&mut self, at: &Iterate) -> bool {
        let mut bad = [f64::from(u8::from(at.non_finite().is_some()))];
        self.objective.sum_over_ranks(&mut bad);
        bad[0] == 0.0
    }

    /// The objective's row systems, for row-block methods such as [`Als`](crate::Als)
    /// (building and solving a row system is not an evaluation).
    ///
    /// # Errors
    /// Why the objective has none ([`Objective::row_systems`]).
    pub fn row_systems(&mut self) -> Result<&mut dyn crate::blocks::RowSystems, String> {
        self.objective.row_systems()
    }

    /// Number of evaluations so far in this run.
    ///
    /// See [`Evaluator`] for an example (the report carries the final count).
    pub fn evaluations(&self) -> usize {
        self.evaluations
    }
}
