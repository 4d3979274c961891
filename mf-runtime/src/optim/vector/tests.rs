use super::*;
use crate::optim::test_problems::Quadratic;
use crate::{Adam, Backtracking, GradientDescent, Lbfgs, Minimizer, Nesterov, StopReason};

/// Lengths around the lane and chunk boundaries.
const LENGTHS: [usize; 9] = [0, 1, 7, 8, 9, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 13];

/// Seeded values of both signs, magnitudes from 1e-3 to 1e3.
pub(crate) fn values(n: usize, seed: u64) -> Vec<f64> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let u = (state >> 11) as f64 / (1u64 << 53) as f64;
            let magnitude = 10f64.powf(6.0 * ((state & 0xff) as f64 / 255.0) - 3.0);
            (u - 0.5) * magnitude
        })
        .collect()
}

/// `got` equals `want` up to the round-off of summing terms whose absolute
/// values add up to `scale`, in any order.
fn assert_close(got: f64, want: f64, scale: f64) {
    let tolerance = 1e-14 * scale + f64::MIN_POSITIVE;
    assert!(
        (got - want).abs() <= tolerance,
        "{got} vs {want} (scale {scale})"
    );
}

fn plain_dot(a: &[f64], b: &[f64]) -> (f64, f64) {
    let sum = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let scale = a.iter().zip(b).map(|(x, y)| (x * y).abs()).sum();
    (sum, scale)
}

fn on_threads<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a thread pool")
        .install(f)
}

#[test]
fn dot_matches_the_plain_sum() {
    for n in LENGTHS {
        let (a, b) = (values(n, 1), values(n, 2));
        let (want, scale) = plain_dot(&a, &b);
        assert_close(dot(&a, &b), want, scale);
    }
}

#[test]
fn norm_matches_the_plain_formula_and_survives_overflow_and_underflow() {
    assert_eq!(norm(&[3.0, 4.0]), 5.0);
    assert!((norm(&[3e200, 4e200]) / 5e200 - 1.0).abs() < 1e-15);
    assert!((norm(&[3e-200, 4e-200]) / 5e-200 - 1.0).abs() < 1e-15);
    assert_eq!(norm(&[0.0, 0.0]), 0.0);
    assert_eq!(norm(&[]), 0.0);
    assert_eq!(norm(&[1.0, f64::INFINITY]), f64::INFINITY);
    assert!(norm(&[f64::INFINITY, f64::NAN]).is_nan());
    for n in LENGTHS {
        let a = values(n, 3);
        let want = a.iter().map(|v| v * v).sum::<f64>().sqrt();
        assert_close(norm(&a), want, want);
        // The same values times 1e300 and 1e-300: rescaled, same relative value.
        for factor in [1e300, 1e-300] {
            let big: Vec<f64> = a.iter().map(|v| v * factor).collect();
            assert_close(norm(&big) / factor, want, want);
        }
    }
}

#[test]
fn a_point_on_a_ray_is_exact_and_checked() {
    for n in LENGTHS {
        let (x, d) = (values(n, 4), values(n, 5));
        let mut out = vec![f64::NAN; n];
        assert!(set_point_on_ray(&mut out, &x, -0.3, &d));
        for i in 0..n {
            assert_eq!(out[i], x[i] + -0.3 * d[i]);
        }
        if n > 0 {
            let mut d = d;
            d[n - 1] = f64::INFINITY;
            assert!(!set_point_on_ray(&mut out, &x, 1.0, &d));
        }
    }
}

#[test]
fn sums_known_at_run_time_are_added_in_chunk_order() {
    for n in LENGTHS {
        let (a, b) = (values(n, 6), values(n, 7));
        let mut out = vec![0.0f32; n];
        let mut sums = vec![f64::NAN; 3];
        sweep_sums(n, [&mut out[..]], &mut sums, |r, [out], sums| {
            for ((o, a), b) in out.iter_mut().zip(&a[r.clone()]).zip(&b[r.clone()]) {
                *o = *a as f32;
                sums[0] += a * b;
                sums[1] += a.abs();
            }
            sums[2] += 1.0;
        });
        let (want, scale) = plain_dot(&a, &b);
        assert_close(sums[0], want, scale);
        let abs: f64 = a.iter().map(|a| a.abs()).sum();
        assert_close(sums[1], abs, abs);
        // One partial per chunk; a sweep of nothing is still one call.
        assert_eq!(sums[2], n.div_ceil(CHUNK).max(1) as f64);
        assert!(out.iter().zip(&a).all(|(o, a)| *o == *a as f32));
    }
}

#[test]
fn the_first_non_finite_value_is_found_in_any_chunk() {
    for n in LENGTHS.into_iter().filter(|&n| n > 0) {
        let mut v = values(n, 13);
        assert_eq!(first_non_finite(&v), None);
        for bad in [n - 1, n / 2, 0] {
            v[bad] = if bad % 2 == 0 {
                f64::NAN
            } else {
                f64::NEG_INFINITY
            };
            assert_eq!(first_non_finite(&v), Some(bad), "length {n}");
        }
    }
}

