//! Optimizers: each one is only its update rule.
//!
//! Everything common to training — stopping rules, history, validation and
//! early stopping, the progress bar, divergence checks, the evaluation count
//! — lives in one driver, [`Trainer`]. An optimizer
//! implements [`Minimizer`]: given the current [`Iterate`] (parameters, loss
//! and gradient), it produces the next one through an [`Evaluator`].
//!
//! The evaluator is the only way an optimizer reaches the objective, and it
//! has a single method, [`Evaluator::evaluate`], which makes exactly one
//! [`Objective::value_and_gradient`] call. So no optimizer can pay for a
//! value and then a gradient at the same point: line searches get both from
//! the same call, and every call is counted in the report.
//!
//! | optimizer | rule | evaluations per step |
//! |---|---|---|
//! | [`GradientDescent`] | `x ← x − α ∇f(x)`, fixed α (the original method) | 1 |
//! | [`Backtracking`] | steepest descent, Armijo backtracking line search | ≥ 1 |
//! | [`Nesterov`] | Nesterov momentum, fixed rate | 1 |
//! | [`Adam`] | Adam (Kingma & Ba), bias-corrected | 1 |
//! | [`Lbfgs`] | L-BFGS two-loop recursion, strong-Wolfe line search | ≥ 1, usually 1 |
//! | [`Als`] | a sweep of row-block Newton steps (exact for quadratic rows: ALS) | 1 |
//!
//! All of them are deterministic: no randomness, and the same inputs give
//! bit-identical results.
//!
//! Non-negativity ([`NonNegative`]) is a projection applied to every point
//! before it is evaluated, so projected descent, momentum and Adam work as
//! usual for NMF-style factors; [`Lbfgs`] refuses it (see its doc).
//!
//! ```
//! use mf_runtime::{GradientDescent, Minimizer, Objective};
//!
//! /// f(x) = Σ (x_i − 3)²
//! struct Bowl;
//! impl Objective for Bowl {
//!     fn num_params(&self) -> usize { 2 }
//!     fn value(&mut self, x: &[f64]) -> f64 { x.iter().map(|v| (v - 3.0).powi(2)).sum() }
//!     fn value_and_gradient(&mut self, x: &[f64], g: &mut [f64]) -> f64 {
//!         for (g, v) in g.iter_mut().zip(x) { *g = 2.0 * (v - 3.0); }
//!         self.value(x)
//!     }
//! }
//! let mut x = [0.0, 10.0];
//! let report = GradientDescent::new(0.1).train().max_iters(500).minimize(&mut Bowl, &mut x).unwrap();
//! assert!((x[0] - 3.0).abs() < 1e-9 && (x[1] - 3.0).abs() < 1e-9);
//! assert_eq!(report.evaluations, report.iterations + 1);
//! ```

mod adam;
mod als;
mod backtracking;
mod evaluator;
mod gd;
mod lbfgs;
mod line_search;
mod nesterov;
mod projection;
#[cfg(test)]
pub(crate) mod test_problems;
pub mod vector;

pub use adam::Adam;
pub use als::{fold_in, Als};
pub use backtracking::Backtracking;
pub use evaluator::Evaluator;
pub use gd::GradientDescent;
pub use lbfgs::Lbfgs;
pub use nesterov::Nesterov;
pub use projection::NonNegative;

use crate::train::{Report, TrainError, Trainer};
use crate::Objective;

/// A point of the optimization: parameters, the loss there and its gradient.
///
/// The driver keeps two of them (current and next) and swaps them, so an
/// optimizer step writes the new point into buffers that already exist.
///
/// ```
/// use mf_runtime::optim::Iterate;
/// let mut it = Iterate::new(vec![1.0, 2.0]);
/// it.loss = 5.0;
/// it.grad.copy_from_slice(&[3.0, 4.0]);
/// assert_eq!(it.grad_norm(), 5.0);
/// assert!(it.non_finite().is_none());
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Iterate {
    /// The parameters.
    pub x: Vec<f64>,
    /// The loss at `x`.
    pub loss: f64,
    /// The gradient of the loss at `x`.
    pub grad: Vec<f64>,
}

