//! The intermediate representation every later stage works on: a
//! hash-consed DAG of matrix operations with symbolic shapes.
//!
//! Nodes are interned: building the same operation on the same arguments
//! twice gives the same [`NodeId`], so shared subexpressions (in the loss and
//! across its gradients) exist once and are computed once. Every node is
//! built through [`Graph::apply`], which first offers it to the algebraic
//! rewrites of [`crate::simplify`]; node ids are therefore a topological
//! order (arguments always have smaller ids).

use std::collections::HashMap;

/// Index of a dimension symbol (`users`, `k`, …) in the loss's symbol table.
pub type DimId = u16;

/// One dimension of a shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dim {
    /// Size 1: broadcast along this axis.
    One,
    /// A symbol bound at run time.
    Sym(DimId),
}

/// The symbolic shape of a node: every value is a matrix; a scalar is `1 × 1`,
/// a column vector `n × 1`, a row vector `1 × n`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Shape {
    pub rows: Dim,
    pub cols: Dim,
}

impl Shape {
    pub const SCALAR: Shape = Shape {
        rows: Dim::One,
        cols: Dim::One,
    };

    pub fn new(rows: Dim, cols: Dim) -> Self {
        Shape { rows, cols }
    }

    pub fn is_scalar(self) -> bool {
        self == Shape::SCALAR
    }

    pub fn transposed(self) -> Self {
        Shape::new(self.cols, self.rows)
    }

    /// The numpy broadcast of two shapes, if they are compatible.
    pub fn broadcast(self, other: Shape) -> Option<Shape> {
        Some(Shape::new(
            broadcast_dim(self.rows, other.rows)?,
            broadcast_dim(self.cols, other.cols)?,
        ))
    }
}

fn broadcast_dim(a: Dim, b: Dim) -> Option<Dim> {
    match (a, b) {
        (Dim::One, d) | (d, Dim::One) => Some(d),
        (Dim::Sym(x), Dim::Sym(y)) if x == y => Some(a),
        _ => None,
    }
}

/// A node's id; ids grow in topological order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub u32);

impl NodeId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// An `f64` usable as a hash key (compared by bits; `-0.0` is kept as `0.0`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Number(u64);

impl Number {
    pub fn new(value: f64) -> Self {
        Number(if value == 0.0 { 0 } else { value.to_bits() })
    }

    pub fn get(self) -> f64 {
        f64::from_bits(self.0)
    }
}

/// The operations of the IR. Leaves carry an index into the loss's
/// declarations; everything else is described in [`crate::ops`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// A constant filling the node's shape.
    Const(Number),
    /// A parameter (index among the params).
    Param(u16),
    /// A data matrix's values (index among the data).
    Data(u16),
    /// A hyper-setting (index among the hypers).
    Hyper(u16),
    /// The number of entries of a shape, known at run time (for `mean`).
    Count(Shape),
    /// 1 where data matrix `i` is observed, 0 elsewhere.
    Mask(u16),
    /// The number of observed entries in each row of data matrix `i` (a column vector).
    RowCount(u16),
    /// The number of observed entries in each column of data matrix `i` (a row vector).
    ColCount(u16),
    Add,
    Sub,
    Mul,
    Div,
    /// `a / b`, and 0 where `b == 0` (the subgradient choice of `norm` and `sqrt` at 0).
    DivOrZero,
    Neg,
    Pow(Number),
    Abs,
    Sign,
    Sqrt,
    Exp,
    Log,
    Log1p,
    Sigmoid,
    Softplus,
    Tanh,
    /// `max(x, c)` for a constant `c`.
    Max(Number),
    /// 1 where `x > c`, 0 elsewhere (the derivative of `max`).
    Above(Number),
    /// The Huber function with threshold `δ`.
    Huber(Number),
    /// `x` clamped to `[-δ, δ]` (the derivative of `huber`)
    Clamp(Number),
    /// `Masked(m, x)`: `x` where the mask `m` is 1, exactly 0 elsewhere (`x`
    /// is not used there: a NaN in a missing cell stays out).
    Masked,
    /// The argument repeated to the node's (larger) shape.
    Broadcast,
    Transpose,
    MatMul,
    /// Sum down to the node's shape (a scalar, or a row or column vector).
    Sum,
    /// Frobenius norm, `sqrt(sum(x^2))`.
    Norm,
}

