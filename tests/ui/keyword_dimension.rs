use mf_runtime::loss;

loss! {
    pub struct L {
        data D: [users, type],
        param P: [users, k],
        param Q: [k, type],
    }
    minimize sum(mask * (D - P@Q)^2)
}

fn main() {}
