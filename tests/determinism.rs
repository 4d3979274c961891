//! Determinism of whole training runs: a sparse loss trained with L-BFGS,
//! Adam and ALS for a fixed number of steps ends on the same parameter vector,
//! bit for bit, on 1, 2 and 4 rayon threads and on every repeat with the
//! same seed.
//!
//! The data are large enough that every sparse pass runs over several tiles
//! in several rounds (20,000 entries: 4 × 4 tiles, 4 rounds of 4 in
//! parallel), so a result that depended on which thread ran which tile
//! would show here.

mod common;

use mf_runtime::data::synthetic;
use mf_runtime::{loss, Adam, Als, Init, Lbfgs, Minimizer, Ratings, StopReason};

loss! {
    pub struct SparseBiased {
        data D: sparse[users, items],
        param P: [users, k],
        param Q: [k, items],
        param bu: [users, 1],
        param bi: [1, items],
        param mu: [],
        hyper beta: f64 = 0.05,
    }
    minimize sum(mask * (D - P@Q - bu - bi - mu)^2) + beta * (norm(P)^2 + norm(Q)^2 + sum(bu^2) + sum(bi^2))
}

const STEPS: usize = 25;

#[derive(Clone, Copy, Debug)]
enum Method {
    Lbfgs,
    Adam,
    Als,
    AlsCg,
}

/// Initialises from `seed` and trains for exactly `STEPS` steps; the final
/// flat parameters and loss, as bits.
fn train(data: &Ratings, method: Method, seed: u64) -> (Vec<u64>, u64) {
    let mut rng = common::rng(seed);
    let mut params = SparseBiased::init(
        data,
        8,
        Init::Normal {
            mean: 0.0,
            std: 0.1,
        },
        &mut rng,
    )
    .unwrap();
    let mut objective = SparseBiased::default().objective(data, &params).unwrap();
    let x = params.as_mut_slice();
    let report = match method {
        Method::Lbfgs => Lbfgs::default()
            .train()
            .max_iters(STEPS)
            .tol_rel_loss(0.0)
            .progress(false)
            .minimize(&mut objective, x),
        Method::Adam => Adam::new(0.01)
            .train()
            .max_iters(STEPS)
            .tol_rel_loss(0.0)
            .progress(false)
            .minimize(&mut objective, x),
        Method::Als => Als::default()
            .train()
            .max_iters(STEPS)
            .tol_rel_loss(0.0)
            .progress(false)
            .minimize(&mut objective, x),
        Method::AlsCg => Als::default()
            .conjugate_gradient(3)
            .train()
            .max_iters(STEPS)
            .tol_rel_loss(0.0)
            .progress(false)
            .minimize(&mut objective, x),
    }
    .unwrap();
    assert_eq!(
        (report.stop, report.iterations),
        (StopReason::MaxIters, STEPS),
        "{method:?}"
    );
    (
        params.as_slice().iter().map(|v| v.to_bits()).collect(),
        report.loss.to_bits(),
    )
}

fn on_threads(threads: usize, data: &Ratings, method: Method, seed: u64) -> (Vec<u64>, u64) {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(|| train(data, method, seed))
}

fn check(method: Method) {
    let data = synthetic(2_000, 300, 20_000, 11).unwrap();
    let reference = on_threads(1, &data, method, 5);
    for threads in [2, 4] {
        assert!(
            on_threads(threads, &data, method, 5) == reference,
            "{method:?}: {threads} threads differ from 1"
        );
    }
    for repeat in 0..2 {
        assert!(
            on_threads(4, &data, method, 5) == reference,
            "{method:?}: repeat {repeat} on 4 threads differs"
        );
    }
    assert!(
        train(&data, method, 5) == reference,
        "{method:?}: global pool"
    );
    // A different seed is a different run (the comparison is not vacuous).
    assert!(on_threads(1, &data, method, 6) != reference);
}

#[test]
fn lbfgs_runs_are_bit_identical_across_threads_and_repeats() {
    check(Method::Lbfgs);
}

#[test]
fn adam_runs_are_bit_identical_across_threads_and_repeats() {
    check(Method::Adam);
}

#[test]
fn als_runs_are_bit_identical_across_threads_and_repeats() {
    check(Method::Als);
}

#[test]
fn als_cg_runs_are_bit_identical_across_threads_and_repeats() {
    check(Method::AlsCg);
}
