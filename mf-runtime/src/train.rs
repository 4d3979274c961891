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

use std::fmt;
use std::io::{self, BufRead, IsTerminal, Write};
use std::ops::ControlFlow;
use std::path::Path;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::optim::{Evaluator, Iterate, Minimizer, NonFinite, NonNegative, Step};
use crate::Objective;

/// Why a run stopped (when it did not fail).
///
/// ```
/// use mf_runtime::StopReason;
/// assert_eq!(StopReason::MaxIters.to_string(), "reached the maximum number of iterations");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// [`Trainer::max_iters`] steps were taken.
    MaxIters,
    /// The relative change of the loss over one step fell to [`Trainer::tol_rel_loss`].
    LossChange,
    /// The gradient norm fell to [`Trainer::tol_grad`].
    GradientNorm,
    /// The [`Trainer::time_limit`] was spent.
    TimeLimit,
    /// The validation metric did not improve for [`Trainer::patience`] checks.
    EarlyStopping,
    /// The [`Trainer::callback`] returned `ControlFlow::Break`.
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

/// One line of the training history.
///
/// ```
/// use mf_runtime::Record;
/// let r = Record { step: 3, loss: 1.5, grad_norm: 0.2, elapsed: 0.01, evaluations: 4,
///                  train_metric: None, validation: Some(0.9) };
/// assert_eq!(r.validation, Some(0.9));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Record {
    /// Number of optimizer steps taken (0 = the starting point).
    pub step: usize,
    /// The loss at this step's parameters.
    pub loss: f64,
    /// Euclidean norm of the gradient there.
    pub grad_norm: f64,
    /// Seconds since the run started.
    pub elapsed: f64,
    /// Objective evaluations (`value_and_gradient` calls) so far.
    pub evaluations: usize,
    /// The [`Trainer::train_metric`], on the steps where metrics are computed.
    pub train_metric: Option<f64>,
    /// The [`Trainer::validation`] metric, on the steps where metrics are computed.
    pub validation: Option<f64>,
}

/// The recorded steps of a run, exportable as CSV.
///
/// ```
/// use mf_runtime::{History, Record};
/// let history = History::from(vec![Record { step: 0, loss: 2.0, grad_norm: 1.0, elapsed: 0.0,
///     evaluations: 1, train_metric: None, validation: None }]);
/// let mut out = Vec::new();
/// history.write_csv(&mut out).unwrap();
/// assert_eq!(String::from_utf8(out).unwrap(),
///     "step,loss,grad_norm,elapsed_s,evaluations,train_metric,validation\n0,2,1,0,1,,\n");
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    records: Vec<Record>,
}

const CSV_HEADER: &str = "step,loss,grad_norm,elapsed_s,evaluations,train_metric,validation";

impl History {
    /// The records, in step order.
    ///
    /// ```
    /// # use mf_runtime::History;
    /// assert!(History::default().records().is_empty());
    /// ```
    pub fn records(&self) -> &[Record] {
        &self.records
    }

    /// Writes the history as CSV: a header line
    /// `step,loss,grad_norm,elapsed_s,evaluations,train_metric,validation`,
    /// then one line per record. Floats are written in Rust's shortest form
    /// that reads back to the same value; an absent metric is an empty field.
    ///
    /// See [`History`] for an example.
    pub fn write_csv<W: Write>(&self, mut out: W) -> io::Result<()> {
        writeln!(out, "{CSV_HEADER}")?;
        let metric = |m: Option<f64>| m.map(|v| v.to_string()).unwrap_or_default();
        for r in &self.records {
            writeln!(
                out,
                "{},{},{},{},{},{},{}",
                r.step,
                r.loss,
                r.grad_norm,
                r.elapsed,
                r.evaluations,
                metric(r.train_metric),
                metric(r.validation)
            )?;
        }
        out.flush()
    }

