//! Arbitrary text → tokens → the whole `loss!` pipeline.
//!
//! `mf_compiler::compile` must return (generated code or `compile_error!`
//! invocations) for every input that tokenizes: a panic, an abort or a stack
//! overflow is a crash.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(tokens) = text.parse::<proc_macro2::TokenStream>() else {
        return;
    };
    let _ = mf_compiler::compile(tokens);
});
