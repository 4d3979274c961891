//! Readable math for `explain()`: the loss, each derived gradient, how the
//! generated code evaluates them, and the row-block systems.

use crate::blocks::{Axis, Blocks, Group};
use crate::check::Symbols;
use crate::ir::{Dim, Graph, NodeId, Op, Shape};
use crate::lower::{LoopItem, Plan, Step, Target};

/// Binding strength of a printed form; parentheses are added where a weaker
/// form sits inside a stronger one.
const SUM: u8 = 1;
const PRODUCT: u8 = 2;
const PREFIX: u8 = 3;
const POWER: u8 = 4;
const ATOM: u8 = 5;

/// Prints IR nodes as math.
pub struct Printer<'a> {
    graph: &'a Graph,
    symbols: &'a Symbols,
    /// Per node: whether a mask is among its inputs (ids are topological,
    /// so one forward sweep fills it).
    reads_mask: Vec<bool>,
}

impl<'a> Printer<'a> {
    /// A printer for the nodes of `graph`.
    pub fn new(graph: &'a Graph, symbols: &'a Symbols) -> Self {
        let mut reads_mask = vec![false; graph.len()];
        for index in 0..graph.len() {
            let node = graph.node(crate::ir::NodeId(index as u32));
            reads_mask[index] =
                matches!(node.op, Op::Mask(_)) || node.args.iter().any(|a| reads_mask[a.index()]);
        }
        Printer {
            graph,
            symbols,
            reads_mask,
        }
    }

    /// The node as math, e.g. `-2 (mask ∘ (D - P Q)) Qᵀ`.
    pub fn math(&self, id: NodeId) -> String {
        self.form(id).1
    }

    fn wrapped(&self, id: NodeId, at_least: u8) -> String {
        let (strength, text) = self.form(id);
        if strength < at_least {
            format!("({text})")
        } else {
            text
        }
    }

    fn form(&self, id: NodeId) -> (u8, String) {
        match self.graph.op(id) {
            Op::Mul | Op::Neg | Op::Masked | Op::MatMul => {
                let (scale, rest, strength) = self.scale(id);
                let rest_wrapped = if strength < PRODUCT {
                    format!("({rest})")
                } else {
                    rest.clone()
                };
                match scale {
                    1.0 => (strength, rest),
                    -1.0 => (PREFIX, format!("-{rest_wrapped}")),
                    _ => (PRODUCT, format!("{} {rest_wrapped}", number(scale))),
                }
            }
            _ => self.form_unscaled(id),
        }
    }

