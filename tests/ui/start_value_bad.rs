use mf_runtime::loss;

loss! {
    pub struct L {
        data D: sparse[users, items],
        param P: [users, k],
        param Q: [k, items],
        param mu: [] = median(D),
    }
    minimize sum(mask * (D - P@Q - mu)^2)
}

fn main() {}
