//! Tests of the parser: declarations, precedence, spans and refused syntax.

use super::*;
use quote::quote;

/// Renders an expression fully parenthesized, to check precedence.
fn show(e: &Expr) -> String {
    match e {
        Expr::Number { value, .. } => format!("{value}"),
        Expr::Symbol(i) => i.to_string(),
        Expr::Call { func, args, .. } => {
            let args: Vec<_> = args.iter().map(show).collect();
            format!("{func}({})", args.join(", "))
        }
        Expr::Neg { operand, .. } => format!("(-{})", show(operand)),
        Expr::Binary { op, lhs, rhs, .. } => {
            format!("({} {} {})", show(lhs), op.symbol(), show(rhs))
        }
        Expr::Transpose { operand, .. } => format!("{}.T", show(operand)),
    }
}

fn body(tokens: TokenStream) -> String {
    let def: LossDef = syn::parse2(quote! {
        struct L { param P: [m, n], }
        minimize #tokens
    })
    .expect("valid input parses");
    show(&def.body)
}

#[test]
fn precedence_follows_numpy() {
    assert_eq!(body(quote!(a + b * c)), "(a + (b * c))");
    assert_eq!(body(quote!(a - b - c)), "((a - b) - c)");
    assert_eq!(body(quote!(-x ^ 2)), "(-(x ^ 2))");
    assert_eq!(body(quote!(x ^ 2 ^ 3)), "(x ^ (2 ^ 3))");
    assert_eq!(body(quote!(x ^ -1)), "(x ^ (-1))");
    assert_eq!(body(quote!(a * b @ c / d)), "(((a * b) @ c) / d)");
    assert_eq!(body(quote!(P @ Q.T)), "(P @ Q.T)");
    assert_eq!(body(quote!((P @ Q).T ^ 2)), "((P @ Q).T ^ 2)");
    assert_eq!(body(quote!(-a * b)), "((-a) * b)");
}

#[test]
fn seed_body_parses() {
    assert_eq!(
        body(quote!(sum(mask * (D - P@Q)^2) + beta*(norm(P)+norm(Q)))),
        "(sum((mask * ((D - (P @ Q)) ^ 2))) + (beta * (norm(P) + norm(Q))))"
    );
}

#[test]
fn header_declares_roles_shapes_and_defaults() {
    let def: LossDef = syn::parse2(quote! {
        /// docs
        pub struct L {
            data D: sparse[users, items],
            param bu: [users, 1],
            param mu: [],
            hyper beta: f64 = -0.5,
        }
        minimize sum(D)
    })
    .expect("valid input parses");
    assert_eq!(def.name, "L");
    assert_eq!(def.decls.len(), 4);
    assert!(def.decls[0].sparse.is_some());
    assert!(matches!(def.decls[1].dims[1], DimSpec::One));
    assert!(def.decls[2].dims.is_empty());
    assert_eq!(def.decls[3].default, Some(-0.5));
}

#[test]
fn malformed_inputs_are_errors_not_panics() {
    for tokens in [
        quote!(),
        quote!(
            struct L {}
        ),
        quote!(struct L { param P: [a, b, c], } minimize P),
        quote!(struct L { weight P: [a, b], } minimize P),
        quote!(struct L { hyper b: f32 = 1.0, } minimize b),
        quote!(struct L { hyper b: f64, } minimize b),
        quote!(struct L { param P: [a, 2], } minimize P),
        quote!(struct L { param P: [a, b], } minimize P +),
        quote!(struct L { param P: [a, b], } minimize P.X),
        quote!(struct L { param P: [a, b], } minimize (P) P),
        quote!(struct L { param P: [a, b], } maximize P),
        quote!(struct L { param P: [a, b], } minimize 2f32 * P),
    ] {
        assert!(syn::parse2::<LossDef>(tokens).is_err());
    }
}
