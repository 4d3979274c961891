//! Tests of the rewrite rules applied as nodes are built.

use super::*;
use crate::ir::Dim;

fn matrix(g: &mut Graph, index: u16) -> NodeId {
    g.intern(
        Op::Param(index),
        Vec::new(),
        Shape::new(Dim::Sym(0), Dim::Sym(1)),
    )
}

#[test]
fn identities_disappear() {
    let mut g = Graph::default();
    let x = matrix(&mut g, 0);
    let zero = g.constant(0.0, Shape::SCALAR);
    let one = g.constant(1.0, Shape::SCALAR);
    assert_eq!(g.apply(Op::Add, &[x, zero]), x);
    assert_eq!(g.apply(Op::Mul, &[one, x]), x);
    let neg = g.apply(Op::Neg, &[x]);
    assert_eq!(g.apply(Op::Neg, &[neg]), x);
    assert_eq!(g.apply(Op::Pow(Number::new(1.0)), &[x]), x);
    let t = g.apply(Op::Transpose, &[x]);
    assert_eq!(g.apply(Op::Transpose, &[t]), x);
    let zero = g.apply(Op::Sub, &[x, x]);
    assert_eq!(g.const_value(zero), Some(0.0));
}

#[test]
fn a_scalar_quotient_is_taken_once_not_per_entry() {
    let mut g = Graph::default();
    let x = matrix(&mut g, 0);
    let beta = g.intern(Op::Hyper(0), Vec::new(), Shape::SCALAR);
    let norm = g.apply(Op::Norm, &[x]);
    let scaled = g.apply(Op::Mul, &[beta, x]);
    for op in [Op::Div, Op::DivOrZero] {
        let q = g.apply(op, &[scaled, norm]);
        assert_eq!(g.op(q), Op::Mul, "beta x / ‖x‖ = (beta / ‖x‖) x");
        let args = g.args(q).to_vec();
        let factor = args.iter().copied().find(|&a| g.shape(a).is_scalar());
        let factor = factor.expect("a scalar factor");
        assert_eq!((g.op(factor), g.args(factor)), (op, &[beta, norm][..]));
        assert!(args.contains(&x));
    }
    // A matrix denominator stays a division per entry.
    let y = matrix(&mut g, 1);
    let q = g.apply(Op::Div, &[scaled, y]);
    assert_eq!(g.op(q), Op::Div);
}

#[test]
fn constants_fold_and_move_outward() {
    let mut g = Graph::default();
    let x = matrix(&mut g, 0);
    let two = g.constant(2.0, Shape::SCALAR);
    let three = g.constant(3.0, Shape::SCALAR);
    let six = g.apply(Op::Mul, &[two, three]);
    assert_eq!(g.const_value(six), Some(6.0));
    let inner = g.apply(Op::Mul, &[three, x]);
    let outer = g.apply(Op::Mul, &[two, inner]);
    assert_eq!(g.op(outer), Op::Mul);
    assert_eq!(g.const_value(g.args(outer)[0]), Some(6.0));
    let neg = g.apply(Op::Neg, &[outer]);
    assert_eq!(g.const_value(g.args(neg)[0]), Some(-6.0));
}

#[test]
fn shared_subexpressions_are_one_node() {
    let mut g = Graph::default();
    let x = matrix(&mut g, 0);
    let y = matrix(&mut g, 1);
    let a = g.apply(Op::Add, &[x, y]);
    let b = g.apply(Op::Add, &[y, x]);
    assert_eq!(a, b);
}

#[test]
fn squared_products_take_the_gram_form_once() {
    let mut g = Graph::default();
    let p = matrix(&mut g, 0);
    let q = g.intern(
        Op::Param(1),
        Vec::new(),
        Shape::new(Dim::Sym(1), Dim::Sym(2)),
    );
    let pq = g.apply(Op::MatMul, &[p, q]);
    let square = g.apply(Op::Pow(Number::new(2.0)), &[pq]);
    let total = g.apply(Op::Sum, &[square]);
    let product = g.args(total)[0];
    assert_eq!(g.op(product), Op::Mul, "Σ (PᵀP) ∘ (QQᵀ)");
    assert!(g.args(product).iter().all(|&m| g.op(m) == Op::MatMul));
    // A symmetric product (B = Aᵀ) is left alone rather than rewritten
    // back and forth.
    let pt = g.apply(Op::Transpose, &[p]);
    let gram = g.apply(Op::MatMul, &[pt, p]);
    let square = g.apply(Op::Pow(Number::new(2.0)), &[gram]);
    let total = g.apply(Op::Sum, &[square]);
    assert_eq!(g.args(total), [square]);
}

