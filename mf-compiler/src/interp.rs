//! A reference interpreter for the IR (test-only): the value of any node as
//! a dense matrix, given values for the params, data (with their observation
//! masks), hyper-settings and dimension sizes.
//!
//! Elementwise operations are computed by the op table's `eval`, so the
//! interpreter checks the table rather than a copy of it; the structural
//! operations, the matrix product, the sums, the norm, the counts and the
//! broadcasts follow their definitions in [`crate::ir::Op`]. Every node's
//! symbolic shape is checked against its arguments' on the way: a shape
//! inconsistency is an error, not a silently broadcast value.

use crate::ir::{Dim, Graph, NodeId, Op, Shape};
use crate::ops::{self, spec, Class};

/// A dense row-major matrix.
#[derive(Clone, Debug, PartialEq)]
pub struct Mat {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<f64>,
}

impl Mat {
    pub fn filled(rows: usize, cols: usize, value: f64) -> Self {
        Mat {
            rows,
            cols,
            data: vec![value; rows * cols],
        }
    }

    pub fn scalar(value: f64) -> Self {
        Mat::filled(1, 1, value)
    }

    pub fn from_fn(rows: usize, cols: usize, mut f: impl FnMut(usize, usize) -> f64) -> Self {
        let mut data = Vec::with_capacity(rows * cols);
        for i in 0..rows {
            for j in 0..cols {
                data.push(f(i, j));
            }
        }
        Mat { rows, cols, data }
    }

    pub fn at(&self, i: usize, j: usize) -> f64 {
        self.data[i * self.cols + j]
    }

    /// Entry `(i, j)` of this matrix repeated along its axes of length 1.
    pub fn at_broadcast(&self, i: usize, j: usize) -> f64 {
        let i = if self.rows == 1 { 0 } else { i };
        let j = if self.cols == 1 { 0 } else { j };
        self.at(i, j)
    }

    pub fn transposed(&self) -> Self {
        Mat::from_fn(self.cols, self.rows, |i, j| self.at(j, i))
    }

    pub fn matmul(&self, other: &Mat) -> Result<Mat, String> {
        if self.cols != other.rows {
            return Err(format!(
                "matmul of {}x{} by {}x{}",
                self.rows, self.cols, other.rows, other.cols
            ));
        }
        Ok(Mat::from_fn(self.rows, other.cols, |i, j| {
            (0..self.cols).map(|k| self.at(i, k) * other.at(k, j)).sum()
        }))
    }

    /// The sum of the entries down to `rows × cols`, each of which is either
    /// this matrix's size along the axis or 1.
    pub fn sum_to(&self, rows: usize, cols: usize) -> Result<Mat, String> {
        if (rows != self.rows && rows != 1) || (cols != self.cols && cols != 1) {
            return Err(format!(
                "sum of {}x{} down to {rows}x{cols}",
                self.rows, self.cols
            ));
        }
        let mut out = Mat::filled(rows, cols, 0.0);
        for i in 0..self.rows {
            for j in 0..self.cols {
                let (r, c) = (i.min(rows - 1), j.min(cols - 1));
                out.data[r * cols + c] += self.at(i, j);
            }
        }
        Ok(out)
    }

    /// The matrix repeated to `rows × cols` along its axes of length 1.
    pub fn broadcast_to(&self, rows: usize, cols: usize) -> Result<Mat, String> {
        if (self.rows != rows && self.rows != 1) || (self.cols != cols && self.cols != 1) {
            return Err(format!(
                "broadcast of {}x{} to {rows}x{cols}",
                self.rows, self.cols
            ));
        }
        Ok(Mat::from_fn(rows, cols, |i, j| self.at_broadcast(i, j)))
    }
}

/// Values of every leaf of a loss.
#[derive(Clone, Debug)]
pub struct Env {
    /// Size of each dimension symbol.
    pub dims: Vec<usize>,
    pub params: Vec<Mat>,
    /// Data values (any value, NaN included, where the mask is 0).
    pub data: Vec<Mat>,
    /// 1 where the data matrix of the same index is observed, 0 elsewhere.
    pub masks: Vec<Mat>,
    pub hypers: Vec<f64>,
}

impl Env {
    pub fn size(&self, dim: Dim) -> Result<usize, String> {
        match dim {
            Dim::One => Ok(1),
            Dim::Sym(d) => self
                .dims
                .get(d as usize)
                .copied()
                .ok_or_else(|| format!("no size for dimension {d}")),
        }
    }

