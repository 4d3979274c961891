//! Rows of the table for the matrix operations: broadcast, transpose,
//! matrix product, sum and norm.

use super::*;

pub(super) static BROADCAST: OpSpec = OpSpec {
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
pub(super) static TRANSPOSE: OpSpec = OpSpec {
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
pub(super) static MATMUL: OpSpec = OpSpec {
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
pub(super) static SUM: OpSpec = OpSpec {
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
pub(super) static NORM: OpSpec = OpSpec {
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
