//! Random expressions of a shape and a sign class: operators, functions,
//! kinks kept away from, and reductions.

use super::*;

impl Gen<'_> {
    /// A random expression of `shape` and class `need`, at most `depth`
    /// operations deep. `grid`: under the mask (data may be read).
    pub(super) fn expr(&mut self, shape: Shape, need: Class, depth: u32, grid: bool) -> E {
        if depth == 0 || self.rng.chance(0.2) {
            return self.leaf(shape, need, grid);
        }
        let d = depth - 1;
        // Operations: + - *, /, @, ^int, ^real, ^neg, neg, .T, functions,
        // kink functions, reductions (scalars only).
        let scalar = shape == SCALAR;
        let weights = [
            6,
            2,
            if shape == GRID { 1 } else { 3 },
            2,
            1,
            1,
            1,
            if has_grid_dims(shape) { 0 } else { 1 },
            4,
            3,
            if scalar { 10 } else { 0 },
        ];
        let x = match self.rng.weighted(&weights) {
            0 => {
                let (a, b) = self.split(shape);
                let op = self.rng.pick(&["+", "-", "*"]);
                self.tag(op);
                let na = if need == Class::Any { Class::Any } else { need };
                let x = self.expr(a, na, d, grid);
                let y = self.expr(b, if op == "-" { Class::Any } else { na }, d, grid);
                let class = match (op, x.class, y.class) {
                    ("+", Class::Pos, c) | ("+", c, Class::Pos) if c.satisfies(Class::NonNeg) => {
                        Class::Pos
                    }
                    ("+" | "*", a, b)
                        if a.satisfies(Class::NonNeg) && b.satisfies(Class::NonNeg) =>
                    {
                        if op == "*" && a == Class::Pos && b == Class::Pos {
                            Class::Pos
                        } else {
                            Class::NonNeg
                        }
                    }
                    ("*", a, b) if a.satisfies(Class::Away) && b.satisfies(Class::Away) => {
                        Class::Away
                    }
                    _ => Class::Any,
                };
                e(format!("({} {op} {})", x.s, y.s), shape, class)
            }
            1 => {
                let (a, b) = self.split(shape);
                self.tag("/");
                let x = self.expr(a, need, d, grid);
                let y = self.expr(b, Class::Pos, d, grid);
                let class = match x.class {
                    Class::Pos | Class::NonNeg => Class::NonNeg,
                    Class::Away => Class::Away,
                    Class::Any => Class::Any,
                };
                e(format!("({} / {})", x.s, y.s), shape, class)
            }
            2 => {
                // A matrix product; its operands avoid the grid's shape
                // unless the loss is dense-only.
                let inner: Vec<Dim> = [Dim::K, Dim::U, Dim::I, Dim::One]
                    .into_iter()
                    .filter(|&m| {
                        let ok = |s: Shape| self.mode == Mode::DenseOnly || !has_grid_dims(s);
                        ok((shape.0, m))
                            && ok((m, shape.1))
                            && (m != Dim::One || shape.0 != shape.1)
                    })
                    .collect();
                if shape == GRID || inner.is_empty() {
                    if shape == GRID {
                        self.model(d)
                    } else {
                        self.leaf(shape, Class::Any, grid)
                    }
                } else {
                    self.tag("@");
                    let m = self.rng.pick(&inner);
                    let x = self.expr((shape.0, m), Class::Any, d, false);
                    let y = self.expr((m, shape.1), Class::Any, d, false);
                    e(format!("({} @ {})", x.s, y.s), shape, Class::Any)
                }
            }
            3 => {
                self.tag("^int");
                // Powers of powers stay low: `((D ^ 3) ^ 1.5) ^ 4` is 5^18
                // at D = 5, and finite differences of a loss near 1e13 are
                // round-off.
                let p = self.rng.pick(&["2", "2", "3", "1", "4"]);
                let x = self.expr(
                    shape,
                    if p == "3" || p == "1" {
                        need
                    } else {
                        Class::Any
                    },
                    d,
                    grid,
                );
                let p = if x.s.contains('^') && (p == "3" || p == "4") {
                    "2"
                } else {
                    p
                };
                let class = match (p, x.class) {
                    ("2" | "4", Class::Away | Class::Pos) => Class::Pos,
                    ("2" | "4", _) => Class::NonNeg,
                    (_, c) => c,
                };
                e(format!("({} ^ {p})", x.s), shape, class)
            }
            4 => {
                self.tag("^real");
                let p = self.rng.pick(&["0.5", "1.5", "2.5", "(1 / 3)"]);
                let x = self.expr(shape, Class::Pos, d, grid);
                let p = if x.s.contains('^') && (p == "1.5" || p == "2.5") {
                    "0.5"
                } else {
                    p
                };
                e(format!("({} ^ {p})", x.s), shape, Class::Pos)
            }
            5 => {
                self.tag("^neg");
                let p = self.rng.pick(&["-1", "-2", "-0.5", "-1.5"]);
                let x = self.expr(shape, Class::Pos, d, grid);
                e(format!("({} ^ {p})", x.s), shape, Class::Pos)
            }
            6 => {
                self.tag("neg");
                let x = self.expr(
                    shape,
                    if need == Class::Away {
                        Class::Away
                    } else {
                        Class::Any
                    },
                    d,
                    grid,
                );
                let class = if x.class.satisfies(Class::Away) {
                    Class::Away
                } else {
                    Class::Any
                };
                e(format!("(-{})", x.s), shape, class)
            }
            7 => {
                self.tag(".T");
                let x = self.expr(t(shape), need, d, false);
                e(format!("{}.T", wrap(&x.s)), shape, x.class)
            }
            8 => self.function(shape, d, grid),
            9 => self.kink(shape, d, grid),
            _ => self.reduction(d),
        };
        self.coerce(x, need)
    }

    /// A smooth elementwise function.
    pub(super) fn function(&mut self, shape: Shape, d: u32, grid: bool) -> E {
        let f = self.rng.pick(&[
            "sqrt", "exp", "exp-", "log", "log1p", "sigmoid", "softplus", "tanh",
        ]);
        self.tag(f.trim_end_matches('-'));
        match f {
            "sqrt" | "log" => {
                let x = self.expr(shape, Class::Pos, d, grid);
                let class = if f == "sqrt" { Class::Pos } else { Class::Any };
                e(format!("{f}({})", x.s), shape, class)
            }
            "exp" => {
                self.tag("tanh");
                let x = self.expr(shape, Class::Any, d, grid);
                e(format!("exp(0.3 * tanh({}))", x.s), shape, Class::Pos)
            }
            "exp-" => {
                let x = self.expr(shape, Class::Any, d, grid);
                e(format!("exp(-({} ^ 2) / 4)", x.s), shape, Class::NonNeg)
            }
            "log1p" => {
                let x = self.expr(shape, Class::NonNeg, d, grid);
                e(format!("log1p({})", x.s), shape, Class::NonNeg)
            }
            "tanh" => {
                let x = self.expr(shape, Class::Any, d, grid);
                e(format!("tanh({})", x.s), shape, Class::Any)
            }
            _ => {
                let x = self.expr(shape, Class::Any, d, grid);
                e(format!("{f}({})", x.s), shape, Class::NonNeg)
            }
        }
    }

    /// A value bounded away from 0 with a sign that varies entry by entry:
    /// a param, `D - 3`, or either times a positive factor.
    pub(super) fn signed(&mut self, shape: Shape, d: u32, grid: bool) -> E {
        let base = if shape == GRID && grid {
            self.tag("data");
            e("(D - 3)", shape, Class::Away)
        } else if has_grid_dims(shape) {
            let m = self.model(0);
            let m = e(format!("({} ^ 2 + 0.5)", m.s), GRID, Class::Pos);
            if shape == GRID {
                m
            } else {
                e(format!("{}.T", m.s), shape, Class::Pos)
            }
        } else {
            self.param_leaf(shape)
                .or_else(|| {
                    let x = self.product_leaf(shape)?;
                    Some(e(format!("({} ^ 2 + 0.5)", x.s), shape, Class::Pos))
                })
                .expect("a signed leaf for every shape")
        };
        if d > 0 && self.rng.chance(0.5) {
            // Times a positive factor of at least 0.5.
            let y = self.expr(shape, Class::NonNeg, d - 1, grid);
            self.tag("*");
            e(
                format!("({} * ({} + 0.5))", base.s, y.s),
                shape,
                Class::Away,
            )
        } else {
            base
        }
    }

    /// A function with a kink, its argument away from the kink.
    pub(super) fn kink(&mut self, shape: Shape, d: u32, grid: bool) -> E {
        let f = self.rng.pick(&[
            "abs",
            "relu",
            "max",
            "huber-linear",
            "huber-quadratic",
            "norm",
        ]);
        match f {
            "abs" | "relu" => {
                self.tag(f);
                let x = self.signed(shape, d, grid);
                let class = if f == "abs" {
                    Class::Pos
                } else {
                    Class::NonNeg
                };
                e(format!("{f}({})", x.s), shape, class)
            }
            "max" => {
                self.tag("max");
                let x = self.signed(shape, d, grid);
                // A bare param has |x| ≥ 0.3: thresholds inside that gap.
                let c = if x.s.len() <= 4 {
                    self.rng.pick(&["0", "0.2", "(-0.1)"])
                } else {
                    "0"
                };
                e(format!("max({}, {c})", x.s), shape, Class::NonNeg)
            }
            "huber-linear" => {
                self.tag("huber");
                let x = self.signed(shape, d, grid);
                e(format!("huber({}, 0.01)", x.s), shape, Class::Pos)
            }
            "huber-quadratic" => {
                self.tag("huber");
                self.tag("tanh");
                let x = self.expr(shape, Class::Any, d, grid);
                e(
                    format!("huber(0.4 * tanh({}), 0.5)", x.s),
                    shape,
                    Class::NonNeg,
                )
            }
            _ => {
                // `norm` of a matrix of signed entries: far from 0.
                self.tag("norm");
                let x = self.signed(shape, d, grid);
                // Under the mask, a norm over the grid is of masked values
                // (a scalar from one pass over the entries, used in another).
                let n = if shape == GRID && grid {
                    self.tag("mask");
                    e(
                        format!("norm({} * {})", self.mask(), x.s),
                        SCALAR,
                        Class::NonNeg,
                    )
                } else {
                    e(format!("norm({})", x.s), SCALAR, Class::Pos)
                };
                if shape == SCALAR {
                    n
                } else {
                    // Broadcast back to `shape`.
                    let y = self.leaf(shape, Class::Any, grid);
                    self.tag("*");
                    e(format!("({} * {})", n.s, y.s), shape, Class::Any)
                }
            }
        }
    }

    /// A scalar from a matrix of params: `sum`, `mean` or `norm`.
    pub(super) fn reduction(&mut self, d: u32) -> E {
        let shapes: Vec<Shape> = [Dim::One, Dim::U, Dim::I, Dim::K]
            .iter()
            .flat_map(|&r| [Dim::One, Dim::U, Dim::I, Dim::K].map(move |c| (r, c)))
            .filter(|&s| self.mode == Mode::DenseOnly || !has_grid_dims(s))
            .collect();
        let shape = self.rng.pick(&shapes);
        match self.rng.weighted(&[4, 2, 1]) {
            0 => {
                self.tag("sum");
                let x = self.expr(shape, Class::Any, d, false);
                e(
                    format!("sum({})", x.s),
                    SCALAR,
                    if x.class.satisfies(Class::NonNeg) {
                        Class::NonNeg
                    } else {
                        Class::Any
                    },
                )
            }
            1 => {
                self.tag("mean");
                let x = self.expr(shape, Class::Any, d, false);
                e(
                    format!("mean({})", x.s),
                    SCALAR,
                    if x.class.satisfies(Class::NonNeg) {
                        Class::NonNeg
                    } else {
                        Class::Any
                    },
                )
            }
            _ => {
                self.tag("norm");
                let x = self.signed(shape, d, false);
                e(format!("norm({})", x.s), SCALAR, Class::Pos)
            }
        }
    }
}
