//! Algebraic simplification, applied to every node as it is built.
//!
//! Each rule replaces a node by an equal, cheaper or more canonical one:
//! constant folding (through the op table's `eval`), identities (`x + 0`,
//! `1 * x`, `--x`, `x^1`), constants pulled out of sums and matrix
//! products, `norm(x)^2 → sum(x^2)` (no square root), and the Gram form
//! `sum((A@B)^2) → sum((A.T@A) * (B@B.T))`, which never forms the grid. Masks move
//! outward: every product, quotient, sum or difference with a masked
//! operand becomes one guarded expression `mask ∘ (…)`, so a missing cell
//! is never read, and the lowering can see which terms live on the observed
//! entries only.
//! Shared subexpressions need no rule: the graph interns nodes.
//!
//! Together with interning this is the whole simplifier; rules only ever
//! make the expression smaller or move constants outward, so rewriting ends.

use crate::ir::{Graph, NodeId, Number, Op, Shape};
use crate::ops::{spec, Class};

/// Builds `op(args)` with result `shape`, simplified.
pub fn build(g: &mut Graph, op: Op, args: Vec<NodeId>, shape: Shape) -> NodeId {
    match rewrite(g, op, &args, shape) {
        Some(id) => id,
        None => {
            let mut args = args;
            if matches!(op, Op::Add | Op::Mul) {
                // Canonical order of commutative arguments: constants first.
                args.sort_by_key(|&a| (g.const_value(a).is_none(), a));
            }
            g.intern(op, args, shape)
        }
    }
}

fn scalar_const(g: &Graph, id: NodeId) -> Option<f64> {
    g.const_value(id).filter(|_| g.shape(id).is_scalar())
}

fn is_const(g: &Graph, id: NodeId, value: f64) -> bool {
    g.const_value(id) == Some(value)
}

fn rewrite(g: &mut Graph, op: Op, args: &[NodeId], shape: Shape) -> Option<NodeId> {
    if spec(op).class == Class::Elementwise {
        if let Some(id) = fold_constants(g, op, args, shape) {
            return Some(id);
        }
        if let Some(id) = shrink_constant_args(g, op, args, shape) {
            return Some(id);
        }
    }
    match op {
        Op::Add => rewrite_add(g, args[0], args[1], shape),
        Op::Sub => rewrite_sub(g, args[0], args[1], shape),
        Op::Mul => rewrite_mul(g, args[0], args[1], shape),
        Op::Div | Op::DivOrZero => rewrite_div(g, op, args[0], args[1], shape),
        Op::Neg => rewrite_neg(g, args[0]),
        Op::Pow(p) => rewrite_pow(g, p.get(), args[0], shape),
        Op::Abs if g.op(args[0]) == Op::Neg => Some(g.apply(Op::Abs, &[g.args(args[0])[0]])),
        Op::Masked => rewrite_masked(g, args[0], args[1], shape),
        // Functions that map 0 to 0 move inside a mask too.
        _ if maps_zero_to_zero(op) && masked_inner(g, args[0]).is_some() => {
            let (m, x) = masked_inner(g, args[0])?;
            let inner = g.apply(op, &[x]);
            Some(g.apply(Op::Masked, &[m, inner]))
        }
        Op::Transpose => rewrite_transpose(g, args[0], shape),
        Op::Broadcast => rewrite_broadcast(g, args[0], shape),
        Op::MatMul => rewrite_matmul(g, args[0], args[1], shape),
        Op::Sum => rewrite_sum(g, args[0], shape),
        Op::Norm if g.shape(args[0]).is_scalar() => Some(g.apply(Op::Abs, &[args[0]])),
        // ‖xᵀ‖ = ‖x‖: the transpose of a masked term is never built.
        Op::Norm if g.op(args[0]) == Op::Transpose => {
            Some(g.apply(Op::Norm, &[g.args(args[0])[0]]))
        }
        _ => None,
    }
}

/// An elementwise operation on constants is a constant.
fn fold_constants(g: &mut Graph, op: Op, args: &[NodeId], shape: Shape) -> Option<NodeId> {
    let values: Option<Vec<f64>> = args.iter().map(|&a| g.const_value(a)).collect();
    let eval = spec(op).eval?;
    Some(g.constant(eval(op, &values?), shape))
}

