//! The table of operations: the single source of truth for what each
//! operation is called in a loss, its shape rule, its value (as `f64`
//! arithmetic and as generated Rust), its adjoint rule and its documentation.
//!
//! Every other stage asks this table: the checker for names and arities, the
//! graph for result shapes, the differentiator for adjoints, the simplifier
//! for constant folding, the emitter for elementwise code, and the
//! DSL reference in `docs/language.md` is generated from it ([`reference_table`]).

mod arithmetic;
mod functions;
mod leaves;
mod matrix;

use crate::ir::{Graph, NodeId, Op, Shape};
use proc_macro2::TokenStream;

use arithmetic::*;
use functions::*;
use leaves::*;
use matrix::*;

/// How an operation relates the shapes of its arguments to its result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// A symbol or a constant.
    Leaf,
    /// Applied entry by entry, with numpy broadcasting of its arguments.
    Elementwise,
    /// Moves entries around without arithmetic (transpose, broadcast).
    Structural,
    /// Matrix product.
    MatMul,
    /// Sums entries down to a smaller shape.
    Reduction,
    /// Written by users, rewritten into other operations when checked.
    Sugar,
}

/// Derivative code: given the graph, the node `y = op(args)` and the adjoint
/// `dL/dy`, the adjoint contribution to each argument (`None`: no gradient
/// flows into that argument).
pub type AdjointRule = fn(&mut Graph, NodeId, NodeId) -> Vec<Option<NodeId>>;

/// One row of the table.
pub struct OpSpec {
    /// How the operation is written in a loss (`+`, `abs`, `.T`), or an
    /// internal name for operations only the compiler creates.
    pub name: &'static str,
    /// A usage example for the reference (empty for internal operations).
    pub syntax: &'static str,
    pub arity: usize,
    pub class: Class,
    // The documentation columns are read by `reference_table`, which the
    // test of docs/language.md renders.
    #[cfg_attr(not(test), allow(dead_code))]
    pub meaning: &'static str,
    #[cfg_attr(not(test), allow(dead_code))]
    pub derivative: &'static str,
    /// The value of an elementwise operation on numbers.
    pub eval: Option<fn(Op, &[f64]) -> f64>,
    /// Rust code for an elementwise operation, given its arguments' code.
    pub code: Option<fn(Op, &[TokenStream]) -> TokenStream>,
    /// `None` for leaves and sugar.
    pub adjoint: Option<AdjointRule>,
}

/// The row describing `op`.
pub fn spec(op: Op) -> &'static OpSpec {
    match op {
        Op::Const(_) => &CONST,
        Op::Param(_) => &PARAM,
        Op::Data(_) => &DATA,
        Op::Hyper(_) => &HYPER,
        Op::Count(_) => &COUNT,
        Op::Mask(_) => &MASK,
        Op::RowCount(_) => &COUNT_ROWS,
        Op::ColCount(_) => &COUNT_COLS,
        Op::Add => &ADD,
        Op::Sub => &SUB,
        Op::Mul => &MUL,
        Op::Div => &DIV,
        Op::DivOrZero => &DIV_OR_ZERO,
        Op::Neg => &NEG,
        Op::Pow(_) => &POW,
        Op::Abs => &ABS,
        Op::Sign => &SIGN,
        Op::Sqrt => &SQRT,
        Op::Exp => &EXP,
        Op::Log => &LOG,
        Op::Log1p => &LOG1P,
        Op::Sigmoid => &SIGMOID,
        Op::Softplus => &SOFTPLUS,
        Op::Tanh => &TANH,
        Op::Max(_) => &MAX,
        Op::Above(_) => &ABOVE,
        Op::Huber(_) => &HUBER,
        Op::Clamp(_) => &CLAMP,
        Op::Masked => &MASKED,
        Op::Broadcast => &BROADCAST,
        Op::Transpose => &TRANSPOSE,
        Op::MatMul => &MATMUL,
        Op::Sum => &SUM,
        Op::Norm => &NORM,
    }
}

/// Every row, in the order of the reference: operators, then functions,
/// then internal operations.
pub static ALL: [&OpSpec; 36] = [
    &ADD,
    &SUB,
    &MUL,
    &DIV,
    &MATMUL,
    &POW,
    &NEG,
    &TRANSPOSE,
    &SUM,
    &MEAN,
    &NORM,
    &ABS,
    &SQRT,
    &EXP,
    &LOG,
    &LOG1P,
    &SIGMOID,
    &SOFTPLUS,
    &TANH,
    &RELU,
    &MAX,
    &HUBER,
    &COUNT_ROWS,
    &COUNT_COLS,
    &MASK,
    &MASKED,
    &CONST,
    &PARAM,
    &DATA,
    &HYPER,
    &COUNT,
    &DIV_OR_ZERO,
    &SIGN,
    &ABOVE,
    &CLAMP,
    &BROADCAST,
];