    pub fn sizes(&self, shape: Shape) -> Result<(usize, usize), String> {
        Ok((self.size(shape.rows)?, self.size(shape.cols)?))
    }
}

/// Where the evaluated function is not smooth, for finite differences.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kink {
    /// The argument of `abs` or `sign`: smooth while it keeps its sign.
    Sign(f64),
    /// A norm or square root, or a `div_or_zero` denominator: smooth away
    /// from 0, with a curvature that grows like its inverse.
    Pole(f64),
}

/// Evaluates `roots` (and every node they depend on). `kinks` receives, in
/// a deterministic order, the values at which the evaluated nodes are not
/// smooth.
pub fn eval(
    g: &Graph,
    env: &Env,
    roots: &[NodeId],
    kinks: &mut Vec<Kink>,
) -> Result<Vec<Mat>, String> {
    let mut values: Vec<Option<Mat>> = vec![None; g.len()];
    for id in g.reachable(roots) {
        let value = node(g, env, id, &values, kinks)
            .map_err(|e| format!("node {} ({:?}): {e}", id.0, g.op(id)))?;
        values[id.index()] = Some(value);
    }
    roots
        .iter()
        .map(|r| {
            values[r.index()]
                .clone()
                .ok_or_else(|| "root not evaluated".to_string())
        })
        .collect()
}

fn leaf(mats: &[Mat], i: u16, what: &str) -> Result<Mat, String> {
    mats.get(i as usize)
        .cloned()
        .ok_or_else(|| format!("no value for {what} {i}"))
}

