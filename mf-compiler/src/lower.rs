//! Stage 5: the IR → an evaluation plan of fused loops and matrix products.
//!
//! The plan decides, for the nodes a computation needs, which are kept in
//! memory (*materialized*: matrix products, operands of products and
//! transposes, partial sums) and which are computed on the fly inside a loop
//! (*inline*: elementwise chains). Elementwise work over the same shape is
//! fused: every store and reduction that is ready at the same time and runs
//! over the same domain shares one loop, so the loss and the adjoint of the
//! residual (both over `users × items`) come out of a single pass. Matrix
//! products go to ndarray's `general_mat_mul`, and gradients are written
//! straight into the optimizer's gradient buffer when nothing else reads them.

use crate::ir::{Graph, NodeId, Op, Shape};
use crate::ops::{spec, Class};
use std::collections::BTreeSet;

/// Where a computed matrix goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// A workspace buffer owned by the bound objective.
    Buffer(NodeId),
    /// The gradient block of param `i`.
    Grad(usize),
}

/// One thing a fused loop does per entry of its domain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoopItem {
    /// `target[i, j] = value(i, j)`.
    Store { value: NodeId, target: Target },
    /// Accumulates `node`'s argument (a `Sum` or `Norm`) over the domain:
    /// into a local for a scalar, into `target` for a partial sum.
    Reduce {
        node: NodeId,
        target: Option<Target>,
    },
    /// `target[i, j] += value(i, j)`, once `onto` has been written into the
    /// target (a penalty added onto a product written straight into a
    /// gradient block).
    Accumulate {
        value: NodeId,
        onto: NodeId,
        target: Target,
    },
    /// A matrix product `node` whose `operand` lives on the (sparse)
    /// domain, or is the transpose of a term that does: each entry's value
    /// of the operand is scattered into the rows or columns of `target`
    /// that the entry's user (or item) indexes.
    Scatter {
        node: NodeId,
        operand: NodeId,
        target: Target,
    },
}

/// The sparse data matrices: the shape of each, and its data index. A loop
/// over such a shape runs over the observed entries only.
pub type SparseDomains = [(Shape, u16)];

/// A term that cannot be lowered, and why.
pub struct LowerError {
    pub node: NodeId,
    pub message: String,
}

/// One step of the plan, in execution order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// `let v = …` for a scalar computed from scalars.
    Scalar(NodeId),
    /// A matrix product into a buffer or a gradient block.
    MatMul { node: NodeId, target: Target },
    /// One pass over `domain`; `inline` are the elementwise nodes computed
    /// per entry, in order.
    Loop {
        domain: Shape,
        inline: Vec<NodeId>,
        items: Vec<LoopItem>,
    },
    /// Gradient block `param` is identically zero.
    ZeroGrad(usize),
}

/// A complete evaluation plan.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    pub steps: Vec<Step>,
    /// Nodes kept in workspace buffers (in id order).
    pub buffers: Vec<NodeId>,
}

/// Whether `id` is computed entry by entry over a sparse domain (never
/// stored: that would be the whole grid).
fn on_sparse_domain(g: &Graph, sparse: &SparseDomains, id: NodeId) -> bool {
    let node = g.node(id);
    sparse.iter().any(|(shape, _)| *shape == node.shape)
        && matches!(spec(node.op).class, Class::Elementwise | Class::MatMul)
}

/// The operand of a matrix product that lives on a sparse domain, if any,
/// possibly transposed (`mask(D).T @ X`).
pub fn sparse_operand(g: &Graph, sparse: &SparseDomains, id: NodeId) -> Option<NodeId> {
    if g.op(id) != Op::MatMul || on_sparse_domain(g, sparse, id) {
        return None;
    }
    g.args(id)
        .iter()
        .copied()
        .find(|&a| has_sparse_shape(g, sparse, untransposed(g, a)))
}

