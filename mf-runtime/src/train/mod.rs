//! The training loop shared by every optimizer.
//!
//! A [`Trainer`] drives a [`Minimizer`] (which only knows its update rule)
//! and owns everything common: stopping rules, history, validation with
//! early stopping, the callback hook, the progress bar and the divergence
//! check. Get one from any optimizer with [`Minimizer::train`].
//!
//! ```
//! use std::ops::ControlFlow;
//! use std::time::Duration;
//! use mf_runtime::{Lbfgs, Minimizer, Objective, StopReason};
//!
//! /// f(x) = Σ i·(x_i − 1)²
//! struct Bowl;
//! impl Objective for Bowl {
//!     fn num_params(&self) -> usize { 3 }
//!     fn value(&mut self, x: &[f64]) -> f64 {
//!         x.iter().enumerate().map(|(i, v)| (i + 1) as f64 * (v - 1.0).powi(2)).sum()
//!     }
//!     fn value_and_gradient(&mut self, x: &[f64], g: &mut [f64]) -> f64 {
//!         for (i, (g, v)) in g.iter_mut().zip(x).enumerate() { *g = 2.0 * (i + 1) as f64 * (v - 1.0); }
//!         self.value(x)
//!     }
//! }
//!
//! let mut x = vec![0.0; 3];
//! let mut logged = 0;
//! let report = Lbfgs::default()
//!     .train()
//!     .max_iters(100)
//!     .tol_grad(1e-10)
//!     .time_limit(Duration::from_secs(10))
//!     .validation(|x: &[f64]| (x[0] - 1.0).abs())  // e.g. RMSE on held-out data
//!     .callback(|r| { logged += 1; ControlFlow::Continue(()) })
//!     .progress(false)
//!     .minimize(&mut Bowl, &mut x)?;
//! assert_eq!(report.stop, StopReason::GradientNorm);
//! assert!(x.iter().all(|v| (v - 1.0).abs() < 1e-9));
//! let mut csv = Vec::new();
//! report.history.write_csv(&mut csv)?;
//! # assert!(logged > 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod history;
mod report;
#[cfg(test)]
mod tests;

use std::io::{self, IsTerminal};
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::optim::{Evaluator, Iterate, Minimizer, NonNegative, Step};
use crate::Objective;

pub use history::{History, Record};
pub use report::{Best, Report, StopReason, TrainError};

type Metric<'a> = Box<dyn FnMut(&[f64]) -> f64 + 'a>;
type Callback<'a> = Box<dyn FnMut(&Record) -> ControlFlow<()> + 'a>;

/// The training loop: an optimizer plus stopping rules, metrics, history,
/// callback and progress bar. Built from an optimizer with
/// [`Minimizer::train`]; see the [module docs](crate::train) for a full example.
///
/// Defaults: at most 1000 steps; stop when the relative loss change over a
/// step is ≤ 1e-12 or the gradient norm is exactly 0; no time limit; every
/// step recorded; metrics every step; no early stopping; progress bar on
/// when stderr is a terminal.
///
/// ```
/// use mf_runtime::{Adam, Minimizer};
/// let trainer = Adam::new(0.01).train().max_iters(2000).tol_rel_loss(1e-9);
/// # let _ = trainer;
/// ```
pub struct Trainer<'a, M> {
    method: M,
    max_iters: usize,
    tol_rel_loss: f64,
    tol_grad: f64,
    time_limit: Option<Duration>,
    record_every: usize,
    metrics_every: usize,
    patience: Option<usize>,
    restore_best: bool,
    validation: Option<Metric<'a>>,
    train_metric: Option<Metric<'a>>,
    callback: Option<Callback<'a>>,
    projection: Option<NonNegative>,
    progress: bool,
}

impl<'a, M: Minimizer> Trainer<'a, M> {
    /// A trainer for `method` with the default settings (same as
    /// [`Minimizer::train`]).
    ///
    /// ```
    /// # use mf_runtime::{Lbfgs, Trainer};
    /// let trainer = Trainer::new(Lbfgs::default());
    /// # let _ = trainer;
    /// ```
    pub fn new(method: M) -> Self {
        Trainer {
            method,
            max_iters: 1000,
            tol_rel_loss: 1e-12,
            tol_grad: 0.0,
            time_limit: None,
            record_every: 1,
            metrics_every: 1,
            patience: None,
            restore_best: true,
            validation: None,
            train_metric: None,
            callback: None,
            projection: None,
            progress: true,
        }
    }

    /// Maximum number of optimizer steps (default 1000).
    ///
    /// ```
    /// # use mf_runtime::{GradientDescent, Minimizer};
    /// let trainer = GradientDescent::default().train().max_iters(5000);
    /// # let _ = trainer;
    /// ```
    pub fn max_iters(mut self, n: usize) -> Self {
        self.max_iters = n;
        self
    }