impl Iterate {
    /// Parameters `x`, not yet evaluated (loss NaN, gradient zero).
    ///
    /// ```
    /// # use mf_runtime::optim::Iterate;
    /// let it = Iterate::new(vec![0.0; 3]);
    /// assert!(it.loss.is_nan() && it.grad == [0.0; 3]);
    /// ```
    pub fn new(x: Vec<f64>) -> Self {
        let grad = vec![0.0; x.len()];
        Iterate {
            x,
            loss: f64::NAN,
            grad,
        }
    }

    /// Euclidean norm of the gradient.
    ///
    /// ```
    /// # use mf_runtime::optim::Iterate;
    /// let mut it = Iterate::new(vec![0.0; 2]);
    /// it.grad = vec![6.0, 8.0];
    /// assert_eq!(it.grad_norm(), 10.0);
    /// ```
    pub fn grad_norm(&self) -> f64 {
        vector::norm(&self.grad)
    }

    /// The gradient norm when the loss, the gradient and the parameters are
    /// all finite, else what is not ([`non_finite`](Iterate::non_finite)):
    /// the driver's check of each new point, in one read of `x` and `grad`.
    ///
    /// ```
    /// # use mf_runtime::optim::{Iterate, NonFinite};
    /// let mut it = Iterate::new(vec![0.0; 2]);
    /// it.loss = 1.0;
    /// it.grad = vec![6.0, 8.0];
    /// assert_eq!(it.finite_grad_norm(), Ok(10.0));
    /// it.x[1] = f64::NAN;
    /// assert!(matches!(it.finite_grad_norm(), Err(NonFinite::Parameter { index: 1, .. })));
    /// ```
    pub fn finite_grad_norm(&self) -> Result<f64, NonFinite> {
        if self.loss.is_finite() {
            if let Some(norm) = vector::finite_norm(&self.grad, &self.x) {
                return Ok(norm);
            }
        }
        Err(self
            .non_finite()
            .unwrap_or(NonFinite::Loss { value: self.loss }))
    }

    /// `Ok` when the loss and the parameters are finite, else what is not:
    /// the check of a point whose gradient was not computed
    /// ([`Evaluator::evaluate_value`]).
    ///
    /// ```
    /// # use mf_runtime::optim::{Iterate, NonFinite};
    /// let mut it = Iterate::new(vec![0.0; 2]);
    /// it.loss = 1.0;
    /// it.grad = vec![f64::NAN; 2];
    /// assert_eq!(it.finite_without_gradient(), Ok(()));
    /// it.x[0] = f64::INFINITY;
    /// assert!(matches!(it.finite_without_gradient(), Err(NonFinite::Parameter { index: 0, .. })));
    /// ```
    pub fn finite_without_gradient(&self) -> Result<(), NonFinite> {
        if !self.loss.is_finite() {
            return Err(NonFinite::Loss { value: self.loss });
        }
        match vector::first_non_finite(&self.x) {
            Some(index) => Err(NonFinite::Parameter {
                index,
                value: self.x[index],
            }),
            None => Ok(()),
        }
    }

    /// What is not finite here, if anything: the loss first, then the first
    /// gradient component that is NaN or infinite, then the first parameter
    /// (a saturating loss such as `softplus` can stay finite, with a zero
    /// gradient, at infinite parameters).
    ///
    /// ```
    /// # use mf_runtime::optim::{Iterate, NonFinite};
    /// let mut it = Iterate::new(vec![0.0; 2]);
    /// it.loss = 1.0;
    /// it.grad[1] = f64::INFINITY;
    /// assert_eq!(it.non_finite(), Some(NonFinite::Gradient { index: 1, value: f64::INFINITY }));
    /// it.grad[1] = 0.0;
    /// it.x[0] = f64::NEG_INFINITY;
    /// assert_eq!(it.non_finite(), Some(NonFinite::Parameter { index: 0, value: f64::NEG_INFINITY }));
    /// ```
    pub fn non_finite(&self) -> Option<NonFinite> {
        if !self.loss.is_finite() {
            return Some(NonFinite::Loss { value: self.loss });
        }
        if let Some(index) = vector::first_non_finite(&self.grad) {
            return Some(NonFinite::Gradient {
                index,
                value: self.grad[index],
            });
        }
        vector::first_non_finite(&self.x).map(|index| NonFinite::Parameter {
            index,
            value: self.x[index],
        })
    }
}

