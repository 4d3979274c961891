//! The table of operations: the single source of truth for what each
//! operation is called in a loss, its shape rule, its value (as `f64`
//! arithmetic and as generated Rust), its adjoint rule and its documentation.
//!
//! Every other stage asks this table: the checker for names and arities, the
//! graph for result shapes, the differentiator for adjoints, the simplifier
//! for constant folding, the emitter for elementwise code, and the
//! DSL reference in `docs/language.md` is generated from it ([`reference_table`]).

use crate::ir::{Graph, NodeId, Op, Shape};
use proc_macro2::TokenStream;
use quote::quote;

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

static CONST: OpSpec = OpSpec {
    meaning: "a number, e.g. `2`, `0.5`, `1e-3`",
    derivative: "0",
    ..leaf_const()
};

const fn leaf_const() -> OpSpec {
    OpSpec {
        name: "constant",
        syntax: "",
        arity: 0,
        class: Class::Leaf,
        meaning: "",
        derivative: "",
        eval: None,
        code: None,
        adjoint: None,
    }
}

static PARAM: OpSpec = OpSpec {
    name: "param",
    meaning: "a declared parameter: the unknowns the gradient is taken with respect to",
    ..leaf_const()
};
static DATA: OpSpec = OpSpec {
    name: "data",
    meaning: "a declared data matrix (not differentiated)",
    ..leaf_const()
};
static HYPER: OpSpec = OpSpec {
    name: "hyper",
    meaning: "a declared hyper-setting (a scalar field of the loss struct)",
    ..leaf_const()
};
static COUNT: OpSpec = OpSpec {
    name: "count",
    meaning: "the number of entries of a shape, known at run time",
    ..leaf_const()
};
static MASK: OpSpec = OpSpec {
    name: "mask",
    syntax: "mask(D)",
    meaning: "1 where data `D` is observed, 0 elsewhere; `mask` alone means the only data matrix. `mask * x` skips the missing entries: `x` is never read there, so a NaN in a missing cell cannot leak in. `mask(D) @ Y` sums, for each row, the rows of `Y` of its observed columns (the implicit feedback of SVD++); over sparse data it is a pass over the observed entries",
    derivative: "none (data); `mask * x` passes the adjoint of `x` through on observed entries only",
    ..leaf_const()
};
static MEAN: OpSpec = OpSpec {
    name: "mean",
    syntax: "mean(x)",
    arity: 1,
    class: Class::Sugar,
    meaning: "`sum(x)` divided by the number of entries of `x` (all of them, masked or not)",
    derivative: "broadcast of 1 / (rows · cols)",
    ..leaf_const()
};