/// Whether `id` has the shape of a sparse data matrix.
fn has_sparse_shape(g: &Graph, sparse: &SparseDomains, id: NodeId) -> bool {
    sparse.iter().any(|(shape, _)| *shape == g.shape(id))
}

/// `x` for `x.T`, else `id` itself.
pub fn untransposed(g: &Graph, id: NodeId) -> NodeId {
    match g.op(id) {
        Op::Transpose => g.args(id)[0],
        _ => id,
    }
}

/// The plan computing `loss` and, when given, each param's gradient.
pub fn plan(
    g: &Graph,
    loss: NodeId,
    grads: &[Option<NodeId>],
    sparse: &SparseDomains,
) -> Result<Plan, LowerError> {
    build(g, &[loss], grads, sparse)
}

/// The plan computing each of `outputs` (non-scalar nodes) into a buffer:
/// the tables of a prediction that reads the data.
pub fn outputs_plan(
    g: &Graph,
    outputs: &[NodeId],
    sparse: &SparseDomains,
) -> Result<Plan, LowerError> {
    build(g, outputs, &[], sparse)
}

/// The plan computing `roots` (a scalar loss, or non-scalar outputs stored
/// in buffers) and each param's gradient in `grads`.
fn build(
    g: &Graph,
    roots: &[NodeId],
    grads: &[Option<NodeId>],
    sparse: &SparseDomains,
) -> Result<Plan, LowerError> {
    let outputs: Vec<NodeId> = roots
        .iter()
        .copied()
        .filter(|&r| !g.shape(r).is_scalar())
        .collect();
    let mut roots = roots.to_vec();
    roots.extend(grads.iter().flatten());
    let reachable = g.reachable(&roots);
    let consumers = consumers(g, &reachable);

    // A gradient nothing else reads is written straight into its block.
    // (When one node is the gradient of two params, both copy it.)
    let direct: BTreeSet<NodeId> = grads
        .iter()
        .flatten()
        .copied()
        .filter(|&grad| {
            let node = g.node(grad);
            !node.shape.is_scalar()
                && matches!(
                    spec(node.op).class,
                    Class::MatMul | Class::Reduction | Class::Elementwise
                )
                && consumers[grad.index()].is_empty()
                && grads.iter().filter(|&&other| other == Some(grad)).count() == 1
        })
        .collect();
    // A gradient `S + E` whose product `S` nothing else reads: `S` is
    // written straight into the block and `E` added onto it, with no
    // buffer for `S`.
    let split: Vec<Option<(NodeId, NodeId)>> = grads
        .iter()
        .map(|grad| {
            let grad = (*grad).filter(|grad| direct.contains(grad) && g.op(*grad) == Op::Add)?;
            let (a, b) = (g.args(grad)[0], g.args(grad)[1]);
            [(a, b), (b, a)].into_iter().find(|&(s, e)| {
                g.op(s) == Op::MatMul
                    && s != e
                    && g.shape(s) == g.shape(grad)
                    && consumers[s.index()] == [grad]
            })
        })
        .collect();
    let mut direct = direct;
    direct.extend(split.iter().flatten().map(|&(s, _)| s));
    let mut materialized = materialized(g, &reachable, &consumers, &direct, sparse);
    materialized.extend(&outputs);

    let mut units = Vec::new();
    for (param, grad) in grads.iter().enumerate() {
        let target = Target::Grad(param);
        if let Some((product, rest)) = split[param] {
            units.push(Unit::new(
                produce(g, sparse, product, target),
                Some(product),
            ));
            let add = LoopItem::Accumulate {
                value: rest,
                onto: product,
                target,
            };
            units.push(Unit::new(loop_step(g, add), None));
            continue;
        }
        let step = match *grad {
            None => Step::ZeroGrad(param),
            Some(grad) if direct.contains(&grad) => produce(g, sparse, grad, target),
            Some(grad) => loop_step(
                g,
                LoopItem::Store {
                    value: grad,
                    target,
                },
            ),
        };
        units.push(Unit::new(step, None));
    }
    let mut buffers = Vec::new();
    for &id in &reachable {
        let node = g.node(id);
        let step = match spec(node.op).class {
            _ if materialized.contains(&id) => produce(g, sparse, id, Target::Buffer(id)),
            Class::Elementwise if node.shape.is_scalar() => Step::Scalar(id),
            Class::Reduction if node.shape.is_scalar() => loop_step(
                g,
                LoopItem::Reduce {
                    node: id,
                    target: None,
                },
            ),
            _ => continue,
        };
        if materialized.contains(&id) {
            buffers.push(id);
        }
        units.push(Unit::new(step, Some(id)));
    }
    let steps = schedule(g, &materialized, units);
    check_sparse_loops(g, sparse, &steps)?;
    Ok(Plan { steps, buffers })
}

