//! The classic toy problem: a 5 × 4 ratings matrix with missing entries
//! (0 = missing), factorized with rank 2 by batch gradient descent on the
//! design card's loss. Runs with no data file:
//!
//! ```text
//! cargo run --release --example quickstart
//! cargo run --release --example quickstart -- --steps 5000 --alpha 0.0002
//! ```
//!
//! The default learning rate is 0.01 with 5000 steps, which reconstructs
//! every observed rating within 0.01; the original alpha = 0.0002 (with
//! 5000 batch steps) is stable but stops about 0.19 away on the worst entry.

use mf_runtime::{loss, GradientDescent, Init, MaskedMatrix, Minimizer};
use ndarray::{array, Array2};
use rand::SeedableRng;

loss! {
    /// Squared error on the observed entries, plus a Frobenius penalty on
    /// both factors.
    pub struct SeedLoss {
        /// The ratings; `mask` is 1 where a rating is present.
        data D: [users, items],
        /// User factors.
        param P: [users, k],
        /// Item factors.
        param Q: [k, items],
        /// Penalty weight.
        hyper beta: f64 = 0.02,
    }
    minimize sum(mask * (D - P@Q)^2) + beta*(norm(P)+norm(Q))
}

/// The ratings of the classic example; 0 means "not rated".
pub fn toy_ratings() -> MaskedMatrix {
    MaskedMatrix::zeros_as_missing(array![
        [5.0, 3.0, 0.0, 1.0],
        [4.0, 0.0, 0.0, 1.0],
        [1.0, 1.0, 0.0, 5.0],
        [1.0, 0.0, 0.0, 4.0],
        [0.0, 1.0, 5.0, 4.0],
    ])
}

/// Trains the seed loss on the toy ratings; returns the reconstruction `P Q`.
pub fn train_toy(
    steps: usize,
    alpha: f64,
    seed: u64,
) -> Result<Array2<f64>, Box<dyn std::error::Error>> {
    let ratings = toy_ratings();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let uniform = Init::Uniform {
        low: 0.0,
        high: 1.0,
    };
    let mut params = SeedLoss::init(&ratings, 2, uniform, &mut rng)?;
    let mut objective = SeedLoss::default().objective(&ratings, &params)?;
    let report = GradientDescent::new(alpha)
        .train()
        .max_iters(steps)
        .tol_rel_loss(0.0)
        .progress(false)
        .minimize(&mut objective, params.as_mut_slice())?;
    eprintln!(
        "{}: {} steps, loss {:.6} ({:?})",
        report.method, report.iterations, report.loss, report.stop
    );
    Ok(params.P().dot(&params.Q()))
}

/// The value after `flag` on the command line, or `default`.
fn flag<T: std::str::FromStr>(flag: &str, default: T) -> Result<T, String> {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == flag) {
        None => Ok(default),
        Some(i) => args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("{flag} needs a number")),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let steps = flag("--steps", 5000)?;
    let alpha = flag("--alpha", 0.01)?;
    println!("{}", SeedLoss::explain());
    let reconstruction = train_toy(steps, alpha, 0)?;
    let ratings = toy_ratings();
    println!("observed (· = missing):");
    for row in 0..ratings.dim().0 {
        let cells: Vec<String> = (0..ratings.dim().1)
            .map(|col| match ratings.is_observed(row, col) {
                true => format!("{:5.1}", ratings.values()[[row, col]]),
                false => "    ·".into(),
            })
            .collect();
        println!("  {}", cells.join(" "));
    }
    println!("reconstructed P Q ({steps} steps, alpha = {alpha}):");
    let mut worst: f64 = 0.0;
    for (row, values) in reconstruction.rows().into_iter().enumerate() {
        let cells: Vec<String> = values.iter().map(|v| format!("{v:5.2}")).collect();
        println!("  {}", cells.join(" "));
        for (col, v) in values.iter().enumerate() {
            if ratings.is_observed(row, col) {
                worst = worst.max((v - ratings.values()[[row, col]]).abs());
            }
        }
    }
    println!("largest error on an observed entry: {worst:.3}");
    Ok(())
}
