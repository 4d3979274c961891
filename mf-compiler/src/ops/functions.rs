//! Rows of the table for the smooth and piecewise functions: `log1p`,
//! `sigmoid`, `softplus`, `tanh`, `relu`, `max`, `above`, `huber`, `clamp`.

use quote::quote;

use super::*;

pub(super) static LOG1P: OpSpec = OpSpec {
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

pub(super) static SIGMOID: OpSpec = OpSpec {
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
pub(super) static SOFTPLUS: OpSpec = OpSpec {
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
pub(super) static TANH: OpSpec = OpSpec {
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
pub(super) static RELU: OpSpec = OpSpec {
    name: "relu",
    syntax: "relu(x)",
    arity: 1,
    class: Class::Sugar,
    meaning: "`max(x, 0)`",
    derivative: "1 where x > 0, else 0 (0 at x = 0)",
    ..leaf_const()
};
pub(super) static MAX: OpSpec = OpSpec {
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
pub(super) static ABOVE: OpSpec = OpSpec {
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
pub(super) static HUBER: OpSpec = OpSpec {
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
pub(super) static CLAMP: OpSpec = OpSpec {
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