    /// Writes the CSV of [`write_csv`](History::write_csv) to a file.
    ///
    /// ```no_run
    /// # use mf_runtime::History;
    /// History::default().save_csv("history.csv")?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn save_csv(&self, path: impl AsRef<Path>) -> io::Result<()> {
        let file = std::fs::File::create(path)?;
        self.write_csv(io::BufWriter::new(file))
    }

    /// Reads a history written by [`write_csv`](History::write_csv).
    ///
    /// ```
    /// # use mf_runtime::History;
    /// let csv = "step,loss,grad_norm,elapsed_s,evaluations,train_metric,validation\n5,0.5,0.1,1.25,7,,0.9\n";
    /// let h = History::read_csv(csv.as_bytes()).unwrap();
    /// assert_eq!((h.records()[0].step, h.records()[0].validation), (5, Some(0.9)));
    /// ```
    pub fn read_csv<R: BufRead>(input: R) -> io::Result<History> {
        let invalid = |line: usize, what: String| {
            io::Error::new(io::ErrorKind::InvalidData, format!("line {line}: {what}"))
        };
        let mut lines = input.lines();
        match lines.next().transpose()? {
            Some(header) if header.trim_end() == CSV_HEADER => {}
            other => {
                return Err(invalid(
                    1,
                    format!("expected the header `{CSV_HEADER}`, found {other:?}"),
                ))
            }
        }
        let mut records = Vec::new();
        for (i, line) in lines.enumerate() {
            let line = line?;
            let number = i + 2;
            let fields: Vec<&str> = line.trim_end().split(',').collect();
            if fields.len() != 7 {
                return Err(invalid(
                    number,
                    format!("{} fields, expected 7", fields.len()),
                ));
            }
            let parse_err = |e: &dyn fmt::Display| invalid(number, e.to_string());
            let float = |s: &str| s.parse::<f64>().map_err(|e| parse_err(&e));
            let int = |s: &str| s.parse::<usize>().map_err(|e| parse_err(&e));
            let metric = |s: &str| (!s.is_empty()).then(|| float(s)).transpose();
            records.push(Record {
                step: int(fields[0])?,
                loss: float(fields[1])?,
                grad_norm: float(fields[2])?,
                elapsed: float(fields[3])?,
                evaluations: int(fields[4])?,
                train_metric: metric(fields[5])?,
                validation: metric(fields[6])?,
            });
        }
        Ok(History { records })
    }
}

