use mf_runtime::loss;

loss! {
    pub struct NoParam {
        data D: [users, items],
    }
    minimize sum(mask * D)
}

fn main() {}
