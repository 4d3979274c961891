//! Checking one generated loss: the syntax tree evaluated directly
//! against the simplified IR, symbolic gradients against finite
//! differences, and NaN in missing cells kept out.

use crate::interp::{self, Kink, Mat};
use crate::ir::{Number, Op};
use crate::ops::spec;
use crate::parse::{BinOp, Expr, LossDef};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use super::generate::*;

/// SplitMix64: values from the case's seed, without a `rand` dependency.
pub(super) struct Values(u64);

impl Values {
    pub(super) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[-1, 1)`.
    pub(super) fn uniform(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    }

    pub(super) fn mat(&mut self, (rows, cols): (usize, usize)) -> Mat {
        Mat::from_fn(rows, cols, |_, _| self.uniform())
    }
}

/// The syntax tree's value, straight from the definitions (no IR, no
/// simplification). Symbols are looked up by name in the checked symbols.
pub(super) struct AstEval<'a> {
    pub(super) symbols: &'a crate::check::Symbols,
    pub(super) env: &'a interp::Env,
}

impl AstEval<'_> {
    pub(super) fn elementwise(&self, op: Op, args: &[Mat]) -> Result<Mat, String> {
        let eval = spec(op).eval.ok_or("not elementwise")?;
        let rows = args.iter().map(|a| a.rows).max().unwrap_or(1);
        let cols = args.iter().map(|a| a.cols).max().unwrap_or(1);
        if args
            .iter()
            .any(|a| (a.rows != rows && a.rows != 1) || (a.cols != cols && a.cols != 1))
        {
            return Err("operands do not broadcast".into());
        }
        let mut entries = Vec::new();
        Ok(Mat::from_fn(rows, cols, |i, j| {
            entries.clear();
            entries.extend(args.iter().map(|a| a.at_broadcast(i, j)));
            eval(op, &entries)
        }))
    }

    pub(super) fn data_index(&self, name: &str) -> Result<usize, String> {
        self.symbols
            .data
            .iter()
            .position(|d| d.name == name)
            .ok_or_else(|| format!("no data `{name}`"))
    }

    pub(super) fn eval(&self, e: &Expr) -> Result<Mat, String> {
        let s = self.symbols;
        Ok(match e {
            Expr::Number { value, .. } => Mat::scalar(*value),
            Expr::Symbol(ident) => {
                let name = ident.to_string();
                if let Some(i) = s.params.iter().position(|p| p.name == name) {
                    self.env.params[i].clone()
                } else if let Some(i) = s.data.iter().position(|d| d.name == name) {
                    self.env.data[i].clone()
                } else if let Some(i) = s.hypers.iter().position(|h| h.name == name) {
                    Mat::scalar(self.env.hypers[i])
                } else if name == "mask" && s.data.len() == 1 {
                    self.env.masks[0].clone()
                } else {
                    return Err(format!("unknown symbol `{name}`"));
                }
            }
            Expr::Call { func, args, .. } => {
                let name = func.to_string();
                if let [arg, constant] = args.as_slice() {
                    let c = match self.eval(constant)? {
                        m if (m.rows, m.cols) == (1, 1) => Number::new(m.data[0]),
                        _ => return Err("non-scalar constant".into()),
                    };
                    let x = self.eval(arg)?;
                    return match name.as_str() {
                        "max" => self.elementwise(Op::Max(c), &[x]),
                        "huber" => self.elementwise(Op::Huber(c), &[x]),
                        _ => Err(format!("`{name}` with 2 arguments")),
                    };
                }
                let [arg] = args.as_slice() else {
                    return Err(format!("`{name}` with {} arguments", args.len()));
                };
                if let ("mask" | "count_rows" | "count_cols", Expr::Symbol(d)) =
                    (name.as_str(), arg)
                {
                    let mask = &self.env.masks[self.data_index(&d.to_string())?];
                    return match name.as_str() {
                        "count_rows" => mask.sum_to(mask.rows, 1),
                        "count_cols" => mask.sum_to(1, mask.cols),
                        _ => Ok(mask.clone()),
                    };
                }
                let x = self.eval(arg)?;
                match name.as_str() {
                    "sum" => x.sum_to(1, 1)?,
                    "mean" => Mat::scalar(x.data.iter().sum::<f64>() / x.data.len() as f64),
                    "norm" => Mat::scalar(x.data.iter().map(|v| v * v).sum::<f64>().sqrt()),
                    "abs" => self.elementwise(Op::Abs, &[x])?,
                    "sqrt" => self.elementwise(Op::Sqrt, &[x])?,
                    "exp" => self.elementwise(Op::Exp, &[x])?,
                    "log" => self.elementwise(Op::Log, &[x])?,
                    "log1p" => self.elementwise(Op::Log1p, &[x])?,
                    "sigmoid" => self.elementwise(Op::Sigmoid, &[x])?,
                    "softplus" => self.elementwise(Op::Softplus, &[x])?,
                    "tanh" => self.elementwise(Op::Tanh, &[x])?,
                    "relu" => self.elementwise(Op::Max(Number::new(0.0)), &[x])?,
                    _ => return Err(format!("unknown function `{name}`")),
                }
            }
            Expr::Neg { operand, .. } => self.elementwise(Op::Neg, &[self.eval(operand)?])?,
            Expr::Transpose { operand, .. } => self.eval(operand)?.transposed(),
            Expr::Binary { op, lhs, rhs, .. } => {
                let (x, y) = (self.eval(lhs)?, self.eval(rhs)?);
                match op {
                    BinOp::Add => self.elementwise(Op::Add, &[x, y])?,
                    BinOp::Sub => self.elementwise(Op::Sub, &[x, y])?,
                    BinOp::Mul => self.elementwise(Op::Mul, &[x, y])?,
                    BinOp::Div => self.elementwise(Op::Div, &[x, y])?,
                    BinOp::MatMul => x.matmul(&y)?,
                    BinOp::Pow => {
                        if (y.rows, y.cols) != (1, 1) {
                            return Err("non-scalar exponent".into());
                        }
                        self.elementwise(Op::Pow(Number::new(y.data[0])), &[x])?
                    }
                }
            }
        })
    }
}

/// `|a - b|` within `rel` of their size, or within `abs`.
pub(super) fn close(a: f64, b: f64, rel: f64, abs: f64) -> bool {
    a == b || (a - b).abs() <= rel * a.abs().max(b.abs()) + abs
}

/// Fourth-order central difference step (and half of it).
pub(super) const H: f64 = 1e-3;
/// A norm, square root or `div_or_zero` denominator below this (and not
/// identically 0) makes the loss too curved for the stencil.
pub(super) const POLE_MARGIN: f64 = 0.1;

/// Whether the loss is smooth across a stencil: every kink argument keeps
/// its sign, and every pole stays away from 0 (or is 0 at every point: a
/// structural zero, where the zero subgradient is what central differences
/// of an even function give).
pub(super) fn smooth(stencil: &[Vec<Kink>]) -> bool {
    let base = &stencil[0];
    stencil.iter().all(|k| k.len() == base.len())
        && (0..base.len()).all(|i| {
            let at = |k: &Vec<Kink>| match k[i] {
                Kink::Sign(v) | Kink::Pole(v) => v,
            };
            let values: Vec<f64> = stencil.iter().map(at).collect();
            match base[i] {
                Kink::Sign(_) => {
                    values.iter().all(|v| *v > 0.0)
                        || values.iter().all(|v| *v < 0.0)
                        || values.iter().all(|v| *v == 0.0)
                }
                Kink::Pole(_) => {
                    values.iter().all(|v| v.abs() >= POLE_MARGIN)
                        || values.iter().all(|v| *v == 0.0)
                }
            }
        })
}

/// What one case exercised.
#[derive(Default)]
pub(super) struct Outcome {
    /// The IR operations of the loss and its gradients.
    pub(super) ops: Vec<&'static str>,
    /// Gradient entries compared with finite differences, and skipped
    /// because the stencil crossed a kink.
    pub(super) checked: usize,
    pub(super) skipped: usize,
}

pub(super) fn run(case: &Case) -> Result<Outcome, TestCaseError> {
    check_source(
        &case.loss.source(),
        case.loss.all_data_guarded(),
        case.sizes,
        case.seed,
    )
}

/// Checks one loss (its `loss!` input): `guarded` when every data read is
/// `mask(D) * D`; `sizes` of the dimensions a, b, c; `seed` of the values.
pub(super) fn check_source(
    source: &str,
    guarded: bool,
    sizes: [usize; 3],
    seed: u64,
) -> Result<Outcome, TestCaseError> {
    let mut outcome = Outcome::default();
    let tokens: proc_macro2::TokenStream = source
        .parse()
        .map_err(|e| TestCaseError::fail(format!("{source}: does not tokenize: {e}")))?;
    let def: LossDef = syn::parse2(tokens)
        .map_err(|e| TestCaseError::fail(format!("{source}: does not parse: {e}")))?;
    let checked = match crate::check::check(&def) {
        Ok(checked) => checked,
        // The simplifier may cancel a param out (`p - p`): a correct
        // rejection, and nothing left to test.
        Err(e) if e.to_string().contains("does not depend on param") => {
            return Err(TestCaseError::reject("a param cancels out"))
        }
        Err(e) => return Err(TestCaseError::fail(format!("{source}: rejected: {e}"))),
    };
    let crate::check::Checked {
        symbols,
        mut graph,
        loss,
        ..
    } = checked;

    // Values: params and finite data in [-1, 1], hypers in ±[0.5, 1.5],
    // about 70% of the cells observed.
    let mut values = Values(seed);
    let sizes = |dims: &[String]| -> Vec<usize> {
        dims.iter()
            .map(|d| match d.as_str() {
                "a" => sizes[0],
                "b" => sizes[1],
                _ => sizes[2],
            })
            .collect()
    };
    let mut env = interp::Env {
        dims: sizes(&symbols.dims),
        params: Vec::new(),
        data: Vec::new(),
        masks: Vec::new(),
        hypers: Vec::new(),
    };
    let size = |env: &interp::Env, shape| env.sizes(shape).map_err(TestCaseError::fail);
    for p in &symbols.params {
        let value = values.mat(size(&env, p.shape)?);
        env.params.push(value);
    }
    for d in &symbols.data {
        let sz = size(&env, d.shape)?;
        let value = values.mat(sz);
        let mask = Mat::from_fn(sz.0, sz.1, |_, _| f64::from(values.uniform() < 0.4));
        env.data.push(value);
        env.masks.push(mask);
    }
    for _ in &symbols.hypers {
        let v = values.uniform();
        env.hypers.push(v.signum() * (1.0 + v.abs() / 2.0 - 0.25));
    }

    // (a) simplified IR == syntax tree.
    let expected = AstEval {
        symbols: &symbols,
        env: &env,
    }
    .eval(&def.body)
    .map_err(|e| TestCaseError::fail(format!("{source}: syntax tree: {e}")))?;
    let expected = expected.data[0];
    prop_assume!(
        expected.is_finite() && expected.abs() < 1e12,
        "out of the smooth domain"
    );
    let mut kinks = Vec::new();
    let eval = |env: &interp::Env, roots: &[crate::ir::NodeId], kinks: &mut Vec<Kink>| {
        interp::eval(&graph, env, roots, kinks)
            .map_err(|e| TestCaseError::fail(format!("{source}: interpreter: {e}")))
    };
    let value = eval(&env, &[loss], &mut kinks)?[0].data[0];
    prop_assert!(
        close(value, expected, 1e-9, 1e-9),
        "{source}: simplified value {value}, unsimplified {expected}"
    );

    // (b) symbolic gradients == finite differences.
    let grads = crate::diff::gradients(&mut graph, loss, symbols.params.len());
    prop_assert!(
        graph.internal_errors.is_empty(),
        "{source}: {:?}",
        graph.internal_errors
    );
    let eval = |env: &interp::Env, roots: &[crate::ir::NodeId], kinks: &mut Vec<Kink>| {
        interp::eval(&graph, env, roots, kinks)
            .map_err(|e| TestCaseError::fail(format!("{source}: interpreter: {e}")))
    };
    let mut roots = vec![loss];
    for (p, grad) in grads.iter().enumerate() {
        let grad = grad.ok_or_else(|| {
            TestCaseError::fail(format!("{source}: no gradient for a used param {p}"))
        })?;
        prop_assert_eq!(
            graph.shape(grad),
            symbols.params[p].shape,
            "{}: gradient shape",
            source
        );
        roots.push(grad);
    }
    if std::env::var_os("MF_DUMP").is_some() {
        for id in graph.reachable(&roots) {
            let n = graph.node(id);
            eprintln!("{:>4} {:?} {:?} {:?}", id.0, n.op, n.args, n.shape);
        }
        eprintln!("roots {roots:?}");
    }

    let computed = eval(&env, &roots, &mut Vec::new())?;
    for (p, grad) in computed[1..].iter().enumerate() {
        for (j, &symbolic) in grad.data.iter().enumerate() {
            // The fourth-order stencil at steps h and h/2: their difference
            // estimates the truncation error, and their Richardson
            // combination is accurate to O(h⁶).
            let mut stencil = vec![kinks.clone()];
            let mut fd = [0.0; 2];
            for (estimate, h) in fd.iter_mut().zip([H, H / 2.0]) {
                let mut f = [0.0; 4];
                for (slot, step) in [-2.0, -1.0, 1.0, 2.0].into_iter().enumerate() {
                    let mut moved = env.clone();
                    moved.params[p].data[j] += step * h;
                    let mut k = Vec::new();
                    f[slot] = eval(&moved, &[loss], &mut k)?[0].data[0];
                    stencil.push(k);
                }
                *estimate = (f[0] - 8.0 * f[1] + 8.0 * f[2] - f[3]) / (12.0 * h);
            }
            // Rounding in f, amplified by 1/h, is the absolute floor.
            let floor = 1e-9 * value.abs().max(1.0);
            // A stencil across a kink, or a function too curved at the scale
            // of h for the stencil to converge, says nothing.
            if !smooth(&stencil) || !close(fd[0], fd[1], 1e-4, floor) {
                outcome.skipped += 1;
                continue;
            }
            outcome.checked += 1;
            let fd = fd[1] + (fd[1] - fd[0]) / 15.0;
            prop_assert!(
                close(symbolic, fd, 1e-6, floor),
                "{source}: d/d{}[{j}]: symbolic {symbolic}, finite differences {fd}",
                symbols.params[p].name
            );
        }
    }

    // (c) guarded data: NaN in the missing cells never leaks.
    if guarded && !symbols.data.is_empty() {
        let mut holes = env.clone();
        for (d, m) in holes.data.iter_mut().zip(&env.masks) {
            for (x, &o) in d.data.iter_mut().zip(&m.data) {
                if o == 0.0 {
                    *x = f64::NAN;
                }
            }
        }
        let with_holes = eval(&holes, &roots, &mut Vec::new())?;
        for (a, b) in with_holes.iter().zip(&computed) {
            prop_assert!(
                a.data.iter().zip(&b.data).all(|(x, y)| x == y),
                "{source}: a missing cell leaks: {:?} vs {:?}",
                a.data,
                b.data
            );
        }
    }
    for id in graph.reachable(&roots) {
        outcome.ops.push(spec(graph.op(id)).name);
    }
    Ok(outcome)
}