#[test]
fn squared_norm_has_no_square_root() {
    let mut g = Graph::default();
    let x = matrix(&mut g, 0);
    let n = g.apply(Op::Norm, &[x]);
    let sq = g.apply(Op::Pow(Number::new(2.0)), &[n]);
    assert_eq!(g.op(sq), Op::Sum);
    assert_eq!(g.op(g.args(sq)[0]), Op::Pow(Number::new(2.0)));
}

#[test]
fn products_move_inside_masks() {
    let mut g = Graph::default();
    let shape = Shape::new(Dim::Sym(0), Dim::Sym(1));
    let m = g.intern(Op::Mask(0), Vec::new(), shape);
    let x = matrix(&mut g, 0);
    let y = matrix(&mut g, 1);
    let mx = g.apply(Op::Mul, &[m, x]);
    assert_eq!(g.op(mx), Op::Masked);
    let mxy = g.apply(Op::Mul, &[mx, y]);
    assert_eq!(g.op(mxy), Op::Masked);
    assert_eq!(g.op(g.args(mxy)[1]), Op::Mul);
    let two = g.constant(-2.0, Shape::SCALAR);
    let scaled = g.apply(Op::Mul, &[two, mxy]);
    assert_eq!(g.op(scaled), Op::Masked, "constants go inside the mask too");
    let neg = g.apply(Op::Neg, &[scaled]);
    assert_eq!(g.op(neg), Op::Masked);
    assert_eq!(g.apply(Op::Masked, &[m, mxy]), mxy);
}

/// Regression (found by the property test): with a mask narrower than
/// the product it guards, the adjoint summed back over the broadcast
/// axes lost its guard, and the gradient read the data unguarded: for
/// `sum(mask(D) * D * p * mask(E))` with `D: []`, `E: [1, n]`, `p: []`,
/// `∂/∂p` was `D · Σ(…)`, NaN when D is missing.
#[test]
fn masks_stay_outside_sums_and_broadcasts() {
    let mut g = Graph::default();
    let row = Shape::new(Dim::One, Dim::Sym(0));
    let m0 = g.intern(Op::Mask(0), Vec::new(), Shape::SCALAR);
    let m1 = g.intern(Op::Mask(1), Vec::new(), row);
    let one = g.constant(1.0, Shape::SCALAR);
    // Broadcast(m0 ∘ 1) = m0 ∘ Broadcast(1)
    let guarded = g.apply(Op::Masked, &[m0, one]);
    let repeated = g.broadcast_to(guarded, row);
    assert_eq!(g.op(repeated), Op::Masked);
    assert_eq!(g.args(repeated)[0], m0);
    // Σ(m1 ∘ m0 ∘ x) = m0 ∘ Σ(m1 ∘ x): m0 is constant along the sum.
    let x = g.intern(Op::Param(0), Vec::new(), row);
    let inner = g.apply(Op::Masked, &[m1, x]);
    let both = g.apply(Op::Masked, &[m0, inner]);
    let total = g.sum_to(both, Shape::SCALAR);
    assert_eq!(g.op(total), Op::Masked);
    assert_eq!(g.args(total)[0], m0);
    let sum = g.args(total)[1];
    assert_eq!(g.op(sum), Op::Sum);
    assert_eq!(
        g.args(sum)[0],
        inner,
        "m1 varies along the sum: it stays inside"
    );
    // So a product of that adjoint with the data stays guarded.
    let d = g.intern(Op::Data(0), Vec::new(), Shape::SCALAR);
    let grad = g.apply(Op::Mul, &[total, d]);
    assert_eq!(g.op(grad), Op::Masked);
    // A mask moved out of a sum may have been what gave the summand its
    // shape: m_cols ∘ (m_rows ∘ p), p scalar, summed to a column.
    let column = Shape::new(Dim::Sym(1), Dim::One);
    let m_rows = g.intern(Op::Mask(2), Vec::new(), column);
    let p = g.intern(Op::Param(1), Vec::new(), Shape::SCALAR);
    let rows_only = g.apply(Op::Masked, &[m_rows, p]);
    let full = g.apply(Op::Masked, &[m1, rows_only]);
    let summed = g.sum_to(full, column);
    assert_eq!(g.shape(summed), column);
    let mut check = vec![summed];
    while let Some(id) = check.pop() {
        if g.op(id) == Op::Sum {
            let from = g.shape(g.args(id)[0]);
            let to = g.shape(id);
            assert!(
                [(from.rows, to.rows), (from.cols, to.cols)]
                    .iter()
                    .all(|&(f, t)| t == f || t == Dim::One),
                "a sum only ever reduces: {from:?} to {to:?}"
            );
        }
        check.extend(g.args(id).iter().copied());
    }
}
