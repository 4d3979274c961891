//! Stage 3: symbolic reverse-mode differentiation.
//!
//! The loss is a DAG; its adjoint `∂L/∂n` is built for every node `n` that
//! lies between the loss and a param, walking the nodes from the loss down
//! (ids are a topological order). Each node hands its adjoint to its
//! arguments through its rule in the op table ([`crate::ops`]); contributions
//! from several consumers add up. The adjoints are nodes of the same graph,
//! so they are simplified as they are built and share subexpressions with
//! the loss (the residual `D - P@Q`, say, exists once). No numbers are
//! involved and nothing is recorded at run time.

use crate::ir::{Graph, NodeId, Op, Shape};
use crate::ops::spec;

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
