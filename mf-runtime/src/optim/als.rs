//! Alternating row-block Newton steps: ALS for quadratic losses, damped
//! Newton (Levenberg–Marquardt) rows for the others, and fold-in.

use rayon::prelude::*;

use super::{Evaluator, Iterate, Minimizer, NonFinite, Step};
use crate::blocks::{Row, RowGroup, RowHessian, RowSystems};
use crate::Objective;

/// Rows solved by one rayon task: the partition depends on the row count
/// only, so results are the same on any number of threads.
const ROWS_PER_TASK: usize = 64;

/// The most values (entries × coordinates, 256 KiB) a row of fewer than
/// [`CG_ALWAYS_FROM`] coordinates keeps for its conjugate gradient solve; a
/// longer one is solved exactly. The iterations pass over those values
/// eight times, from the L2 cache when they fit there and from memory
/// otherwise, where building the dense Hessian reads each entry once: at
/// 20M entries and k = 32, conjugate gradient on every row made steps no
/// faster, and a popular item's vectors took 50 MB per thread.
const CG_MAX_VALUES: usize = 32 * 1024;

/// From this many coordinates a row takes conjugate gradient steps however
/// long it is: the dense build's `n²/2` multiply-adds per entry (about
/// 16 per ns at full vector width) then cost more than eight passes over
/// its `n` values from memory (about 1.25 values per ns), a model, not a
/// measurement at the crossover.
const CG_ALWAYS_FROM: usize = 192;

/// Damping tries per row before a row is left where it is.
const MAX_DAMPING_TRIES: usize = 40;

/// Alternating least squares, generalized: each step sweeps the groups of
/// row blocks of the loss (users, then items, then the global row, as
/// [`RowSystems::groups`] lists them) and moves every row of a group to a
/// better point with the rest fixed.
///
/// - On a group whose loss is quadratic in the row (squared error with
///   L2-type penalties, weighted-λ, the Gram term of implicit feedback),
///   one Cholesky solve of the row's system `H z = H z₀ − ∇` is the exact
///   block minimum: this is ALS (Zhou et al. 2008, "Large-scale parallel
///   collaborative filtering for the Netflix prize", for weighted-λ; Hu,
///   Koren & Volinsky 2008 for implicit feedback).
/// - Otherwise (Huber, logistic, a link such as `sigmoid(P@Q)`) each row
///   takes a Newton step damped by Levenberg–Marquardt: `(H + μ s I) δ =
///   −∇`, starting from μ = 0 and raising μ tenfold until the row's loss
///   does not increase (`s` is the mean of `H`'s diagonal); a row that
///   finds no such step within 40 tries stays where it was. So no row's
///   loss ever increases, and neither does the loss.
/// - A quadratic row whose Hessian is singular (a user with fewer ratings
///   than the rank and no penalty) takes the damped path too.
///
/// Rows of a group are solved in parallel in fixed blocks of rows; each
/// row is one sequential computation, so the result is bit-identical on
/// any number of threads. Every step ends with one evaluation of the loss
/// (not of the gradient, which no row step reads: the history records its
/// norm as NaN), so the training loop's history, validation, stopping
/// rules and divergence checks apply as for any method.
///
/// Needs an objective with row systems ([`Objective::row_systems`]): the
/// loss must be written with `loss!` over sparse data and each term must
/// have row systems (see [`crate::blocks`]); otherwise training fails with
/// [`TrainError::MethodUnsupported`](crate::TrainError::MethodUnsupported),
/// which names the term.
///
/// ```
/// use mf_runtime::{loss, Als, Init, Minimizer, Ratings};
/// use rand::SeedableRng;
///
/// loss! {
///     pub struct WeightedLambda {
///         data D: sparse[users, items],
///         param P: [users, k],
///         param Q: [k, items],
///         hyper lambda: f64 = 0.1,
///     }
///     minimize sum(mask * (D - P@Q)^2)
///         + lambda * (sum(count_rows(D) * P^2) + sum(count_cols(D) * Q^2))
/// }
/// let data = Ratings::from_triplets(3, 3, [(0, 0, 5.0), (0, 1, 3.0), (1, 1, 4.0), (2, 2, 1.0), (1, 0, 4.0)])?;
/// let mut rng = rand::rngs::StdRng::seed_from_u64(1);
/// let mut params = WeightedLambda::init(&data, 2, Init::Normal { mean: 0.0, std: 0.1 }, &mut rng)?;
/// let mut objective = WeightedLambda::default().objective(&data, &params)?;
/// let report = Als::default().train().max_iters(20).progress(false)
///     .minimize(&mut objective, params.as_mut_slice())?;
/// assert!(report.history.records().windows(2).all(|w| w[1].loss <= w[0].loss));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct Als {
    /// Row coordinates after a group's solve, row after row (rows × width).
    solved: Vec<f64>,
    /// Conjugate gradient iterations per row solve; exact solves when `None`.
    cg_steps: Option<usize>,
}

