//! Tests of the checker: the seed loss, explained mistakes, errors reported together.

use super::*;
use quote::quote;

fn check_tokens(tokens: proc_macro2::TokenStream) -> syn::Result<Checked> {
    check(&syn::parse2(tokens)?)
}

fn message(tokens: proc_macro2::TokenStream) -> String {
    let errors = check_tokens(tokens).err().expect("expected an error");
    errors
        .into_iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_seed_loss_checks() {
    let checked = check_tokens(quote! {
        struct SeedLoss {
            data D: [users, items],
            param P: [users, k],
            param Q: [k, items],
            hyper beta: f64 = 0.02,
        }
        minimize sum(mask * (D - P@Q)^2) + beta*(norm(P)+norm(Q))
    })
    .expect("the seed loss checks");
    assert_eq!(checked.symbols.dims, ["users", "items", "k"]);
    assert!(checked.graph.shape(checked.loss).is_scalar());
}

#[test]
fn mistakes_are_explained() {
    let header = quote! {
        struct L { data D: [users, items], param P: [users, k], param Q: [k, items], param R: [r, items], }
    };
    let cases = [
        (quote!(sum(D - P@R) + sum(Q)), "left operand's columns"),
        (quote!(sum(P - Q) + sum(R)), "works entry by entry"),
        (quote!(D - P@Q + sum(R)), "must be a scalar"),
        (
            quote!(sum(P@Q ^ beta) + sum(R)),
            "exponent must be a constant",
        ),
        (quote!(sum((D - P@Q)^2)), "does not depend on param `R`"),
        (quote!(sum(X) + sum(P@Q) + sum(R)), "unknown symbol `X`"),
        (quote!(summ(P@Q) + sum(R)), "did you mean `sum`"),
        (quote!(sum(P, Q) + sum(R)), "takes 1 argument"),
        (quote!(sum(mask(P) * P@Q) + sum(R)), "is a param"),
    ];
    for (body, expected) in cases {
        let msg = message(quote!(#header minimize #body));
        assert!(msg.contains(expected), "{body}: {msg}");
    }
}

#[test]
fn all_errors_are_reported_together() {
    let msg = message(quote! {
        struct L { param P: [a, b], param P: [a, b], }
        minimize sum(X) + sum(Y)
    });
    assert!(
        msg.contains("declared twice") && msg.contains("`X`") && msg.contains("`Y`"),
        "{msg}"
    );
}