/// A constant of a full shape next to an argument that already has the
/// result's shape is the same as a scalar constant (`2 ∘ 1ₘₓₙ ∘ x = 2 x`).
fn shrink_constant_args(g: &mut Graph, op: Op, args: &[NodeId], shape: Shape) -> Option<NodeId> {
    if args.len() != 2
        || !args
            .iter()
            .any(|&a| g.shape(a) == shape && g.const_value(a).is_none())
    {
        return None;
    }
    let mut changed = false;
    let new_args: Vec<NodeId> = args
        .iter()
        .map(|&a| match g.const_value(a) {
            Some(c) if !g.shape(a).is_scalar() => {
                changed = true;
                g.constant(c, Shape::SCALAR)
            }
            _ => a,
        })
        .collect();
    changed.then(|| g.apply(op, &new_args))
}

/// Whether a one-argument elementwise operation maps 0 to 0 (by the op
/// table's own `eval`), so that it may move inside a mask.
fn maps_zero_to_zero(op: Op) -> bool {
    let s = spec(op);
    s.class == Class::Elementwise
        && !matches!(op, Op::Masked | Op::Neg | Op::Pow(_))
        && s.eval
            .is_some_and(|eval| is_unary(op) && eval(op, &[0.0]) == 0.0)
}

/// Unary elementwise operations (`max` and `huber` carry their constant).
fn is_unary(op: Op) -> bool {
    matches!(op, Op::Max(_) | Op::Huber(_)) || spec(op).arity == 1
}

/// `(m, x)` when `id` is `Masked(m, x)`.
fn masked_inner(g: &Graph, id: NodeId) -> Option<(NodeId, NodeId)> {
    match g.op(id) {
        Op::Masked => Some((g.args(id)[0], g.args(id)[1])),
        _ => None,
    }
}

/// `x` when `id` is `-x`.
fn negated(g: &Graph, id: NodeId) -> Option<NodeId> {
    (g.op(id) == Op::Neg).then(|| g.args(id)[0])
}

fn rewrite_add(g: &mut Graph, a: NodeId, b: NodeId, shape: Shape) -> Option<NodeId> {
    if is_const(g, a, 0.0) {
        return Some(g.broadcast_to(b, shape));
    }
    if is_const(g, b, 0.0) {
        return Some(g.broadcast_to(a, shape));
    }
    if let Some(nb) = negated(g, b) {
        return Some(g.apply(Op::Sub, &[a, nb]));
    }
    if let Some(na) = negated(g, a) {
        return Some(g.apply(Op::Sub, &[b, na]));
    }
    if let (Some((ma, xa)), Some((mb, xb))) = (masked_inner(g, a), masked_inner(g, b)) {
        if ma == mb {
            let sum = g.apply(Op::Add, &[xa, xb]);
            return Some(g.apply(Op::Masked, &[ma, sum]));
        }
    }
    None
}

fn rewrite_sub(g: &mut Graph, a: NodeId, b: NodeId, shape: Shape) -> Option<NodeId> {
    if a == b {
        return Some(g.constant(0.0, shape));
    }
    if is_const(g, b, 0.0) {
        return Some(g.broadcast_to(a, shape));
    }
    if is_const(g, a, 0.0) {
        let neg = g.apply(Op::Neg, &[b]);
        return Some(g.broadcast_to(neg, shape));
    }
    if let Some(nb) = negated(g, b) {
        return Some(g.apply(Op::Add, &[a, nb]));
    }
    if let (Some((ma, xa)), Some((mb, xb))) = (masked_inner(g, a), masked_inner(g, b)) {
        if ma == mb {
            let diff = g.apply(Op::Sub, &[xa, xb]);
            return Some(g.apply(Op::Masked, &[ma, diff]));
        }
    }
    None
}

