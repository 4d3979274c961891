//! Property test of the whole symbolic pipeline (test-only).
//!
//! Random well-formed losses over every op of the language are written as
//! source text and compiled by the real front end (`parse` + `check`, which
//! simplifies as it builds), then differentiated (`diff`). For each one:
//!
//! - (a) the simplified IR, evaluated by [`crate::interp`], has the value of
//!   the syntax tree evaluated directly (no simplification at all);
//! - (b) every symbolic gradient matches central finite differences of the
//!   interpreted loss (the fourth-order stencil at h and h/2, combined by
//!   Richardson extrapolation), within 1e-6 relative error and a floor of
//!   1e-9 × max(1, |loss|);
//! - (c) when every read of a data matrix is guarded by its mask
//!   (`mask(D) * D`), the loss and the gradients stay finite with NaN in the
//!   missing cells: no rewrite lets a missing value leak.
//!
//! Values stay where the functions are smooth: the arguments of `log`,
//! `sqrt`, real and negative powers and denominators are written
//! `x^2 + c` (c > 0) or a nonzero constant, and `exp` arguments are scaled
//! down. `abs` and `norm` have kinks the generator cannot avoid; a finite
//! difference whose stencil crosses one (or comes near the pole of a norm)
//! is skipped, as the interpreter reports (`interp::Kink`), and so is one
//! where the two step sizes disagree by more than 1e-4 (too curved at the
//! scale of h to say anything). The test asserts that fewer than 5% of the
//! entries are skipped, and that every operation of the language and of the
//! IR is exercised in many cases.
//!
//! 10,000 cases per run, expressions up to 4 operations deep, dimensions of
//! size 1 to 3. A failure is shrunk (proptest's unions shrink towards
//! leaves) and printed as `loss!` source; put it in
//! `found_failures_stay_fixed`, and rerun one by hand with
//! `MF_CASE='guarded|a,b,c|seed|source' MF_DUMP=1 cargo test -p mf-compiler replay`.
//! A longer search: `PROPTEST_CASES=100000 MF_PROPTEST_DEPTH=6`.

mod evaluate;
mod generate;

use proptest::prelude::*;

use evaluate::*;
use generate::*;

/// The property test: 10,000 random losses per run. A failure is shrunk
/// to a minimal loss and printed as `loss!` source text; `replay` reruns
/// one by hand.
#[test]
fn simplified_values_and_symbolic_gradients_are_right() {
    // `PROPTEST_CASES` and `MF_PROPTEST_DEPTH` run a longer search by hand.
    let knob = |name: &str, default: u32| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let config = ProptestConfig {
        cases: knob("PROPTEST_CASES", 10_000),
        max_global_rejects: 5_000,
        // Cheap to fork: the strategies fork the RNG at every choice.
        rng_algorithm: proptest::test_runner::RngAlgorithm::XorShift,
        // Found failures become cases of `found_failures_stay_fixed`.
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let mut runner = proptest::test_runner::TestRunner::new(config);
    let ops = std::cell::RefCell::new(std::collections::BTreeMap::<&str, usize>::new());
    let syntax = std::cell::RefCell::new(std::collections::BTreeMap::<String, usize>::new());
    let (checked, skipped) = (std::cell::Cell::new(0), std::cell::Cell::new(0));
    let result = runner.run(&case(knob("MF_PROPTEST_DEPTH", 4)), |case| {
        let outcome = run(&case)?;
        for op in outcome.ops {
            *ops.borrow_mut().entry(op).or_default() += 1;
        }
        for word in case.loss.syntax() {
            *syntax.borrow_mut().entry(word).or_default() += 1;
        }
        checked.set(checked.get() + outcome.checked);
        skipped.set(skipped.get() + outcome.skipped);
        Ok(())
    });
    if let Err(error) = result {
        panic!("{error}");
    }
    let (ops, syntax) = (ops.into_inner(), syntax.into_inner());
    eprintln!(
        "IR ops: {ops:?}\nsyntax: {syntax:?}\ngradient entries checked: {}, skipped at kinks: {}",
        checked.get(),
        skipped.get()
    );
    // Every operation of the language and of the IR is exercised, often.
    for s in crate::ops::ALL
        .iter()
        .filter(|s| s.class != crate::ops::Class::Sugar)
    {
        let n = ops.get(s.name).copied().unwrap_or(0);
        assert!(n >= 50, "IR op `{}` met in {n} cases only", s.name);
    }
    for word in [
        "+", "-", "*", "/", "@", "^int", "^real", "^neg", "neg", ".T", "sum", "mean", "norm",
        "abs", "sqrt", "exp", "log", "mask", "sigmoid", "softplus", "tanh", "relu", "log1p", "max",
        "huber", "count",
    ] {
        let n = syntax.get(word).copied().unwrap_or(0);
        assert!(n >= 100, "`{word}` written in {n} cases only");
    }
    assert!(
        skipped.get() * 20 < checked.get(),
        "too many finite differences skipped at kinks"
    );
}

/// Failures the property test found, kept as regression cases:
/// (guarded, sizes of a, b, c, seed, source).
#[test]
fn found_failures_stay_fixed() {
    let cases: [(bool, [usize; 3], u64, &str); 3] = [
        // The gradient read a guarded scalar data value outside its mask
        // (fixed in `simplify`: masks stay outside sums and broadcasts).
        (
            true,
            [1, 2, 1],
            3697640140301500817,
            "struct L { data d0_11: [], param p0_11: [], data d1_1c: [1, c], param p0_1c: [1, c] } \
             minimize sum(((mask(d0_11) * d0_11) * p0_11) * mask(d1_1c)) + sum(p0_1c)",
        ),
        // With masks on rows and on columns, moving a mask out of a sum
        // dropped the one that gave the summand its rows: a sum from a row
        // to a column (the interpreter's shape checks caught it).
        (
            false,
            [2, 3, 1],
            0,
            "struct L { param p0_11: [], data d0_1b: [1, b], data d0_a1: [a, 1] } \
             minimize (p0_11 + norm((mask(d0_1b) * (mask(d0_a1) * ((p0_11 @ p0_11) @ p0_11)))))",
        ),
        // Too steep for a fourth-order stencil at h = 1e-3 alone (relative
        // error 1.7e-6): finite differences now extrapolate from h and h/2.
        (
            false,
            [1, 1, 1],
            17514965690144179283,
            "struct L { param p0_11: [] } \
             minimize exp((0.5 * (p0_11 + exp((0.5 * ((((p0_11 * 3.0) ^ 2) + 0.5) ^ 2.5))))))",
        ),
    ];
    for (guarded, sizes, seed, source) in cases {
        if let Err(error) = check_source(source, guarded, sizes, seed) {
            panic!("{error}");
        }
    }
}

/// Runs the case in `MF_CASE` (`guarded|a,b,c|seed|source`), to investigate
/// a failure by hand.
#[test]
fn replay() {
    let Ok(spec) = std::env::var("MF_CASE") else {
        return;
    };
    let parts: Vec<&str> = spec.splitn(4, '|').collect();
    let sizes: Vec<usize> = parts[1]
        .split(',')
        .map(|s| s.parse().expect("size"))
        .collect();
    let result = check_source(
        parts[3],
        parts[0] == "1",
        [sizes[0], sizes[1], sizes[2]],
        parts[2].parse().expect("seed"),
    );
    if let Err(error) = result {
        panic!("{error}");
    }
}
