//! The tables of a prediction that reads the data: the largest parts of it
//! that read data and are smaller than the data's grid (`mask(D) @ Y /
//! sqrt(count_rows(D))` in SVD++, one row per user), computed once from
//! the training data and then read at each entry.

use crate::check::Symbols;
use crate::ir::{Dim, Graph, NodeId, Op};
use crate::lower::{self, Plan, SparseDomains};

/// A prediction the emitter can compute: its node, the dims of its rows
/// and columns, the data matrix it predicts (the ratings), its tables and
/// the plan that computes them.
pub struct Prediction {
    pub node: NodeId,
    pub rows: Dim,
    pub cols: Dim,
    /// The index of the data matrix of the prediction's shape, if any.
    pub ratings: Option<usize>,
    pub tables: Vec<NodeId>,
    /// Each table as math (filled by the caller, who has the printer).
    pub names: Vec<String>,
    pub plan: Plan,
}

/// The prediction `node` with its tables, or why it cannot be computed.
pub fn prediction(
    g: &Graph,
    s: &Symbols,
    node: NodeId,
    sparse: &SparseDomains,
) -> Result<Prediction, String> {
    // The data matrix the prediction has the shape of (checked).
    let shape = g.shape(node);
    let ratings = s
        .data
        .iter()
        .position(|d| shape.broadcast(d.shape) == Some(d.shape));
    let domain = ratings.map_or(shape, |r| s.data[r].shape);
    let tables = find(g, node, domain.rows, domain.cols).map_err(|(_, why)| why.to_string())?;
    if !tables.is_empty() {
        // Tables are computed from the training ratings and dense side data.
        let Some(r) = ratings else {
            return Err("a prediction that reads data must have the shape of a data matrix (the ratings it predicts)".into());
        };
        let other_sparse = s.data.iter().enumerate().find(|&(d, x)| d != r && x.sparse);
        if let Some((_, x)) = other_sparse {
            return Err(format!(
                "a prediction that reads data is computed from the training ratings `{}` and dense side data, but `{}` is sparse too",
                s.data[r].name, x.name
            ));
        }
    }
    let plan = lower::outputs_plan(g, &tables, sparse).map_err(|e| e.message)?;
    Ok(Prediction {
        node,
        rows: domain.rows,
        cols: domain.cols,
        ratings,
        tables,
        names: Vec::new(),
        plan,
    })
}

/// Whether `id` reads a data matrix (its values, its mask or its counts).
pub fn reads_data(g: &Graph, id: NodeId) -> bool {
    g.reachable(&[id]).iter().any(|&n| {
        matches!(
            g.op(n),
            Op::Data(_) | Op::Mask(_) | Op::RowCount(_) | Op::ColCount(_)
        )
    })
}

/// The tables of `prediction`, whose domain is `rows × cols`: each largest
/// subexpression that reads data and does not span both the rows and the
/// columns, in the order first met; `Err` names a node no table can hold,
/// and why.
pub fn find(
    g: &Graph,
    prediction: NodeId,
    rows: Dim,
    cols: Dim,
) -> Result<Vec<NodeId>, (NodeId, &'static str)> {
    let mut tables = Vec::new();
    let mut stack = vec![prediction];
    while let Some(id) = stack.pop() {
        if !reads_data(g, id) || tables.contains(&id) {
            continue;
        }
        let shape = g.shape(id);
        let spans_grid =
            shape.rows == rows && shape.cols == cols && rows != Dim::One && cols != Dim::One;
        if !spans_grid {
            if shape.is_scalar() {
                return Err((id, "a prediction may not read a scalar computed from the data: make it a param with a start value (e.g. `param mu: [] = mean(D)`)"));
            }
            tables.push(id);
            continue;
        }
        match g.op(id) {
            Op::Data(_) | Op::Mask(_) => {
                return Err((
                    id,
                    "a prediction may not read the data at the entry it predicts",
                ))
            }
            _ => stack.extend(g.args(id).iter().rev()),
        }
    }
    Ok(tables)
}