    fn form_unscaled(&self, id: NodeId) -> (u8, String) {
        let g = self.graph;
        let args = g.args(id);
        match g.op(id) {
            Op::Const(c) => {
                let text = number(c.get());
                (if c.get() < 0.0 { PREFIX } else { ATOM }, text)
            }
            Op::Param(i) => (ATOM, self.symbols.params[i as usize].name.to_string()),
            Op::Data(i) => (ATOM, self.symbols.data[i as usize].name.to_string()),
            Op::Hyper(i) => (ATOM, self.symbols.hypers[i as usize].name.to_string()),
            Op::Mask(i) => (ATOM, self.mask_name(i)),
            Op::Count(shape) => (ATOM, self.count(shape)),
            Op::Add => {
                // Data terms (under a mask) first, then penalties; `a + -b` reads `a - b`.
                let (a, b) = if self.under_mask(args[1]) && !self.under_mask(args[0]) {
                    (args[1], args[0])
                } else {
                    (args[0], args[1])
                };
                let right = self.wrapped(b, PRODUCT);
                let text = match right.strip_prefix('-') {
                    Some(rest) => format!("{} - {rest}", self.wrapped(a, SUM)),
                    None => format!("{} + {right}", self.wrapped(a, SUM)),
                };
                (SUM, text)
            }
            Op::Sub => (
                SUM,
                format!(
                    "{} - {}",
                    self.wrapped(args[0], SUM),
                    self.wrapped(args[1], PRODUCT)
                ),
            ),
            Op::Mul => {
                let scalar = g.shape(args[0]).is_scalar() || g.shape(args[1]).is_scalar();
                let (a, b) = if g.shape(args[1]).is_scalar() && !g.shape(args[0]).is_scalar()
                    || g.const_value(args[1]).is_some()
                {
                    (args[1], args[0])
                } else {
                    (args[0], args[1])
                };
                if scalar && matches!(g.op(a), Op::Div | Op::DivOrZero) {
                    // (s / y) x, which the simplifier builds from s x / y, reads
                    // as written: `beta P / ‖P‖`.
                    let (s, y) = (g.args(a)[0], g.args(a)[1]);
                    let numerator = match g.const_value(s) {
                        Some(1.0) => self.wrapped(b, PRODUCT),
                        _ => format!("{} {}", self.wrapped(s, PRODUCT), self.wrapped(b, PRODUCT)),
                    };
                    (
                        PRODUCT,
                        format!("{numerator} / {}", self.wrapped(y, PREFIX)),
                    )
                } else if scalar {
                    (
                        PRODUCT,
                        format!("{} {}", self.wrapped(a, PRODUCT), self.wrapped(b, PRODUCT)),
                    )
                } else {
                    (
                        PRODUCT,
                        format!("{} ∘ {}", self.wrapped(a, PRODUCT), self.wrapped(b, PREFIX)),
                    )
                }
            }
            Op::Masked => (
                PRODUCT,
                format!(
                    "{} ∘ {}",
                    self.wrapped(args[0], PRODUCT),
                    self.wrapped(args[1], PREFIX)
                ),
            ),
            Op::MatMul => (
                PRODUCT,
                format!(
                    "{} {}",
                    self.wrapped(args[0], PREFIX),
                    self.wrapped(args[1], PREFIX)
                ),
            ),
            Op::Div | Op::DivOrZero => (
                PRODUCT,
                format!(
                    "{} / {}",
                    self.wrapped(args[0], PRODUCT),
                    self.wrapped(args[1], PREFIX)
                ),
            ),
            Op::Neg => (PREFIX, format!("-{}", self.wrapped(args[0], PREFIX))),
            Op::Pow(p) => (
                POWER,
                format!("{}{}", self.wrapped(args[0], ATOM), exponent(p.get())),
            ),
            Op::Transpose => (ATOM, format!("{}ᵀ", self.wrapped(args[0], ATOM))),
            Op::Broadcast => self.form(args[0]),
            Op::Abs => (ATOM, format!("|{}|", self.math(args[0]))),
            Op::Norm => (ATOM, format!("‖{}‖", self.math(args[0]))),
            Op::Sqrt => (ATOM, format!("√{}", self.wrapped(args[0], ATOM))),
            Op::Exp => (ATOM, format!("exp({})", self.math(args[0]))),
            Op::Log => (ATOM, format!("log({})", self.math(args[0]))),
            Op::Sign => (ATOM, format!("sign({})", self.math(args[0]))),
            Op::Log1p => (ATOM, format!("log1p({})", self.math(args[0]))),
            Op::Sigmoid => (ATOM, format!("σ({})", self.math(args[0]))),
            Op::Softplus => (ATOM, format!("softplus({})", self.math(args[0]))),
            Op::Tanh => (ATOM, format!("tanh({})", self.math(args[0]))),
            Op::Max(c) => (
                ATOM,
                format!("max({}, {})", self.math(args[0]), number(c.get())),
            ),
            Op::Above(c) => (
                ATOM,
                format!("[{} > {}]", self.math(args[0]), number(c.get())),
            ),
            Op::Huber(d) => (
                ATOM,
                format!("huber({}, {})", self.math(args[0]), number(d.get())),
            ),
            Op::Clamp(d) => (
                ATOM,
                format!("clamp({}, ±{})", self.math(args[0]), number(d.get())),
            ),
            Op::RowCount(d) => (
                ATOM,
                format!("count_rows({})", self.symbols.data[d as usize].name),
            ),
            Op::ColCount(d) => (
                ATOM,
                format!("count_cols({})", self.symbols.data[d as usize].name),
            ),
            Op::Sum => {
                let from = g.shape(args[0]);
                let to = g.shape(id);
                let over = match (to.rows == from.rows, to.cols == from.cols) {
                    (true, false) => format!("over {}", self.symbols.dim_text(from.cols)),
                    (false, true) => format!("over {}", self.symbols.dim_text(from.rows)),
                    _ => String::new(),
                };
                let sigma = if over.is_empty() {
                    "Σ".to_string()
                } else {
                    format!("Σ[{over}]")
                };
                (ATOM, format!("{sigma}({})", self.math(args[0])))
            }
        }
    }