fn rewrite_mul(g: &mut Graph, a: NodeId, b: NodeId, shape: Shape) -> Option<NodeId> {
    for (x, y) in [(a, b), (b, a)] {
        if is_const(g, x, 0.0) {
            return Some(g.constant(0.0, shape));
        }
        if is_const(g, x, 1.0) {
            return Some(g.broadcast_to(y, shape));
        }
        if is_const(g, x, -1.0) {
            let neg = g.apply(Op::Neg, &[y]);
            return Some(g.broadcast_to(neg, shape));
        }
        if let Some(ny) = negated(g, y) {
            let prod = g.apply(Op::Mul, &[x, ny]);
            return Some(g.apply(Op::Neg, &[prod]));
        }
        if let Op::Mask(_) = g.op(x) {
            return Some(g.apply(Op::Masked, &[x, y]));
        }
        // Every product with a masked factor moves inside the mask, so the
        // guard covers the whole product: a NaN in a missing cell, read by
        // the other factor, is never multiplied by 0.
        if let Some((m, inner)) = masked_inner(g, x) {
            let prod = g.apply(Op::Mul, &[inner, y]);
            return Some(g.apply(Op::Masked, &[m, prod]));
        }
        // c1 * (c2 * z) = (c1 c2) * z
        if let Some(c1) = scalar_const(g, x) {
            if g.op(y) == Op::Mul {
                let (y0, y1) = (g.args(y)[0], g.args(y)[1]);
                for (c, z) in [(y0, y1), (y1, y0)] {
                    if let Some(c2) = scalar_const(g, c) {
                        let k = g.constant(c1 * c2, Shape::SCALAR);
                        return Some(g.apply(Op::Mul, &[k, z]));
                    }
                }
            }
        }
    }
    // Constants float to the front of a product: x ∘ (c z) = c (x ∘ z).
    for (x, y) in [(a, b), (b, a)] {
        if scalar_const(g, x).is_none() && g.op(y) == Op::Mul {
            let (y0, y1) = (g.args(y)[0], g.args(y)[1]);
            if scalar_const(g, y0).is_some() {
                let prod = g.apply(Op::Mul, &[x, y1]);
                return Some(g.apply(Op::Mul, &[y0, prod]));
            }
        }
    }
    if a == b {
        return Some(g.apply(Op::Pow(Number::new(2.0)), &[a]));
    }
    None
}

fn rewrite_div(g: &mut Graph, op: Op, a: NodeId, b: NodeId, shape: Shape) -> Option<NodeId> {
    if is_const(g, a, 0.0) {
        return Some(g.constant(0.0, shape));
    }
    // c / y = c (1 / y), so the constant can merge with others.
    if scalar_const(g, a).is_some_and(|c| c != 1.0) {
        let one = g.constant(1.0, Shape::SCALAR);
        let q = g.apply(op, &[one, b]);
        return Some(g.apply(Op::Mul, &[a, q]));
    }
    if let Some(c) = scalar_const(g, b).filter(|&c| c != 0.0) {
        let inverse = g.constant(1.0 / c, Shape::SCALAR);
        return Some(g.apply(Op::Mul, &[inverse, a]));
    }
    if let Some(na) = negated(g, a) {
        let q = g.apply(op, &[na, b]);
        return Some(g.apply(Op::Neg, &[q]));
    }
    if let Some((m, inner)) = masked_inner(g, a) {
        let q = g.apply(op, &[inner, b]);
        return Some(g.apply(Op::Masked, &[m, q]));
    }
    // (c * x) / y = c * (x / y): constants stay outermost.
    if g.op(a) == Op::Mul {
        let (a0, a1) = (g.args(a)[0], g.args(a)[1]);
        for (c, x) in [(a0, a1), (a1, a0)] {
            if scalar_const(g, c).is_some() {
                let q = g.apply(op, &[x, b]);
                return Some(g.apply(Op::Mul, &[c, q]));
            }
        }
        // (s * x) / y = (s / y) * x for scalars s and y and a matrix x: one
        // quotient, then a product per entry instead of a division (the
        // `beta X / ‖X‖` of a norm's gradient). Two roundings either way.
        if g.shape(b).is_scalar() && !shape.is_scalar() {
            for (s, x) in [(a0, a1), (a1, a0)] {
                if g.shape(s).is_scalar() && !g.shape(x).is_scalar() {
                    let q = g.apply(op, &[s, b]);
                    return Some(g.apply(Op::Mul, &[q, x]));
                }
            }
        }
    }
    None
}

fn rewrite_neg(g: &mut Graph, x: NodeId) -> Option<NodeId> {
    if let Some(inner) = negated(g, x) {
        return Some(inner);
    }
    if let Some((m, inner)) = masked_inner(g, x) {
        let neg = g.apply(Op::Neg, &[inner]);
        return Some(g.apply(Op::Masked, &[m, neg]));
    }
    if g.op(x) == Op::Mul {
        let (x0, x1) = (g.args(x)[0], g.args(x)[1]);
        for (c, z) in [(x0, x1), (x1, x0)] {
            if let Some(value) = scalar_const(g, c) {
                let k = g.constant(-value, Shape::SCALAR);
                return Some(g.apply(Op::Mul, &[k, z]));
            }
        }
    }
    None
}

