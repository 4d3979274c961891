//! The `loss!` compiler as a library; the `mf-macros` crate is a thin shim
//! over [`compile`], and a fuzz target calls it directly.
//!
//! The pipeline works on `proc_macro2` tokens, one stage per module, each
//! unit-tested without a compiler in the loop:
//!
//! ```text
//! parse → check → diff → simplify → blocks → lower → emit
//! ```
//!
//! - `parse`: tokens → syntax tree (numpy precedence);
//! - `check`: names, roles and symbolic shapes → the IR (`ir`), with a
//!   spanned error for every mistake;
//! - `diff`: symbolic derivatives, rule by rule from `ops`, the table of
//!   operations: reverse-mode gradients, and the forward-mode elementwise
//!   derivatives the row systems of `blocks` are built from;
//! - `simplify`: algebra applied as every node is built (CSE by interning);
//! - `blocks`: the row-block Newton systems (ALS) of the loss, per row of
//!   users, items and the global params;
//! - `lower`: fused loops, matrix products and passes over observed entries;
//! - `emit`: Rust code, with `explain` rendering the math.
//!
//! User documentation lives in the `mf-runtime` crate, which re-exports the
//! `loss!` macro.

use proc_macro2::TokenStream;

mod blocks;
mod check;
mod diff;
mod emit;
mod explain;
#[cfg(test)]
mod gradcheck;
#[cfg(test)]
mod interp;
mod ir;
mod lower;
mod ops;
mod parse;
mod simplify;
mod tables;

/// The whole pipeline: the generated items for a `loss!` input, or its
/// compile errors (as `compile_error!` invocations with spans). Never panics.
///
/// ```
/// let input: proc_macro2::TokenStream = "struct L { param P: [m, n], } minimize sum(P^2)"
///     .parse()
///     .expect("tokens");
/// let output = mf_compiler::compile(input).to_string();
/// assert!(output.contains("impl :: mf_runtime :: Objective for LObjective"));
/// let broken: proc_macro2::TokenStream = "struct L { } minimize".parse().expect("tokens");
/// assert!(mf_compiler::compile(broken).to_string().contains("compile_error"));
/// ```
pub fn compile(input: TokenStream) -> TokenStream {
    match try_compile(input) {
        Ok(tokens) => tokens,
        Err(error) => error.to_compile_error(),
    }
}

/// The most nested brackets, braces and parentheses an input may have.
/// `syn` copies the tokens into its buffer recursively, one call per level,
/// before any parsing starts: without this limit, thousands of nested
/// parentheses overflow the stack. A loss is far shallower (the parser's own
/// limit, `parse::MAX_DEPTH`, is smaller).
const MAX_GROUP_DEPTH: usize = 128;

/// An error at the first group nested deeper than [`MAX_GROUP_DEPTH`]; walks
/// the tokens with an explicit stack, not recursion.
fn check_group_depth(input: &TokenStream) -> syn::Result<()> {
    let mut stack = vec![input.clone().into_iter()];
    while let Some(tokens) = stack.last_mut() {
        match tokens.next() {
            Some(proc_macro2::TokenTree::Group(group)) => {
                if stack.len() > MAX_GROUP_DEPTH {
                    return Err(syn::Error::new(
                        group.span_open(),
                        format!(
                            "brackets, braces and parentheses are nested too deeply here (more than {MAX_GROUP_DEPTH} levels)"
                        ),
                    ));
                }
                stack.push(group.stream().into_iter());
            }
            Some(_) => {}
            None => {
                stack.pop();
            }
        }
    }
    Ok(())
}