/// Every pass over a sparse domain must be zero off the observed entries:
/// its terms must sit under that data's mask.
fn check_sparse_loops(g: &Graph, sparse: &SparseDomains, steps: &[Step]) -> Result<(), LowerError> {
    for step in steps {
        let Step::Loop { domain, items, .. } = step else {
            continue;
        };
        // Sparse data of one shape share one pattern (checked when bound).
        let patterns: Vec<u16> = sparse
            .iter()
            .filter(|(shape, _)| shape == domain)
            .map(|&(_, d)| d)
            .collect();
        if patterns.is_empty() {
            continue;
        }
        for item in items {
            let (root, what) = match *item {
                LoopItem::Store { value, .. } | LoopItem::Accumulate { value, .. } => {
                    (value, "is a full users × items matrix")
                }
                LoopItem::Reduce { node, .. } => (g.args(node)[0], "sums over every cell"),
                LoopItem::Scatter { node, operand, .. } => {
                    let other = g.args(node).iter().copied().find(|&a| a != operand);
                    if other.is_none_or(|o| has_sparse_shape(g, sparse, untransposed(g, o))) {
                        return Err(LowerError {
                            node,
                            message: "a product of two sparse matrices is not lowered over the observed entries: declare the data dense (`[..]` instead of `sparse[..]`)".into(),
                        });
                    }
                    // (A product with a transposed masked term on its right,
                    // which no pass computes, is never built: the
                    // simplifier turns `X @ Sᵀ` into `(S @ Xᵀ)ᵀ`. An
                    // unmasked one is refused below.)
                    (
                        untransposed(g, operand),
                        "multiplies a full users × items matrix",
                    )
                }
            };
            // The data's mask itself (`mask(D) @ Y`) or a term under it.
            let under_mask = |m: NodeId| matches!(g.op(m), Op::Mask(d) if patterns.contains(&d));
            let masked =
                under_mask(root) || (g.op(root) == Op::Masked && under_mask(g.args(root)[0]));
            if !masked || matches!(item, LoopItem::Store { .. } | LoopItem::Accumulate { .. }) {
                return Err(LowerError {
                    node: root,
                    message: format!(
                        "this term {what} of the sparse data's shape, and the sparse lowering runs over observed entries only: put it under the mask (`sum(mask * …)`), or declare the data dense (`[..]` instead of `sparse[..]`) to evaluate the full grid (of full-grid terms only `sum((A@B)^2)` has a shortcut, its Gram form)"
                    ),
                });
            }
        }
    }
    Ok(())
}

/// The step that computes `id` into `target`.
fn produce(g: &Graph, sparse: &SparseDomains, id: NodeId, target: Target) -> Step {
    match spec(g.op(id)).class {
        Class::MatMul => match sparse_operand(g, sparse, id) {
            Some(operand) => loop_step(
                g,
                LoopItem::Scatter {
                    node: id,
                    operand,
                    target,
                },
            ),
            None => Step::MatMul { node: id, target },
        },
        Class::Reduction => loop_step(
            g,
            LoopItem::Reduce {
                node: id,
                target: Some(target),
            },
        ),
        _ => loop_step(g, LoopItem::Store { value: id, target }),
    }
}