#[test]
fn the_checked_norm_is_the_norm_or_nothing() {
    for n in LENGTHS {
        let (g, mut x) = (values(n, 14), values(n, 15));
        assert_eq!(finite_norm(&g, &x), Some(norm(&g)));
        if n > 0 {
            x[n - 1] = f64::INFINITY;
            assert_eq!(finite_norm(&g, &x), None);
            let mut g = g.clone();
            g[n / 3] = f64::NAN;
            assert_eq!(finite_norm(&g, &values(n, 15)), None);
        }
    }
    assert_eq!(finite_norm(&[3e300, 4e300], &[1.0, 1.0]), Some(5e300));
}

#[test]
fn the_predicted_descent_matches_the_plain_sum() {
    for n in LENGTHS {
        let (g, x_new, x, mut g_new) = (values(n, 16), values(n, 17), values(n, 18), values(n, 19));
        let diff: Vec<f64> = x_new.iter().zip(&x).map(|(a, b)| a - b).collect();
        let (want, scale) = plain_dot(&g, &diff);
        let [got, non_finite] = descent_and_non_finite(&g, &x_new, &x, &g_new);
        assert_close(got, want, scale);
        assert_eq!(non_finite, 0.0);
        if n > 0 {
            g_new[n - 1] = f64::NAN;
            assert!(descent_and_non_finite(&g, &x_new, &x, &g_new)[1].is_nan());
        }
    }
}

#[test]
fn partials_are_added_in_chunk_order() {
    // Each chunk returns a value whose sum depends on the order: the
    // result must be the left-to-right sum over chunks.
    let n = 5 * CHUNK + 1;
    let part = |r: Range<usize>| [if r.start == 0 { 1.0 } else { 1e-16 }];
    let want = (1..n.div_ceil(CHUNK)).fold(1.0, |s, _| s + 1e-16);
    for threads in [1, 2, 4] {
        let [got] = on_threads(threads, || sweep(n, [], |r, []| part(r)));
        assert_eq!(got, want);
    }
}

#[test]
#[should_panic(expected = "wrong length")]
fn outputs_of_the_wrong_length_are_refused() {
    let mut out = [0.0; 3];
    let [] = sweep(4, [&mut out[..]], |_, [_]| []);
}

#[test]
fn kernels_are_bit_identical_on_1_2_and_4_threads() {
    let n = 5 * CHUNK + 3;
    let (a, b, c, d) = (values(n, 20), values(n, 21), values(n, 22), values(n, 23));
    let run = || {
        let mut q = a.clone();
        let mut bits = vec![
            dot(&a, &b),
            norm(&a),
            finite_norm(&a, &b).unwrap_or(f64::NAN),
            descent_and_non_finite(&a, &b, &c, &d)[0],
        ];
        let mut sums = [0.0; 2];
        sweep_sums(n, [&mut q[..]], &mut sums, |r, [q], sums| {
            for ((q, c), d) in q.iter_mut().zip(&c[r.clone()]).zip(&d[r.clone()]) {
                *q += c;
                sums[0] += *q * d;
            }
            sums[1] = sums[0] * 0.5;
        });
        bits.extend(sums);
        bits.extend(q);
        bits.into_iter().map(f64::to_bits).collect::<Vec<u64>>()
    };
    let reference = on_threads(1, run);
    for threads in [2, 4] {
        assert!(on_threads(threads, run) == reference, "{threads} threads");
    }
}

/// A whole run of `method` on a separable quadratic of 100,000 values (13
/// chunks), as bits.
fn run_bits<M: Minimizer + Clone + Send>(method: &M, threads: usize) -> (Vec<u64>, u64) {
    let method = method.clone();
    on_threads(threads, move || {
        let n = 100_000;
        let mut q = Quadratic::ill_conditioned(n, 1e3);
        let mut x = values(n, 24);
        let report = method
            .train()
            .max_iters(20)
            .tol_rel_loss(0.0)
            .tol_grad(0.0)
            .progress(false)
            .minimize(&mut q, &mut x)
            .expect("the run succeeds");
        assert_eq!(report.stop, StopReason::MaxIters);
        (
            x.into_iter().map(f64::to_bits).collect(),
            report.loss.to_bits(),
        )
    })
}

fn check_runs<M: Minimizer + Clone + Send>(method: M) {
    let reference = run_bits(&method, 1);
    assert_ne!(
        reference.0,
        values(100_000, 24)
            .into_iter()
            .map(f64::to_bits)
            .collect::<Vec<_>>(),
        "the run moved"
    );
    for threads in [2, 4] {
        assert!(
            run_bits(&method, threads) == reference,
            "{}: {threads} threads differ from 1",
            method.name()
        );
    }
}

#[test]
fn lbfgs_runs_are_bit_identical_on_1_2_and_4_threads() {
    check_runs(Lbfgs::default());
}

#[test]
fn adam_runs_are_bit_identical_on_1_2_and_4_threads() {
    check_runs(Adam::new(0.01));
}

#[test]
fn first_order_runs_are_bit_identical_on_1_2_and_4_threads() {
    check_runs(GradientDescent::new(1e-3));
    check_runs(Nesterov::new(1e-3));
    check_runs(Backtracking::default());
}
