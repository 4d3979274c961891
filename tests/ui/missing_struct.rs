use mf_runtime::loss;

loss! {
    data D: [users, items],
    param P: [users, k],
    minimize sum(mask * (D - P)^2)
}

fn main() {}