/// Consumers of each node, among the reachable ones.
fn consumers(g: &Graph, reachable: &[NodeId]) -> Vec<Vec<NodeId>> {
    let mut consumers = vec![Vec::new(); g.len()];
    for &id in reachable {
        for &a in g.args(id) {
            consumers[a.index()].push(id);
        }
    }
    consumers
}

/// Non-scalar nodes that must be stored rather than computed inside a loop.
fn materialized(
    g: &Graph,
    reachable: &[NodeId],
    consumers: &[Vec<NodeId>],
    direct: &BTreeSet<NodeId>,
    sparse: &SparseDomains,
) -> BTreeSet<NodeId> {
    let mut set = BTreeSet::new();
    for &id in reachable {
        let node = g.node(id);
        if direct.contains(&id) || on_sparse_domain(g, sparse, id) {
            continue;
        }
        // A scalar product is stored too (ndarray writes it into a 1 × 1 array).
        let keep = match spec(node.op).class {
            Class::MatMul => true,
            _ if node.shape.is_scalar() => false,
            Class::Reduction => true,
            Class::Leaf | Class::Structural | Class::Sugar => false,
            Class::Elementwise => consumers[id.index()].iter().any(|&c| {
                let class = spec(g.op(c)).class;
                matches!(class, Class::MatMul | Class::Structural)
                    || (class == Class::Elementwise && g.shape(c) != node.shape)
            }),
        };
        if keep {
            set.insert(id);
        }
    }
    // Matrix-product operands that are neither stored nor leaves (a constant,
    // a mask, a broadcast) are stored too: ndarray needs an array.
    for &id in reachable {
        if g.op(id) != Op::MatMul {
            continue;
        }
        for &operand in g.args(id) {
            let base = if g.op(operand) == Op::Transpose {
                g.args(operand)[0]
            } else {
                operand
            };
            // (A product with an operand of a sparse shape runs over the
            // entries, see `sparse_operand`.)
            if !matches!(g.op(base), Op::Param(_) | Op::Data(_))
                && !on_sparse_domain(g, sparse, base)
                && !has_sparse_shape(g, sparse, base)
            {
                set.insert(base);
            }
        }
    }
    set
}

/// Whether a loop can read `id` at any entry without computing it inline.
pub fn accessible(g: &Graph, materialized: &BTreeSet<NodeId>, id: NodeId) -> bool {
    let node = g.node(id);
    match spec(node.op).class {
        Class::Leaf => true,
        Class::Structural => accessible(g, materialized, node.args[0]),
        _ => node.shape.is_scalar() || materialized.contains(&id),
    }
}

fn loop_step(g: &Graph, item: LoopItem) -> Step {
    let domain = match &item {
        LoopItem::Store { value, .. } => g.shape(*value),
        LoopItem::Reduce { node, .. } => g.shape(g.args(*node)[0]),
        LoopItem::Scatter { operand, .. } => g.shape(untransposed(g, *operand)),
        LoopItem::Accumulate { onto, .. } => g.shape(*onto),
    };
    Step::Loop {
        domain,
        inline: Vec::new(),
        items: vec![item],
    }
}

struct Unit {
    step: Step,
    produces: Option<NodeId>,
}

impl Unit {
    fn new(step: Step, produces: Option<NodeId>) -> Self {
        Unit { step, produces }
    }
}

