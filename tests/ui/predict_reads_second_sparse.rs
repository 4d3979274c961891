use mf_runtime::loss;

loss! {
    pub struct ReadsSecondSparse {
        data D: sparse[users, items],
        data S: sparse[users, tags],
        param P: [users, k],
        param Y: [tags, k],
        param Q: [k, items],
    }
    minimize sum(mask(D) * (D - (P + mask(S) @ Y) @ Q)^2)
    predict (P + mask(S) @ Y) @ Q
}

fn main() {}
