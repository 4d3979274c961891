use mf_runtime::loss;

loss! {
    pub struct L {
        param P: [users, k],
        param Q: [k, items],
    }
    minimize sum(mask * (P@Q)^2)
}

fn main() {}