static ADD: OpSpec = OpSpec {
    name: "+",
    syntax: "x + y",
    arity: 2,
    class: Class::Elementwise,
    meaning: "sum, with numpy broadcasting of scalars and row/column vectors",
    derivative: "∂/∂x = 1, ∂/∂y = 1 (summed over broadcast axes)",
    eval: Some(|_, a| a[0] + a[1]),
    code: Some(|_, a| {
        let (x, y) = (&a[0], &a[1]);
        quote!((#x + #y))
    }),
    adjoint: Some(|g, y, adj| {
        let (a, b) = (arg(g, y, 0), arg(g, y, 1));
        vec![unbroadcast(g, a, adj), unbroadcast(g, b, adj)]
    }),
};
static SUB: OpSpec = OpSpec {
    name: "-",
    syntax: "x - y",
    arity: 2,
    class: Class::Elementwise,
    meaning: "difference, broadcasting like `+`",
    derivative: "∂/∂x = 1, ∂/∂y = -1",
    eval: Some(|_, a| a[0] - a[1]),
    code: Some(|_, a| {
        let (x, y) = (&a[0], &a[1]);
        quote!((#x - #y))
    }),
    adjoint: Some(|g, y, adj| {
        let (a, b) = (arg(g, y, 0), arg(g, y, 1));
        let neg = g.apply(Op::Neg, &[adj]);
        vec![unbroadcast(g, a, adj), unbroadcast(g, b, neg)]
    }),
};
static MUL: OpSpec = OpSpec {
    name: "*",
    syntax: "x * y",
    arity: 2,
    class: Class::Elementwise,
    meaning: "elementwise (Hadamard) product, broadcasting like `+`",
    derivative: "∂/∂x = y, ∂/∂y = x",
    eval: Some(|_, a| a[0] * a[1]),
    code: Some(|_, a| {
        let (x, y) = (&a[0], &a[1]);
        quote!((#x * #y))
    }),
    adjoint: Some(|g, y, adj| {
        let (a, b) = (arg(g, y, 0), arg(g, y, 1));
        let da = g.apply(Op::Mul, &[adj, b]);
        let db = g.apply(Op::Mul, &[adj, a]);
        vec![unbroadcast(g, a, da), unbroadcast(g, b, db)]
    }),
};
static DIV: OpSpec = OpSpec {
    name: "/",
    syntax: "x / y",
    arity: 2,
    class: Class::Elementwise,
    meaning: "elementwise quotient, broadcasting like `+`",
    derivative: "∂/∂x = 1/y, ∂/∂y = -x/y²",
    eval: Some(|_, a| a[0] / a[1]),
    code: Some(|_, a| {
        let (x, y) = (&a[0], &a[1]);
        quote!((#x / #y))
    }),
    adjoint: Some(|g, y, adj| {
        let (a, b) = (arg(g, y, 0), arg(g, y, 1));
        let da = g.apply(Op::Div, &[adj, b]);
        let ratio = g.apply(Op::Div, &[y, b]);
        let prod = g.apply(Op::Mul, &[adj, ratio]);
        let db = g.apply(Op::Neg, &[prod]);
        vec![unbroadcast(g, a, da), unbroadcast(g, b, db)]
    }),
};
static DIV_OR_ZERO: OpSpec = OpSpec {
    name: "div_or_zero",
    syntax: "",
    arity: 2,
    class: Class::Elementwise,
    meaning: "`x / y`, and 0 where `y = 0` (the zero subgradient of `norm` and `sqrt` at 0)",
    derivative: "as `/`, and 0 where `y = 0`",
    eval: Some(|_, a| if a[1] == 0.0 { 0.0 } else { a[0] / a[1] }),
    code: Some(|_, a| {
        let (x, y) = (&a[0], &a[1]);
        quote!({
            let d: f64 = #y;
            if d == 0.0 { 0.0 } else { #x / d }
        })
    }),
    adjoint: Some(|g, y, adj| {
        let (a, b) = (arg(g, y, 0), arg(g, y, 1));
        let da = g.apply(Op::DivOrZero, &[adj, b]);
        let ratio = g.apply(Op::DivOrZero, &[y, b]);
        let prod = g.apply(Op::Mul, &[adj, ratio]);
        let db = g.apply(Op::Neg, &[prod]);
        vec![unbroadcast(g, a, da), unbroadcast(g, b, db)]
    }),
};
static NEG: OpSpec = OpSpec {
    name: "-x",
    syntax: "-x",
    arity: 1,
    class: Class::Elementwise,
    meaning: "negation (binds looser than `^`: `-x^2` is `-(x^2)`)",
    derivative: "-1",
    eval: Some(|_, a| -a[0]),
    code: Some(|_, a| {
        let x = &a[0];
        quote!((-#x))
    }),
    adjoint: Some(|g, _, adj| vec![Some(g.apply(Op::Neg, &[adj]))]),
};
static POW: OpSpec = OpSpec {
    name: "^",
    syntax: "x ^ p",
    arity: 1,
    class: Class::Elementwise,
    meaning: "power with a constant exponent `p` (integer or real); `norm(x)^2` becomes `sum(x^2)`",
    derivative: "p · x^(p-1)",
    eval: Some(|op, a| powf_or_powi(a[0], pow_exponent(op))),
    code: Some(|op, a| {
        let x = &a[0];
        let p = pow_exponent(op);
        if p == 2.0 {
            quote!({
                let t: f64 = #x;
                t * t
            })
        } else if p.fract() == 0.0 && p.abs() < 64.0 {
            let p = p as i32;
            quote!((#x).powi(#p))
        } else {
            quote!((#x).powf(#p))
        }
    }),
    adjoint: Some(|g, y, adj| {
        let x = arg(g, y, 0);
        let p = pow_exponent(g.op(y));
        let lowered = g.apply(Op::Pow(crate::ir::Number::new(p - 1.0)), &[x]);
        let factor = g.constant(p, Shape::SCALAR);
        let local = g.apply(Op::Mul, &[factor, lowered]);
        unary_chain(g, y, adj, local)
    }),
};

/// `x^p` as the generated code computes it (`powi` for integer exponents).
fn powf_or_powi(x: f64, p: f64) -> f64 {
    if p == 2.0 {
        x * x
    } else if p.fract() == 0.0 && p.abs() < 64.0 {
        x.powi(p as i32)
    } else {
        x.powf(p)
    }
}

static ABS: OpSpec = OpSpec {
    name: "abs",
    syntax: "abs(x)",
    arity: 1,
    class: Class::Elementwise,
    meaning: "absolute value",
    derivative: "sign(x); 0 at x = 0",
    eval: Some(|_, a| a[0].abs()),
    code: Some(|_, a| {
        let x = &a[0];
        quote!((#x).abs())
    }),
    adjoint: Some(|g, y, adj| {
        let x = arg(g, y, 0);
        let local = g.apply(Op::Sign, &[x]);
        unary_chain(g, y, adj, local)
    }),
};
static SIGN: OpSpec = OpSpec {
    name: "sign",
    syntax: "",
    arity: 1,
    class: Class::Elementwise,
    meaning: "-1, 0 or 1 (NaN stays NaN); the derivative of `abs`",
    derivative: "0",
    eval: Some(|_, a| sign(a[0])),
    code: Some(|_, a| {
        let x = &a[0];
        quote!({
            let t: f64 = #x;
            if t > 0.0 { 1.0 } else if t < 0.0 { -1.0 } else { t * 0.0 }
        })
    }),
    adjoint: Some(|_, _, _| vec![None]),
};

fn sign(t: f64) -> f64 {
    if t > 0.0 {
        1.0
    } else if t < 0.0 {
        -1.0
    } else {
        t * 0.0
    }
}

static SQRT: OpSpec = OpSpec {
    name: "sqrt",
    syntax: "sqrt(x)",
    arity: 1,
    class: Class::Elementwise,
    meaning: "square root (NaN for x < 0)",
    derivative: "1 / (2 √x); 0 at x = 0 (as for `norm`, never NaN)",
    eval: Some(|_, a| a[0].sqrt()),
    code: Some(|_, a| {
        let x = &a[0];
        quote!((#x).sqrt())
    }),
    adjoint: Some(|g, y, adj| {
        let x = arg(g, y, 0);
        let half = g.constant(0.5, Shape::SCALAR);
        let scaled = g.apply(Op::Mul, &[half, adj]);
        let contribution = g.apply(Op::DivOrZero, &[scaled, y]);
        vec![unbroadcast(g, x, contribution)]
    }),
};
static EXP: OpSpec = OpSpec {
    name: "exp",
    syntax: "exp(x)",
    arity: 1,
    class: Class::Elementwise,
    meaning: "exponential",
    derivative: "exp(x)",
    eval: Some(|_, a| a[0].exp()),
    code: Some(|_, a| {
        let x = &a[0];
        quote!((#x).exp())
    }),
    adjoint: Some(|g, y, adj| unary_chain(g, y, adj, y)),
};
static LOG: OpSpec = OpSpec {
    name: "log",
    syntax: "log(x)",
    arity: 1,
    class: Class::Elementwise,
    meaning: "natural logarithm (-inf at 0, NaN below)",
    derivative: "1 / x",
    eval: Some(|_, a| a[0].ln()),
    code: Some(|_, a| {
        let x = &a[0];
        quote!((#x).ln())
    }),
    adjoint: Some(|g, y, adj| {
        let x = arg(g, y, 0);
        let contribution = g.apply(Op::Div, &[adj, x]);
        vec![unbroadcast(g, x, contribution)]
    }),
};
static MASKED: OpSpec = OpSpec {
    name: "masked",
    syntax: "",
    arity: 2,
    class: Class::Elementwise,
    meaning: "`mask(D) * x`: `x` where `D` is observed, exactly 0 elsewhere (x unread)",
    derivative: "the adjoint, masked the same way",
    eval: Some(|_, a| if a[0] != 0.0 { a[1] } else { 0.0 }),
    code: Some(|_, a| {
        let (m, x) = (&a[0], &a[1]);
        quote!(if #m != 0.0 { #x } else { 0.0 })
    }),
    adjoint: Some(|g, y, adj| {
        let (m, x) = (arg(g, y, 0), arg(g, y, 1));
        let contribution = g.apply(Op::Masked, &[m, adj]);
        vec![None, unbroadcast(g, x, contribution)]
    }),
};
static BROADCAST: OpSpec = OpSpec {
    name: "broadcast",
    syntax: "",
    arity: 1,
    class: Class::Structural,
    meaning: "a scalar or vector repeated to a larger shape",
    derivative: "sum over the repeated axes",
    eval: None,
    code: None,
    adjoint: Some(|g, y, adj| {
        let x = arg(g, y, 0);
        vec![unbroadcast(g, x, adj)]
    }),
};
static TRANSPOSE: OpSpec = OpSpec {
    name: ".T",
    syntax: "x.T",
    arity: 1,
    class: Class::Structural,
    meaning: "transpose",
    derivative: "the adjoint, transposed",
    eval: None,
    code: None,
    adjoint: Some(|g, _, adj| vec![Some(g.apply(Op::Transpose, &[adj]))]),
};
static MATMUL: OpSpec = OpSpec {
    name: "@",
    syntax: "A @ B",
    arity: 2,
    class: Class::MatMul,
    meaning: "matrix product; A's columns must be B's rows (same dimension symbol)",
    derivative: "∂/∂A = adj · Bᵀ, ∂/∂B = Aᵀ · adj",
    eval: None,
    code: None,
    adjoint: Some(|g, y, adj| {
        let (a, b) = (arg(g, y, 0), arg(g, y, 1));
        let bt = g.apply(Op::Transpose, &[b]);
        let at = g.apply(Op::Transpose, &[a]);
        vec![
            Some(g.apply(Op::MatMul, &[adj, bt])),
            Some(g.apply(Op::MatMul, &[at, adj])),
        ]
    }),
};
static SUM: OpSpec = OpSpec {
    name: "sum",
    syntax: "sum(x)",
    arity: 1,
    class: Class::Reduction,
    meaning: "sum of all entries (a scalar); `sum(mask * f)` runs over the observed entries only",
    derivative: "1 for every entry",
    eval: None,
    code: None,
    adjoint: Some(|g, y, adj| {
        let x = arg(g, y, 0);
        let shape = g.shape(x);
        vec![Some(g.broadcast_to(adj, shape))]
    }),
};
static NORM: OpSpec = OpSpec {
    name: "norm",
    syntax: "norm(x)",
    arity: 1,
    class: Class::Reduction,
    meaning: "Frobenius norm √(Σ x²), not squared; `norm(x)^2` is rewritten to `sum(x^2)` (no square root)",
    derivative: "x / ‖x‖; 0 at x = 0 (zero subgradient, never NaN)",
    eval: None,
    code: None,
    adjoint: Some(|g, y, adj| {
        let x = arg(g, y, 0);
        let scaled = g.apply(Op::Mul, &[adj, x]);
        vec![Some(g.apply(Op::DivOrZero, &[scaled, y]))]
    }),
};

static LOG1P: OpSpec = OpSpec {
    name: "log1p",
    syntax: "log1p(x)",
    arity: 1,
    class: Class::Elementwise,
    meaning: "log(1 + x), accurate near 0",
    derivative: "1 / (1 + x)",
    eval: Some(|_, a| a[0].ln_1p()),
    code: Some(|_, a| {
        let x = &a[0];
        quote!((#x).ln_1p())
    }),
    adjoint: Some(|g, y, adj| {
        let x = arg(g, y, 0);
        let one = g.constant(1.0, Shape::SCALAR);
        let shifted = g.apply(Op::Add, &[one, x]);
        let contribution = g.apply(Op::Div, &[adj, shifted]);
        vec![unbroadcast(g, x, contribution)]
    }),
};

/// The logistic function, without overflow for large |x|.
fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

static SIGMOID: OpSpec = OpSpec {
    name: "sigmoid",
    syntax: "sigmoid(x)",
    arity: 1,
    class: Class::Elementwise,
    meaning: "logistic function 1 / (1 + exp(-x)), computed without overflow",
    derivative: "σ(x) (1 - σ(x))",
    eval: Some(|_, a| sigmoid(a[0])),
    code: Some(|_, a| {
        let x = &a[0];
        quote!({
            let t: f64 = #x;
            if t >= 0.0 {
                1.0 / (1.0 + (-t).exp())
            } else {
                let e = t.exp();
                e / (1.0 + e)
            }
        })
    }),
    adjoint: Some(|g, y, adj| {
        let one = g.constant(1.0, Shape::SCALAR);
        let rest = g.apply(Op::Sub, &[one, y]);
        let local = g.apply(Op::Mul, &[y, rest]);
        unary_chain(g, y, adj, local)
    }),
};
static SOFTPLUS: OpSpec = OpSpec {
    name: "softplus",
    syntax: "softplus(x)",
    arity: 1,
    class: Class::Elementwise,
    meaning: "log(1 + exp(x)), computed without overflow; `softplus(-y * x)` is the logistic loss of a ±1 label y",
    derivative: "σ(x)",
    eval: Some(|_, a| a[0].max(0.0) + (-a[0].abs()).exp().ln_1p()),
    code: Some(|_, a| {
        let x = &a[0];
        quote!({
            let t: f64 = #x;
            t.max(0.0) + (-t.abs()).exp().ln_1p()
        })
    }),
    adjoint: Some(|g, y, adj| {
        let x = arg(g, y, 0);
        let local = g.apply(Op::Sigmoid, &[x]);
        unary_chain(g, y, adj, local)
    }),
};
static TANH: OpSpec = OpSpec {
    name: "tanh",
    syntax: "tanh(x)",
    arity: 1,
    class: Class::Elementwise,
    meaning: "hyperbolic tangent",
    derivative: "1 - tanh(x)²",
    eval: Some(|_, a| a[0].tanh()),
    code: Some(|_, a| {
        let x = &a[0];
        quote!((#x).tanh())
    }),
    adjoint: Some(|g, y, adj| {
        let one = g.constant(1.0, Shape::SCALAR);
        let square = g.apply(Op::Pow(crate::ir::Number::new(2.0)), &[y]);
        let local = g.apply(Op::Sub, &[one, square]);
        unary_chain(g, y, adj, local)
    }),
};
static RELU: OpSpec = OpSpec {
    name: "relu",
    syntax: "relu(x)",
    arity: 1,
    class: Class::Sugar,
    meaning: "`max(x, 0)`",
    derivative: "1 where x > 0, else 0 (0 at x = 0)",
    ..leaf_const()
};
static MAX: OpSpec = OpSpec {
    name: "max",
    syntax: "max(x, c)",
    arity: 2,
    class: Class::Elementwise,
    meaning: "the larger of x and c (NaN stays NaN); c a number, or a scalar such as a hyper-setting, then computed as c + max(x - c, 0)",
    derivative: "1 where x > c, else 0 (0 at x = c)",
    eval: Some(|op, a| {
        let c = pow_exponent(op);
        if a[0] <= c {
            c
        } else {
            a[0]
        }
    }),
    code: Some(|op, a| {
        let (x, c) = (&a[0], pow_exponent(op));
        quote!({
            let t: f64 = #x;
            if t <= #c { #c } else { t }
        })
    }),
    adjoint: Some(|g, y, adj| {
        let x = arg(g, y, 0);
        let step = g.apply(with_constant(Op::Above, pow_exponent(g.op(y))), &[x]);
        unary_chain(g, y, adj, step)
    }),
};
static ABOVE: OpSpec = OpSpec {
    name: "above",
    syntax: "",
    arity: 1,
    class: Class::Elementwise,
    meaning: "1 where x > c, 0 where x ≤ c, NaN for NaN (the derivative of `max`)",
    derivative: "0",
    eval: Some(|op, a| {
        let c = pow_exponent(op);
        if a[0] > c {
            1.0
        } else if a[0] <= c {
            0.0
        } else {
            a[0]
        }
    }),
    code: Some(|op, a| {
        let (x, c) = (&a[0], pow_exponent(op));
        quote!({
            let t: f64 = #x;
            if t > #c { 1.0 } else if t <= #c { 0.0 } else { t }
        })
    }),
    adjoint: Some(|_, _, _| vec![None]),
};
static HUBER: OpSpec = OpSpec {
    name: "huber",
    syntax: "huber(x, δ)",
    arity: 2,
    class: Class::Elementwise,
    meaning:
        "Huber function with threshold δ > 0: x²/2 for |x| ≤ δ, δ (|x| - δ/2) beyond; δ a number, or a scalar such as a hyper-setting, then computed as δ² huber(x/δ, 1)",
    derivative: "x clamped to [-δ, δ]",
    eval: Some(|op, a| {
        let (x, d) = (a[0], pow_exponent(op));
        if x.abs() <= d {
            0.5 * x * x
        } else {
            d * (x.abs() - 0.5 * d)
        }
    }),
    code: Some(|op, a| {
        let (x, d) = (&a[0], pow_exponent(op));
        quote!({
            let t: f64 = #x;
            if t.abs() <= #d { 0.5 * t * t } else { #d * (t.abs() - 0.5 * #d) }
        })
    }),
    adjoint: Some(|g, y, adj| {
        let x = arg(g, y, 0);
        let local = g.apply(with_constant(Op::Clamp, pow_exponent(g.op(y))), &[x]);
        unary_chain(g, y, adj, local)
    }),
};
static CLAMP: OpSpec = OpSpec {
    name: "clamp",
    syntax: "",
    arity: 1,
    class: Class::Elementwise,
    meaning: "x clamped to [-δ, δ] (the derivative of `huber`)",
    derivative: "1 where |x| < δ, else 0",
    eval: Some(|op, a| a[0].clamp(-pow_exponent(op), pow_exponent(op))),
    code: Some(|op, a| {
        let (x, d) = (&a[0], pow_exponent(op));
        quote!((#x).clamp(-#d, #d))
    }),
    adjoint: Some(|g, y, adj| {
        let x = arg(g, y, 0);
        let d = pow_exponent(g.op(y));
        let magnitude = g.apply(Op::Abs, &[x]);
        let below = g.apply(Op::Neg, &[magnitude]);
        let inside = g.apply(with_constant(Op::Above, -d), &[below]);
        unary_chain(g, y, adj, inside)
    }),
};
static COUNT_ROWS: OpSpec = OpSpec {
    name: "count_rows",
    syntax: "count_rows(D)",
    meaning: "the number of observed entries in each row of data `D`, a column vector `[rows, 1]` (nᵤ, for weighted-λ penalties such as `sum(count_rows(D) * P^2)`)",
    derivative: "none (data)",
    arity: 1,
    ..leaf_const()
};
static COUNT_COLS: OpSpec = OpSpec {
    name: "count_cols",
    syntax: "count_cols(D)",
    meaning: "the number of observed entries in each column of data `D`, a row vector `[1, cols]`",
    derivative: "none (data)",
    arity: 1,
    ..leaf_const()
};

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
mod tests {
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
}
