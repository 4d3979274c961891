//! The `loss!` procedural macro: a thin shim over [`mf_compiler::compile`],
//! where the whole pipeline lives (and is tested without a compiler in the
//! loop). User documentation is in the `mf-runtime` crate, which re-exports
//! [`loss!`].

/// Compiles a loss written as math into Rust: hyper-settings, parameters,
/// and an `Objective` with the derived gradients. See `mf_runtime::loss!`.
#[proc_macro]
pub fn loss(input: proc_macro::TokenStream) -> proc_macro::TokenStream {
    mf_compiler::compile(input.into()).into()
}
