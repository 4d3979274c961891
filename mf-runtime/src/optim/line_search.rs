//! Strong-Wolfe line search (Nocedal & Wright, *Numerical Optimization*,
//! 2nd ed., Algorithms 3.5 and 3.6), used by [`Lbfgs`](super::Lbfgs).
//!
//! Every trial point is evaluated with one `value_and_gradient` call: the
//! value gives the sufficient-decrease test, the gradient the directional
//! derivative for the curvature test and the cubic interpolation. A trial
//! whose loss or gradient is not finite is treated as "too far" (its value
//! as +∞), so the search backs off from overflow instead of failing.

use super::vector::{dot, set_point_on_ray};
use super::{Evaluator, Iterate, Step};
use crate::Objective;

/// One trial of the line search: step `t`, loss `f`, slope `d` along the direction.
#[derive(Clone, Copy, Debug)]
struct Sample {
    t: f64,
    f: f64,
    d: f64,
}

/// Settings and scratch buffer of the search.
#[derive(Clone, Debug)]
pub(crate) struct StrongWolfe {
    /// Sufficient-decrease constant (Armijo), `0 < c1 < c2`.
    pub(crate) c1: f64,
    /// Curvature constant, `c1 < c2 < 1`.
    pub(crate) c2: f64,
    /// Evaluations allowed per search.
    pub(crate) max_evals: usize,
    /// The best point so far that satisfies sufficient decrease (`α_lo`).
    lo: Iterate,
}

impl StrongWolfe {
    pub(crate) fn new(c1: f64, c2: f64, max_evals: usize) -> Self {
        StrongWolfe {
            c1,
            c2,
            max_evals,
            lo: Iterate::new(Vec::new()),
        }
    }

    pub(crate) fn start(&mut self, num_params: usize) {
        self.lo = Iterate::new(vec![0.0; num_params]);
    }

    /// Searches `current.x + t·direction` for a step satisfying the strong
    /// Wolfe conditions, starting from `t0`. `direction` must be a descent
    /// direction and `d0` its slope `∇f(current) · direction` (negative).
    /// On [`Step::Moved`], `next` holds the accepted point: a
    /// strong-Wolfe point, or — when the evaluation budget runs out — the
    /// lowest point found that satisfies sufficient decrease.
    pub(crate) fn search<O: Objective + ?Sized>(
        &mut self,
        eval: &mut Evaluator<'_, O>,
        current: &Iterate,
        direction: &[f64],
        d0: f64,
        t0: f64,
        next: &mut Iterate,
    ) -> Step {
        let f0 = current.loss;
        let sufficient = |s: &Sample| s.f <= f0 + self.c1 * s.t * d0;
        let curvature = |s: &Sample| s.d.abs() <= -self.c2 * d0;
        let mut lo = Sample {
            t: 0.0,
            f: f0,
            d: d0,
        };
        let mut lo_stored = false;
        let mut evals = 0;

        // Bracketing (Alg. 3.5): grow the step until an interval holds a Wolfe point.
        let mut t = t0;
        let mut hi = loop {
            if evals == self.max_evals {
                return self.fall_back(lo_stored, next);
            }
            let trial = probe(eval, current, direction, t, next);
            evals += 1;
            if !sufficient(&trial) || (lo_stored && trial.f >= lo.f) {
                break trial;
            }
            if curvature(&trial) {
                return Step::Moved;
            }
            std::mem::swap(next, &mut self.lo);
            lo_stored = true;
            if trial.d >= 0.0 {
                let previous = lo;
                lo = trial;
                break previous;
            }
            lo = trial;
            t *= 2.0;
        };

        // Zoom (Alg. 3.6): shrink [lo, hi] by safeguarded cubic interpolation.
        loop {
            let width = (hi.t - lo.t).abs();
            if evals == self.max_evals || width <= f64::EPSILON * lo.t.max(hi.t) {
                return self.fall_back(lo_stored, next);
            }
            let trial = probe(eval, current, direction, interpolate(lo, hi), next);
            evals += 1;
            if !sufficient(&trial) || trial.f >= lo.f {
                hi = trial;
            } else {
                if curvature(&trial) {
                    return Step::Moved;
                }
                if trial.d * (hi.t - lo.t) >= 0.0 {
                    hi = lo;
                }
                lo = trial;
                std::mem::swap(next, &mut self.lo);
                lo_stored = true;
            }
        }
    }

    fn fall_back(&mut self, lo_stored: bool, next: &mut Iterate) -> Step {
        if lo_stored {
            std::mem::swap(next, &mut self.lo);
            Step::Moved
        } else {
            Step::Stalled
        }
    }
}

fn probe<O: Objective + ?Sized>(
    eval: &mut Evaluator<'_, O>,
    current: &Iterate,
    direction: &[f64],
    t: f64,
    next: &mut Iterate,
) -> Sample {
    let finite_x = set_point_on_ray(&mut next.x, &current.x, t, direction);
    eval.evaluate(next);
    // The slope and the count of ranks with a point that is not finite.
    let mut sums = [dot(&next.grad, direction), f64::from(u8::from(!finite_x))];
    eval.sum_over_ranks(&mut sums);
    let [d, infinite_x] = sums;
    // A finite slope means a finite gradient (a NaN or infinite component
    // makes its product, and so the sum, NaN or infinite); the exact check
    // runs only when the quick one fails.
    let finite =
        (infinite_x == 0.0 && next.loss.is_finite() && d.is_finite()) || eval.is_finite(next);
    if finite {
        Sample { t, f: next.loss, d }
    } else {
        Sample {
            t,
            f: f64::INFINITY,
            d: f64::NAN,
        }
    }
}