/// Which quantity of an [`Iterate`] is NaN or infinite.
///
/// ```
/// use mf_runtime::optim::NonFinite;
/// assert_eq!(NonFinite::Loss { value: f64::NAN }.to_string(), "the loss is NaN");
/// assert_eq!(
///     NonFinite::Gradient { index: 4, value: f64::NEG_INFINITY }.to_string(),
///     "gradient component 4 is -inf"
/// );
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum NonFinite {
    /// The loss.
    Loss {
        /// Its value (NaN or ±inf).
        value: f64,
    },
    /// A component of the gradient.
    Gradient {
        /// Index of the first non-finite component in the flat vector.
        index: usize,
        /// Its value (NaN or ±inf).
        value: f64,
    },
    /// A parameter (with a finite loss and gradient).
    Parameter {
        /// Index of the first non-finite parameter in the flat vector.
        index: usize,
        /// Its value (NaN or ±inf).
        value: f64,
    },
    /// A value on another rank of a training over shards (that rank's
    /// error names it); this rank's are finite.
    OnAnotherRank,
    /// The system of a row (its loss, gradient or Hessian) where the loss
    /// itself is finite: a derivative that is infinite or undefined there,
    /// such as `sqrt(P^2)`'s at `P = 0`.
    RowSystem {
        /// The row's group (`"users"`, `"items"`, `"global"`).
        group: &'static str,
        /// The first such row of the group.
        row: usize,
    },
}

impl std::fmt::Display for NonFinite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NonFinite::Loss { value } => write!(f, "the loss is {value}"),
            NonFinite::Gradient { index, value } => {
                write!(f, "gradient component {index} is {value}")
            }
            NonFinite::RowSystem { group, row } => {
                write!(f, "the system of row {row} of `{group}` is not finite")
            }
            NonFinite::Parameter { index, value } => {
                write!(f, "parameter {index} is {value}")
            }
            NonFinite::OnAnotherRank => write!(f, "a value on another rank is not finite"),
        }
    }
}

/// What an optimizer step did.
///
/// ```
/// use mf_runtime::optim::Step;
/// assert_ne!(Step::Moved, Step::Stalled);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Step {
    /// `next` holds the new point, evaluated.
    Moved,
    /// No acceptable point was found (a line search gave up); `next` is
    /// meaningless and the driver stops at the current point.
    Stalled,
    /// The step met a value that is not finite and that it cannot go
    /// around (a row system of ALS); the driver stops with
    /// [`TrainError::Diverged`], keeping the
    /// current point.
    Diverged(NonFinite),
}

/// An update rule. The driver ([`Trainer`]) owns the loop; a minimizer only
/// turns the current point into the next one.
///
/// Implement it for a custom method (see [`Evaluator`] for a complete
/// example); use the built-in ones through [`train`](Minimizer::train) or
/// [`minimize`](Minimizer::minimize).
///
/// ```
/// use mf_runtime::{Adam, Minimizer};
/// assert_eq!(Adam::default().name(), "Adam");
/// ```
pub trait Minimizer {
    /// A short name for reports and errors, e.g. `"L-BFGS"`.
    ///
    /// ```
    /// # use mf_runtime::{Lbfgs, Minimizer};
    /// assert_eq!(Lbfgs::default().name(), "L-BFGS");
    /// ```
    fn name(&self) -> &'static str;

    /// Resets the method's state for a new run over `num_params` values
    /// (velocities, moments, curvature pairs). The default does nothing.
    ///
    /// ```
    /// # use mf_runtime::{Nesterov, Minimizer};
    /// let mut m = Nesterov::default();
    /// m.start(10); // called by the driver before the first step
    /// ```
    fn start(&mut self, num_params: usize) {
        let _ = num_params;
    }

    /// One step from `current` (evaluated, finite) to `next`, whose buffers
    /// have the right lengths and arbitrary contents. On [`Step::Moved`],
    /// `next` must hold a point evaluated through `eval`.
    ///
    /// See [`Evaluator`] for an example.
    fn step<O: Objective + ?Sized>(
        &mut self,
        eval: &mut Evaluator<'_, O>,
        current: &Iterate,
        next: &mut Iterate,
    ) -> Step;

