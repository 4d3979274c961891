//! The tables of a prediction that reads the data: the largest parts of it
//! that read data and are smaller than the data's grid (`mask(D) @ Y /
//! sqrt(count_rows(D))` in SVD++, one row per user), computed once from
//! the training data and then read at each entry.

use crate::check::Symbols;
use crate::ir::{Dim, Graph, NodeId, Op};
use crate::lower::{self, Plan, SparseDomains};

/// A prediction the emitter can compute: its node, the dims of its rows
/// and columns, its tables and the plan that computes them.
pub struct Prediction {
    pub node: NodeId,
    pub rows: Dim,
    pub cols: Dim,
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
    let domain = s
        .data
        .iter()
        .map(|d| d.shape)
        .find(|&d| shape.broadcast(d) == Some(d))
        .unwrap_or(shape);
    let tables = find(g, node, domain.rows, domain.cols).map_err(|(_, why)| why.to_string())?;
    if !tables.is_empty() && s.data.len() != 1 {
        return Err("a prediction that reads the data is computed from the training data, so the loss must have exactly one data matrix".into());
    }
    let plan = lower::outputs_plan(g, &tables, sparse).map_err(|e| e.message)?;
    Ok(Prediction {
        node,
        rows: domain.rows,
        cols: domain.cols,
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
