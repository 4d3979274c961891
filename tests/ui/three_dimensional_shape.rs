use mf_runtime::loss;

loss! {
    pub struct L {
        data D: [users, items],
        param P: [users, k, t],
        param Q: [k, items],
    }
    minimize sum(mask * (D - P@Q)^2)
}

fn main() {}