impl Als {
    /// Solves each row's system approximately by `steps` (at least 1)
    /// iterations of the preconditioned conjugate gradient method instead
    /// of exactly (ALS-CG: Takács, Pilászy & Tikk 2011; the `implicit`
    /// library's default, and `cmfrec`'s inner steps): a row costs
    /// about `2 · steps` passes over its entries' coordinates instead of
    /// the `k/2` of building its Hessian and a `k³/6` factorization, so a
    /// step is several times cheaper at `k = 50` and each step lowers the
    /// loss less. Every row step still never increases its loss (see
    /// [`RowHessian::solve_iterative`]); a row whose Hessian has a dense
    /// block (the Gram term of implicit feedback) or is not positive
    /// definite, and a row of fewer than 192 coordinates whose entries'
    /// values would not fit in 256 KiB (entries × coordinates > 32,768: a
    /// popular item), are solved exactly.
    ///
    /// ```
    /// let als = mf_runtime::Als::default().conjugate_gradient(3);
    /// # let _ = als;
    /// ```
    pub fn conjugate_gradient(mut self, steps: usize) -> Self {
        self.cg_steps = Some(steps.max(1));
        self
    }

    /// One half-step outside the training loop: every row of the group
    /// named `group` (`"users"`, `"items"` or `"global"`, as
    /// [`RowGroup::name`]) moved to its block minimum (or a damped step),
    /// the rest of `x` fixed.
    ///
    /// # Errors
    /// The objective has no row systems, no group of that name, or a row's
    /// system is not finite (the first such row is named; the others moved).
    ///
    /// ```
    /// use mf_runtime::{loss, Als, Init, Objective, Ratings};
    /// use rand::SeedableRng;
    ///
    /// loss! {
    ///     pub struct L2 {
    ///         data D: sparse[users, items],
    ///         param P: [users, k],
    ///         param Q: [k, items],
    ///     }
    ///     minimize sum(mask * (D - P@Q)^2) + 0.1 * (sum(P^2) + sum(Q^2))
    /// }
    /// let data = Ratings::from_triplets(2, 2, [(0, 0, 5.0), (1, 1, 4.0), (0, 1, 3.0)])?;
    /// let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    /// let mut params = L2::init(&data, 2, Init::Normal { mean: 0.0, std: 0.5 }, &mut rng)?;
    /// let mut objective = L2::default().objective(&data, &params)?;
    /// let before = objective.value(params.as_slice());
    /// Als::default().sweep(&mut objective, "users", params.as_mut_slice())?;
    /// assert!(objective.value(params.as_slice()) <= before);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sweep<O: Objective + ?Sized>(
        &mut self,
        objective: &mut O,
        group: &str,
        x: &mut [f64],
    ) -> Result<(), String> {
        let systems = objective.row_systems()?;
        let index = group_index(systems, group)?;
        match sweep(systems, index, x, &mut self.solved, self.cg_steps) {
            None => Ok(()),
            Some(row) => Err(format!(
                "{}: kept where it was",
                NonFinite::RowSystem {
                    group: systems.groups()[index].name,
                    row
                }
            )),
        }
    }
}

/// The index of the group named `name`, or an error listing the names.
fn group_index(systems: &dyn RowSystems, name: &str) -> Result<usize, String> {
    systems
        .groups()
        .iter()
        .position(|g| g.name == name)
        .ok_or_else(|| {
            let names: Vec<&str> = systems.groups().iter().map(|g| g.name).collect();
            format!("the loss has no row group named `{name}` (its groups: {names:?})")
        })
}