fn rewrite_pow(g: &mut Graph, p: f64, x: NodeId, shape: Shape) -> Option<NodeId> {
    if p == 1.0 {
        return Some(x);
    }
    if p == 0.0 {
        return Some(g.constant(1.0, shape));
    }
    match g.op(x) {
        Op::Norm if p == 2.0 => {
            let inner = g.args(x)[0];
            let squares = g.apply(Op::Pow(Number::new(2.0)), &[inner]);
            Some(g.apply(Op::Sum, &[squares]))
        }
        Op::Pow(q) if p.fract() == 0.0 && q.get().fract() == 0.0 => {
            let inner = g.args(x)[0];
            Some(g.apply(Op::Pow(Number::new(p * q.get())), &[inner]))
        }
        Op::Masked if p > 0.0 => {
            let (m, inner) = masked_inner(g, x)?;
            let powered = g.apply(Op::Pow(Number::new(p)), &[inner]);
            Some(g.apply(Op::Masked, &[m, powered]))
        }
        _ => None,
    }
}

fn rewrite_masked(g: &mut Graph, m: NodeId, x: NodeId, shape: Shape) -> Option<NodeId> {
    if is_const(g, x, 0.0) {
        return Some(g.constant(0.0, shape));
    }
    if x == m {
        return Some(m);
    }
    if let Some((m2, inner)) = masked_inner(g, x) {
        if m2 == m {
            return Some(x);
        }
        // Two different masks: keep a canonical nesting order.
        if m2 < m {
            let outer = g.apply(Op::Masked, &[m, inner]);
            return Some(g.apply(Op::Masked, &[m2, outer]));
        }
    }
    None
}

fn rewrite_transpose(g: &mut Graph, x: NodeId, shape: Shape) -> Option<NodeId> {
    if g.op(x) == Op::Transpose {
        return Some(g.args(x)[0]);
    }
    if g.shape(x).is_scalar() {
        return Some(x);
    }
    if let Some(c) = g.const_value(x) {
        return Some(g.constant(c, shape));
    }
    None
}

fn rewrite_broadcast(g: &mut Graph, x: NodeId, shape: Shape) -> Option<NodeId> {
    if let Some(c) = g.const_value(x) {
        return Some(g.constant(c, shape));
    }
    if g.op(x) == Op::Broadcast {
        let inner = g.args(x)[0];
        return Some(g.broadcast_to(inner, shape));
    }
    // The guard stays outermost: a repeated masked value is the masked
    // repeated value.
    if let Some((m, inner)) = masked_inner(g, x) {
        let repeated = g.broadcast_to(inner, shape);
        return Some(g.apply(Op::Masked, &[m, repeated]));
    }
    None
}

fn rewrite_matmul(g: &mut Graph, a: NodeId, b: NodeId, shape: Shape) -> Option<NodeId> {
    if is_const(g, a, 0.0) || is_const(g, b, 0.0) {
        return Some(g.constant(0.0, shape));
    }
    // A product with a 1 × 1 factor is a scaling.
    if g.shape(a).is_scalar() || g.shape(b).is_scalar() {
        return Some(g.apply(Op::Mul, &[a, b]));
    }
    // A mask on the right moves to the left, `A @ M = (Mᵀ Aᵀ)ᵀ`, and so
    // does a transposed masked term, `A @ (m ∘ X)ᵀ = ((m ∘ X) Aᵀ)ᵀ` (the
    // derivative of `A @ (m ∘ X)` in `A`): a product with sparse data is
    // then always a pass scattering by the data's rows or columns, never a
    // product with a transposed sparse matrix on the right, which the
    // sparse lowering does not have.
    let is_mask =
        |g: &Graph, x: NodeId| matches!(g.op(crate::lower::untransposed(g, x)), Op::Mask(_));
    let is_masked_transposed =
        |g: &Graph, x: NodeId| g.op(x) == Op::Transpose && masked_inner(g, g.args(x)[0]).is_some();
    let is_sparse = |g: &Graph, x: NodeId| {
        is_mask(g, x) || masked_inner(g, crate::lower::untransposed(g, x)).is_some()
    };
    if (is_mask(g, b) || is_masked_transposed(g, b)) && !is_sparse(g, a) {
        let (bt, at) = (g.apply(Op::Transpose, &[b]), g.apply(Op::Transpose, &[a]));
        let product = g.apply(Op::MatMul, &[bt, at]);
        return Some(g.apply(Op::Transpose, &[product]));
    }
    for (side, other, left) in [(a, b, true), (b, a, false)] {
        if let Some(inner) = negated(g, side) {
            let args = if left { [inner, other] } else { [other, inner] };
            let prod = g.apply(Op::MatMul, &args);
            return Some(g.apply(Op::Neg, &[prod]));
        }
        if g.op(side) == Op::Mul {
            let (s0, s1) = (g.args(side)[0], g.args(side)[1]);
            for (c, z) in [(s0, s1), (s1, s0)] {
                if scalar_const(g, c).is_some() {
                    let args = if left { [z, other] } else { [other, z] };
                    let prod = g.apply(Op::MatMul, &args);
                    return Some(g.apply(Op::Mul, &[c, prod]));
                }
            }
        }
    }
    None
}

