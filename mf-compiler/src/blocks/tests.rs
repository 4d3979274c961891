//! Tests of the row-block analysis: groups, leaves, quadraticity, majorized
//! and refused terms, on losses written as in the DSL.

use super::*;

fn groups_of(source: &str) -> (Graph, Blocks) {
    let tokens: proc_macro2::TokenStream = source.parse().expect("tokens");
    let def: crate::parse::LossDef = syn::parse2(tokens).expect("parses");
    let checked = crate::check::check(&def).expect("checks");
    let mut graph = checked.graph;
    let symbols = checked.symbols;
    let math = |g: &Graph, id: NodeId| crate::explain::Printer::new(g, &symbols).math(id);
    let blocks = derive(&mut graph, &symbols, checked.loss, &math);
    (graph, blocks)
}

const HEADER: &str = "struct L { data D: sparse[users, items], param P: [users, k], param Q: [k, items], param bu: [users, 1], param bi: [1, items], param mu: [], hyper beta: f64 = 0.1, }";

#[test]
fn biased_squared_error_is_quadratic_in_three_groups() {
    let (g, blocks) = groups_of(&format!(
        "{HEADER} minimize sum(mask * (D - P@Q - bu - bi - mu)^2) + beta * (sum(count_rows(D) * P^2) + sum(count_cols(D) * Q^2) + sum(bu^2) + sum(bi^2))"
    ));
    let groups = blocks.expect("derives");
    assert_eq!(groups.len(), 3);
    let axes: Vec<Axis> = groups.iter().map(|g| g.axis).collect();
    assert!(matches!(
        axes[..],
        [Axis::DataRows(_), Axis::DataCols(_), Axis::Global]
    ));
    let users = &groups[0];
    assert_eq!(users.members.len(), 2);
    assert_eq!(users.leaves.len(), 2, "P Q and bu");
    assert!(users.quadratic);
    assert_eq!(users.coords.len(), 2);
    // Every second derivative of the squared error is the constant 2.
    for d2 in users.entries[0].d2.iter() {
        assert_eq!(d2.and_then(|d| g.const_value(d)), Some(2.0));
    }
    assert!(groups[1].members[0].along_cols, "Q's items are its columns");
    assert_eq!(groups[2].leaves.len(), 1, "mu");
}

#[test]
fn huber_and_logistic_are_newton_not_als() {
    for body in [
        "sum(mask * huber(D - P@Q - bu, 1)) + beta * sum(P^2)",
        "sum(mask * softplus(-D * (P@Q + bu))) + beta * sum(P^2)",
        "sum(mask * (D - sigmoid(P@Q))^2) + beta * (sum(P^2) + sum(Q^2))",
    ] {
        let (_, blocks) = groups_of(&format!(
            "{HEADER} minimize {body} + sum(bi^2) + sum(bu^2) + mu^2"
        ));
        let groups = blocks.unwrap_or_else(|e| panic!("{body}: {e}"));
        assert!(!groups[0].quadratic, "{body}");
    }
}

#[test]
fn coupling_terms_are_majorized_or_refused_with_the_term() {
    let (_, blocks) = groups_of(&format!(
        "{HEADER} minimize sum(mask * (D - P@Q - bu - bi - mu)^2) + beta*(norm(P)+norm(Q))"
    ));
    let groups = blocks.expect("norms are majorized");
    assert_eq!(groups[0].norms.len(), 1);
    assert!(groups[0].quadratic);

    let (_, blocks) = groups_of(&format!(
        "{HEADER} minimize sum(mask * abs(D - P@Q - bu - bi - mu)) + sum(P^2)"
    ));
    let why = blocks.expect_err("abs has no curvature");
    assert!(why.contains("abs") && why.contains("huber"), "{why}");

    let (_, blocks) = groups_of(
        "struct L { data D: sparse[users, items], param P: [users, k], param Y: [items, k], param Q: [k, items], } \
         minimize sum(mask * (D - (P + mask(D) @ Y) @ Q)^2) + sum(P^2)",
    );
    let why = blocks.expect_err("SVD++'s implicit term couples rows");
    assert!(why.contains("mask"), "{why}");
}

#[test]
fn the_gram_term_of_implicit_feedback_is_a_shared_matrix() {
    let (_, blocks) = groups_of(
        "struct L { data D: sparse[users, items], param P: [users, k], param Q: [k, items], hyper w: f64 = 0.1, } \
         minimize sum(mask * ((1 + D) * (1 - P@Q)^2 - (P@Q)^2)) + sum((P@Q)^2) + w * (sum(P^2) + sum(Q^2))",
    );
    let groups = blocks.expect("derives");
    assert_eq!(groups[0].grams.len(), 1);
    assert_eq!(groups[1].grams.len(), 1);
    assert!(groups[0].quadratic && groups[1].quadratic);
}