impl Minimizer for Als {
    fn name(&self) -> &'static str {
        "ALS"
    }

    fn needs_row_systems(&self) -> bool {
        true
    }

    fn needs_gradient(&self) -> bool {
        false
    }

    fn supports_projection(&self) -> bool {
        false
    }

    fn divergence_hint(&self) -> String {
        "every row step is checked not to increase its loss, so a non-finite loss comes from \
         the loss itself at an accepted point (check the data and the loss for overflow); a \
         row system that is not finite where the loss is comes from a derivative that is \
         infinite or undefined there (e.g. `sqrt(P^2)` at 0): start elsewhere or rewrite the term"
            .to_string()
    }

    fn step<O: Objective + ?Sized>(
        &mut self,
        eval: &mut Evaluator<'_, O>,
        current: &Iterate,
        next: &mut Iterate,
    ) -> Step {
        next.x.copy_from_slice(&current.x);
        let Ok(systems) = eval.row_systems() else {
            return Step::Stalled;
        };
        let groups = systems.groups().len();
        for group in 0..groups {
            if let Some(row) = sweep(systems, group, &mut next.x, &mut self.solved, self.cg_steps) {
                let group = systems.groups()[group].name;
                return Step::Diverged(NonFinite::RowSystem { group, row });
            }
        }
        eval.evaluate_value(next);
        Step::Moved
    }
}

/// Solves every row of `group` at `x` (exactly, or by `cg_steps`
/// conjugate gradient iterations) and writes the rows back into `x`.
/// Returns the first row whose system is not finite, if any (that row is
/// left where it was).
fn sweep(
    systems: &mut dyn RowSystems,
    group: usize,
    x: &mut [f64],
    solved: &mut Vec<f64>,
    cg_steps: Option<usize>,
) -> Option<usize> {
    systems.prepare(group, x);
    let systems: &dyn RowSystems = systems;
    let g = &systems.groups()[group];
    let width = g.width();
    solved.clear();
    solved.resize(g.rows * width, 0.0);
    let x_now: &[f64] = x;
    let non_finite = solved
        .par_chunks_mut(ROWS_PER_TASK * width.max(1))
        .enumerate()
        .filter_map(|(task, out)| {
            let mut work = RowWork::new(width, cg_steps);
            let mut first = None;
            for (offset, z) in out.chunks_mut(width.max(1)).enumerate() {
                let index = task * ROWS_PER_TASK + offset;
                g.gather(x_now, index, z);
                let row = systems.row(group, index);
                let step = newton_row(systems, group, g, row, x_now, z, &mut work);
                if step == RowStep::NonFinite && first.is_none() {
                    first = Some(index);
                }
            }
            first
        })
        .min();
    for (index, z) in solved.chunks(width.max(1)).enumerate().take(g.rows) {
        g.scatter(z, index, x);
    }
    non_finite
}

/// Scratch of one row solve, and how it solves.
struct RowWork {
    grad: Vec<f64>,
    hess: RowHessian,
    step: Vec<f64>,
    trial: Vec<f64>,
    /// Conjugate gradient iterations, or `None` for the exact solve.
    cg_steps: Option<usize>,
}

impl RowWork {
    fn new(n: usize, cg_steps: Option<usize>) -> Self {
        RowWork {
            grad: vec![0.0; n],
            hess: RowHessian::new(),
            step: vec![0.0; n],
            trial: vec![0.0; n],
            cg_steps,
        }
    }
}

/// What one row step did.
#[derive(Clone, Copy, Debug, PartialEq)]
enum RowStep {
    /// The undamped solve of a quadratic row: its block minimum when
    /// solved exactly.
    Exact,
    /// A damped step that did not increase the row's loss.
    Damped,
    /// No acceptable step: the row is unchanged.
    Kept,
    /// The row's loss or gradient is not finite at its start: unchanged.
    NonFinite,
}

/// One (damped) Newton step of a row, in place in `z`. A row with few
/// entries for its coordinates keeps its Hessian in the low-rank form (see
/// [`RowHessian`]).
fn newton_row(
    systems: &dyn RowSystems,
    group: usize,
    g: &RowGroup,
    row: Row<'_>,
    x: &[f64],
    z: &mut [f64],
    w: &mut RowWork,
) -> RowStep {
    let n = z.len();
    w.grad.fill(0.0);
    match w.cg_steps {
        Some(_) if row.len() * n <= CG_MAX_VALUES || n >= CG_ALWAYS_FROM => {
            w.hess.reset_low_rank(n)
        }
        _ => w.hess.reset(n, row.len()),
    }
    let f0 = systems.system(group, row, x, z, &mut w.grad, &mut w.hess);
    if !f0.is_finite() || w.grad.iter().any(|v| !v.is_finite()) {
        return RowStep::NonFinite;
    }
    let mut scale = 0.0;
    let mut mu = 0.0;
    for _ in 0..MAX_DAMPING_TRIES {
        for (s, gr) in w.step.iter_mut().zip(&w.grad) {
            *s = -gr;
        }
        let solved = match w.cg_steps {
            Some(steps) => w.hess.solve_iterative(mu * scale, &mut w.step, steps),
            None => w.hess.solve(mu * scale, &mut w.step),
        };
        if solved {
            if g.quadratic && mu == 0.0 {
                for (z, s) in z.iter_mut().zip(&w.step) {
                    *z += s;
                }
                return RowStep::Exact;
            }
            for ((t, z), s) in w.trial.iter_mut().zip(z.iter()).zip(&w.step) {
                *t = z + s;
            }
            let f1 = systems.row_loss(group, row, x, &w.trial);
            if f1 <= f0 {
                z.copy_from_slice(&w.trial);
                return RowStep::Damped;
            }
        }
        if mu == 0.0 {
            scale = w.hess.mean_abs_diagonal().max(f64::MIN_POSITIVE);
            mu = 1e-6;
        } else {
            mu *= 10.0;
        }
    }
    RowStep::Kept
}