impl From<Vec<Record>> for History {
    fn from(records: Vec<Record>) -> Self {
        History { records }
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
    /// returned (unless [`Trainer::restore_best`] was turned off).
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
#[derive(Debug, thiserror::Error)]
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
        /// What to try, from [`Minimizer::divergence_hint`].
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
    /// A [`NonNegative`] range goes past the end of the parameter vector.
    #[error("the non-negativity range {start}..{end} goes past the {len} parameters")]
    ProjectionOutOfRange {
        /// Start of the range.
        start: usize,
        /// End of the range.
        end: usize,
        /// Number of parameters.
        len: usize,
    },
    /// The optimizer cannot honour a [`NonNegative`] projection.
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
        let mut grad_norm = match current.finite_grad_norm() {
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
                true => next.finite_grad_norm(),
                false => next.finite_without_gradient().map(|()| f64::NAN),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::test_problems::{Counting, Quadratic, Rosenbrock};
    use crate::{Adam, Backtracking, GradientDescent, Lbfgs, Nesterov};

    /// `f(x) = x²` in one dimension.
    fn square() -> Quadratic {
        Quadratic {
            a: vec![2.0],
            c: vec![0.0],
        }
    }

    #[test]
    fn divergence_is_an_error_that_keeps_the_last_finite_parameters() {
        // α = 1.5 on x²: x ← x − 3x = −2x, so x_k = (−2)^k exactly, and the
        // loss 4^k overflows to +inf at step 512.
        let mut x = [1.0];
        let err = GradientDescent::new(1.5)
            .train()
            .max_iters(10_000)
            .progress(false)
            .minimize(&mut square(), &mut x)
            .unwrap_err();
        let TrainError::Diverged {
            method,
            step,
            what,
            last_finite_loss,
            ref hint,
        } = err
        else {
            panic!("expected divergence, got {err}");
        };
        assert_eq!(method, "gradient descent");
        assert_eq!(step, 512);
        assert_eq!(
            what,
            NonFinite::Loss {
                value: f64::INFINITY
            }
        );
        assert_eq!(last_finite_loss, 2f64.powi(1022));
        assert_eq!(
            x,
            [-(2f64.powi(511))],
            "x keeps step 511, the last finite one"
        );
        assert!(hint.contains("smaller learning rate than 1.5"));
        let message = err.to_string();
        for part in [
            "diverged at step 512",
            "the loss is inf",
            "step 511",
            "smaller learning rate",
        ] {
            assert!(message.contains(part), "{message:?} lacks {part:?}");
        }
    }

    #[test]
    fn a_nan_gradient_is_divergence_too() {
        /// Finite loss, NaN gradient once x leaves [−10, 10].
        struct NanGrad;
        impl Objective for NanGrad {
            fn num_params(&self) -> usize {
                1
            }
            fn value(&mut self, x: &[f64]) -> f64 {
                x[0] * x[0]
            }
            fn value_and_gradient(&mut self, x: &[f64], g: &mut [f64]) -> f64 {
                g[0] = if x[0].abs() > 10.0 {
                    f64::NAN
                } else {
                    2.0 * x[0]
                };
                self.value(x)
            }
        }
        let mut x = [1.0];
        let err = Nesterov::new(1.5)
            .momentum(0.5)
            .train()
            .progress(false)
            .minimize(&mut NanGrad, &mut x)
            .unwrap_err();
        match err {
            TrainError::Diverged { what, .. } => {
                assert!(matches!(what, NonFinite::Gradient { index: 0, value } if value.is_nan()))
            }
            other => panic!("{other}"),
        }
        assert!(x[0].abs() <= 10.0 && x[0].is_finite());
        assert!(err.to_string().contains("less momentum"));
    }

    #[test]
    fn a_non_finite_start_is_reported() {
        let mut x = [f64::NAN];
        let err = Adam::default().minimize(&mut square(), &mut x).unwrap_err();
        assert!(matches!(err, TrainError::NonFiniteStart { .. }), "{err}");
    }

    #[test]
    fn early_stopping_restores_the_best_parameters() {
        // α = 0.25 on x²: x_k = 10 · 2^(−k) exactly; the validation metric
        // |x − 2.5| is lowest (0) at step 2.
        let mut x = [10.0];
        let report = GradientDescent::new(0.25)
            .train()
            .validation(|x: &[f64]| (x[0] - 2.5).abs())
            .patience(3)
            .progress(false)
            .minimize(&mut square(), &mut x)
            .unwrap();
        assert_eq!(report.stop, StopReason::EarlyStopping);
        assert_eq!(
            report.iterations, 5,
            "three checks without improvement after step 2"
        );
        assert_eq!(x, [2.5]);
        assert_eq!(
            report.best,
            Some(Best {
                step: 2,
                validation: 0.0,
                loss: 6.25
            })
        );
        assert_eq!((report.loss, report.grad_norm), (6.25, 5.0));
        let validations: Vec<_> = report
            .history
            .records()
            .iter()
            .map(|r| r.validation)
            .collect();
        assert_eq!(
            validations,
            [7.5, 2.5, 0.0, 1.25, 1.875, 2.1875].map(Some),
            "validation on every step"
        );
    }

    #[test]
    fn restore_best_can_be_turned_off() {
        let mut x = [10.0];
        let report = GradientDescent::new(0.25)
            .train()
            .max_iters(4)
            .validation(|x: &[f64]| (x[0] - 2.5).abs())
            .restore_best(false)
            .progress(false)
            .minimize(&mut square(), &mut x)
            .unwrap();
        assert_eq!((report.stop, x), (StopReason::MaxIters, [0.625]));
        assert_eq!(report.best.map(|b| b.step), Some(2));
    }

    #[test]
    fn no_optimizer_calls_value_or_gradient_separately() {
        fn check<M: Minimizer>(method: M) {
            let name = method.name();
            let mut counted = Counting::new(Rosenbrock);
            let mut x = Rosenbrock::START.to_vec();
            let report = method
                .train()
                .max_iters(200)
                .progress(false)
                .minimize(&mut counted, &mut x)
                .unwrap();
            assert_eq!(counted.value_calls, 0, "{name} called value");
            assert_eq!(counted.gradient_calls, 0, "{name} called gradient");
            assert_eq!(
                counted.value_and_gradient_calls, report.evaluations,
                "{name}: the report counts every evaluation"
            );
            assert!(report.evaluations > report.iterations, "{name}");
            assert_eq!(
                report.history.records().last().unwrap().evaluations,
                report.evaluations
            );
        }
        check(GradientDescent::new(1e-3));
        check(Backtracking::default());
        check(Nesterov::new(1e-4));
        check(Adam::new(0.01));
        check(Lbfgs::default());
    }

    #[test]
    fn runs_are_bit_identical() {
        fn twice<M: Minimizer + Clone>(method: M) {
            let run = || {
                let mut x = Rosenbrock::START.to_vec();
                let report = method
                    .clone()
                    .train()
                    .max_iters(300)
                    .progress(false)
                    .minimize(&mut Rosenbrock, &mut x)
                    .unwrap();
                let losses: Vec<u64> = report
                    .history
                    .records()
                    .iter()
                    .map(|r| r.loss.to_bits())
                    .collect();
                (x.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), losses)
            };
            assert_eq!(run(), run(), "{}", method.name());
        }
        twice(GradientDescent::new(1e-3));
        twice(Backtracking::default());
        twice(Nesterov::new(1e-4));
        twice(Adam::new(0.01));
        twice(Lbfgs::default());
    }

    #[test]
    fn stops_on_the_gradient_norm() {
        let mut q = Quadratic::small();
        let mut x = vec![0.0; 4];
        let report = GradientDescent::new(0.15)
            .train()
            .tol_grad(1e-3)
            .tol_rel_loss(0.0)
            .progress(false)
            .minimize(&mut q, &mut x)
            .unwrap();
        assert_eq!(report.stop, StopReason::GradientNorm);
        assert!(report.grad_norm <= 1e-3);
        let norms: Vec<f64> = report
            .history
            .records()
            .iter()
            .map(|r| r.grad_norm)
            .collect();
        assert!(
            norms[..norms.len() - 1].iter().all(|&g| g > 1e-3),
            "stopped at the first one"
        );
    }

    #[test]
    fn stops_on_the_relative_loss_change() {
        let mut q = Quadratic::small();
        let mut x = vec![0.0; 4];
        let report = GradientDescent::new(0.01)
            .train()
            .tol_rel_loss(1e-3)
            .max_iters(100_000)
            .progress(false)
            .minimize(&mut q, &mut x)
            .unwrap();
        assert_eq!(report.stop, StopReason::LossChange);
        let r = report.history.records();
        let (prev, last) = (r[r.len() - 2].loss, r[r.len() - 1].loss);
        assert!((prev - last).abs() <= 1e-3 * prev);
        let (before, prev) = (r[r.len() - 3].loss, r[r.len() - 2].loss);
        assert!(
            (before - prev).abs() > 1e-3 * before,
            "stopped at the first such step"
        );
    }

    #[test]
    fn stops_on_max_iters() {
        let mut x = vec![0.0; 4];
        let report = Adam::default()
            .train()
            .max_iters(7)
            .progress(false)
            .minimize(&mut Quadratic::small(), &mut x)
            .unwrap();
        assert_eq!((report.stop, report.iterations), (StopReason::MaxIters, 7));
        assert_eq!(report.history.records().len(), 8);
    }

    #[test]
    fn stops_on_the_time_limit() {
        /// x², sleeping 2 ms per evaluation.
        struct Slow;
        impl Objective for Slow {
            fn num_params(&self) -> usize {
                1
            }
            fn value(&mut self, x: &[f64]) -> f64 {
                x[0] * x[0]
            }
            fn value_and_gradient(&mut self, x: &[f64], g: &mut [f64]) -> f64 {
                std::thread::sleep(Duration::from_millis(2));
                g[0] = 2.0 * x[0];
                x[0] * x[0]
            }
        }
        let mut x = [1.0];
        let report = GradientDescent::new(1e-6)
            .train()
            .max_iters(1_000_000)
            .time_limit(Duration::from_millis(30))
            .progress(false)
            .minimize(&mut Slow, &mut x)
            .unwrap();
        assert_eq!(report.stop, StopReason::TimeLimit);
        assert!(report.elapsed >= Duration::from_millis(30));
        assert!(
            (1..=16).contains(&report.iterations),
            "{}",
            report.iterations
        );
    }

    #[test]
    fn the_callback_sees_each_record_and_can_stop() {
        let mut seen = Vec::new();
        let mut x = vec![0.0; 4];
        let report = GradientDescent::new(0.01)
            .train()
            .record_every(3)
            .callback(|r| {
                seen.push(r.step);
                if r.step >= 9 {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            })
            .progress(false)
            .minimize(&mut Quadratic::small(), &mut x)
            .unwrap();
        assert_eq!(report.stop, StopReason::Callback);
        assert_eq!(seen, [0, 3, 6, 9]);
        let steps: Vec<_> = report.history.records().iter().map(|r| r.step).collect();
        assert_eq!(steps, [0, 3, 6, 9]);
    }

    #[test]
    fn metrics_every_n_steps_and_the_last_step_is_recorded() {
        let mut x = vec![0.0; 4];
        let report = GradientDescent::new(0.01)
            .train()
            .max_iters(10)
            .record_every(100)
            .metrics_every(4)
            .train_metric(|x: &[f64]| x[0])
            .progress(false)
            .minimize(&mut Quadratic::small(), &mut x)
            .unwrap();
        let rows: Vec<_> = report
            .history
            .records()
            .iter()
            .map(|r| (r.step, r.train_metric.is_some(), r.validation))
            .collect();
        assert_eq!(
            rows,
            [
                (0, true, None),
                (4, true, None),
                (8, true, None),
                (10, false, None)
            ]
        );
    }

    #[test]
    fn csv_round_trips_and_has_the_documented_format() {
        let mut x = vec![0.0; 4];
        let report = GradientDescent::new(0.05)
            .train()
            .max_iters(20)
            .metrics_every(5)
            .validation(|x: &[f64]| x[1].abs() / 3.0)
            .train_metric(|x: &[f64]| x[0] / 7.0)
            .progress(false)
            .minimize(&mut Quadratic::small(), &mut x)
            .unwrap();
        let mut bytes = Vec::new();
        report.history.write_csv(&mut bytes).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], CSV_HEADER);
        assert_eq!(lines.len(), 22);
        assert!(lines[1].starts_with("0,") && lines[1].matches(',').count() == 6);
        assert!(
            lines[2].ends_with(",,"),
            "no metrics at step 1: {}",
            lines[2]
        );
        assert_eq!(History::read_csv(text.as_bytes()).unwrap(), report.history);

        let path = std::env::temp_dir().join(format!("mf-history-{}.csv", std::process::id()));
        report.history.save_csv(&path).unwrap();
        let file = io::BufReader::new(std::fs::File::open(&path).unwrap());
        assert_eq!(History::read_csv(file).unwrap(), report.history);
        std::fs::remove_file(&path).unwrap();

        assert!(History::read_csv("step,loss\n".as_bytes()).is_err());
        let bad = format!("{CSV_HEADER}\n1,2,3\n");
        let err = History::read_csv(bad.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
    }

    #[test]
    fn projected_methods_reach_the_constrained_minimum() {
        // Unconstrained minimum (1, −2, 3, 0.5); with x ≥ 0: (1, 0, 3, 0.5).
        let constrained = [1.0, 0.0, 3.0, 0.5];
        fn check<M: Minimizer>(method: M, max_iters: usize, tol: f64, expected: &[f64]) {
            let name = method.name();
            let mut x = vec![-5.0; 4];
            method
                .train()
                .max_iters(max_iters)
                // The clamped x₁ adds a constant 4 to the loss, so the loss stops
                // changing in f64 once the others are within ~1e-7 of the minimum.
                .tol_rel_loss(0.0)
                .nonnegative(NonNegative::all())
                .progress(false)
                .minimize(&mut Quadratic::small(), &mut x)
                .unwrap();
            for (v, e) in x.iter().zip(expected) {
                assert!((v - e).abs() < tol, "{name}: {x:?}");
            }
        }
        check(GradientDescent::new(0.1), 1000, 1e-6, &constrained);
        check(Backtracking::default(), 1000, 1e-6, &constrained);
        check(Nesterov::new(0.05), 1000, 1e-6, &constrained);
        check(Adam::new(0.05), 3000, 1e-3, &constrained);

        // Only some ranges: x₁ is free and reaches −2, x₀ starts at −5 and is clamped.
        let mut x = vec![-5.0; 4];
        GradientDescent::new(0.1)
            .train()
            .nonnegative(NonNegative::ranges([0..1, 3..4]))
            .progress(false)
            .minimize(&mut Quadratic::small(), &mut x)
            .unwrap();
        assert!(Quadratic::small().distance_to_minimum(&x) < 1e-9, "{x:?}");
    }

    #[test]
    fn projection_errors() {
        let mut x = vec![0.0; 4];
        let err = Lbfgs::default()
            .train()
            .nonnegative(NonNegative::all())
            .minimize(&mut Quadratic::small(), &mut x)
            .unwrap_err();
        assert!(
            matches!(err, TrainError::ProjectionUnsupported { method: "L-BFGS" }),
            "{err}"
        );
        let err = Adam::default()
            .train()
            .nonnegative(NonNegative::range(2..5))
            .minimize(&mut Quadratic::small(), &mut x)
            .unwrap_err();
        assert!(
            matches!(
                err,
                TrainError::ProjectionOutOfRange {
                    start: 2,
                    end: 5,
                    len: 4
                }
            ),
            "{err}"
        );
    }
}
