use mf_runtime::loss;

loss! {
    pub struct ScalarFromData {
        data D: sparse[users, items],
        param P: [users, k],
        param Q: [k, items],
    }
    minimize sum(mask * (D - P@Q)^2)
    predict P@Q + sum(mask * D) / sum(mask)
}

fn main() {}