/// Fold-in: the row of group `group` (e.g. `"users"`) that minimizes the
/// loss for the observed entries `row`, every other param fixed at `x`
/// (Hu, Koren & Volinsky 2008, §4; the standard way to add or update a
/// user without retraining). Returns the row's coordinates in the order of
/// the group's segments (e.g. `[pᵤ, buᵤ]`), starting from `start` (zeros
/// when `None`).
///
/// For a quadratic loss this is one exact solve: the block minimum. For
/// other losses, damped Newton steps are taken until the row's loss
/// changes by less than 1e-12 relative (at most 100 steps).
///
/// Counts the loss reads for the row (`count_rows(D)` for a user) are the
/// number of entries given.
///
/// # Errors
/// The loss has no row systems (the reason names the term), `group` is not
/// one of its groups, it is the global group, or the row's system is not
/// finite at the start.
///
/// ```
/// use mf_runtime::{loss, fold_in, Als, Init, Minimizer, Ratings};
/// use mf_runtime::blocks::Row;
/// use rand::SeedableRng;
///
/// loss! {
///     pub struct L2 {
///         data D: sparse[users, items],
///         param P: [users, k],
///         param Q: [k, items],
///     }
///     minimize sum(mask * (D - P@Q)^2) + 0.1 * (sum(P^2) + sum(Q^2))
/// }
/// let data = Ratings::from_triplets(2, 3, [(0, 0, 5.0), (0, 1, 3.0), (1, 1, 4.0), (1, 2, 1.0)])?;
/// let mut rng = rand::rngs::StdRng::seed_from_u64(1);
/// let params = L2::init(&data, 2, Init::Normal { mean: 0.0, std: 0.5 }, &mut rng)?;
/// let mut objective = L2::default().objective(&data, &params)?;
/// // A new user who rated items 0 and 2.
/// let row = Row { index: 0, others: &[0, 2], values: &[4.0, 2.0] };
/// let p_new = fold_in(&mut objective, params.as_slice(), "users", row, None)?;
/// assert_eq!(p_new.len(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn fold_in<O: Objective + ?Sized>(
    objective: &mut O,
    x: &[f64],
    group: &str,
    row: Row<'_>,
    start: Option<&[f64]>,
) -> Result<Vec<f64>, String> {
    let systems = objective.row_systems()?;
    let index = group_index(systems, group)?;
    if systems.groups()[index].name == "global" {
        return Err(
            "the global row reads every entry of the data; fold in a user or an item".into(),
        );
    }
    systems.prepare(index, x);
    let systems: &dyn RowSystems = systems;
    let g = &systems.groups()[index];
    let width = g.width();
    let mut z = match start {
        Some(s) if s.len() == width => s.to_vec(),
        Some(s) => {
            return Err(format!(
                "the start has {} values, a row of `{group}` has {width}",
                s.len()
            ))
        }
        None => vec![0.0; width],
    };
    let mut work = RowWork::new(width, None);
    let mut previous = systems.row_loss(index, row, x, &z);
    for _ in 0..100 {
        match newton_row(systems, index, g, row, x, &mut z, &mut work) {
            RowStep::Damped => {}
            RowStep::NonFinite => {
                return Err(
                    "the row's system is not finite at its start (a derivative infinite \
                            or undefined there): give another start"
                        .into(),
                )
            }
            RowStep::Exact | RowStep::Kept => break,
        }
        let now = systems.row_loss(index, row, x, &z);
        if (previous - now).abs() <= 1e-12 * previous.abs().max(f64::MIN_POSITIVE) {
            break;
        }
        previous = now;
    }
    Ok(z)
}
