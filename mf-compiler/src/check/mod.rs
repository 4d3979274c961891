//! Stage 2: the syntax tree → the IR, checking names, roles and shapes.
//!
//! Every mistake becomes a `syn::Error` on the offending tokens with a
//! message that says what to write instead; all errors of one expansion are
//! reported together (a failing subexpression yields `None` and its parents
//! stay quiet rather than report the same mistake again).

mod expr;

use crate::ir::{Dim, Graph, NodeId, Op, Shape};
use crate::ops::{self, Class};
use crate::parse::{BinOp, Decl, DimSpec, Expr, LossDef, Role, SpanRange};
use proc_macro2::Span;
use std::collections::{BTreeMap, HashMap};
use syn::{Attribute, Ident};

/// A declared symbol after checking.
pub struct Symbol {
    pub name: Ident,
    pub attrs: Vec<Attribute>,
    pub shape: Shape,
    /// Data given as observed entries only (`sparse[..]`).
    pub sparse: bool,
    /// A param's declared start value.
    pub start: Option<crate::parse::Start>,
}

/// A declared hyper-setting.
pub struct Hyper {
    pub name: Ident,
    pub attrs: Vec<Attribute>,
    pub default: f64,
}

/// The symbol table of a loss.
pub struct Symbols {
    /// Dimension names, indexed by [`crate::ir::DimId`].
    pub dims: Vec<String>,
    pub params: Vec<Symbol>,
    pub data: Vec<Symbol>,
    pub hypers: Vec<Hyper>,
}

impl Symbols {
    /// A shape written with dimension names, e.g. `[users, k]`.
    pub fn shape_text(&self, shape: Shape) -> String {
        format!(
            "[{}, {}]",
            self.dim_text(shape.rows),
            self.dim_text(shape.cols)
        )
    }

    pub fn dim_text(&self, dim: Dim) -> String {
        match dim {
            Dim::One => "1".into(),
            Dim::Sym(i) => self.dims[i as usize].clone(),
        }
    }
}

/// A checked loss: its symbols and its IR.
pub struct Checked {
    pub symbols: Symbols,
    pub graph: Graph,
    pub loss: NodeId,
    /// The model's prediction at an entry: the `predict` clause, or what is
    /// subtracted from a data matrix in the loss (`D - P@Q - bu` predicts
    /// `P@Q + bu`); `None` when neither exists.
    pub predict: Option<NodeId>,
    /// Where each node built from the source first appears in it (nodes
    /// made later, by differentiation, have none), for errors of later
    /// stages.
    pub origins: BTreeMap<NodeId, SpanRange>,
}

/// Checks a parsed loss and builds its IR.
pub fn check(def: &LossDef) -> syn::Result<Checked> {
    let mut errors = Errors::default();
    let symbols = declare(&def.decls, &mut errors);
    let mut checker = Checker {
        symbols: &symbols,
        graph: Graph::default(),
        errors,
        origins: BTreeMap::new(),
    };
    let loss = checker.expr(&def.body);
    let predict = checker.prediction(def);
    let Checker {
        mut graph,
        mut errors,
        origins,
        ..
    } = checker;
    if let Some(loss) = loss {
        let shape = graph.shape(loss);
        if !shape.is_scalar() {
            errors.push(def.body.range().error(format!(
                "the loss must be a scalar, but this expression has shape {}: wrap it in `sum(...)` (or `mean(...)`)",
                symbols.shape_text(shape)
            )));
        }
        let used = graph.reachable(&[loss]);
        for (index, param) in symbols.params.iter().enumerate() {
            if !used
                .iter()
                .any(|&id| graph.op(id) == Op::Param(index as u16))
            {
                errors.push(syn::Error::new(
                    param.name.span(),
                    format!(
                        "the loss does not depend on param `{}`: use it in the expression or remove its declaration",
                        param.name
                    ),
                ));
            }
        }
        if !graph.internal_errors.is_empty() {
            errors.push(def.body.range().error(format!(
                "internal compiler error (please report): {}",
                graph.internal_errors.join("; ")
            )));
        }
        graph.internal_errors.clear();
    }
    errors.finish()?;
    let loss = loss.ok_or_else(|| {
        def.body
            .range()
            .error("internal compiler error: no loss was built")
    })?;
    Ok(Checked {
        symbols,
        graph,
        loss,
        predict,
        origins,
    })
}

/// The terms a residual subtracts from a data symbol: `D - a - b` gives
/// `[a, b]`, `a - D` gives `[a]`.
fn residual_terms<'e>(e: &'e Expr, is_data: &dyn Fn(&Expr) -> bool) -> Option<Vec<&'e Expr>> {
    let Expr::Binary {
        op: BinOp::Sub,
        lhs,
        rhs,
        ..
    } = e
    else {
        return None;
    };
    if is_data(lhs) {
        return Some(vec![rhs]);
    }
    if is_data(rhs) {
        return Some(vec![lhs]);
    }
    let mut terms = residual_terms(lhs, is_data)?;
    terms.push(rhs);
    Some(terms)
}

/// The first residual in the expression, searching outside in.
fn find_residual<'e>(e: &'e Expr, is_data: &dyn Fn(&Expr) -> bool) -> Option<Vec<&'e Expr>> {
    if let Some(terms) = residual_terms(e, is_data) {
        return Some(terms);
    }
    match e {
        Expr::Call { args, .. } => args.iter().find_map(|a| find_residual(a, is_data)),
        Expr::Neg { operand, .. } | Expr::Transpose { operand, .. } => {
            find_residual(operand, is_data)
        }
        Expr::Binary { lhs, rhs, .. } => {
            find_residual(lhs, is_data).or_else(|| find_residual(rhs, is_data))
        }
        Expr::Number { .. } | Expr::Symbol(_) => None,
    }
}

