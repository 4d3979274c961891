//! Stage 5b: the row-block Newton systems of a loss (ALS and its damped
//! generalization), derived from the IR.
//!
//! With every param but one group fixed, a matrix-factorization loss splits
//! into independent small problems, one per row: a user's factor row `pᵤ`
//! and bias `buᵤ` (the *users* group), an item's factor column `qᵢ` and bias
//! `bᵢ` (the *items* group), and the params indexed by neither, such as a
//! global offset `mu` (the *global* group, one row). This stage finds the
//! groups and, for each, every additive term of the loss as it acts on one
//! row `z`:
//!
//! - **entry terms** `sum(mask * e)` over the sparse data: `e` is an
//!   elementwise function of *leaves*, each affine in `z` — a product
//!   `X @ B` with `X` a group param (its coefficient vector at entry `(u, i)`
//!   is `B[:, i]`, the partner), or a bias `X` itself (coefficient 1). The
//!   first and second derivatives of `e` in the leaves are differentiated
//!   symbolically (forward mode, [`crate::diff::forward`]), so the
//!   row's gradient is `Σᵢ Σⱼ ∂e/∂ℓⱼ aⱼ` and its Hessian
//!   `Σᵢ Σⱼₗ ∂²e/∂ℓⱼ∂ℓₗ aⱼaₗᵀ`;
//! - **coordinate terms** `sum(h(X))`, `h` elementwise in one group param
//!   (weighted by counts, hypers, constants): a diagonal Hessian `h''`;
//! - **norm terms** `c ‖X‖` (not squared), which couple the rows: replaced by
//!   the majorizer `c (‖X‖² / (2‖X₀‖) + ‖X₀‖ / 2)` around the point `X₀` where
//!   the group step starts, equal to it at `X₀` with the same gradient and
//!   above it everywhere, so a step that decreases the majorizer decreases
//!   the loss (the MM principle). `‖X₀‖` is floored at an RMS of 1e-6 per
//!   element: at `X₀ = 0` (a bias at its start) no majorizer touches, and
//!   the floored one (still above the norm everywhere, by AM–GM) lets `X`
//!   leave zero, its radius growing with `‖X‖` from one group step to the
//!   next;
//! - **Gram terms** `c sum((Xᵀ X) ∘ G)` (the shortcut of `sum((P@Q)^2)`, the
//!   unobserved part of implicit-feedback losses): `c xᵣᵀ G xᵣ` per row, `G`
//!   computed once per group step.
//!
//! A term that depends on a group's params in any other way is refused with
//! a reason naming it; the loss still compiles and trains with the gradient
//! methods. When every second derivative is constant in `z` the group is
//! *quadratic* and one solve is the exact block minimum (ALS).

use crate::check::Symbols;
use crate::diff::forward;
use crate::ir::{Dim, DimId, Graph, NodeId, Op, Shape};
use crate::ops::{spec, Class};

/// Which rows a group's blocks are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Axis {
    /// The rows of the sparse data (users): entries from its CSR rows.
    DataRows(DimId),
    /// The columns of the sparse data (items): entries from its CSC columns.
    DataCols(DimId),
    /// One row holding every param indexed by neither (a global offset).
    Global,
}

/// A param of a group: row `r` of the group is the param's row `r` (or
/// column `r` when `along_cols`), of `width` coordinates.
#[derive(Clone, Debug, PartialEq)]
pub struct Member {
    pub param: u16,
    /// The group's index runs along the param's columns (`Q: [k, items]`).
    pub along_cols: bool,
    /// The dimension of the coordinates within a row (`k`, or `One`).
    pub width: Dim,
}

/// A leaf of an entry term: a node affine in one member's row.
#[derive(Clone, Debug, PartialEq)]
pub struct Leaf {
    pub node: NodeId,
    /// Index into [`Group::members`].
    pub member: usize,
    /// The coefficient vector: `None` for a bias (coefficient 1); for a
    /// product, the partner param and whether the coefficient at entry
    /// `(u, i)` is its column `i` (`X @ B`: `B[:, i]`) or its row `u`
    /// (`A @ X`: `A[u, :]`); `transposed` when the partner is written `Bᵀ`.
    pub partner: Option<Partner>,
}

