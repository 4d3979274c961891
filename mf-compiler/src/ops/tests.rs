//! Tests of the table of operations: values, adjoints against finite differences, and the generated reference.

use super::*;

#[test]
fn every_operation_has_a_row_with_what_its_class_needs() {
    for s in ALL {
        let elementwise = s.class == Class::Elementwise;
        assert_eq!(s.eval.is_some(), elementwise, "{}", s.name);
        assert_eq!(s.code.is_some(), elementwise, "{}", s.name);
        let differentiable = !matches!(s.class, Class::Leaf | Class::Sugar);
        assert_eq!(s.adjoint.is_some(), differentiable, "{}", s.name);
        assert!(!s.meaning.is_empty(), "{}", s.name);
    }
}

#[test]
fn functions_are_found_by_name() {
    let names = function_names();
    for f in ["sum", "mean", "norm", "abs", "sqrt", "exp", "log", "mask"] {
        assert!(names.contains(&f), "{f}");
        assert_eq!(function(f).map(|s| s.name), Some(f));
    }
    assert!(function("+").is_none() && function("div_or_zero").is_none());
}

#[test]
fn subgradient_choices_never_give_nan() {
    assert_eq!(
        (DIV_OR_ZERO.eval.expect("elementwise"))(Op::DivOrZero, &[0.0, 0.0]),
        0.0
    );
    assert_eq!(sign(0.0), 0.0);
    assert!(sign(f64::NAN).is_nan());
}

#[test]
fn the_language_reference_embeds_the_op_table() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/language.md"))
            .expect("docs/language.md in the workspace");
    let table = reference_table();
    if std::env::var_os("MF_BLESS").is_some() && !readme.contains(&table) {
        let start = readme
            .find("| write | meaning |")
            .expect("docs/language.md has a reference table");
        let end = start + readme[start..].find("\n\n").unwrap_or(readme.len() - start) + 1;
        let updated = format!("{}{}{}", &readme[..start], table, &readme[end..]);
        std::fs::write(
            concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/language.md"),
            updated,
        )
        .expect("docs/language.md is writable");
        return;
    }
    assert!(
        readme.contains(&table),
        "docs/language.md's DSL reference differs from the op table; run `MF_BLESS=1 cargo test -p mf-compiler` to update it:\n{table}"
    );
}