    /// Stop when `|f_prev − f| ≤ tol · max(|f_prev|, |f|)` over one step
    /// (default 1e-12; 0 stops only on an unchanged loss).
    ///
    /// ```
    /// # use mf_runtime::{Lbfgs, Minimizer};
    /// let trainer = Lbfgs::default().train().tol_rel_loss(1e-6);
    /// # let _ = trainer;
    /// ```
    pub fn tol_rel_loss(mut self, tol: f64) -> Self {
        self.tol_rel_loss = tol;
        self
    }

    /// Stop when the gradient's Euclidean norm is `≤ tol` (default 0).
    ///
    /// ```
    /// # use mf_runtime::{Lbfgs, Minimizer};
    /// let trainer = Lbfgs::default().train().tol_grad(1e-6);
    /// # let _ = trainer;
    /// ```
    pub fn tol_grad(mut self, tol: f64) -> Self {
        self.tol_grad = tol;
        self
    }

    /// Stop after the step during which this wall-clock budget ran out.
    ///
    /// ```
    /// # use mf_runtime::{Adam, Minimizer};
    /// let trainer = Adam::default().train().time_limit(std::time::Duration::from_secs(60));
    /// # let _ = trainer;
    /// ```
    pub fn time_limit(mut self, budget: Duration) -> Self {
        self.time_limit = Some(budget);
        self
    }

    /// Record every `n`-th step in the history (default 1). Step 0, steps
    /// with metrics and the last step are always recorded; the callback sees
    /// each record.
    ///
    /// ```
    /// # use mf_runtime::{GradientDescent, Minimizer};
    /// let trainer = GradientDescent::default().train().record_every(100);
    /// # let _ = trainer;
    /// ```
    pub fn record_every(mut self, n: usize) -> Self {
        self.record_every = n.max(1);
        self
    }

    /// Compute the validation and train metrics every `n` steps (default 1),
    /// from step 0 on.
    ///
    /// ```
    /// # use mf_runtime::{Adam, Minimizer};
    /// let trainer = Adam::default().train().metrics_every(10);
    /// # let _ = trainer;
    /// ```
    pub fn metrics_every(mut self, n: usize) -> Self {
        self.metrics_every = n.max(1);
        self
    }

    /// A validation metric of the parameters, lower is better (e.g. RMSE on
    /// held-out ratings). At the end of the run the parameters of its best
    /// step are returned (see [`restore_best`](Trainer::restore_best)).
    ///
    /// ```
    /// # use mf_runtime::{Adam, Minimizer};
    /// let held_out = vec![(0usize, 1.0f64)];
    /// let trainer = Adam::default().train().validation(move |x: &[f64]| {
    ///     let se: f64 = held_out.iter().map(|&(i, v)| (x[i] - v).powi(2)).sum();
    ///     (se / held_out.len() as f64).sqrt()
    /// });
    /// # let _ = trainer;
    /// ```
    pub fn validation(mut self, metric: impl FnMut(&[f64]) -> f64 + 'a) -> Self {
        self.validation = Some(Box::new(metric));
        self
    }

    /// A metric on the training data (e.g. train RMSE), recorded next to the
    /// validation metric; it does not drive early stopping.
    ///
    /// ```
    /// # use mf_runtime::{Adam, Minimizer};
    /// let trainer = Adam::default().train().train_metric(|x: &[f64]| x[0].abs());
    /// # let _ = trainer;
    /// ```
    pub fn train_metric(mut self, metric: impl FnMut(&[f64]) -> f64 + 'a) -> Self {
        self.train_metric = Some(Box::new(metric));
        self
    }

    /// Early stopping: stop when `checks` validation computations in a row
    /// did not improve on the best one. Needs a [`validation`](Trainer::validation) metric.
    ///
    /// ```
    /// # use mf_runtime::{Adam, Minimizer};
    /// let trainer = Adam::default().train().validation(|x: &[f64]| x[0]).patience(5);
    /// # let _ = trainer;
    /// ```
    pub fn patience(mut self, checks: usize) -> Self {
        self.patience = Some(checks);
        self
    }

    /// Whether to return the parameters of the best validation step rather
    /// than the last ones (default true; only with a validation metric).
    ///
    /// ```
    /// # use mf_runtime::{Adam, Minimizer};
    /// let trainer = Adam::default().train().validation(|x: &[f64]| x[0]).restore_best(false);
    /// # let _ = trainer;
    /// ```
    pub fn restore_best(mut self, restore: bool) -> Self {
        self.restore_best = restore;
        self
    }