/// The non-group operand of a product leaf.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Partner {
    pub param: u16,
    pub transposed: bool,
    /// The group param is the product's right operand (`A @ X`).
    pub group_on_right: bool,
}

/// `sum(mask * e)` over the sparse data, with `e`'s derivatives in the leaves.
#[derive(Clone, Debug)]
pub struct EntryTerm {
    /// The per-entry expression, coefficient included, unmasked.
    pub expr: NodeId,
    /// `∂e/∂ℓⱼ` per leaf (`None`: `e` does not depend on it).
    pub d1: Vec<Option<NodeId>>,
    /// `∂²e/∂ℓⱼ∂ℓₗ` for `j ≤ l`, row-major over the upper triangle.
    pub d2: Vec<Option<NodeId>>,
}

/// `sum(h)` with `h` elementwise in one member.
#[derive(Clone, Debug)]
pub struct CoordTerm {
    pub member: usize,
    pub expr: NodeId,
    pub d1: Option<NodeId>,
    pub d2: Option<NodeId>,
}

/// `coef ‖X‖` for a member `X`, majorized around the group's start.
#[derive(Clone, Debug)]
pub struct NormTerm {
    pub member: usize,
    pub coef: NodeId,
}

/// `coef Σᵣ xᵣᵀ G xᵣ`, `G = YᵀY` (or `Y Yᵀ`) of a partner param `Y`.
#[derive(Clone, Debug)]
pub struct GramTerm {
    pub member: usize,
    pub coef: NodeId,
    pub partner: u16,
    /// `G = Y Yᵀ` rather than `Yᵀ Y`.
    pub partner_rows: bool,
}

/// One group's derived row system.
#[derive(Clone, Debug)]
pub struct Group {
    pub axis: Axis,
    pub members: Vec<Member>,
    pub leaves: Vec<Leaf>,
    pub entries: Vec<EntryTerm>,
    pub coords: Vec<CoordTerm>,
    pub norms: Vec<NormTerm>,
    pub grams: Vec<GramTerm>,
    /// Every second derivative is constant in the row: one solve is exact.
    pub quadratic: bool,
}

/// The groups of a loss, or why row-block steps do not apply to it.
pub type Blocks = Result<Vec<Group>, String>;

/// Derives the row systems of `loss`; `math` prints a node for reasons.
pub fn derive(
    g: &mut Graph,
    s: &Symbols,
    loss: NodeId,
    math: &dyn Fn(&Graph, NodeId) -> String,
) -> Blocks {
    let sparse: Vec<usize> = (0..s.data.len()).filter(|&d| s.data[d].sparse).collect();
    let [data] = sparse[..] else {
        return Err(match sparse.len() {
            0 => "row-block steps run over the observed entries of sparse data: declare the data `sparse[..]`".into(),
            _ => "row-block steps support one sparse data matrix".into(),
        });
    };
    let data_shape = s.data[data].shape;
    let (Dim::Sym(rows), Dim::Sym(cols)) = (data_shape.rows, data_shape.cols) else {
        return Err("the sparse data has a dimension of size 1".into());
    };
    let terms = additive_terms(g, loss);
    let mut groups = Vec::new();
    for axis in [Axis::DataRows(rows), Axis::DataCols(cols), Axis::Global] {
        let members = members_of(s, axis, rows, cols)?;
        if members.is_empty() {
            continue;
        }
        groups.push(derive_group(g, axis, members, &terms, data as u16, math)?);
    }
    Ok(groups)
}

