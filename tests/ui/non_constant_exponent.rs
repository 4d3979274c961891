use mf_runtime::loss;

loss! {
    pub struct L {
        data D: [users, items],
        param P: [users, k],
        param Q: [k, items],
        hyper p: f64 = 2.0,
    }
    minimize sum(mask * (D - P@Q)^p)
}

fn main() {}
