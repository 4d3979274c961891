//! Stage 3: symbolic differentiation, in two modes.
//!
//! - **Reverse mode** ([`gradients`]): `∂L/∂param` of the scalar loss for
//!   every param at once, the gradient the optimizers follow.
//! - **Forward mode** ([`forward`]): the elementwise derivative of one
//!   per-entry expression in one of its inputs, the others held fixed; taken
//!   twice it gives the first and second derivatives of a term in its leaves
//!   that the row-block Newton systems are built from ([`crate::blocks`]).
//!
//! In reverse mode the loss is a DAG; its adjoint `∂L/∂n` is built for every
//! node `n` that lies between the loss and a param, walking the nodes from
//! the loss down (ids are a topological order). Each node hands its adjoint
//! to its arguments through its rule in the op table ([`crate::ops`]);
//! contributions from several consumers add up. Both modes build nodes of
//! the same graph, so derivatives are simplified as they are built and share
//! subexpressions with the loss (the residual `D - P@Q`, say, exists once).
//! No numbers are involved and nothing is recorded at run time.

use crate::ir::{Graph, NodeId, Op, Shape};
use crate::ops::{spec, Class};
use std::collections::HashMap;

/// `∂loss/∂param` for each param, in declaration order (`None` when the loss
/// does not depend on it).
pub fn gradients(g: &mut Graph, loss: NodeId, num_params: usize) -> Vec<Option<NodeId>> {
    let reachable = g.reachable(&[loss]);
    // Nodes on a path from some param to the loss: only they need adjoints.
    let mut needs = vec![false; g.len()];
    for &id in &reachable {
        needs[id.index()] =
            matches!(g.op(id), Op::Param(_)) || g.args(id).iter().any(|a| needs[a.index()]);
    }
    let mut adjoint: Vec<Option<NodeId>> = vec![None; g.len()];
    adjoint[loss.index()] = Some(g.constant(1.0, Shape::SCALAR));
    for &id in reachable.iter().rev() {
        let Some(adj) = adjoint[id.index()].filter(|_| needs[id.index()]) else {
            continue;
        };
        let Some(rule) = spec(g.op(id)).adjoint else {
            continue;
        };
        let args = g.args(id).to_vec();
        for (arg, contribution) in args.into_iter().zip(rule(g, id, adj)) {
            let (Some(contribution), true) = (contribution, needs[arg.index()]) else {
                continue;
            };
            adjoint[arg.index()] = Some(match adjoint[arg.index()] {
                Some(previous) => g.apply(Op::Add, &[previous, contribution]),
                None => contribution,
            });
        }
    }
    (0..num_params)
        .map(|p| {
            reachable
                .iter()
                .find(|&&id| g.op(id) == Op::Param(p as u16))
                .and_then(|&id| adjoint[id.index()])
        })
        .collect()
}

/// The elementwise derivative `∂y/∂wrt` of `y`, with the nodes in `leaves`
/// independent scalar variables at each entry (`None`: zero). Forward mode:
/// each elementwise node's local partials come from its adjoint rule in the
/// op table, applied to a copy of the node whose arguments are broadcast to
/// its shape (so no partial is summed over a broadcast axis).
pub fn forward(
    g: &mut Graph,
    y: NodeId,
    wrt: NodeId,
    leaves: &[NodeId],
) -> Result<Option<NodeId>, String> {
    let mut memo: HashMap<NodeId, Option<NodeId>> = HashMap::new();
    forward_memo(g, y, wrt, leaves, &mut memo)
}

fn forward_memo(
    g: &mut Graph,
    y: NodeId,
    wrt: NodeId,
    leaves: &[NodeId],
    memo: &mut HashMap<NodeId, Option<NodeId>>,
) -> Result<Option<NodeId>, String> {
    if y == wrt {
        return Ok(Some(g.constant(1.0, Shape::SCALAR)));
    }
    if leaves.contains(&y) {
        return Ok(None);
    }
    if let Some(&d) = memo.get(&y) {
        return Ok(d);
    }
    if !g.reachable(&[y]).contains(&wrt) {
        memo.insert(y, None);
        return Ok(None);
    }
    let op = g.op(y);
    let args = g.args(y).to_vec();
    let result = match op {
        Op::Broadcast => forward_memo(g, args[0], wrt, leaves, memo)?,
        Op::Sign | Op::Above(_) => {
            return Err(format!(
                "its second derivative is zero except at a kink (`{}`, from `abs`, `max` or `relu`), so a Newton step has no curvature to use: write `huber(x, δ)` for `abs(x)`, or train it with a gradient method",
                spec(op).name
            ))
        }
        _ if spec(op).class == Class::Elementwise => {
            let shape = g.shape(y);
            let wide: Vec<NodeId> = args.iter().map(|&a| g.broadcast_to(a, shape)).collect();
            // A partial is summed over any axis its argument is broadcast
            // along; the arguments that carry `wrt` must have the full shape.
            for (&a, &w) in args.iter().zip(&wide) {
                if g.shape(w) != shape && g.reachable(&[a]).contains(&wrt) {
                    return Err(format!("internal: `{}` is not broadcast", spec(op).name));
                }
            }
            let copy = g.intern(op, wide, shape);
            let one = g.constant(1.0, shape);
            let Some(rule) = spec(op).adjoint else {
                return Err(format!("`{}` has no derivative", spec(op).name));
            };
            let partials = rule(g, copy, one);
            let mut total: Option<NodeId> = None;
            for (&a, partial) in args.iter().zip(partials) {
                let Some(partial) = partial else { continue };
                let Some(da) = forward_memo(g, a, wrt, leaves, memo)? else {
                    continue;
                };
                let term = g.apply(Op::Mul, &[partial, da]);
                total = Some(match total {
                    Some(t) => g.apply(Op::Add, &[t, term]),
                    None => term,
                });
            }
            total
        }
        _ => {
            return Err(format!(
                "`{}` sums or moves entries, so the term is not a function of one entry",
                spec(op).name
            ))
        }
    };
    memo.insert(y, result);
    Ok(result)
}
