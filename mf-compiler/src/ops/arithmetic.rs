//! Rows of the table for elementwise arithmetic: the operators, powers,
//! `abs`, `sign`, `sqrt`, `exp`, `log`, and the mask guard.

use quote::quote;

use super::*;

pub(super) static ADD: OpSpec = OpSpec {
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
pub(super) static SUB: OpSpec = OpSpec {
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
pub(super) static MUL: OpSpec = OpSpec {
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
pub(super) static DIV: OpSpec = OpSpec {
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
pub(super) static DIV_OR_ZERO: OpSpec = OpSpec {
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
pub(super) static NEG: OpSpec = OpSpec {
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
pub(super) static POW: OpSpec = OpSpec {
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

pub(super) static ABS: OpSpec = OpSpec {
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
pub(super) static SIGN: OpSpec = OpSpec {
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

pub(super) fn sign(t: f64) -> f64 {
    if t > 0.0 {
        1.0
    } else if t < 0.0 {
        -1.0
    } else {
        t * 0.0
    }
}

pub(super) static SQRT: OpSpec = OpSpec {
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
pub(super) static EXP: OpSpec = OpSpec {
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
pub(super) static LOG: OpSpec = OpSpec {
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
pub(super) static MASKED: OpSpec = OpSpec {
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
