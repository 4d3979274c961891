//! How a run ended: why it stopped, its best validation step, its report,
//! and the errors that end it.

use std::fmt;
use std::time::Duration;

use super::History;
use crate::optim::NonFinite;

/// Why a run stopped (when it did not fail).
///
/// ```
/// use mf_runtime::StopReason;
/// assert_eq!(StopReason::MaxIters.to_string(), "reached the maximum number of iterations");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// [`Trainer::max_iters`](crate::Trainer::max_iters) steps were taken.
    MaxIters,
    /// The relative change of the loss over one step fell to [`Trainer::tol_rel_loss`](crate::Trainer::tol_rel_loss).
    LossChange,
    /// The gradient norm fell to [`Trainer::tol_grad`](crate::Trainer::tol_grad).
    GradientNorm,
    /// The [`Trainer::time_limit`](crate::Trainer::time_limit) was spent.
    TimeLimit,
    /// The validation metric did not improve for [`Trainer::patience`](crate::Trainer::patience) checks.
    EarlyStopping,
    /// The [`Trainer::callback`](crate::Trainer::callback) returned `ControlFlow::Break`.
    Callback,
    /// The optimizer's line search found no acceptable step (usually: at the
    /// minimum to round-off).
    LineSearchFailed,
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StopReason::MaxIters => "reached the maximum number of iterations",
            StopReason::LossChange => "relative change of the loss below tolerance",
            StopReason::GradientNorm => "gradient norm below tolerance",
            StopReason::TimeLimit => "time limit reached",
            StopReason::EarlyStopping => "validation metric stopped improving",
            StopReason::Callback => "stopped by the callback",
            StopReason::LineSearchFailed => "the line search found no acceptable step",
        })
    }
}

/// The step with the best (lowest) validation metric.
///
/// ```
/// use mf_runtime::Best;
/// let best = Best { step: 40, validation: 0.93, loss: 1200.0 };
/// assert_eq!(best.step, 40);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Best {
    /// The step.
    pub step: usize,
    /// Its validation metric.
    pub validation: f64,
    /// Its loss.
    pub loss: f64,
}

/// The outcome of a successful run.
///
/// ```
/// # use mf_runtime::{GradientDescent, Minimizer, Objective, StopReason};
/// # struct Sq;
/// # impl Objective for Sq {
/// #     fn num_params(&self) -> usize { 1 }
/// #     fn value(&mut self, x: &[f64]) -> f64 { x[0] * x[0] }
/// #     fn value_and_gradient(&mut self, x: &[f64], g: &mut [f64]) -> f64 { g[0] = 2.0 * x[0]; x[0] * x[0] }
/// # }
/// let mut x = [1.0];
/// let report = GradientDescent::new(0.25).train().max_iters(3).minimize(&mut Sq, &mut x)?;
/// assert_eq!((report.stop, report.iterations, report.evaluations), (StopReason::MaxIters, 3, 4));
/// assert_eq!(report.loss, 0.125f64.powi(2));
/// assert_eq!(report.history.records().len(), 4); // steps 0, 1, 2, 3
/// # Ok::<(), mf_runtime::TrainError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// The optimizer's name.
    pub method: &'static str,
    /// Why the run stopped.
    pub stop: StopReason,
    /// Optimizer steps taken.
    pub iterations: usize,
    /// Objective evaluations (`value_and_gradient` calls), the start included.
    pub evaluations: usize,
    /// The loss at the returned parameters.
    pub loss: f64,
    /// The gradient norm at the returned parameters.
    pub grad_norm: f64,
    /// Wall-clock time of the run.
    pub elapsed: Duration,
    /// With a validation metric: the best step, whose parameters were
    /// returned (unless [`Trainer::restore_best`](crate::Trainer::restore_best) was turned off).
    pub best: Option<Best>,
    /// The recorded steps.
    pub history: History,
}

/// Why a run failed.
///
/// ```
/// # use mf_runtime::{GradientDescent, Minimizer, Objective, TrainError};
/// # struct Sq;
/// # impl Objective for Sq {
/// #     fn num_params(&self) -> usize { 1 }
/// #     fn value(&mut self, x: &[f64]) -> f64 { x[0] * x[0] }
/// #     fn value_and_gradient(&mut self, x: &[f64], g: &mut [f64]) -> f64 { g[0] = 2.0 * x[0]; x[0] * x[0] }
/// # }
/// let mut x = [1.0, 2.0];
/// let err = GradientDescent::new(0.1).minimize(&mut Sq, &mut x).unwrap_err();
/// assert!(matches!(err, TrainError::LengthMismatch { expected: 1, got: 2 }));
/// ```
#[derive(thiserror::Error)]
pub enum TrainError {
    /// The loss, the gradient or a parameter became NaN or infinite. The
    /// parameters were left at the last step where all three were finite.
    #[error(
        "{method} diverged at step {step}: {what}. The parameters were left at step {} \
         (the last finite loss, {last_finite_loss}). What to try: {hint}",
        step - 1
    )]
    Diverged {
        /// The optimizer's name.
        method: &'static str,
        /// The step at which the non-finite value appeared.
        step: usize,
        /// What is not finite.
        what: NonFinite,
        /// The loss at step `step − 1`, whose parameters were kept.
        last_finite_loss: f64,
        /// What to try, from [`Minimizer::divergence_hint`](crate::Minimizer::divergence_hint).
        hint: String,
    },
    /// The loss, the gradient or a parameter is not finite at the start.
    #[error(
        "at the starting parameters {what}: check the initial parameters and the data \
         (missing entries, overflow)"
    )]
    NonFiniteStart {
        /// What is not finite.
        what: NonFinite,
    },
    /// The parameter vector does not have the objective's length.
    #[error("the objective expects {expected} parameters, the vector has {got}")]
    LengthMismatch {
        /// `Objective::num_params()`.
        expected: usize,
        /// `x.len()`.
        got: usize,
    },
    /// A [`NonNegative`](crate::NonNegative) range goes past the end of the parameter vector.
    #[error("the non-negativity range {start}..{end} goes past the {len} parameters")]
    ProjectionOutOfRange {
        /// Start of the range.
        start: usize,
        /// End of the range.
        end: usize,
        /// Number of parameters.
        len: usize,
    },
    /// The optimizer cannot honour a [`NonNegative`](crate::NonNegative) projection.
    #[error(
        "{method} does not support a non-negativity projection; use Backtracking, \
         GradientDescent, Nesterov or Adam for non-negative factors"
    )]
    ProjectionUnsupported {
        /// The optimizer's name.
        method: &'static str,
    },
    /// The method needs what the objective does not have, e.g. [`Als`](crate::Als)
    /// on a loss with a term that has no row systems.
    #[error("{method} cannot train this loss: {reason}; train it with L-BFGS or Adam instead")]
    MethodUnsupported {
        /// The optimizer's name.
        method: &'static str,
        /// Why, naming the term.
        reason: String,
    },
}

debug_as_display!(TrainError);