fn rewrite_sum(g: &mut Graph, x: NodeId, shape: Shape) -> Option<NodeId> {
    let from = g.shape(x);
    if from == shape {
        return Some(x);
    }
    // Σ (A B)² = Σ (AᵀA) ∘ (B Bᵀ): O((m + n) k²) instead of the m × n grid.
    if shape.is_scalar() && g.op(x) == Op::Pow(Number::new(2.0)) {
        let product = g.args(x)[0];
        if g.op(product) == Op::MatMul {
            let (a, b) = (g.args(product)[0], g.args(product)[1]);
            let (at, bt) = (g.apply(Op::Transpose, &[a]), g.apply(Op::Transpose, &[b]));
            let left = g.apply(Op::MatMul, &[at, a]);
            let right = g.apply(Op::MatMul, &[b, bt]);
            // With B = Aᵀ both sides are the same Gram matrix: the form
            // gains nothing (and would rewrite back into itself).
            if left != right {
                let both = g.apply(Op::Mul, &[left, right]);
                return Some(g.apply(Op::Sum, &[both]));
            }
        }
    }
    // Σ xᵀ = Σ x: the transpose of a masked term is never built.
    if shape.is_scalar() && g.op(x) == Op::Transpose {
        return Some(g.apply(Op::Sum, &[g.args(x)[0]]));
    }
    if let Some(c) = g.const_value(x) {
        // Each result entry adds up the entries along the summed axes.
        let summed = Shape::new(
            if shape.rows == from.rows {
                crate::ir::Dim::One
            } else {
                from.rows
            },
            if shape.cols == from.cols {
                crate::ir::Dim::One
            } else {
                from.cols
            },
        );
        let value = g.constant(c, shape);
        let count = g.intern(Op::Count(summed), Vec::new(), Shape::SCALAR);
        return Some(g.apply(Op::Mul, &[value, count]));
    }
    if let Some(inner) = negated(g, x) {
        let s = g.sum_to(inner, shape);
        return Some(g.apply(Op::Neg, &[s]));
    }
    // A mask that is constant along the summed axes guards the sum itself:
    // `Σ (m ∘ z) = m ∘ Σ z`. Keeping the guard outside matters when the sum
    // is an adjoint: a product with it (`adj · D`) then moves inside the
    // mask, and a NaN in a missing cell of `D` is never read.
    if let Some(id) = masks_out_of_sum(g, x, shape) {
        return Some(id);
    }
    if g.op(x) == Op::Mul {
        let (x0, x1) = (g.args(x)[0], g.args(x)[1]);
        for (s, z) in [(x0, x1), (x1, x0)] {
            if g.shape(s).is_scalar() {
                let summed = g.sum_to(z, shape);
                return Some(g.apply(Op::Mul, &[s, summed]));
            }
        }
    }
    None
}

/// `Sum(m₁ ∘ … ∘ z)` with the masks that fit `shape` (so are constant along
/// the summed axes) moved outside the sum.
fn masks_out_of_sum(g: &mut Graph, x: NodeId, shape: Shape) -> Option<NodeId> {
    let fits = |d: crate::ir::Dim, target: crate::ir::Dim| d == target || d == crate::ir::Dim::One;
    let mut outside = Vec::new();
    let mut inside = Vec::new();
    let mut core = x;
    while let Some((m, inner)) = masked_inner(g, core) {
        let s = g.shape(m);
        if fits(s.rows, shape.rows) && fits(s.cols, shape.cols) {
            outside.push(m);
        } else {
            inside.push(m);
        }
        core = inner;
    }
    if outside.is_empty() {
        return None;
    }
    for &m in inside.iter().rev() {
        core = g.apply(Op::Masked, &[m, core]);
    }
    // The masks moved out may have been all that gave `x` its full shape.
    let from = g.shape(x);
    let core = g.broadcast_to(core, from);
    let mut sum = g.sum_to(core, shape);
    for &m in outside.iter().rev() {
        sum = g.apply(Op::Masked, &[m, sum]);
    }
    Some(sum)
}

#[cfg(test)]
mod tests;
