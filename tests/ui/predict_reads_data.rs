use mf_runtime::loss;

loss! {
    pub struct ReadsData {
        data D: [users, items],
        param P: [users, k],
        param Q: [k, items],
    }
    minimize sum(mask * (D - P@Q)^2)
    predict P@Q + D
}

fn main() {}