/// The row of a function a user may call, by name.
pub fn function(name: &str) -> Option<&'static OpSpec> {
    ALL.iter()
        .copied()
        .find(|s| s.name == name && s.syntax.starts_with(&format!("{name}(")))
}

/// Names of the functions a user may call, for "did you mean" messages.
pub fn function_names() -> Vec<&'static str> {
    ALL.iter()
        .filter(|s| s.syntax.starts_with(&format!("{}(", s.name)))
        .map(|s| s.name)
        .collect()
}

/// The result shape of `op` applied to arguments of the given shapes.
///
/// Leaves, broadcasts and partial sums carry their shape themselves and are
/// built with [`Graph::intern`], [`Graph::broadcast_to`] and [`Graph::sum_to`].
pub fn result_shape(op: Op, args: &[Shape]) -> Result<Shape, String> {
    let s = spec(op);
    if args.len() != ir_arity(op) {
        return Err(format!("`{}` takes {} argument(s)", s.name, ir_arity(op)));
    }
    match s.class {
        Class::Elementwise => args.iter().try_fold(args[0], |acc, &a| {
            acc.broadcast(a)
                .ok_or_else(|| "shapes do not broadcast".to_string())
        }),
        Class::MatMul if args[0].cols == args[1].rows => Ok(Shape::new(args[0].rows, args[1].cols)),
        Class::MatMul => Err("inner dimensions differ".into()),
        Class::Reduction => Ok(Shape::SCALAR),
        Class::Structural if op == Op::Transpose => Ok(args[0].transposed()),
        _ => Err(format!("`{}` carries its own shape", s.name)),
    }
}

/// The number of IR arguments of `op`: the constant of `max` and `huber`
/// and the data of `count_rows`/`count_cols` are carried by the op itself.
pub fn ir_arity(op: Op) -> usize {
    match op {
        Op::Max(_) | Op::Huber(_) => 1,
        Op::RowCount(_) | Op::ColCount(_) => 0,
        _ => spec(op).arity,
    }
}

/// The adjoint of an elementwise argument, summed down to its own shape
/// (undoing any broadcast).
fn unbroadcast(g: &mut Graph, arg: NodeId, contribution: NodeId) -> Option<NodeId> {
    let shape = g.shape(arg);
    Some(g.sum_to(contribution, shape))
}

fn arg(g: &Graph, y: NodeId, i: usize) -> NodeId {
    g.args(y)[i]
}

fn unary_chain(g: &mut Graph, y: NodeId, adj: NodeId, local: NodeId) -> Vec<Option<NodeId>> {
    let x = arg(g, y, 0);
    let contribution = g.apply(Op::Mul, &[adj, local]);
    vec![unbroadcast(g, x, contribution)]
}

/// The constant carried by `^`, `max`, `huber` and their derivatives.
fn pow_exponent(op: Op) -> f64 {
    match op {
        Op::Pow(c) | Op::Max(c) | Op::Above(c) | Op::Huber(c) | Op::Clamp(c) => c.get(),
        _ => f64::NAN,
    }
}

/// `op` with the constant `c`: for the derivative operations of `max` and `huber`.
fn with_constant(make: fn(crate::ir::Number) -> Op, c: f64) -> Op {
    make(crate::ir::Number::new(c))
}

/// The DSL reference as a Markdown table: every operation a user may
/// write, what it means and its derivative. docs/language.md embeds it verbatim
/// (a test keeps the two equal).
#[cfg(test)]
pub fn reference_table() -> String {
    // A `|` inside a cell (as in `|x|`) would end the cell: escape it.
    let cell = |text: &str| text.replace('|', "\\|");
    let mut out = String::from("| write | meaning | derivative |\n|---|---|---|\n");
    for s in ALL.iter().filter(|s| !s.syntax.is_empty()) {
        out.push_str(&format!(
            "| `{}` | {} | {} |\n",
            s.syntax,
            cell(s.meaning),
            cell(s.derivative)
        ));
    }
    out
}

#[cfg(test)]
mod tests;