    /// A product read as `c · rest`: the constant factor pulled out of
    /// products, negations, masks and matrix products, and the rest printed.
    fn scale(&self, id: NodeId) -> (f64, String, u8) {
        let g = self.graph;
        let args = g.args(id);
        match g.op(id) {
            Op::Neg => {
                let (c, rest, strength) = self.scale(args[0]);
                (-c, rest, strength)
            }
            Op::Mul if g.const_value(args[0]).is_some() && g.shape(args[0]).is_scalar() => {
                let (c, rest, strength) = self.scale(args[1]);
                (c * g.const_value(args[0]).unwrap_or(1.0), rest, strength)
            }
            Op::Masked => {
                let (c, rest, strength) = self.scale(args[1]);
                let rest = if strength < PREFIX {
                    format!("({rest})")
                } else {
                    rest
                };
                (
                    c,
                    format!("{} ∘ {rest}", self.wrapped(args[0], PRODUCT)),
                    PRODUCT,
                )
            }
            Op::MatMul => {
                let (ca, a, sa) = self.scale(args[0]);
                let (cb, b, sb) = self.scale(args[1]);
                let wrap = |text: String, strength: u8| {
                    if strength < PREFIX {
                        format!("({text})")
                    } else {
                        text
                    }
                };
                (ca * cb, format!("{} {}", wrap(a, sa), wrap(b, sb)), PRODUCT)
            }
            _ => {
                let (strength, text) = self.form_unscaled(id);
                (1.0, text, strength)
            }
        }
    }

    fn under_mask(&self, id: NodeId) -> bool {
        self.reads_mask[id.index()]
    }

    fn mask_name(&self, data: u16) -> String {
        if self.symbols.data.len() == 1 {
            "mask".into()
        } else {
            format!("mask({})", self.symbols.data[data as usize].name)
        }
    }

    fn count(&self, shape: Shape) -> String {
        let dims: Vec<String> = [shape.rows, shape.cols]
            .into_iter()
            .filter(|d| *d != Dim::One)
            .map(|d| self.symbols.dim_text(d))
            .collect();
        match dims.len() {
            0 => "1".into(),
            1 => dims[0].clone(),
            _ => format!("({})", dims.join("·")),
        }
    }

    /// One line per step of a plan.
    pub fn plan(&self, plan: &Plan) -> Vec<String> {
        plan.steps
            .iter()
            .filter_map(|step| self.step(step))
            .collect()
    }

    fn target(&self, target: Target) -> String {
        match target {
            Target::Buffer(_) => "a buffer".into(),
            Target::Grad(p) => format!("∂L/∂{}", self.symbols.params[p].name),
        }
    }

