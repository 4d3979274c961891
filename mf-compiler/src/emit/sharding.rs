//! Which values of an evaluation are partial on one rank of a training over
//! shards, and which steps combine them.
//!
//! Over shards, each rank holds a block of the rows of the sparse data (the
//! *sharded* dimension, `users`), renumbered from 0, and its rows of every
//! value shaped along that dimension. A value's shape says what a rank
//! holds of it:
//!
//! - a value shaped along the sharded dimension (`P`, `∂P`, `2λP`,
//!   `count_rows(D)`, `P@Q`) is *local*: the rank's rows, complete;
//! - a value that a step computes by eliminating that dimension from a
//!   local one (`sum(P^2)`, `norm(P)`, `sum(bu)`, `P.T @ P`, a `mean` over
//!   users, the sums and item-side outputs of a pass over the entries) is
//!   *partial*: the step's result must be summed across ranks before
//!   anything reads it;
//! - everything else is computed from whole values and is the same on
//!   every rank (`norm(Q)`, `2λQ`, the loss's value from its summed terms).
//!
//! So a step produces partial results exactly when it runs over (or
//! contracts) the sharded dimension and its result does not carry it; the
//! emitter sums them right after the step. A value shaped along the
//! sharded dimension twice (`P @ P.T`, users × users) would mix the rows of
//! different ranks: such a loss is refused over shards.

use super::entries::item_node;
use crate::check::Symbols;
use crate::ir::{Dim, Graph, NodeId, Op, Shape};
use crate::lower::{Plan, Step};

/// The sharded dimension of a loss, if it reads sparse data, and its name.
#[derive(Clone)]
pub(super) struct Sharding {
    dim: Option<Dim>,
    name: String,
}

impl Sharding {
    /// The row dimension of the loss's sparse data (the loss refuses
    /// sparse data with different row dimensions over shards).
    pub(super) fn new(s: &Symbols) -> Sharding {
        let dim = s.data.iter().find(|d| d.sparse).map(|d| d.shape.rows);
        let name = match dim {
            Some(Dim::Sym(d)) => s.dims[d as usize].clone(),
            _ => String::new(),
        };
        Sharding { dim, name }
    }

    /// The sharded dimension's name (`users`), for messages.
    pub(super) fn name(&self) -> &str {
        &self.name
    }

    /// Whether `dim` is the sharded dimension.
    pub(super) fn is_sharded(&self, dim: Dim) -> bool {
        dim != Dim::One && Some(dim) == self.dim
    }

    /// Whether a value of `shape` is local (shaped along the sharded
    /// dimension).
    pub(super) fn carries(&self, shape: Shape) -> bool {
        self.is_sharded(shape.rows) || self.is_sharded(shape.cols)
    }

    /// Whether matrix product `node` contracts the sharded dimension
    /// (`P.T @ X`): its result is partial.
    pub(super) fn contracts(&self, g: &Graph, node: NodeId) -> bool {
        self.is_sharded(g.shape(g.args(node)[0]).cols)
    }

    /// Whether a reduction over `domain` into a value of `shape` leaves a
    /// partial result (it sums over the sharded dimension).
    pub(super) fn reduces(&self, domain: Shape, shape: Shape) -> bool {
        self.carries(domain) && !self.carries(shape)
    }

    /// Why the plans cannot be evaluated over shards, if they cannot: the
    /// first value they compute that is shaped along the sharded dimension
    /// twice.
    pub(super) fn refusal(&self, g: &Graph, plans: &[&Plan]) -> Option<String> {
        let twice = |id: &NodeId| {
            let shape = g.shape(*id);
            self.is_sharded(shape.rows) && self.is_sharded(shape.cols)
        };
        let computed = plans.iter().flat_map(|plan| {
            plan.steps.iter().flat_map(|step| match step {
                Step::Scalar(id) | Step::MatMul { node: id, .. } => vec![*id],
                Step::Loop { inline, items, .. } => inline
                    .iter()
                    .copied()
                    .chain(items.iter().map(item_node))
                    .collect(),
                Step::ZeroGrad(_) => Vec::new(),
            })
        });
        let found = computed.into_iter().find(twice)?;
        let n = &self.name;
        Some(format!(
            "{} is a {n} × {n} matrix, which mixes the rows of different ranks (each holds a block of the {n})",
            describe(g, found)
        ))
    }
}

/// What a node is, for a message.
fn describe(g: &Graph, id: NodeId) -> String {
    match g.op(id) {
        Op::MatMul => "a matrix product of the loss (such as `P @ P.T`)".into(),
        op => format!("a term of the loss (`{op:?}`)"),
    }
}
