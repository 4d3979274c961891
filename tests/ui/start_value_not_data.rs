use mf_runtime::loss;

loss! {
    pub struct L {
        data D: sparse[users, items],
        param P: [users, k],
        param Q: [k, items],
        param mu: [] = mean(P),
    }
    minimize sum(mask * (D - P@Q - mu)^2)
}

fn main() {}