    fn step(&self, step: &Step) -> Option<String> {
        Some(match step {
            Step::Scalar(_) => return None,
            Step::ZeroGrad(p) => format!("∂L/∂{} = 0", self.symbols.params[*p].name),
            Step::MatMul { node, target } => format!(
                "matrix product {} → {}",
                self.math(*node),
                self.target(*target)
            ),
            Step::Loop { domain, items, .. } => {
                let what: Vec<String> = items
                    .iter()
                    .map(|item| match item {
                        LoopItem::Store { value, target } => {
                            format!("{} → {}", self.math(*value), self.target(*target))
                        }
                        LoopItem::Reduce { node, target } => match target {
                            Some(t) => format!("{} → {}", self.math(*node), self.target(*t)),
                            None => self.math(*node),
                        },
                        LoopItem::Accumulate { value, target, .. } => {
                            format!("+ {} → {}", self.math(*value), self.target(*target))
                        }
                        LoopItem::Scatter { node, target, .. } => {
                            format!("{} → {}", self.math(*node), self.target(*target))
                        }
                    })
                    .collect();
                let sparse = self
                    .symbols
                    .data
                    .iter()
                    .find(|d| d.sparse && d.shape == *domain);
                match sparse {
                    Some(d) => format!(
                        "one pass over the observed entries of {} (never the full {} grid): {}",
                        d.name,
                        self.symbols.shape_text(*domain),
                        what.join("; ")
                    ),
                    None => format!(
                        "one dense pass over {}: {}",
                        self.symbols.shape_text(*domain),
                        what.join("; ")
                    ),
                }
            }
        })
    }
}

fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

fn exponent(p: f64) -> String {
    match p {
        2.0 => "²".into(),
        3.0 => "³".into(),
        _ => format!("^{}", number(p)),
    }
}

/// The whole `explain()` text.
pub fn explain(
    name: &str,
    printer: &Printer,
    loss: NodeId,
    grads: &[Option<NodeId>],
    plan: &Plan,
    prediction: Option<(NodeId, &[NodeId])>,
) -> String {
    let mut out = format!("{name}\n  L = {}\n", printer.math(loss));
    match prediction {
        Some((p, tables)) => {
            out.push_str(&format!("  prediction at an entry: {}\n", printer.math(p)));
            for t in tables {
                out.push_str(&format!(
                    "    reading the table {} (computed once from the training data)\n",
                    printer.math(*t)
                ));
            }
        }
        None => out.push_str("  prediction: none (add `predict <expression>` to the loss)\n"),
    }
    out.push_str("\ngradients\n");
    for (param, grad) in printer.symbols.params.iter().zip(grads) {
        let text = grad.map_or_else(|| "0".to_string(), |g| printer.math(g));
        out.push_str(&format!("  ∂L/∂{} = {text}\n", param.name));
    }
    out.push_str("\nevaluation of value and gradient, in order\n");
    for (i, line) in printer.plan(plan).iter().enumerate() {
        out.push_str(&format!("  {}. {line}\n", i + 1));
    }
    out
}

