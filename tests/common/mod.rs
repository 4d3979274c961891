//! Shared helpers of the integration tests (each test uses some of them).
#![allow(dead_code)]

use mf_runtime::MaskedMatrix;
use ndarray::Array2;
use rand::{Rng, SeedableRng};

/// A seeded generator, so every test input is reproducible.
pub fn rng(seed: u64) -> rand::rngs::StdRng {
    rand::rngs::StdRng::seed_from_u64(seed)
}

/// Ratings in [1, 5] with about a third of the cells missing; missing cells
/// hold NaN, so any read of them poisons the loss.
pub fn ratings_with_nan_holes(rng: &mut impl Rng, rows: usize, cols: usize) -> MaskedMatrix {
    let values = Array2::from_shape_fn((rows, cols), |_| {
        if rng.random_bool(0.35) {
            f64::NAN
        } else {
            rng.random_range(1.0..5.0)
        }
    });
    MaskedMatrix::nan_as_missing(values)
}

/// A fully observed matrix of positive weights.
pub fn positive_matrix(rng: &mut impl Rng, rows: usize, cols: usize) -> MaskedMatrix {
    MaskedMatrix::fully_observed(Array2::from_shape_fn((rows, cols), |_| {
        rng.random_range(0.5..2.0)
    }))
}