    /// Called with each record as it is made; `ControlFlow::Break(())`
    /// stops the run ([`StopReason::Callback`]).
    ///
    /// ```
    /// # use mf_runtime::{Adam, Minimizer};
    /// use std::ops::ControlFlow;
    /// let trainer = Adam::default().train().callback(|r| {
    ///     eprintln!("step {} loss {}", r.step, r.loss);
    ///     if r.loss < 1e-3 { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
    /// });
    /// # let _ = trainer;
    /// ```
    pub fn callback(mut self, hook: impl FnMut(&Record) -> ControlFlow<()> + 'a) -> Self {
        self.callback = Some(Box::new(hook));
        self
    }

    /// Keep some or all parameters non-negative by projection (see
    /// [`NonNegative`]). Not every optimizer supports it.
    ///
    /// ```
    /// # use mf_runtime::{Backtracking, Minimizer, NonNegative};
    /// let trainer = Backtracking::default().train().nonnegative(NonNegative::all());
    /// # let _ = trainer;
    /// ```
    pub fn nonnegative(mut self, constraint: NonNegative) -> Self {
        self.projection = Some(constraint);
        self
    }

    /// Show a progress bar on stderr when it is a terminal (default true);
    /// `false` never shows one.
    ///
    /// ```
    /// # use mf_runtime::{Adam, Minimizer};
    /// let quiet = Adam::default().train().progress(false);
    /// # let _ = quiet;
    /// ```
    pub fn progress(mut self, show: bool) -> Self {
        self.progress = show;
        self
    }

    /// Runs the optimizer on `objective` from `x`, which receives the result:
    /// the last parameters, or the best validated ones (see
    /// [`restore_best`](Trainer::restore_best)). With a projection, `x` is
    /// projected first.
    ///
    /// # Errors
    /// [`TrainError::Diverged`] when the loss, the gradient or a parameter
    /// becomes NaN or infinite (then `x` holds the last parameters where all
    /// were finite),
    /// and the setup errors of [`TrainError`] (then `x` is unchanged).
    ///
    /// See the [module docs](crate::train) for an example.
    pub fn minimize<O: Objective + ?Sized>(
        mut self,
        objective: &mut O,
        x: &mut [f64],
    ) -> Result<Report, TrainError> {
        let n = objective.num_params();
        if x.len() != n {
            return Err(TrainError::LengthMismatch {
                expected: n,
                got: x.len(),
            });
        }
        if self.method.needs_row_systems() {
            if let Err(reason) = objective.row_systems() {
                return Err(TrainError::MethodUnsupported {
                    method: self.method.name(),
                    reason,
                });
            }
        }
        let projection = self.projection.take();
        if let Some(projection) = &projection {
            if !self.method.supports_projection() {
                return Err(TrainError::ProjectionUnsupported {
                    method: self.method.name(),
                });
            }
            if let Some(r) = projection.out_of_bounds(n) {
                return Err(TrainError::ProjectionOutOfRange {
                    start: r.start,
                    end: r.end,
                    len: n,
                });
            }
        }

        let start = Instant::now();
        let mut eval = Evaluator::new(objective, projection.as_ref());
        let mut current = Iterate::new(x.to_vec());
        eval.evaluate(&mut current);
        let mut grad_norm = match eval.finite_grad_norm(&current) {
            Ok(norm) => norm,
            Err(what) => return Err(TrainError::NonFiniteStart { what }),
        };
        self.method.start(n);
        let mut next = current.clone();
        let bar = self.progress_bar();
        let mut run = Run {
            start,
            history: Vec::new(),
            best: None,
            best_x: Vec::new(),
            best_grad_norm: f64::NAN,
            checks_since_best: 0,
            previous_loss: None,
        };

        let mut step = 0;
        let stop = loop {
            let observed = self.observe(&mut run, step, &current, grad_norm, eval.evaluations());
            if !bar.is_hidden() {
                bar.set_position(step as u64);
                bar.set_message(format!("loss {:.6e}", current.loss));
            }
            if let Some(reason) = observed {
                break reason;
            }
            match self.method.step(&mut eval, &current, &mut next) {
                Step::Moved => {}
                Step::Stalled => break StopReason::LineSearchFailed,
                Step::Diverged(what) => {
                    bar.abandon();
                    x.copy_from_slice(&current.x);
                    return Err(TrainError::Diverged {
                        method: self.method.name(),
                        step: step + 1,
                        what,
                        last_finite_loss: current.loss,
                        hint: self.method.divergence_hint(),
                    });
                }
            }
            step += 1;
            // One read of the new point: its gradient norm, or what diverged.
            let checked = match self.method.needs_gradient() {
                true => eval.finite_grad_norm(&next),
                false => eval.finite_without_gradient(&next).map(|()| f64::NAN),
            };
            grad_norm = match checked {
                Ok(norm) => norm,
                Err(what) => {
                    bar.abandon();
                    x.copy_from_slice(&current.x);
                    return Err(TrainError::Diverged {
                        method: self.method.name(),
                        step,
                        what,
                        last_finite_loss: current.loss,
                        hint: self.method.divergence_hint(),
                    });
                }
            };
            run.previous_loss = Some(current.loss);
            std::mem::swap(&mut current, &mut next);
        };
        bar.finish_and_clear();

        if run.history.last().map(|r| r.step) != Some(step) {
            let record = run.record(step, &current, grad_norm, eval.evaluations());
            // The run is stopping anyway: the callback's answer does not matter.
            let _ = self.push(&mut run, record);
        }
        let (loss, grad_norm) = match run.best {
            Some(best) if self.restore_best && best.step != step => {
                x.copy_from_slice(&run.best_x);
                (best.loss, run.best_grad_norm)
            }
            _ => {
                x.copy_from_slice(&current.x);
                (current.loss, grad_norm)
            }
        };
        Ok(Report {
            method: self.method.name(),
            stop,
            iterations: step,
            evaluations: eval.evaluations(),
            loss,
            grad_norm,
            elapsed: start.elapsed(),
            best: run.best,
            history: History::from(run.history),
        })
    }