/// Errors collected across the whole expansion.
#[derive(Default)]
struct Errors(Option<syn::Error>);

impl Errors {
    fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(error),
            None => self.0 = Some(error),
        }
    }

    fn finish(self) -> syn::Result<()> {
        self.0.map_or(Ok(()), Err)
    }
}

fn declare(decls: &[Decl], errors: &mut Errors) -> Symbols {
    let mut symbols = Symbols {
        dims: Vec::new(),
        params: Vec::new(),
        data: Vec::new(),
        hypers: Vec::new(),
    };
    let mut seen: HashMap<String, Span> = HashMap::new();
    for decl in decls {
        let name = decl.name.to_string();
        if let Some(first) = seen.get(&name) {
            let mut error = syn::Error::new(
                decl.name.span(),
                format!("`{name}` is declared twice: rename or remove this declaration"),
            );
            error.combine(syn::Error::new(
                *first,
                format!("`{name}` is first declared here"),
            ));
            errors.push(error);
            continue;
        }
        seen.insert(name.clone(), decl.name.span());
        if name == "mask" || ops::function(&name).is_some() {
            errors.push(syn::Error::new(
                decl.name.span(),
                format!(
                    "`{name}` is a built-in function of the loss language: choose another name"
                ),
            ));
        }
        if let (Some(span), Role::Param | Role::Hyper) = (decl.sparse, decl.role) {
            let dims: Vec<String> = decl
                .dims
                .iter()
                .map(|d| match d {
                    DimSpec::Symbol(ident) => ident.to_string(),
                    DimSpec::One => "1".into(),
                })
                .collect();
            errors.push(syn::Error::new(
                span,
                format!(
                    "only data can be sparse; a {} is dense: write `{} {name}: [{}]`",
                    decl.role.keyword(),
                    decl.role.keyword(),
                    dims.join(", ")
                ),
            ));
        } else if let (Some(span), [DimSpec::One, _] | [_, DimSpec::One] | []) =
            (decl.sparse, decl.dims.as_slice())
        {
            errors.push(syn::Error::new(
                span,
                "sparse data is a matrix of observed entries: give it two dimension symbols, e.g. `sparse[users, items]`",
            ));
        }
        // A symbol with a mistake in its declaration is still declared (as
        // dense), so that its uses in the loss are not reported as unknown.
        let shape = match decl.dims.as_slice() {
            [] => Shape::SCALAR,
            [rows, cols] => Shape::new(
                dim_id(&mut symbols.dims, rows),
                dim_id(&mut symbols.dims, cols),
            ),
            _ => unreachable_shape(decl, errors),
        };
        let sparse = decl.sparse.is_some() && decl.role == Role::Data;
        let symbol = Symbol {
            name: decl.name.clone(),
            attrs: decl.attrs.clone(),
            shape,
            sparse,
            start: decl.start.clone(),
        };
        match decl.role {
            Role::Param => symbols.params.push(symbol),
            Role::Data => symbols.data.push(symbol),
            Role::Hyper => symbols.hypers.push(Hyper {
                name: decl.name.clone(),
                attrs: decl.attrs.clone(),
                default: decl.default.unwrap_or(0.0),
            }),
        }
    }
    // `= mean(X)`: X must be data (declared anywhere in the header).
    for param in &symbols.params {
        if let Some(crate::parse::Start::Mean(x)) = &param.start {
            if !symbols.data.iter().any(|d| d.name == *x) {
                errors.push(syn::Error::new(
                    x.span(),
                    format!(
                        "`mean({x})` starts `{}` at the mean of a data matrix, and `{x}` is not data",
                        param.name
                    ),
                ));
            }
        }
    }
    symbols
}

/// The parser admits only 0 or 2 dimensions; anything else is reported, not
/// trusted.
fn unreachable_shape(decl: &Decl, errors: &mut Errors) -> Shape {
    errors.push(syn::Error::new(
        decl.dims_span,
        "a shape has two dimensions or none",
    ));
    Shape::SCALAR
}

fn dim_id(dims: &mut Vec<String>, spec: &DimSpec) -> Dim {
    match spec {
        DimSpec::One => Dim::One,
        DimSpec::Symbol(ident) => {
            let name = ident.to_string();
            let index = dims.iter().position(|d| *d == name).unwrap_or_else(|| {
                dims.push(name);
                dims.len() - 1
            });
            Dim::Sym(index as u16)
        }
    }
}

struct Checker<'a> {
    symbols: &'a Symbols,
    graph: Graph,
    errors: Errors,
    origins: BTreeMap<NodeId, SpanRange>,
}

/// The candidate closest to `name` within a small edit distance (case is
/// ignored), for "did you mean" messages.
pub(crate) fn suggestion<'a>(
    name: &str,
    candidates: impl Iterator<Item = &'a str>,
) -> Option<&'a str> {
    let lower = name.to_lowercase();
    candidates
        .map(|c| (edit_distance(&lower, &c.to_lowercase()), c))
        .filter(|&(d, c)| d <= 2 && d < c.chars().count().max(name.chars().count()))
        .min()
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests;
