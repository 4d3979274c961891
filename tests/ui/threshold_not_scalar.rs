use mf_runtime::loss;

loss! {
    pub struct L {
        data D: [users, items],
        param P: [users, k],
        param Q: [k, items],
        param bu: [users, 1],
    }
    minimize sum(mask * huber(D - P@Q, bu))
}

fn main() {}