/// What a step reads: the stored or scalar nodes it needs before it runs.
/// For a loop, `inline` receives the nodes it computes per entry.
fn step_reads(
    g: &Graph,
    materialized: &BTreeSet<NodeId>,
    step: &Step,
    inline: &mut BTreeSet<NodeId>,
) -> BTreeSet<NodeId> {
    let mut stack = Vec::new();
    let mut reads = BTreeSet::new();
    match step {
        Step::Scalar(id) | Step::MatMul { node: id, .. } => {
            return g
                .args(*id)
                .iter()
                .map(|&a| {
                    if g.op(a) == Op::Transpose {
                        g.args(a)[0]
                    } else {
                        a
                    }
                })
                .filter(|&a| spec(g.op(a)).class != Class::Leaf)
                .collect();
        }
        Step::ZeroGrad(_) => return BTreeSet::new(),
        Step::Loop { items, .. } => {
            for item in items {
                match *item {
                    // A node stored by this loop is computed here, not read.
                    LoopItem::Store {
                        value,
                        target: Target::Buffer(b),
                    } if b == value && spec(g.op(value)).class == Class::Elementwise => {
                        inline.insert(value);
                        stack.extend(g.args(value).iter().copied());
                    }
                    LoopItem::Store { value, .. } => stack.push(value),
                    LoopItem::Accumulate { value, onto, .. } => {
                        stack.push(value);
                        reads.insert(onto);
                    }
                    LoopItem::Reduce { node, .. } => stack.push(g.args(node)[0]),
                    LoopItem::Scatter { node, .. } => stack.extend(g.args(node).iter().copied()),
                }
            }
        }
    }
    while let Some(id) = stack.pop() {
        let node = g.node(id);
        match spec(node.op).class {
            Class::Leaf => {}
            Class::Structural => stack.push(node.args[0]),
            _ if accessible(g, materialized, id) => {
                reads.insert(id);
            }
            _ => {
                if inline.insert(id) {
                    stack.extend(node.args.iter().copied());
                }
            }
        }
    }
    reads
}

/// Orders the units so that every value is computed before it is read, and
/// fuses loop items over the same domain that are ready together.
fn schedule(g: &Graph, materialized: &BTreeSet<NodeId>, units: Vec<Unit>) -> Vec<Step> {
    let needs: Vec<BTreeSet<NodeId>> = units
        .iter()
        .map(|u| step_reads(g, materialized, &u.step, &mut BTreeSet::new()))
        .collect();
    let mut done: BTreeSet<NodeId> = BTreeSet::new();
    let mut pending: Vec<usize> = (0..units.len()).collect();
    let mut steps = Vec::new();
    while !pending.is_empty() {
        let ready: Vec<usize> = pending
            .iter()
            .copied()
            .filter(|&u| needs[u].iter().all(|n| done.contains(n)))
            .collect();
        let Some(&first) = ready.first() else {
            // Unreachable for graphs built by the checker; stop rather than spin.
            break;
        };
        let chosen: Vec<usize> = match &units[first].step {
            Step::Loop { domain, .. } => ready
                .iter()
                .copied()
                .filter(|&u| matches!(&units[u].step, Step::Loop { domain: d, .. } if d == domain))
                .collect(),
            _ => vec![first],
        };
        let step = if chosen.len() == 1 && !matches!(units[first].step, Step::Loop { .. }) {
            units[first].step.clone()
        } else {
            fuse(g, materialized, chosen.iter().map(|&u| &units[u].step))
        };
        steps.push(step);
        for u in &chosen {
            done.extend(units[*u].produces);
        }
        pending.retain(|u| !chosen.contains(u));
    }
    steps
}

/// One loop doing the items of several single-item loops over one domain.
fn fuse<'a>(
    g: &Graph,
    materialized: &BTreeSet<NodeId>,
    loops: impl Iterator<Item = &'a Step>,
) -> Step {
    let mut domain = Shape::SCALAR;
    let mut items = Vec::new();
    for step in loops {
        if let Step::Loop {
            domain: d,
            items: i,
            ..
        } = step
        {
            domain = *d;
            items.extend(i.iter().cloned());
        }
    }
    let mut inline = BTreeSet::new();
    let fused = Step::Loop {
        domain,
        inline: Vec::new(),
        items,
    };
    step_reads(g, materialized, &fused, &mut inline);
    let Step::Loop { items, .. } = fused else {
        return fused;
    };
    Step::Loop {
        domain,
        inline: inline.into_iter().collect(),
        items,
    }
}