/// The row-block systems of the loss (or why it has none) as readable math,
/// the last section of `explain()`.
pub fn row_systems(blocks: &Blocks, printer: &Printer) -> String {
    let symbols = printer.symbols;
    let math = |id: NodeId| printer.math(id);
    let mut out = String::from("\nrow-block systems (Als, fold_in)\n");
    let groups = match blocks {
        Ok(groups) => groups,
        Err(why) => {
            out.push_str(&format!("  none: {why}\n"));
            return out;
        }
    };
    for group in groups {
        let row = match group.axis {
            Axis::DataRows(d) | Axis::DataCols(d) => {
                format!("one row per {}", symbols.dims[d as usize])
            }
            Axis::Global => "one global row".to_string(),
        };
        let members: Vec<String> = group
            .members
            .iter()
            .map(|m| symbols.params[m.param as usize].name.to_string())
            .collect();
        let method = if group.quadratic {
            "quadratic: one solve is the exact block minimum (ALS)"
        } else {
            "not quadratic: damped Newton (Levenberg–Marquardt), never increasing the row's loss"
        };
        out.push_str(&format!("  {} ({row}); {method}\n", members.join(", ")));
        for (j, leaf) in group.leaves.iter().enumerate() {
            let coefficient = match leaf.partner {
                None => "coefficient 1".to_string(),
                Some(p) => {
                    let name = &symbols.params[p.param as usize].name;
                    let t = if p.transposed { "ᵀ" } else { "" };
                    match p.group_on_right {
                        false => format!("coefficients the column of {name}{t} at the entry"),
                        true => format!("coefficients the row of {name}{t} at the entry"),
                    }
                }
            };
            out.push_str(&format!(
                "    ℓ{} = {} ({coefficient})\n",
                j + 1,
                math(leaf.node)
            ));
        }
        for term in &group.entries {
            out.push_str(&format!(
                "    over the row's observed entries, e = {}\n",
                math(term.expr)
            ));
            let n = group.leaves.len();
            let mut pair = 0;
            for j in 0..n {
                if let Some(d) = term.d1[j] {
                    out.push_str(&format!("      ∂e/∂ℓ{} = {}\n", j + 1, math(d)));
                }
                for l in j..n {
                    if let Some(d) = term.d2[pair] {
                        out.push_str(&format!("      ∂²e/∂ℓ{}∂ℓ{} = {}\n", j + 1, l + 1, math(d)));
                    }
                    pair += 1;
                }
            }
        }
        for term in &group.coords {
            let d2 = term.d2.map_or_else(|| "0".to_string(), math);
            out.push_str(&format!(
                "    penalty {} (diagonal curvature {d2})\n",
                math(term.expr)
            ));
        }
        for term in &group.norms {
            let x = &symbols.params[group.members[term.member].param as usize].name;
            let c = math(term.coef);
            out.push_str(&format!(
                "    {c} ‖{x}‖ majorized around the start X₀ of the group step: {c} (‖{x}‖² / (2‖X₀‖) + ‖X₀‖ / 2)\n"
            ));
        }
        for term in &group.grams {
            let x = &symbols.params[group.members[term.member].param as usize].name;
            let y = &symbols.params[term.partner as usize].name;
            let gram = if term.partner_rows {
                format!("{y} {y}ᵀ")
            } else {
                format!("{y}ᵀ {y}")
            };
            out.push_str(&format!(
                "    {} xᵀ ({gram}) x for each row x of {x} (the same matrix for every row)\n",
                math(term.coef)
            ));
        }
        out.push_str(&system_line(group, printer));
    }
    out
}

/// The Newton system of a row, `H δ = −∇`: in one line with one
/// coefficient vector `a` when the entry term has one first and one second
/// derivative for all its leaves (`e = f(D − P Q − bu − …)`), else by
/// leaves.
fn system_line(group: &Group, printer: &Printer) -> String {
    let symbols = printer.symbols;
    let single = |ds: &[Option<NodeId>]| {
        let first = ds.first().copied().flatten()?;
        ds.iter().all(|d| *d == Some(first)).then_some(first)
    };
    let one_leaf_each = group
        .members
        .iter()
        .enumerate()
        .all(|(m, _)| group.leaves.iter().filter(|l| l.member == m).count() == 1);
    let compact = match &group.entries[..] {
        [term] if one_leaf_each => single(&term.d1).zip(single(&term.d2)),
        _ => None,
    };
    let Some((d1, d2)) = compact else {
        return "    system: (Σ over entries of Σⱼₗ ∂²e/∂ℓⱼ∂ℓₗ aⱼaₗᵀ + the penalties' curvature) δ = −(Σ over entries of Σⱼ ∂e/∂ℓⱼ aⱼ + the penalties' gradient)\n".to_string();
    };
    let parts: Vec<String> = (0..group.members.len())
        .filter_map(|m| group.leaves.iter().find(|l| l.member == m))
        .map(|leaf| match leaf.partner {
            None => "1".to_string(),
            Some(p) => {
                let name = &symbols.params[p.param as usize].name;
                match (p.group_on_right, p.transposed) {
                    (false, false) => format!("{name}[:, i]"),
                    (false, true) => format!("{name}[i, :]"),
                    (true, false) => format!("{name}[u, :]"),
                    (true, true) => format!("{name}[:, u]"),
                }
            }
        })
        .collect();
    format!(
        "    system, with a = [{}] at entry (u, i): (Σ {} a aᵀ + the penalties' curvature) δ = −Σ ({}) a − the penalties' gradient\n",
        parts.join(", "),
        printer.math(d2),
        printer.math(d1)
    )
}
