//! The `loss!` compiler. See the mf-runtime crate for the user-facing docs.

use proc_macro::TokenStream;

/// Compiles a loss written as math into Rust with its gradients.
#[proc_macro]
pub fn loss(input: TokenStream) -> TokenStream {
    let _ = input;
    quote::quote!(compile_error!("loss! is not implemented yet");).into()
}