/// The params of a group; an error for a param indexed by both data dims.
fn members_of(s: &Symbols, axis: Axis, rows: DimId, cols: DimId) -> Result<Vec<Member>, String> {
    let mut members = Vec::new();
    for (p, param) in s.params.iter().enumerate() {
        let sh = param.shape;
        let has = |d: DimId| sh.rows == Dim::Sym(d) || sh.cols == Dim::Sym(d);
        if has(rows) && has(cols) {
            return Err(format!(
                "param `{}` is indexed by both dimensions of the data, so it has no row blocks",
                param.name
            ));
        }
        let member = match axis {
            Axis::DataRows(d) | Axis::DataCols(d) if has(d) => Some(Member {
                param: p as u16,
                along_cols: sh.rows != Dim::Sym(d),
                width: if sh.rows == Dim::Sym(d) {
                    sh.cols
                } else {
                    sh.rows
                },
            }),
            Axis::Global if !has(rows) && !has(cols) => {
                if !sh.is_scalar() {
                    return Err(format!(
                        "param `{}` is indexed by neither dimension of the data and is not a scalar, so it has no row blocks",
                        param.name
                    ));
                }
                Some(Member {
                    param: p as u16,
                    along_cols: false,
                    width: Dim::One,
                })
            }
            _ => None,
        };
        members.extend(member);
    }
    Ok(members)
}

/// The loss as `Σ coefᵢ · termᵢ`: sums, differences, negations and products
/// with a scalar free of params are distributed; `coef` is a scalar node.
fn additive_terms(g: &mut Graph, loss: NodeId) -> Vec<(NodeId, NodeId)> {
    let one = g.constant(1.0, Shape::SCALAR);
    let mut out = Vec::new();
    let mut stack = vec![(one, loss)];
    while let Some((coef, t)) = stack.pop() {
        let args = g.args(t).to_vec();
        match g.op(t) {
            Op::Add => {
                stack.push((coef, args[1]));
                stack.push((coef, args[0]));
            }
            Op::Sub => {
                let neg = g.apply(Op::Neg, &[coef]);
                stack.push((neg, args[1]));
                stack.push((coef, args[0]));
            }
            Op::Neg => {
                let neg = g.apply(Op::Neg, &[coef]);
                stack.push((neg, args[0]));
            }
            Op::Mul if g.shape(args[0]).is_scalar() && !has_param(g, args[0]) => {
                let c = g.apply(Op::Mul, &[coef, args[0]]);
                stack.push((c, args[1]));
            }
            Op::Mul if g.shape(args[1]).is_scalar() && !has_param(g, args[1]) => {
                let c = g.apply(Op::Mul, &[coef, args[1]]);
                stack.push((c, args[0]));
            }
            Op::Div if !has_param(g, args[1]) => {
                let c = g.apply(Op::Div, &[coef, args[1]]);
                stack.push((c, args[0]));
            }
            _ => out.push((coef, t)),
        }
    }
    out
}

fn has_param(g: &Graph, id: NodeId) -> bool {
    g.reachable(&[id])
        .iter()
        .any(|&n| matches!(g.op(n), Op::Param(_)))
}

fn member_of(members: &[Member], g: &Graph, id: NodeId) -> Option<usize> {
    match g.op(id) {
        Op::Param(p) => members.iter().position(|m| m.param == p),
        _ => None,
    }
}

/// `(member, transposed)` when `id` is a member param or its transpose.
fn member_operand(members: &[Member], g: &Graph, id: NodeId) -> Option<(usize, bool)> {
    match g.op(id) {
        Op::Transpose => member_of(members, g, g.args(id)[0]).map(|m| (m, true)),
        _ => member_of(members, g, id).map(|m| (m, false)),
    }
}

/// `(param, transposed)` when `id` is a param or its transpose.
fn param_operand(g: &Graph, id: NodeId) -> Option<(u16, bool)> {
    let (base, transposed) = match g.op(id) {
        Op::Transpose => (g.args(id)[0], true),
        _ => (id, false),
    };
    match g.op(base) {
        Op::Param(p) => Some((p, transposed)),
        _ => None,
    }
}

/// Whether each node depends on a member param.
fn depends_on(g: &Graph, members: &[Member]) -> Vec<bool> {
    let mut dep = vec![false; g.len()];
    for i in 0..g.len() {
        let id = NodeId(i as u32);
        dep[i] = member_of(members, g, id).is_some() || g.args(id).iter().any(|a| dep[a.index()]);
    }
    dep
}