    /// What to try when the loss or gradient becomes NaN or infinite,
    /// quoted in the divergence error. Fixed-rate methods suggest a smaller
    /// rate; the default fits methods with a line search, which reject
    /// non-finite trial points and so only diverge on a faulty objective.
    ///
    /// ```
    /// # use mf_runtime::{GradientDescent, Lbfgs, Minimizer};
    /// assert!(GradientDescent::new(0.5).divergence_hint().contains("smaller learning rate"));
    /// assert!(Lbfgs::default().divergence_hint().contains("overflow"));
    /// ```
    fn divergence_hint(&self) -> String {
        "the line search rejects non-finite points, so the objective returned a non-finite \
         value at a point it accepted: check the data and the loss for overflow"
            .to_string()
    }

    /// Whether the method's steps read the gradient at the points they
    /// produce. When not, the driver checks only the loss and the
    /// parameters of a new point, records its gradient norm as NaN and never
    /// stops on [`Trainer::tol_grad`](crate::Trainer::tol_grad). The
    /// default is yes.
    ///
    /// ```
    /// # use mf_runtime::{Als, Lbfgs, Minimizer};
    /// assert!(Lbfgs::default().needs_gradient());
    /// assert!(!Als::default().needs_gradient());
    /// ```
    fn needs_gradient(&self) -> bool {
        true
    }

    /// Whether the method needs the objective's row systems
    /// ([`Objective::row_systems`]); the driver refuses an objective
    /// without them, with the reason. The default is no.
    ///
    /// ```
    /// # use mf_runtime::{Als, Lbfgs, Minimizer};
    /// assert!(Als::default().needs_row_systems());
    /// assert!(!Lbfgs::default().needs_row_systems());
    /// ```
    fn needs_row_systems(&self) -> bool {
        false
    }

    /// Whether the method is sound with a [`NonNegative`] projection. The
    /// default is yes; the driver refuses a projection otherwise.
    ///
    /// ```
    /// # use mf_runtime::{Adam, Lbfgs, Minimizer};
    /// assert!(Adam::default().supports_projection());
    /// assert!(!Lbfgs::default().supports_projection());
    /// ```
    fn supports_projection(&self) -> bool {
        true
    }

    /// A [`Trainer`] with this method and default settings, to configure
    /// stopping rules, validation, callbacks…
    ///
    /// ```
    /// # use mf_runtime::{Adam, Minimizer};
    /// let trainer = Adam::default().learning_rate(0.01).train().max_iters(100).progress(false);
    /// # let _ = trainer;
    /// ```
    fn train<'a>(self) -> Trainer<'a, Self>
    where
        Self: Sized,
    {
        Trainer::new(self)
    }

    /// Minimizes `objective` from `x` with the default [`Trainer`] settings;
    /// `x` receives the result. Shorthand for `self.train().minimize(…)`.
    ///
    /// ```
    /// # use mf_runtime::{Lbfgs, Minimizer, Objective};
    /// # struct Sq;
    /// # impl Objective for Sq {
    /// #     fn num_params(&self) -> usize { 1 }
    /// #     fn value(&mut self, x: &[f64]) -> f64 { (x[0] - 2.0).powi(2) }
    /// #     fn value_and_gradient(&mut self, x: &[f64], g: &mut [f64]) -> f64 { g[0] = 2.0 * (x[0] - 2.0); self.value(x) }
    /// # }
    /// let mut x = [0.0];
    /// Lbfgs::default().minimize(&mut Sq, &mut x).unwrap();
    /// assert!((x[0] - 2.0).abs() < 1e-8);
    /// ```
    fn minimize<O: Objective + ?Sized>(
        self,
        objective: &mut O,
        x: &mut [f64],
    ) -> Result<Report, TrainError>
    where
        Self: Sized,
    {
        Trainer::new(self).minimize(objective, x)
    }
}

/// A setting as quoted in a message: plain decimals in the usual range,
/// scientific notation beyond (a rate of 1e200 is not 201 digits).
pub(crate) fn setting(v: f64) -> String {
    if v == 0.0 || (1e-4..1e7).contains(&v.abs()) {
        v.to_string()
    } else {
        format!("{v:e}")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn settings_are_quoted_briefly() {
        use super::setting;
        assert_eq!(setting(0.01), "0.01");
        assert_eq!(setting(1e6), "1000000");
        assert_eq!(setting(1e200), "1e200");
        assert_eq!(setting(1e-9), "1e-9");
        assert_eq!(setting(0.0), "0");
    }
}
