//! Checking a gradient against finite differences of the value.
//!
//! Every gradient mf derives can be checked the way a person would check one
//! by hand: perturb each parameter, watch the loss move. [`check_gradient`]
//! does that with the fourth-order central difference
//! `(f(x-2h) - 8 f(x-h) + 8 f(x+h) - f(x+2h)) / 12h`, whose error is
//! O(h⁴), so a step large enough to keep round-off small still resolves the
//! derivative to about 1e-10.

use crate::Objective;

/// The outcome of [`check_gradient`].
///
/// ```
/// # use mf_runtime::gradcheck::GradientCheck;
/// let c = GradientCheck { max_error: 1e-9, worst_index: 3, analytic: 2.0, numeric: 2.0 };
/// assert!(c.max_error < 1e-6);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GradientCheck {
    /// The largest error over all coordinates, each `|a - n| / max(1, |a|, |n|)`
    /// (relative where the gradient is larger than 1, absolute below).
    pub max_error: f64,
    /// The coordinate where it occurs.
    pub worst_index: usize,
    /// The analytic derivative there.
    pub analytic: f64,
    /// The finite-difference derivative there.
    pub numeric: f64,
}

/// Compares `objective`'s gradient at `x` with finite differences of its
/// value, coordinate by coordinate, with step `h · max(1, |x_i|)`.
///
/// Also checks that `value` and `value_and_gradient` agree on the value.
///
/// # Panics
/// If `x` does not have `objective.num_params()` entries, or the two value
/// methods disagree by more than `1e-12` relative.
///
/// ```
/// use mf_runtime::{gradcheck::check_gradient, Objective};
/// struct Cube;
/// impl Objective for Cube {
///     fn num_params(&self) -> usize { 1 }
///     fn value(&mut self, x: &[f64]) -> f64 { x[0].powi(3) }
///     fn value_and_gradient(&mut self, x: &[f64], g: &mut [f64]) -> f64 {
///         g[0] = 3.0 * x[0] * x[0];
///         self.value(x)
///     }
/// }
/// assert!(check_gradient(&mut Cube, &[1.5], 1e-3).max_error < 1e-9);
/// ```
pub fn check_gradient<O: Objective + ?Sized>(
    objective: &mut O,
    x: &[f64],
    h: f64,
) -> GradientCheck {
    assert_eq!(
        x.len(),
        objective.num_params(),
        "x must have num_params() entries"
    );
    let mut analytic = vec![0.0; x.len()];
    let value = objective.value_and_gradient(x, &mut analytic);
    let plain = objective.value(x);
    assert!(
        (value - plain).abs() <= 1e-12 * value.abs().max(1.0) || (value.is_nan() && plain.is_nan()),
        "value() = {plain} but value_and_gradient() = {value}"
    );
    let mut probe = x.to_vec();
    let mut worst = GradientCheck {
        max_error: 0.0,
        worst_index: 0,
        analytic: analytic.first().copied().unwrap_or(0.0),
        numeric: 0.0,
    };
    for i in 0..x.len() {
        let step = h * x[i].abs().max(1.0);
        let mut at = |offset: f64| {
            probe[i] = x[i] + offset * step;
            objective.value(&probe)
        };
        let numeric = (at(-2.0) - 8.0 * at(-1.0) + 8.0 * at(1.0) - at(2.0)) / (12.0 * step);
        probe[i] = x[i];
        let a = analytic[i];
        let error = (a - numeric).abs() / a.abs().max(numeric.abs()).max(1.0);
        if error > worst.max_error || error.is_nan() {
            worst = GradientCheck {
                max_error: error,
                worst_index: i,
                analytic: a,
                numeric,
            };
        }
    }
    worst
}