fn derive_group(
    g: &mut Graph,
    axis: Axis,
    members: Vec<Member>,
    terms: &[(NodeId, NodeId)],
    data: u16,
    math: &dyn Fn(&Graph, NodeId) -> String,
) -> Result<Group, String> {
    let mut group = Group {
        axis,
        members,
        leaves: Vec::new(),
        entries: Vec::new(),
        coords: Vec::new(),
        norms: Vec::new(),
        grams: Vec::new(),
        quadratic: true,
    };
    let dep = depends_on(g, &group.members);
    let refuse = |g: &Graph, t: NodeId, why: &str| format!("the term `{}` {why}", math(g, t));
    for &(coef, t) in terms {
        if !dep[t.index()] {
            continue;
        }
        let args = g.args(t).to_vec();
        match g.op(t) {
            Op::Sum if g.op(args[0]) == Op::Masked && is_data_mask(g, g.args(args[0])[0], data) => {
                let inner = g.args(args[0])[1];
                find_leaves(g, &dep, &mut group, inner).map_err(|why| refuse(g, t, &why))?;
                let expr = g.apply(Op::Mul, &[coef, inner]);
                group.entries.push(EntryTerm {
                    expr,
                    d1: Vec::new(),
                    d2: Vec::new(),
                });
            }
            Op::Norm => {
                match member_of(&group.members, g, args[0]) {
                    Some(member) => group.norms.push(NormTerm { member, coef }),
                    None => return Err(refuse(
                        g,
                        t,
                        "is the norm of an expression, not of one param, so it has no row blocks",
                    )),
                }
            }
            _ => {
                // `sum(h)`, or a scalar param's own term such as `mu^2`.
                let h = if g.op(t) == Op::Sum { args[0] } else { t };
                let member = single_member(g, &group.members, h).ok_or_else(|| {
                    refuse(g, t, "couples the rows of a block: only masked terms over the data, elementwise penalties of one param, `norm(X)` and `sum((A@B)^2)` have row systems")
                })?;
                if let Some(gram) = gram_term(g, &group.members, member, h, coef) {
                    group.grams.push(gram);
                    continue;
                }
                let x = param_node(g, group.members[member].param)
                    .ok_or_else(|| format!("the term `{}` reads no param node", math(g, t)))?;
                if g.shape(h) != g.shape(x) {
                    return Err(refuse(
                        g,
                        t,
                        "sums a penalty over a larger shape than its param's",
                    ));
                }
                let expr = g.apply(Op::Mul, &[coef, h]);
                let d1 = forward(g, expr, x, &[x])
                    .map_err(|why| format!("the term `{}`: {why}", math(g, t)))?;
                let d2 = match d1 {
                    Some(d) => forward(g, d, x, &[x])
                        .map_err(|why| format!("the term `{}`: {why}", math(g, t)))?,
                    None => None,
                };
                group.quadratic &= d2.is_none_or(|d| !depends_on_any(g, d, &[x]));
                group.coords.push(CoordTerm {
                    member,
                    expr,
                    d1,
                    d2,
                });
            }
        }
    }
    let leaf_nodes: Vec<NodeId> = group.leaves.iter().map(|l| l.node).collect();
    for k in 0..group.entries.len() {
        let expr = group.entries[k].expr;
        let mut d1 = Vec::new();
        for &leaf in &leaf_nodes {
            d1.push(forward(g, expr, leaf, &leaf_nodes)?);
        }
        let mut d2 = Vec::new();
        for j in 0..leaf_nodes.len() {
            for &leaf in &leaf_nodes[j..] {
                let second = match d1[j] {
                    Some(d) => forward(g, d, leaf, &leaf_nodes)?,
                    None => None,
                };
                group.quadratic &= second.is_none_or(|d| !depends_on_any(g, d, &leaf_nodes));
                d2.push(second);
            }
        }
        group.entries[k].d1 = d1;
        group.entries[k].d2 = d2;
    }
    Ok(group)
}

fn is_data_mask(g: &Graph, m: NodeId, data: u16) -> bool {
    g.op(m) == Op::Mask(data)
}

fn param_node(g: &Graph, p: u16) -> Option<NodeId> {
    (0..g.len() as u32)
        .map(NodeId)
        .find(|&id| g.op(id) == Op::Param(p))
}