/// Minimizer of the cubic through both samples (N&W eq. 3.59), kept at least
/// a tenth of the interval away from its ends; bisection when the cubic is
/// unusable (an infinite end, no real minimizer).
fn interpolate(a: Sample, b: Sample) -> f64 {
    let (low, high) = (a.t.min(b.t), a.t.max(b.t));
    let margin = 0.1 * (high - low);
    let mid = 0.5 * (low + high);
    let d1 = a.d + b.d - 3.0 * (a.f - b.f) / (a.t - b.t);
    let discriminant = d1 * d1 - a.d * b.d;
    if !discriminant.is_finite() || discriminant < 0.0 {
        return mid;
    }
    let d2 = (b.t - a.t).signum() * discriminant.sqrt();
    let t = b.t - (b.t - a.t) * (b.d + d2 - d1) / (b.d - a.d + 2.0 * d2);
    if t.is_finite() && t >= low + margin && t <= high - margin {
        t
    } else {
        mid
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cubic_interpolation_is_exact_on_a_cubic() {
        // φ(t) = (t − 1)³ − 3(t − 1) has its local minimum at t = 2.
        let phi = |t: f64| (t - 1.0).powi(3) - 3.0 * (t - 1.0);
        let dphi = |t: f64| 3.0 * (t - 1.0).powi(2) - 3.0;
        let s = |t| Sample {
            t,
            f: phi(t),
            d: dphi(t),
        };
        assert!((interpolate(s(1.5), s(3.0)) - 2.0).abs() < 1e-12);
        assert!((interpolate(s(3.0), s(1.5)) - 2.0).abs() < 1e-12);
    }

    /// `(x − 1)²` for `x < 3`, NaN beyond (like a log outside its domain).
    struct Walled;
    impl Objective for Walled {
        fn num_params(&self) -> usize {
            1
        }
        fn value(&mut self, x: &[f64]) -> f64 {
            if x[0] < 3.0 {
                (x[0] - 1.0).powi(2)
            } else {
                f64::NAN
            }
        }
        fn value_and_gradient(&mut self, x: &[f64], g: &mut [f64]) -> f64 {
            g[0] = 2.0 * (x[0] - 1.0);
            self.value(x)
        }
    }

    fn start(objective: &mut Walled, eval_at: f64) -> Iterate {
        let mut current = Iterate::new(vec![eval_at]);
        Evaluator::new(objective, None).evaluate(&mut current);
        current
    }

    #[test]
    fn backs_off_from_a_non_finite_trial() {
        let mut objective = Walled;
        let current = start(&mut objective, 0.0);
        let mut next = current.clone();
        let mut search = StrongWolfe::new(1e-4, 0.9, 25);
        search.start(1);
        let mut eval = Evaluator::new(&mut objective, None);
        // The first trial, x = 100, is NaN.
        let outcome = search.search(&mut eval, &current, &[1.0], -2.0, 100.0, &mut next);
        assert_eq!(outcome, Step::Moved);
        assert!(next.x[0] < 3.0 && next.loss < current.loss, "{next:?}");
        assert!(
            next.grad[0].abs() <= 0.9 * current.grad[0].abs(),
            "strong Wolfe"
        );
        assert!(eval.evaluations() > 1);
    }

    #[test]
    fn accepts_the_exact_minimizer_of_a_quadratic_by_interpolation() {
        let mut objective = Walled;
        let current = start(&mut objective, 0.0);
        let mut next = current.clone();
        let mut search = StrongWolfe::new(1e-4, 0.1, 25);
        search.start(1);
        let mut eval = Evaluator::new(&mut objective, None);
        // t = 2.5 overshoots (slope +3 > 0.1·2), the cubic through both ends is exact.
        let outcome = search.search(&mut eval, &current, &[1.0], -2.0, 2.5, &mut next);
        assert_eq!(outcome, Step::Moved);
        assert!((next.x[0] - 1.0).abs() < 1e-12, "{next:?}");
        assert_eq!(eval.evaluations(), 2);
    }

    #[test]
    fn stalls_when_no_step_decreases() {
        let mut objective = Walled;
        let current = start(&mut objective, 0.0);
        let mut next = current.clone();
        let mut search = StrongWolfe::new(1e-4, 0.9, 5);
        search.start(1);
        let mut eval = Evaluator::new(&mut objective, None);
        // Uphill: no step along +∞·(−1)… every trial is worse than the start.
        let outcome = search.search(&mut eval, &current, &[-1.0], 2.0, 1.0, &mut next);
        assert_eq!(outcome, Step::Stalled);
        assert_eq!(eval.evaluations(), 5);
    }

    #[test]
    fn interpolation_bisects_towards_an_infinite_end() {
        let lo = Sample {
            t: 0.0,
            f: 1.0,
            d: -1.0,
        };
        let hi = Sample {
            t: 4.0,
            f: f64::INFINITY,
            d: f64::NAN,
        };
        assert_eq!(interpolate(lo, hi), 2.0);
    }
}