    /// Metrics, record, callback and stopping rules at `step`; the reason to
    /// stop, if any.
    fn observe(
        &mut self,
        run: &mut Run,
        step: usize,
        current: &Iterate,
        grad_norm: f64,
        evaluations: usize,
    ) -> Option<StopReason> {
        let mut record = run.record(step, current, grad_norm, evaluations);
        let metrics_now = step % self.metrics_every == 0;
        if metrics_now {
            record.train_metric = self.train_metric.as_mut().map(|m| m(&current.x));
            record.validation = self.validation.as_mut().map(|m| m(&current.x));
        }
        if let Some(validation) = record.validation {
            if run.best.is_none_or(|b| validation < b.validation) {
                run.best = Some(Best {
                    step,
                    validation,
                    loss: current.loss,
                });
                run.best_x.clone_from(&current.x);
                run.best_grad_norm = grad_norm;
                run.checks_since_best = 0;
            } else {
                run.checks_since_best += 1;
            }
        }
        let mut callback_stop = false;
        let has_metrics = record.validation.is_some() || record.train_metric.is_some();
        if step % self.record_every == 0 || has_metrics {
            callback_stop = self.push(run, record).is_break();
        }

        let relative_change = run.previous_loss.map(|previous| {
            let scale = previous.abs().max(current.loss.abs());
            (previous - current.loss).abs() <= self.tol_rel_loss * scale
        });
        if self.patience.is_some_and(|p| run.checks_since_best >= p) {
            Some(StopReason::EarlyStopping)
        } else if callback_stop {
            Some(StopReason::Callback)
        } else if grad_norm <= self.tol_grad {
            Some(StopReason::GradientNorm)
        } else if relative_change == Some(true) {
            Some(StopReason::LossChange)
        } else if step >= self.max_iters {
            Some(StopReason::MaxIters)
        } else if self.time_limit.is_some_and(|t| run.start.elapsed() >= t) {
            Some(StopReason::TimeLimit)
        } else {
            None
        }
    }

    /// Stores `record` and shows it to the callback.
    fn push(&mut self, run: &mut Run, record: Record) -> ControlFlow<()> {
        run.history.push(record);
        match self.callback.as_mut() {
            Some(hook) => hook(&record),
            None => ControlFlow::Continue(()),
        }
    }

    fn progress_bar(&self) -> ProgressBar {
        if !self.progress || !io::stderr().is_terminal() {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::with_draw_target(
            Some(self.max_iters as u64),
            ProgressDrawTarget::stderr(),
        );
        let style = ProgressStyle::with_template(
            "{prefix} [{elapsed_precise}] {wide_bar} {pos}/{len} {msg}",
        )
        .expect("the progress template is valid");
        bar.set_style(style);
        bar.set_prefix(self.method.name());
        bar
    }
}

/// The mutable state of one run.
struct Run {
    start: Instant,
    history: Vec<Record>,
    best: Option<Best>,
    best_x: Vec<f64>,
    best_grad_norm: f64,
    checks_since_best: usize,
    previous_loss: Option<f64>,
}

impl Run {
    fn record(&self, step: usize, at: &Iterate, grad_norm: f64, evaluations: usize) -> Record {
        Record {
            step,
            loss: at.loss,
            grad_norm,
            elapsed: self.start.elapsed().as_secs_f64(),
            evaluations,
            train_metric: None,
            validation: None,
        }
    }
}
