//! Arbitrary text as the body of a loss with a fixed, valid header, so that
//! the fuzzer spends its time past the parser: in check, diff, simplify,
//! lower and emit.
//!
//! The first byte picks one of a few headers (dense or sparse data, with or
//! without bias vectors and a second data matrix); the rest is the text
//! after `minimize` (it may itself contain `predict …`).
#![no_main]

use libfuzzer_sys::fuzz_target;

const HEADERS: [&str; 4] = [
    "struct L { data D: [users, items], param P: [users, k], param Q: [k, items], \
     hyper beta: f64 = 0.1, }",
    "struct L { data D: sparse[users, items], param P: [users, k], param Q: [k, items], \
     hyper beta: f64 = 0.1, }",
    "pub struct L { data D: sparse[users, items], data C: sparse[users, items], \
     param P: [users, k], param Q: [k, items], param bu: [users, 1], \
     param bi: [1, items], param mu: [], hyper beta: f64 = 0.1, }",
    "struct L { data D: [users, items], data W: [users, items], param P: [users, k], \
     param Q: [k, items], param bu: [users, 1], param bi: [1, items], param mu: [], \
     hyper beta: f64 = 0.1, hyper lambda: f64 = -2, }",
];

fuzz_target!(|data: &[u8]| {
    let Some((&choice, body)) = data.split_first() else {
        return;
    };
    let Ok(body) = std::str::from_utf8(body) else {
        return;
    };
    let header = HEADERS[usize::from(choice) % HEADERS.len()];
    let Ok(tokens) = format!("{header} minimize {body}").parse::<proc_macro2::TokenStream>() else {
        return;
    };
    let _ = mf_compiler::compile(tokens);
});
