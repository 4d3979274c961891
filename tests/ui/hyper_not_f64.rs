use mf_runtime::loss;

loss! {
    pub struct L {
        data D: [users, items],
        param P: [users, k],
        param Q: [k, items],
        hyper beta: f32 = 0.02,
    }
    minimize sum(mask * (D - P@Q)^2) + beta * sum(P^2)
}

fn main() {}
