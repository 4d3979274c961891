use mf_runtime::loss;

loss! {}

fn main() {}
