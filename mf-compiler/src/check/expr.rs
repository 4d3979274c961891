//! Checking expressions: symbols, calls, operators and the prediction,
//! each built into the graph or reported at its tokens.

use super::*;

impl Checker<'_> {
    fn error(&mut self, range: SpanRange, message: impl std::fmt::Display) -> Option<NodeId> {
        self.errors.push(range.error(message));
        None
    }

    fn shape_text(&self, id: NodeId) -> String {
        self.symbols.shape_text(self.graph.shape(id))
    }

    /// The node of `e`, remembering where in the source it first came from.
    pub(super) fn expr(&mut self, e: &Expr) -> Option<NodeId> {
        let id = self.expr_node(e)?;
        self.origins.entry(id).or_insert(e.range());
        Some(id)
    }

    fn expr_node(&mut self, e: &Expr) -> Option<NodeId> {
        match e {
            Expr::Number { value, .. } => Some(self.graph.constant(*value, Shape::SCALAR)),
            Expr::Symbol(ident) => self.symbol(ident),
            Expr::Call { func, args, range } => self.call(func, args, *range),
            Expr::Neg { operand, .. } => {
                let x = self.expr(operand)?;
                Some(self.graph.apply(Op::Neg, &[x]))
            }
            Expr::Transpose { operand, .. } => {
                let x = self.expr(operand)?;
                Some(self.graph.apply(Op::Transpose, &[x]))
            }
            Expr::Binary {
                op,
                op_span,
                lhs,
                rhs,
            } => self.binary(*op, *op_span, lhs, rhs),
        }
    }

    fn symbol(&mut self, ident: &Ident) -> Option<NodeId> {
        let name = ident.to_string();
        let s = self.symbols;
        let g = &mut self.graph;
        if let Some(i) = s.params.iter().position(|p| p.name == name) {
            return Some(g.intern(Op::Param(i as u16), Vec::new(), s.params[i].shape));
        }
        if let Some(i) = s.data.iter().position(|d| d.name == name) {
            return Some(g.intern(Op::Data(i as u16), Vec::new(), s.data[i].shape));
        }
        if let Some(i) = s.hypers.iter().position(|h| h.name == name) {
            return Some(g.intern(Op::Hyper(i as u16), Vec::new(), Shape::SCALAR));
        }
        let range = SpanRange::single(ident.span());
        if name == "mask" {
            return match s.data.len() {
                1 => Some(self.mask_of(0)),
                0 => self.error(range, "`mask` is the observation pattern of a data matrix, and no data is declared: declare `data D: [users, items]`"),
                _ => self.error(range, format!(
                    "`mask` is ambiguous with {} data matrices: write `mask(D)` with the one you mean",
                    s.data.len()
                )),
            };
        }
        if ops::function(&name).is_some() {
            return self.error(
                range,
                format!("`{name}` is a function: call it, e.g. `{name}(x)`"),
            );
        }
        if s.dims.contains(&name) {
            return self.error(
                range,
                format!("`{name}` is a dimension, not a value: dimensions are sizes bound at run time; to average, write `mean(…)`"),
            );
        }
        let mut declared: Vec<String> = s
            .params
            .iter()
            .chain(&s.data)
            .map(|p| p.name.to_string())
            .chain(s.hypers.iter().map(|h| h.name.to_string()))
            .collect();
        if !s.data.is_empty() {
            declared.push("mask".into());
        }
        let message = match suggestion(&name, declared.iter().map(String::as_str)) {
            Some(near) => format!("unknown symbol `{name}`: did you mean `{near}`?"),
            None => format!(
                "unknown symbol `{name}`: declare it in the header, e.g. `param {name}: [rows, cols]`, `data {name}: [rows, cols]` or `hyper {name}: f64 = 0.1`"
            ),
        };
        self.error(range, message)
    }

    /// The prediction node: the explicit `predict` clause (checked: the
    /// shape of a data matrix), or the model inferred from the loss's
    /// residual, when it has that shape. Whether the parts that read data
    /// can be tabled is decided later (`tables`).
    pub(super) fn prediction(&mut self, def: &LossDef) -> Option<NodeId> {
        let s = self.symbols;
        let data_shapes: Vec<Shape> = s.data.iter().map(|d| d.shape).collect();
        if let Some(expr) = &def.predict {
            let node = self.expr(expr)?;
            let shape = self.graph.shape(node);
            if !data_shapes.iter().any(|&d| shape.broadcast(d) == Some(d)) {
                return self.error(
                    expr.range(),
                    format!(
                        "a prediction has the shape of a data matrix (one value per entry), but this is {}",
                        s.shape_text(shape)
                    ),
                );
            }
            return Some(node);
        }
        let is_data =
            |e: &Expr| matches!(e, Expr::Symbol(i) if s.data.iter().any(|d| d.name == *i));
        let terms = find_residual(&def.body, &is_data)?;
        let mut errors = Errors::default();
        std::mem::swap(&mut errors, &mut self.errors);
        let mut model: Option<NodeId> = None;
        for term in terms {
            let node = self.expr(term);
            model = match (model, node) {
                (Some(m), Some(n)) => Some(self.graph.apply(Op::Add, &[m, n])),
                (None, n) => n,
                (Some(_), None) => None,
            };
        }
        // Terms were checked as part of the loss: errors here are repeats.
        std::mem::swap(&mut errors, &mut self.errors);
        let model = model?;
        let shape = self.graph.shape(model);
        let fits = data_shapes.iter().any(|&d| shape.broadcast(d) == Some(d));
        fits.then_some(model)
    }

    /// `huber(x, δ)` or `max(x, c)` whose second argument is a scalar
    /// expression (a hyper-setting, say) rather than a number, written with
    /// the constant-argument forms: `huber(x, δ) = δ² huber(x / δ, 1)` and
    /// `max(x, c) = c + max(x - c, 0)`, exact for every x (and δ > 0).
    fn scalar_threshold(
        &mut self,
        name: &str,
        x: Option<NodeId>,
        threshold: &Expr,
    ) -> Option<NodeId> {
        let t = self.expr(threshold)?;
        if !self.graph.shape(t).is_scalar() {
            let shape = self.shape_text(t);
            return self.error(
                threshold.range(),
                format!(
                    "the second argument of `{name}` must be a scalar (a number or a hyper-setting), found shape {shape}"
                ),
            );
        }
        let x = x?;
        let g = &mut self.graph;
        Some(if name == "huber" {
            let scaled = g.apply(Op::Div, &[x, t]);
            let unit = g.apply(Op::Huber(crate::ir::Number::new(1.0)), &[scaled]);
            let square = g.apply(Op::Mul, &[t, t]);
            g.apply(Op::Mul, &[square, unit])
        } else {
            let shifted = g.apply(Op::Sub, &[x, t]);
            let above = g.apply(Op::Max(crate::ir::Number::new(0.0)), &[shifted]);
            g.apply(Op::Add, &[t, above])
        })
    }

    fn mask_of(&mut self, data: usize) -> NodeId {
        let shape = self.symbols.data[data].shape;
        self.graph.intern(Op::Mask(data as u16), Vec::new(), shape)
    }

    fn call(&mut self, func: &Ident, args: &[Expr], range: SpanRange) -> Option<NodeId> {
        let name = func.to_string();
        let Some(spec) = ops::function(&name) else {
            let s = self.symbols;
            let role = if s.params.iter().any(|p| p.name == name) {
                Some("a param")
            } else if s.data.iter().any(|d| d.name == name) {
                Some("data")
            } else if s.hypers.iter().any(|h| h.name == name) {
                Some("a hyper-setting")
            } else {
                None
            };
            let message = match (role, suggestion(&name, ops::function_names().into_iter())) {
                (Some(role), _) => format!(
                    "`{name}` is {role}, not a function: write `{name} * (…)` for an entrywise product or `{name} @ (…)` for a matrix product"
                ),
                (None, Some(near)) => format!("unknown function `{name}`: did you mean `{near}`?"),
                (None, None) => format!(
                    "unknown function `{name}`: the functions are {}",
                    ops::function_names().join(", ")
                ),
            };
            return self.error(SpanRange::single(func.span()), message);
        };
        if matches!(name.as_str(), "mask" | "count_rows" | "count_cols") {
            return self.data_call(&name, args, range);
        }
        if let ([arg, threshold], 2) = (args, spec.arity) {
            let x = self.expr(arg);
            let Some(c) = constant_value(threshold) else {
                return self.scalar_threshold(&name, x, threshold);
            };
            if name == "huber" && c <= 0.0 {
                return self.error(threshold.range(), "the Huber threshold must be positive");
            }
            let c = crate::ir::Number::new(c);
            let op = if name == "huber" {
                Op::Huber(c)
            } else {
                Op::Max(c)
            };
            return Some(self.graph.apply(op, &[x?]));
        }
        let ([arg], 1) = (args, spec.arity) else {
            // Extra arguments are underlined; a missing one is reported on
            // the whole call.
            let at = match (args.get(spec.arity), args.last()) {
                (Some(first), Some(last)) => first.range().to(last.range()),
                _ => range,
            };
            return self.error(
                at,
                format!(
                    "`{name}` takes {} argument{}, found {}: write `{}`",
                    spec.arity,
                    if spec.arity == 1 { "" } else { "s" },
                    args.len(),
                    spec.syntax
                ),
            );
        };
        let x = self.expr(arg)?;
        let g = &mut self.graph;
        Some(match (spec.class, name.as_str()) {
            (Class::Sugar, "mean") => {
                let total = g.apply(Op::Sum, &[x]);
                let count = g.intern(Op::Count(g.shape(x)), Vec::new(), Shape::SCALAR);
                g.apply(Op::Div, &[total, count])
            }
            (_, "sum") => g.apply(Op::Sum, &[x]),
            (_, "norm") => g.apply(Op::Norm, &[x]),
            (_, "abs") => g.apply(Op::Abs, &[x]),
            (_, "sqrt") => g.apply(Op::Sqrt, &[x]),
            (_, "exp") => g.apply(Op::Exp, &[x]),
            (_, "log") => g.apply(Op::Log, &[x]),
            (_, "log1p") => g.apply(Op::Log1p, &[x]),
            (_, "sigmoid") => g.apply(Op::Sigmoid, &[x]),
            (_, "softplus") => g.apply(Op::Softplus, &[x]),
            (_, "tanh") => g.apply(Op::Tanh, &[x]),
            (Class::Sugar, "relu") => g.apply(Op::Max(crate::ir::Number::new(0.0)), &[x]),
            _ => {
                return self.error(
                    range,
                    format!("internal compiler error: `{name}` has no builder"),
                )
            }
        })
    }

    /// `mask(D)`, `count_rows(D)`, `count_cols(D)`: functions of a data
    /// matrix's observation pattern.
    fn data_call(&mut self, function: &str, args: &[Expr], range: SpanRange) -> Option<NodeId> {
        let [Expr::Symbol(ident)] = args else {
            let alone = if function == "mask" {
                ", or none (`mask` alone) when one data matrix is declared"
            } else {
                ""
            };
            return self.error(
                range,
                format!("`{function}` takes one data symbol, e.g. `{function}(D)`{alone}"),
            );
        };
        let name = ident.to_string();
        let s = self.symbols;
        if let Some(i) = s.data.iter().position(|d| d.name == name) {
            let shape = s.data[i].shape;
            let d = i as u16;
            return Some(match function {
                "count_rows" => self.graph.intern(
                    Op::RowCount(d),
                    Vec::new(),
                    Shape::new(shape.rows, Dim::One),
                ),
                "count_cols" => self.graph.intern(
                    Op::ColCount(d),
                    Vec::new(),
                    Shape::new(Dim::One, shape.cols),
                ),
                _ => self.mask_of(i),
            });
        }
        let role = if s.params.iter().any(|p| p.name == name) {
            "a param, and only data has an observation pattern"
        } else if s.hypers.iter().any(|h| h.name == name) {
            "a hyper-setting, and only data has an observation pattern"
        } else {
            "not declared"
        };
        let fix = match s.data.as_slice() {
            [] => {
                format!(
                    "declare the data, e.g. `data D: [users, items]`, and write `{function}(D)`"
                )
            }
            [d] => format!("write `{function}({})`", d.name),
            _ => format!("write `{function}(D)` with a data symbol D"),
        };
        self.error(
            SpanRange::single(ident.span()),
            format!("`{name}` is {role}: {fix}"),
        )
    }

    fn binary(&mut self, op: BinOp, op_span: Span, lhs: &Expr, rhs: &Expr) -> Option<NodeId> {
        if op == BinOp::Pow {
            let base = self.expr(lhs);
            let Some(exponent) = constant_value(rhs) else {
                return self.error(
                    rhs.range(),
                    "the exponent must be a constant number such as `2` or `0.5`; for a variable exponent y write `exp(y * log(x))`",
                );
            };
            return Some(
                self.graph
                    .apply(Op::Pow(crate::ir::Number::new(exponent)), &[base?]),
            );
        }
        let (a, b) = (self.expr(lhs), self.expr(rhs));
        let (a, b) = (a?, b?);
        let (sa, sb) = (self.graph.shape(a), self.graph.shape(b));
        let here = SpanRange::single(op_span);
        let ir_op = match op {
            BinOp::Add => Op::Add,
            BinOp::Sub => Op::Sub,
            BinOp::Mul => Op::Mul,
            // `^` returned above; it never reaches this match.
            BinOp::Div | BinOp::Pow => Op::Div,
            BinOp::MatMul => {
                if sa.cols != sb.rows {
                    let (l, r) = (expr_text(lhs), expr_text(rhs));
                    let hint = if sa.is_scalar() || sb.is_scalar() {
                        format!("; to scale, write `{l} * {r}`")
                    } else if sa.rows == sb.rows {
                        format!("; did you mean `{} @ {r}`?", transposed_text(lhs))
                    } else if sa.cols == sb.cols {
                        format!("; did you mean `{l} @ {}`?", transposed_text(rhs))
                    } else {
                        "; check the declared shapes".to_string()
                    };
                    return self.error(
                        here,
                        format!(
                            "`@` needs the left operand's columns to equal the right operand's rows: left is {}, right is {}{hint}",
                            self.shape_text(a),
                            self.shape_text(b),
                        ),
                    );
                }
                Op::MatMul
            }
        };
        if ir_op != Op::MatMul && sa.broadcast(sb).is_none() {
            let hint = if op == BinOp::Mul && sa.cols == sb.rows {
                format!(
                    "; for a matrix product write `{} @ {}`",
                    expr_text(lhs),
                    expr_text(rhs)
                )
            } else {
                String::new()
            };
            return self.error(
                here,
                format!(
                    "`{}` works entry by entry and needs equal shapes, or a scalar, row or column vector that broadcasts: left is {}, right is {}{hint}",
                    op.symbol(),
                    self.shape_text(a),
                    self.shape_text(b),
                ),
            );
        }
        Some(self.graph.apply(ir_op, &[a, b]))
    }
}

