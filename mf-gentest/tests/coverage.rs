//! The generator exercises the whole language, each feature in many losses.

include!(concat!(env!("OUT_DIR"), "/coverage.rs"));

#[test]
fn every_feature_in_many_losses() {
    let (losses, sparse) = COUNTS;
    if std::env::var("MF_GENTEST_CASES").is_err() {
        assert!(losses >= 200, "{losses} losses");
    }
    assert!(sparse * 2 >= losses, "{sparse} of {losses} sparse");
    for feature in [
        "+",
        "-",
        "*",
        "/",
        "@",
        "^int",
        "^real",
        "^neg",
        "neg",
        ".T",
        "sum",
        "mean",
        "norm",
        "abs",
        "sqrt",
        "exp",
        "log",
        "log1p",
        "sigmoid",
        "softplus",
        "tanh",
        "relu",
        "max",
        "huber",
        "count_rows",
        "count_cols",
        "bias",
        "hyper",
        "mask",
        "gram",
        "weights C",
        "unmasked grid",
        "scalar chain",
    ] {
        let n = COVERAGE
            .iter()
            .find(|(f, _)| *f == feature)
            .map_or(0, |&(_, n)| n);
        assert!(n >= 5, "`{feature}` in only {n} losses: {COVERAGE:?}");
    }
    // The losses multiplying the sparse data: every orientation, every kind.
    for feature in [
        "S @ X",
        "X @ S",
        "S.T @ X",
        "X @ S.T",
        "mask(D) operand",
        "values operand",
        "f(values) operand",
    ] {
        let n = COVERAGE
            .iter()
            .find(|(f, _)| *f == feature)
            .map_or(0, |&(_, n)| n);
        assert!(n >= 3, "`{feature}` in only {n} losses: {COVERAGE:?}");
    }
}