fn node(
    g: &Graph,
    env: &Env,
    id: NodeId,
    values: &[Option<Mat>],
    kinks: &mut Vec<Kink>,
) -> Result<Mat, String> {
    let n = g.node(id);
    let (rows, cols) = env.sizes(n.shape)?;
    let args: Vec<&Mat> = n
        .args
        .iter()
        .map(|a| {
            values[a.index()]
                .as_ref()
                .ok_or_else(|| format!("argument {} not evaluated first", a.0))
        })
        .collect::<Result<_, _>>()?;
    let arg_shapes: Vec<Shape> = n.args.iter().map(|&a| g.shape(a)).collect();
    let s = spec(n.op);
    if args.len() != ops::ir_arity(n.op) {
        return Err(format!(
            "{} arguments, expected {}",
            args.len(),
            ops::ir_arity(n.op)
        ));
    }
    // Where the op table determines the shape, the node must have it.
    let table_shape = matches!(
        s.class,
        Class::Elementwise | Class::MatMul | Class::Structural
    ) || n.op == Op::Norm;
    if table_shape && n.op != Op::Broadcast {
        let expected = ops::result_shape(n.op, &arg_shapes)?;
        if expected != n.shape {
            return Err(format!("shape {:?}, expected {expected:?}", n.shape));
        }
    }
    let value = match n.op {
        Op::Const(c) => Mat::filled(rows, cols, c.get()),
        Op::Param(i) => leaf(&env.params, i, "param")?,
        Op::Data(i) => leaf(&env.data, i, "data")?,
        Op::Mask(i) => leaf(&env.masks, i, "mask")?,
        Op::RowCount(i) => leaf(&env.masks, i, "mask")?.sum_to(rows, 1)?,
        Op::ColCount(i) => leaf(&env.masks, i, "mask")?.sum_to(1, cols)?,
        Op::Hyper(i) => Mat::scalar(
            env.hypers
                .get(i as usize)
                .copied()
                .ok_or_else(|| format!("no value for hyper {i}"))?,
        ),
        Op::Count(counted) => {
            let (r, c) = env.sizes(counted)?;
            Mat::filled(rows, cols, (r * c) as f64)
        }
        Op::Transpose => args[0].transposed(),
        Op::MatMul => args[0].matmul(args[1])?,
        Op::Broadcast => {
            let from = arg_shapes[0];
            let fits = |a: Dim, b: Dim| a == b || a == Dim::One;
            if !fits(from.rows, n.shape.rows) || !fits(from.cols, n.shape.cols) {
                return Err(format!("broadcast of {from:?} to {:?}", n.shape));
            }
            args[0].broadcast_to(rows, cols)?
        }
        Op::Sum => {
            let from = arg_shapes[0];
            let fits = |a: Dim, b: Dim| a == b || a == Dim::One;
            if !fits(n.shape.rows, from.rows) || !fits(n.shape.cols, from.cols) {
                return Err(format!("sum of {from:?} to {:?}", n.shape));
            }
            args[0].sum_to(rows, cols)?
        }
        Op::Norm => {
            let norm = args[0].data.iter().map(|x| x * x).sum::<f64>().sqrt();
            kinks.push(Kink::Pole(norm));
            Mat::scalar(norm)
        }
        op => {
            let eval = s
                .eval
                .ok_or_else(|| format!("{op:?} has no eval in the op table"))?;
            match op {
                Op::Abs | Op::Sign => kinks.extend(args[0].data.iter().map(|&x| Kink::Sign(x))),
                Op::Max(c) | Op::Above(c) => {
                    kinks.extend(args[0].data.iter().map(|&x| Kink::Sign(x - c.get())))
                }
                Op::Huber(d) | Op::Clamp(d) => {
                    kinks.extend(args[0].data.iter().map(|&x| Kink::Sign(x.abs() - d.get())))
                }
                Op::DivOrZero => kinks.extend(args[1].data.iter().map(|&x| Kink::Pole(x))),
                _ => {}
            }
            let mut entries = Vec::with_capacity(args.len());
            let out = Mat::from_fn(rows, cols, |i, j| {
                entries.clear();
                entries.extend(args.iter().map(|a| a.at_broadcast(i, j)));
                eval(op, &entries)
            });
            if op == Op::Sqrt {
                kinks.extend(out.data.iter().map(|&x| Kink::Pole(x)));
            }
            out
        }
    };
    if (value.rows, value.cols) != (rows, cols) {
        return Err(format!(
            "value is {}x{}, shape {:?} is {rows}x{cols}",
            value.rows, value.cols, n.shape
        ));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Number;

    fn env() -> Env {
        Env {
            dims: vec![2, 3],
            params: vec![Mat::from_fn(2, 3, |i, j| (i * 3 + j) as f64)],
            data: vec![Mat::from_fn(2, 3, |i, j| {
                if (i + j) % 2 == 0 {
                    1.0
                } else {
                    f64::NAN
                }
            })],
            masks: vec![Mat::from_fn(2, 3, |i, j| ((i + j) % 2 == 0) as u8 as f64)],
            hypers: vec![0.5],
        }
    }

    #[test]
    fn evaluates_structure_reductions_and_masks() {
        let mut g = Graph::default();
        let shape = Shape::new(Dim::Sym(0), Dim::Sym(1));
        let p = g.intern(Op::Param(0), Vec::new(), shape);
        let d = g.intern(Op::Data(0), Vec::new(), shape);
        let m = g.intern(Op::Mask(0), Vec::new(), shape);
        let masked = g.apply(Op::Mul, &[m, d]);
        assert_eq!(g.op(masked), Op::Masked);
        let total = g.apply(Op::Sum, &[masked]);
        let pt = g.apply(Op::Transpose, &[p]);
        let gram = g.apply(Op::MatMul, &[p, pt]);
        let rows = g.sum_to(p, Shape::new(Dim::Sym(0), Dim::One));
        let norm = g.apply(Op::Norm, &[p]);
        let sq = g.apply(Op::Pow(Number::new(2.0)), &[p]);
        let mut kinks = Vec::new();
        let v = eval(&g, &env(), &[total, gram, rows, norm, sq], &mut kinks).expect("evaluates");
        assert_eq!(v[0], Mat::scalar(3.0), "missing cells are never read");
        assert_eq!(v[1].data, vec![5.0, 14.0, 14.0, 50.0]);
        assert_eq!(v[2].data, vec![3.0, 12.0]);
        assert_eq!(v[3], Mat::scalar(55f64.sqrt()));
        assert_eq!(v[4].data, vec![0.0, 1.0, 4.0, 9.0, 16.0, 25.0]);
        assert_eq!(kinks, vec![Kink::Pole(55f64.sqrt())]);
    }

    #[test]
    fn shape_inconsistencies_are_errors() {
        let mut g = Graph::default();
        let p = g.intern(
            Op::Param(0),
            Vec::new(),
            Shape::new(Dim::Sym(0), Dim::Sym(1)),
        );
        let wrong = g.intern(Op::Transpose, vec![p], Shape::new(Dim::Sym(0), Dim::Sym(1)));
        let bad_sum = g.intern(Op::Sum, vec![p], Shape::new(Dim::Sym(1), Dim::One));
        for root in [wrong, bad_sum] {
            assert!(eval(&g, &env(), &[root], &mut Vec::new()).is_err());
        }
    }
}