fn try_compile(input: TokenStream) -> syn::Result<TokenStream> {
    check_group_depth(&input)?;
    // One line, spaces normalized: printers break long token streams.
    let source = without_attributes(input.clone())
        .to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let def: parse::LossDef = syn::parse2(input)?;
    let check::Checked {
        symbols,
        mut graph,
        loss,
        predict,
        origins,
    } = check::check(&def)?;
    if symbols.params.is_empty() {
        return Err(syn::Error::new(
            def.name.span(),
            "a loss needs at least one param to minimize over: declare one, e.g. `param P: [users, k]`",
        ));
    }
    let grads = diff::gradients(&mut graph, loss, symbols.params.len());
    if !graph.internal_errors.is_empty() {
        return Err(def.body.range().error(format!(
            "internal compiler error while differentiating (please report): {}",
            graph.internal_errors.join("; ")
        )));
    }
    let math = |g: &ir::Graph, id: ir::NodeId| explain::Printer::new(g, &symbols).math(id);
    let blocks = blocks::derive(&mut graph, &symbols, loss, &math);
    if !graph.internal_errors.is_empty() {
        return Err(def.body.range().error(format!(
            "internal compiler error while deriving the row systems (please report): {}",
            graph.internal_errors.join("; ")
        )));
    }
    let sparse: Vec<(ir::Shape, u16)> = symbols
        .data
        .iter()
        .enumerate()
        .filter(|(_, d)| d.sparse)
        .map(|(i, d)| (d.shape, i as u16))
        .collect();
    let printer = explain::Printer::new(&graph, &symbols);
    let lower = |grads: &[Option<ir::NodeId>]| {
        lower::plan(&graph, loss, grads, &sparse).map_err(|e| {
            // At the term in the source when it is one; at the product it
            // comes from when the compiler derived it.
            let (at, derived) = match origins.get(&e.node) {
                Some(&at) => (at, ""),
                None => match derived_from(&graph, &origins, e.node) {
                    Some(at) => (at, " (derived by the compiler from this product)"),
                    None => (def.body.range(), ""),
                },
            };
            at.error(format!(
                "cannot lower `{}`{derived}: {}",
                printer.math(e.node),
                e.message
            ))
        })
    };
    let value_plan = lower(&[])?;
    let gradient_plan = lower(&grads)?;
    // The prediction is emitted when it can be: an explicit `predict`
    // that cannot is an error, an inferred one is simply left out.
    let prediction = predict.and_then(|node| {
        let built = tables::prediction(&graph, &symbols, node, &sparse).and_then(|mut p| {
            let code = emit::prediction_code(&graph, &symbols, node, &p.tables)?;
            p.names = p.tables.iter().map(|&t| printer.math(t)).collect();
            Ok((p, code))
        });
        match (built, &def.predict) {
            (Ok(p), _) => Some(Ok(p)),
            (Err(why), Some(expr)) => Some(Err(expr.range().error(format!(
                "cannot compute the prediction `{}`: {why}",
                printer.math(node)
            )))),
            (Err(_), None) => None,
        }
    });
    let prediction = prediction.transpose()?;
    let mut explain = explain::explain(
        &def.name.to_string(),
        &printer,
        loss,
        &grads,
        &gradient_plan,
        prediction.as_ref().map(|(p, _)| (p.node, &p.tables[..])),
    );
    explain.push_str(&explain::row_systems(&blocks, &printer));
    Ok(emit::emit(&emit::Input {
        def: &def,
        symbols: &symbols,
        graph: &graph,
        loss,
        value_plan: &value_plan,
        gradient_plan: &gradient_plan,
        explain,
        prediction: prediction.as_ref(),
        source,
        blocks: &blocks,
    }))
}

/// For a product the compiler built (a gradient, a Gram form), where the
/// user wrote a product with one of the same operands: the term it derives
/// from.
fn derived_from(
    g: &ir::Graph,
    origins: &std::collections::BTreeMap<ir::NodeId, parse::SpanRange>,
    node: ir::NodeId,
) -> Option<parse::SpanRange> {
    if g.op(node) != ir::Op::MatMul {
        return None;
    }
    let operands = |id: ir::NodeId| g.args(id).iter().map(|&a| lower::untransposed(g, a));
    origins
        .iter()
        .find(|&(&id, _)| {
            g.op(id) == ir::Op::MatMul && operands(id).any(|a| operands(node).any(|b| a == b))
        })
        .map(|(_, &at)| at)
}

