//! # mf-runtime
//!
//! Write a matrix-factorization loss as math, train it.
//!
//! ```
//! use mf_runtime::{loss, GradientDescent, Init, MaskedMatrix, Minimizer};
//! use rand::SeedableRng;
//!
//! loss! {
//!     /// Squared error on the observed entries, penalty on the factors.
//!     pub struct SeedLoss {
//!         data D: [users, items],
//!         param P: [users, k],
//!         param Q: [k, items],
//!         hyper beta: f64 = 0.02,
//!     }
//!     minimize sum(mask * (D - P@Q)^2) + beta*(norm(P)+norm(Q))
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let ratings = MaskedMatrix::zeros_as_missing(ndarray::array![[5.0, 3.0, 0.0], [4.0, 0.0, 1.0]]);
//! let mut rng = rand::rngs::StdRng::seed_from_u64(0);
//! let mut params = SeedLoss::init(&ratings, 2, Init::Uniform { low: 0.0, high: 1.0 }, &mut rng)?;
//! let mut objective = SeedLoss::default().objective(&ratings, &params)?;
//! let report = GradientDescent::new(0.01)
//!     .train()
//!     .max_iters(2000)
//!     .progress(false)
//!     .minimize(&mut objective, params.as_mut_slice())?;
//! assert!(report.loss < 1.0);
//! assert!(SeedLoss::explain().contains("∂L/∂P = -2 (mask ∘ (D - P Q)) Qᵀ"));
//! # Ok(())
//! # }
//! ```
//!
//! The [`loss!`] macro derives the gradients at compile time and generates a
//! hyper-settings struct, a parameter struct and an [`Objective`] that the
//! optimizers drive.

// Generated code names this crate `::mf_runtime`, also inside its own tests.
extern crate self as mf_runtime;

/// `Debug` for error types `$t` that prints their `Display` message, so
/// that a `main` returning one (or a `Box<dyn Error>` holding one) prints
/// the message rather than the variant's fields.
macro_rules! debug_as_display {
    ($($t:ty),+) => {
        $(impl ::std::fmt::Debug for $t {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                ::std::fmt::Display::fmt(self, f)
            }
        })+
    };
}

// `wide!` (run-time dispatch to AVX-512 or AVX2) for the row solves and the
// optimizers' sweeps too: declared first, so that every module sees it.
#[macro_use]
pub mod linalg;
pub mod blocks;
pub mod data;
mod dims;
pub mod experiment;
pub mod gradcheck;
pub mod kernel;
pub mod metrics;
pub mod model;
mod objective;
pub mod optim;
mod params;
pub mod plot;
pub mod shard;
pub mod train;

pub use data::{MaskedMatrix, Ratings};
pub use dims::{DimBinder, ShapeError};
pub use mf_macros::loss;
pub use model::{Model, ModelError};
pub use objective::Objective;
pub use optim::{
    fold_in, Adam, Als, Backtracking, GradientDescent, Lbfgs, Minimizer, Nesterov, NonNegative,
};
pub use params::{Init, ParamBlock, ParamLayout, Params};
pub use plot::CurvePlot;
pub use train::{Best, History, Record, Report, StopReason, TrainError, Trainer};

/// Re-exported for generated code and for users: the array type of params and data.
pub use ndarray;
/// Re-exported for generated code: the random number generators of `init`.
pub use rand;

/// The workspace README's Rust code blocks, compiled and run as doctests
/// (`cargo test -p mf-runtime --doc`), so the front page's program stays
/// one that builds and runs as written.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