/// The one member `h` depends on, when it is reached only elementwise.
fn single_member(g: &Graph, members: &[Member], h: NodeId) -> Option<usize> {
    let mut found = None;
    for id in g.reachable(&[h]) {
        if let Some(m) = member_of(members, g, id) {
            if found.is_some_and(|f| f != m) {
                return None;
            }
            found = Some(m);
        }
    }
    found
}

/// `coef Σ (Xᵀ X) ∘ G` (or `Σ G ∘ (X Xᵀ)`) with `X` the member and `G` the
/// Gram matrix of a partner param.
fn gram_term(
    g: &Graph,
    members: &[Member],
    member: usize,
    h: NodeId,
    coef: NodeId,
) -> Option<GramTerm> {
    if g.op(h) != Op::Mul {
        return None;
    }
    let x = members[member].param;
    let gram_of = |id: NodeId| -> Option<(u16, bool)> {
        if g.op(id) != Op::MatMul {
            return None;
        }
        let (a, b) = (g.args(id)[0], g.args(id)[1]);
        match (param_operand(g, a), param_operand(g, b)) {
            (Some((pa, true)), Some((pb, false))) if pa == pb => Some((pa, false)),
            (Some((pa, false)), Some((pb, true))) if pa == pb => Some((pa, true)),
            _ => None,
        }
    };
    let (l, r) = (g.args(h)[0], g.args(h)[1]);
    let (gl, gr) = (gram_of(l)?, gram_of(r)?);
    // The member's Gram must run over the group's index: XᵀX sums over X's
    // rows (the group runs along them), X Xᵀ over its columns.
    let (mine, other) = if gl.0 == x { (gl, gr) } else { (gr, gl) };
    if mine.0 != x || other.0 == x || mine.1 != members[member].along_cols {
        return None;
    }
    Some(GramTerm {
        member,
        coef,
        partner: other.0,
        partner_rows: other.1,
    })
}

/// Records the leaves of an entry term's expression; an error when a group
/// param enters it other than through a leaf.
fn find_leaves(g: &Graph, dep: &[bool], group: &mut Group, e: NodeId) -> Result<(), String> {
    let mut stack = vec![e];
    let mut seen = vec![false; g.len()];
    while let Some(id) = stack.pop() {
        if !dep[id.index()] || std::mem::replace(&mut seen[id.index()], true) {
            continue;
        }
        if group.leaves.iter().any(|l| l.node == id) {
            continue;
        }
        let args = g.args(id).to_vec();
        if let Some((member, _)) = member_operand(&group.members, g, id) {
            if group.members[member].width != Dim::One {
                return Err(
                    "uses a factor param elementwise; only products `X @ B` and bias vectors enter a row system"
                        .to_string(),
                );
            }
            group.leaves.push(Leaf {
                node: id,
                member,
                partner: None,
            });
            continue;
        }
        match g.op(id) {
            Op::MatMul => {
                let (a, b) = (args[0], args[1]);
                let (mine, other, group_on_right) = match (dep[a.index()], dep[b.index()]) {
                    (true, false) => (a, b, false),
                    (false, true) => (b, a, true),
                    _ => return Err("multiplies two params of the same block".into()),
                };
                let Some((member, _)) = member_operand(&group.members, g, mine) else {
                    return Err("has a product whose operand is an expression of a block's param; only a param (or its transpose) times a param enters a row system".into());
                };
                let Some((param, transposed)) = param_operand(g, other) else {
                    return Err("has a product with an expression; only a param (or its transpose) times a param enters a row system".into());
                };
                group.leaves.push(Leaf {
                    node: id,
                    member,
                    partner: Some(Partner {
                        param,
                        transposed,
                        group_on_right,
                    }),
                });
            }
            op if matches!(spec(op).class, Class::Elementwise) || op == Op::Broadcast => {
                stack.extend(args);
            }
            _ => {
                return Err(format!(
                    "reaches a block's param through `{}`, which sums or moves entries across rows",
                    spec(g.op(id)).name
                ))
            }
        }
    }
    Ok(())
}

fn depends_on_any(g: &Graph, id: NodeId, nodes: &[NodeId]) -> bool {
    g.reachable(&[id]).iter().any(|n| nodes.contains(n))
}

#[cfg(test)]
mod tests;