/// The tokens without their attributes (`#[…]`, doc comments included), at
/// every depth: what identifies a loss, whatever its documentation says.
fn without_attributes(input: TokenStream) -> TokenStream {
    use proc_macro2::{Group, TokenTree};
    let mut out = Vec::new();
    let mut tokens = input.into_iter().peekable();
    while let Some(token) = tokens.next() {
        match token {
            TokenTree::Punct(p) if p.as_char() == '#' => {
                if let Some(TokenTree::Group(g)) = tokens.peek() {
                    if g.delimiter() == proc_macro2::Delimiter::Bracket {
                        tokens.next();
                        continue;
                    }
                }
                out.push(TokenTree::Punct(p));
            }
            TokenTree::Group(g) => {
                let mut inner = Group::new(g.delimiter(), without_attributes(g.stream()));
                inner.set_span(g.span());
                out.push(TokenTree::Group(inner));
            }
            other => out.push(other),
        }
    }
    out.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::compile;
    use quote::quote;

    /// Malformed or unusual inputs give compile errors (or code), never a
    /// panic.
    #[test]
    fn the_pipeline_never_panics() {
        let header = quote! {
            struct L { data D: [users, items], param P: [users, k], param Q: [k, items], }
        };
        let cases = [
            quote!(),
            quote!(1 2 3),
            quote!(struct),
            quote!(pub struct L),
            quote!(
                struct L {}
            ),
            quote!(struct L {}, minimize),
            quote!(struct L {} minimize 1),
            quote!(struct L { param P: [a, b], } minimize sum(P)),
            quote!(struct L { param P: [], } minimize P),
            quote!(struct L { param P: [r#k, n], } minimize sum(P)),
            quote!(struct L { param P: [type, n], } minimize sum(P)),
            quote!(struct L { param P: [self, n], } minimize sum(P)),
            quote!(struct L { param r#type: [m, n], } minimize sum(r#type)),
            quote!(struct L { param P: [m, n], param P: [n, m], } minimize sum(P)),
            quote!(struct L { param sum: [m, n], } minimize sum(sum)),
            quote!(struct L { param mask: [m, n], } minimize sum(mask)),
            quote!(struct L { data D: sparse[m, n], param P: [m, n], } minimize sum(mask * (D - P))),
            quote!(struct L { param P: sparse[m, n], } minimize sum(P)),
            quote!(struct L { hyper b: f64 = x, param P: [m, n], } minimize sum(P)),
            quote!(struct L { hyper b: f64 = 1e400, param P: [m, n], } minimize b * sum(P)),
            quote!(struct L { param P: [m, n], } minimize sum(P ^ (1 / 0))),
            quote!(struct L { param P: [m, n], } minimize sum(P ^ 0)),
            quote!(struct L { param P: [m, n], } minimize sum(P - P)),
            quote!(struct L { param P: [m, n], } minimize sum(P) * 0),
            quote!(struct L { param P: [m, n], } minimize sum(mask)),
            quote!(struct L { param P: [m, n], } minimize sum()),
            quote!(struct L { param P: [m, n], } minimize mask()),
            quote!(struct L { param P: [m, n], } minimize sum(P, P, P)),
            quote!(struct L { param P: [m, n], } minimize P(P)),
            quote!(struct L { param P: [m, n], } minimize sum(m)),
            quote!(struct L { param P: [m, n], } minimize sum(P.T.T @ P)),
            quote!(struct L { param P: [m, n], } minimize 2 @ P),
            quote!(#header minimize sum(mask(D, D) * P@Q)),
            quote!(#header minimize sum(mask(P@Q) * P@Q)),
            quote!(#header minimize sum(mask(Q) * P@Q)),
            quote!(#header minimize sum(P@Q.T)),
            quote!(#header minimize sum(P.T@Q)),
            quote!(#header minimize sum(P*Q)),
            quote!(#header minimize sum(P@Q) +),
            quote!(#header minimize sum(P@Q) sum(P)),
            quote!(#header minimize sum(P@Q).X),
            quote!(#header minimize sum(P@Q) ^ sum(P)),
            quote!(#header minimize sum(D - P@Q)^2 ^ 3 ^ 400),
            quote!(#header minimize sum((((((P@Q)))))) + 1e308 * 1e308),
        ];
        for tokens in cases {
            let text = tokens.to_string();
            let result = std::panic::catch_unwind(|| compile(tokens).to_string());
            assert!(result.is_ok(), "panicked on: {text}");
        }
    }

    /// `n` nestings of each shape of deep input, as the body of a loss.
    fn deep_bodies(n: usize) -> Vec<(&'static str, String)> {
        let nest = |open: &str, close: &str| format!("sum({}P{})", open.repeat(n), close.repeat(n));
        vec![
            ("parentheses", nest("(", ")")),
            ("unary minus", nest("-", "")),
            ("unary plus", nest("+", "")),
            ("power", format!("sum({}2)", "P^".repeat(n))),
            ("sum chain", format!("sum({}P)", "P+".repeat(n))),
            ("difference chain", format!("sum(P{})", "-P".repeat(n))),
            ("product chain", format!("sum(P{})", "*P".repeat(n))),
            (
                "matmul chain",
                format!("sum(P{}@Q)", "@Q@P.T@P".repeat(n / 4)),
            ),
            ("transpose chain", format!("sum(P{})", ".T".repeat(n))),
            ("exp", nest("exp(", ")")),
            ("sigmoid", nest("sigmoid(", ")")),
            ("abs", nest("abs(", ")")),
            ("log1p", nest("log1p(", ")")),
            ("huber", nest("huber(", ", 1)")),
            ("clamp", nest("clamp(", ", 0, 1)")),
            ("max", nest("max(", ", 0.5)")),
            ("norm", nest("norm(", ")")),
            // Two levels each: the product and the parentheses.
            (
                "masked",
                format!("sum({}D-P@Q{})", "mask*(".repeat(n / 2), ")".repeat(n / 2)),
            ),
        ]
    }

    fn compile_body(body: &str) -> String {
        let text = format!(
            "struct L {{ data D: [users, items], param P: [users, k], param Q: [k, items], }} minimize {body}"
        );
        let tokens: proc_macro2::TokenStream = text.parse().expect("tokens");
        compile(tokens).to_string()
    }

    /// Found by fuzzing with deep inputs: thousands of nested parentheses,
    /// calls, unary minuses, powers or chained operators overflowed the stack
    /// (in `syn`'s token buffer, the parser and the checker), which aborts
    /// the compiler. They are now a spanned error, and every stage copes
    /// with the deepest expression the parser accepts.
    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        for (shape, body) in deep_bodies(10_000) {
            let output = compile_body(&body);
            assert!(
                output.contains("compile_error") && output.contains("nested too deeply"),
                "{shape}: {}",
                &output[..output.len().min(300)]
            );
        }
        // Just inside the limit, the whole pipeline runs (code, or an
        // ordinary error such as a shape mismatch).
        for (shape, body) in deep_bodies(crate::parse::expr::MAX_DEPTH - 5) {
            let output = compile_body(&body);
            assert!(
                !output.contains("nested too deeply"),
                "{shape}: {}",
                &output[..output.len().min(300)]
            );
        }
        // Many nested groups anywhere in the input, before any parsing.
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let output = compile(deep.parse().expect("tokens")).to_string();
        assert!(output.contains("nested too deeply"), "{output}");
    }
}
