use mf_runtime::loss;

loss! { 1 2 3 }

fn main() {}
