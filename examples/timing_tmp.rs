use mf_runtime::{loss, Init, Objective, Ratings};
use rand::SeedableRng;
loss! {
    pub struct S {
        data D: sparse[users, items],
        param P: [users, k],
        param Q: [k, items],
        hyper beta: f64 = 0.02,
    }
    minimize sum(mask * (D - P@Q)^2)
}
fn main() {
    let path = mf_runtime::data::find_dataset("ml-100k/u1.base").unwrap();
    let r = Ratings::load(&path).unwrap();
    for k in [10, 50] {
        let mut rng = rand::rngs::StdRng::seed_from_u64(0);
        let p = S::init(&r, k, Init::Normal{mean:0.0,std:0.1}, &mut rng).unwrap();
        let mut o = S::default().objective(&r, &p).unwrap();
        let mut g = vec![0.0; o.num_params()];
        for _ in 0..20 { o.value_and_gradient(p.as_slice(), &mut g); }
        let t = std::time::Instant::now();
        let n = 200;
        for _ in 0..n { o.value_and_gradient(p.as_slice(), &mut g); }
        let dt = t.elapsed().as_secs_f64() / n as f64;
        println!("k={k}: {:.3} ms, {:.2} ns/entry/rank", dt*1e3, dt*1e9/(r.nnz() as f64 * k as f64));
    }
}