/// The value of an expression made of numbers only (for exponents).
fn constant_value(e: &Expr) -> Option<f64> {
    match e {
        Expr::Number { value, .. } => Some(*value),
        Expr::Neg { operand, .. } => constant_value(operand).map(|v| -v),
        Expr::Binary { op, lhs, rhs, .. } => {
            let (a, b) = (constant_value(lhs)?, constant_value(rhs)?);
            Some(match op {
                BinOp::Add => a + b,
                BinOp::Sub => a - b,
                BinOp::Mul => a * b,
                BinOp::Div => a / b,
                BinOp::Pow => a.powf(b),
                BinOp::MatMul => return None,
            })
        }
        _ => None,
    }
    .filter(|v: &f64| v.is_finite())
}

/// Short source text for hints: a symbol's name, or `(…)`.
fn expr_text(e: &Expr) -> String {
    match e {
        Expr::Symbol(ident) => ident.to_string(),
        Expr::Number { value, .. } => value.to_string(),
        Expr::Transpose { operand, .. } => match operand.as_ref() {
            Expr::Symbol(ident) => format!("{ident}.T"),
            _ => "(…).T".into(),
        },
        Expr::Call { func, .. } => format!("{func}(…)"),
        _ => "(…)".into(),
    }
}

/// Short source text for the transpose of an expression, in hints.
fn transposed_text(e: &Expr) -> String {
    match e {
        Expr::Transpose { operand, .. } => match operand.as_ref() {
            Expr::Symbol(ident) => ident.to_string(),
            _ => "(…)".into(),
        },
        Expr::Symbol(ident) => format!("{ident}.T"),
        _ => format!("{}.T", expr_text(e)),
    }
}
