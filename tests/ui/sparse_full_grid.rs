use mf_runtime::loss;

loss! {
    pub struct FullGrid {
        data D: sparse[users, items],
        param P: [users, k],
        param Q: [k, items],
    }
    minimize sum(mask * (D - P@Q)^2) + 0.1 * sum(exp(P@Q))
}

fn main() {}
