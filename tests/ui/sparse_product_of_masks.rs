use mf_runtime::loss;

loss! {
    pub struct L {
        data D: sparse[users, items],
        param P: [users, k],
        param Q: [k, items],
        param W: [items, items],
    }
    minimize sum(mask * (D - P@Q)^2) + sum(W * (mask(D).T @ mask(D)))
}

fn main() {}
