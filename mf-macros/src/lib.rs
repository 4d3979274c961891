//! The `loss!` compiler.
//!
//! A thin shim over a pipeline that works on `proc_macro2` tokens, one stage
//! per module, each unit-tested without a compiler in the loop:
//!
//! ```text
//! parse → check → diff → simplify → lower → emit
//! ```
//!
//! - [`parse`]: tokens → syntax tree (numpy precedence);
//! - [`check`]: names, roles and symbolic shapes → the IR ([`ir`]), with a
//!   spanned error for every mistake;
//! - [`diff`]: reverse-mode symbolic gradients, rule by rule from [`ops`];
//! - [`simplify`]: algebra applied as every node is built (CSE by interning);
//! - [`lower`]: fused loops and matrix products;
//! - [`emit`]: Rust code, with [`explain`] rendering the math.
//!
//! User documentation lives in the `mf-runtime` crate, which re-exports
//! [`loss!`].

use proc_macro2::TokenStream;

mod check;
mod diff;
mod emit;
mod explain;
mod ir;
mod lower;
mod ops;
mod parse;
mod simplify;

/// Compiles a loss written as math into Rust: hyper-settings, parameters,
/// and an `Objective` with the derived gradients. See `mf_runtime::loss!`.
#[proc_macro]
pub fn loss(input: proc_macro::TokenStream) -> proc_macro::TokenStream {
    compile(input.into()).into()
}

/// The whole pipeline: generated items, or the compile errors.
fn compile(input: TokenStream) -> TokenStream {
    match try_compile(input) {
        Ok(tokens) => tokens,
        Err(error) => error.to_compile_error(),
    }
}

fn try_compile(input: TokenStream) -> syn::Result<TokenStream> {
    let def: parse::LossDef = syn::parse2(input)?;
    let check::Checked {
        symbols,
        mut graph,
        loss,
    } = check::check(&def)?;
    let grads = diff::gradients(&mut graph, loss, symbols.params.len());
    if !graph.internal_errors.is_empty() {
        return Err(def.body.range().error(format!(
            "internal compiler error while differentiating (please report): {}",
            graph.internal_errors.join("; ")
        )));
    }
    let value_plan = lower::plan(&graph, loss, &[]);
    let gradient_plan = lower::plan(&graph, loss, &grads);
    let printer = explain::Printer {
        graph: &graph,
        symbols: &symbols,
    };
    let explain = explain::explain(
        &def.name.to_string(),
        &printer,
        loss,
        &grads,
        &gradient_plan,
    );
    Ok(emit::emit(&emit::Input {
        def: &def,
        symbols: &symbols,
        graph: &graph,
        loss,
        value_plan: &value_plan,
        gradient_plan: &gradient_plan,
        explain,
    }))
}
