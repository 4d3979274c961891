use mf_runtime::{loss, Init, MaskedMatrix, Objective};
use ndarray::array;
use rand::SeedableRng;

loss! {
    /// Squared error on the observed entries, L2 penalty on the factors.
    pub struct SeedLoss {
        data D: [users, items],
        param P: [users, k],
        param Q: [k, items],
        hyper beta: f64 = 0.02,
    }
    minimize sum(mask * (D - P@Q)^2) + beta*(norm(P)+norm(Q))
}

fn main() {
    let r = MaskedMatrix::zeros_as_missing(array![
        [5.0, 3.0, 0.0, 1.0],
        [4.0, 0.0, 0.0, 1.0],
        [1.0, 1.0, 0.0, 5.0],
        [1.0, 0.0, 0.0, 4.0],
        [0.0, 1.0, 5.0, 4.0]
    ]);
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    let params = SeedLoss::init(&r, 2, Init::Uniform { low: 0.0, high: 1.0 }, &mut rng).unwrap();
    let mut obj = SeedLoss::default().objective(&r, &params).unwrap();
    let mut g = vec![0.0; obj.num_params()];
    println!("{}", SeedLoss::explain());
    println!("{}", obj.value_and_gradient(params.as_slice(), &mut g));
}