/// One node of the DAG.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Node {
    pub op: Op,
    pub args: Vec<NodeId>,
    pub shape: Shape,
}

/// The DAG. See the module docs.
#[derive(Default)]
pub struct Graph {
    nodes: Vec<Node>,
    interned: HashMap<Node, NodeId>,
    /// Shape inconsistencies met while building (a compiler bug, reported as
    /// an error instead of a panic).
    pub internal_errors: Vec<String>,
}

impl Graph {
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id.index()]
    }

    pub fn op(&self, id: NodeId) -> Op {
        self.nodes[id.index()].op
    }

    pub fn shape(&self, id: NodeId) -> Shape {
        self.nodes[id.index()].shape
    }

    pub fn args(&self, id: NodeId) -> &[NodeId] {
        &self.nodes[id.index()].args
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// The node as it is, without rewriting: only [`crate::simplify`] calls this.
    pub fn intern(&mut self, op: Op, args: Vec<NodeId>, shape: Shape) -> NodeId {
        let node = Node { op, args, shape };
        if let Some(&id) = self.interned.get(&node) {
            return id;
        }
        let id = NodeId(self.nodes.len() as u32);
        self.nodes.push(node.clone());
        self.interned.insert(node, id);
        id
    }

    /// Builds `op(args)`: the result shape comes from the op table, then the
    /// simplifier may rewrite the node into an equal, simpler one.
    pub fn apply(&mut self, op: Op, args: &[NodeId]) -> NodeId {
        let shapes: Vec<Shape> = args.iter().map(|&a| self.shape(a)).collect();
        let shape = match crate::ops::result_shape(op, &shapes) {
            Ok(shape) => shape,
            Err(message) => {
                self.internal_errors
                    .push(format!("{op:?} on {shapes:?}: {message}"));
                shapes.first().copied().unwrap_or(Shape::SCALAR)
            }
        };
        crate::simplify::build(self, op, args.to_vec(), shape)
    }

    /// A constant of the given shape.
    pub fn constant(&mut self, value: f64, shape: Shape) -> NodeId {
        self.intern(Op::Const(Number::new(value)), Vec::new(), shape)
    }

    /// The value of a constant node.
    pub fn const_value(&self, id: NodeId) -> Option<f64> {
        match self.op(id) {
            Op::Const(n) => Some(n.get()),
            _ => None,
        }
    }

    /// `value` broadcast to `shape` (a no-op when the shapes already agree).
    pub fn broadcast_to(&mut self, value: NodeId, shape: Shape) -> NodeId {
        if self.shape(value) == shape {
            value
        } else {
            self.intern_broadcast(value, shape)
        }
    }

    /// `value` summed down to `shape` (the adjoint of a broadcast).
    pub fn sum_to(&mut self, value: NodeId, shape: Shape) -> NodeId {
        if self.shape(value) == shape {
            value
        } else {
            crate::simplify::build(self, Op::Sum, vec![value], shape)
        }
    }

    fn intern_broadcast(&mut self, value: NodeId, shape: Shape) -> NodeId {
        crate::simplify::build(self, Op::Broadcast, vec![value], shape)
    }

    /// Every node `root` depends on (itself included), in increasing id order.
    pub fn reachable(&self, roots: &[NodeId]) -> Vec<NodeId> {
        let mut seen = vec![false; self.len()];
        let mut stack: Vec<NodeId> = roots.to_vec();
        while let Some(id) = stack.pop() {
            if !std::mem::replace(&mut seen[id.index()], true) {
                stack.extend(self.args(id).iter().copied());
            }
        }
        (0..self.len() as u32)
            .map(NodeId)
            .filter(|id| seen[id.index()])
            .collect()
    }
}
