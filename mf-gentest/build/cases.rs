//! One generated case: its loss, written in its dense and sparse forms,
//! and the test that checks it.

use super::*;

pub(super) struct Case {
    name: String,
    source_dense: String,
    pub(super) source_sparse: Option<String>,
    expression: String,
    uses_k: bool,
    with_c: bool,
    hypers: Vec<(usize, f64, f64)>,
    pub(super) tags: BTreeSet<&'static str>,
}

pub(super) fn dims(name: &str) -> &'static str {
    match name {
        "P" => "[users, k]",
        "Q" => "[k, items]",
        "R" => "[items, k]",
        "W" => "[k, k]",
        "bu" => "[users, 1]",
        "bi" => "[1, items]",
        "mu" => "[]",
        _ => unreachable!("{name}"),
    }
}

/// The `index`-th loss; one with a `sparse_operand` is always compiled as
/// sparse too, with no weights.
pub(super) fn generate(
    rng: &mut Rng,
    index: usize,
    sparse_operand: Option<(usize, usize)>,
) -> Case {
    let mode = if rng.chance(0.75) || sparse_operand.is_some() {
        Mode::Sparse
    } else {
        Mode::DenseOnly
    };
    let with_c = rng.chance(0.12) && sparse_operand.is_none();
    let mut g = Gen {
        rng,
        mode,
        with_c,
        params: BTreeSet::new(),
        hypers: BTreeMap::new(),
        tags: BTreeSet::new(),
        sparse_operand,
    };
    let expression = g.loss();
    let name = format!("G{index:03}");
    let uses_k = g.params.iter().any(|p| ["P", "Q", "R", "W"].contains(p));
    // Half the losses are run with hypers other than their defaults.
    let other = g.rng.chance(0.5);
    let hypers: Vec<(usize, f64, f64)> = g
        .hypers
        .iter()
        .map(|(&i, &default)| {
            (
                i,
                default,
                if other { default * 3.0 + 0.05 } else { default },
            )
        })
        .collect();
    let header = |sparse: bool| {
        let kind = if sparse { "sparse" } else { "" };
        let mut decls = vec![format!("data D: {kind}[users, items]")];
        if with_c {
            decls.push(format!("data C: {kind}[users, items]"));
        }
        for p in ["P", "Q", "R", "W", "bu", "bi", "mu"] {
            if g.params.contains(p) {
                decls.push(format!("param {p}: {}", dims(p)));
            }
        }
        for &(i, default, _) in &hypers {
            decls.push(format!("hyper h{i}: f64 = {default:?}"));
        }
        decls
    };
    let source = |sparse: bool, suffix: &str| {
        let mut s = format!("    /// Generated loss {index}.\n    pub struct {name}{suffix} {{\n");
        for d in header(sparse) {
            let _ = writeln!(s, "        {d},");
        }
        let _ = write!(s, "    }}\n    minimize {expression}\n");
        s
    };
    let source_dense = source(false, "");
    let source_sparse = (mode == Mode::Sparse).then(|| source(true, "S"));
    let mut tags = g.tags;
    if with_c {
        tags.insert("weights C");
    }
    Case {
        name,
        source_dense,
        source_sparse,
        expression,
        uses_k,
        with_c,
        hypers,
        tags,
    }
}

pub(super) fn write_case(out: &mut String, case: &Case) {
    let name = &case.name;
    let lower = name.to_lowercase();
    let _ = writeln!(out, "loss! {{\n{}}}\n", case.source_dense);
    if let Some(sparse) = &case.source_sparse {
        let _ = writeln!(out, "loss! {{\n{sparse}}}\n");
    }
    let k = if case.uses_k { " p.k," } else { "" };
    let hyper_literal = |ty: &str| {
        if case
            .hypers
            .iter()
            .all(|&(_, default, value)| default == value)
        {
            format!("{ty}::default()")
        } else {
            let fields: Vec<String> = case
                .hypers
                .iter()
                .map(|&(i, _, value)| format!("h{i}: {value:?}"))
                .collect();
            format!("{ty} {{ {} }}", fields.join(", "))
        }
    };
    let (dense_data, sparse_data) = if case.with_c {
        (
            format!("{name}Data {{ D: &p.dense, C: &p.dense_weights }}"),
            format!("{name}SData {{ D: &p.sparse, C: &p.sparse_weights }}"),
        )
    } else {
        ("&p.dense".to_string(), "&p.sparse".to_string())
    };
    let _ = writeln!(out, "fn {lower}_bind(p: &Problem) -> Bound<'_> {{");
    let _ = writeln!(
        out,
        "    let params = {name}::init({dense_data},{k} Init::Zeros, &mut zeros()).unwrap();"
    );
    let _ = writeln!(
        out,
        "    let dense = {}.objective({dense_data}, &params).unwrap();",
        hyper_literal(name)
    );
    if case.source_sparse.is_some() {
        let sname = format!("{name}S");
        let _ = writeln!(
            out,
            "    let params = {sname}::init({sparse_data},{k} Init::Zeros, &mut zeros()).unwrap();"
        );
        let _ = writeln!(
            out,
            "    let sparse = {}.objective({sparse_data}, &params).unwrap();",
            hyper_literal(&sname)
        );
        let _ = writeln!(
            out,
            "    Bound {{ dense: Box::new(dense), sparse: Some(Box::new(sparse)) }}"
        );
    } else {
        let _ = writeln!(out, "    Bound {{ dense: Box::new(dense), sparse: None }}");
    }
    let _ = writeln!(out, "}}\n");
    let _ = writeln!(out, "#[test]\nfn {lower}() {{");
    let _ = writeln!(
        out,
        "    check_case({:?}, {:?}, {lower}_bind);",
        name, case.expression
    );
    let _ = writeln!(out, "}}\n");
}
