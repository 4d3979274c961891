//! The terms of a generated loss, the error term and the penalties, and
//! the loss they make.

use super::*;

impl Gen<'_> {
    /// `sum(mask * G)` and its variants: a term over the observed entries.
    pub(super) fn fit(&mut self) -> E {
        self.tag("mask");
        let depth = self.rng.pick(&[1, 2, 2, 3]);
        let g = self.expr(GRID, Class::Any, depth, true);
        let weight = if self.with_c && self.rng.chance(0.7) {
            self.tag("weights C");
            "mask(D) * C"
        } else {
            self.mask()
        };
        let masked = format!("{weight} * {}", g.s);
        match self.rng.weighted(&[6, 2, 1, 2]) {
            0 => {
                self.tag("sum");
                e(format!("sum({masked})"), SCALAR, Class::Any)
            }
            1 => {
                self.tag("mean");
                e(format!("mean({masked})"), SCALAR, Class::Any)
            }
            2 => {
                // The norm of a masked matrix: 0 only when nothing is observed.
                self.tag("norm");
                let g = self.signed(GRID, depth - 1, true);
                e(format!("norm({weight} * {})", g.s), SCALAR, Class::NonNeg)
            }
            _ => {
                self.tag(".T");
                self.tag("sum");
                e(format!("sum(({masked}).T)"), SCALAR, Class::Any)
            }
        }
    }

    /// A scalar term of the loss.
    pub(super) fn term(&mut self) -> E {
        let dense_only = if self.mode == Mode::DenseOnly { 3 } else { 0 };
        match self.rng.weighted(&[5, 5, 1, 2, dense_only]) {
            0 => self.fit(),
            1 => {
                let depth = self.rng.pick(&[1, 2, 2, 3]);
                self.expr(SCALAR, Class::Any, depth, false)
            }
            2 => {
                // The Gram form: the one unmasked full-grid term sparse allows.
                self.tag("gram");
                self.tag("@");
                let pq = if self.rng.chance(0.5) {
                    format!("{} @ {}", self.param("P"), self.param("Q"))
                } else {
                    self.tag(".T");
                    format!("{} @ {}.T", self.param("P"), self.param("R"))
                };
                if self.rng.chance(0.5) {
                    self.tag("^int");
                    e(format!("sum(({pq}) ^ 2)"), SCALAR, Class::NonNeg)
                } else {
                    self.tag("norm");
                    e(format!("(norm({pq}) ^ 2)"), SCALAR, Class::NonNeg)
                }
            }
            3 => {
                // A smooth scalar function of a data term.
                self.tag("scalar chain");
                let f = self.fit();
                match self.rng.below(6) {
                    0 => {
                        let g = self.expr(SCALAR, Class::Any, 1, false);
                        self.tag("/");
                        e(format!("({} / ({} ^ 2 + 1))", f.s, g.s), SCALAR, Class::Any)
                    }
                    1 => {
                        self.tag("log");
                        e(format!("log({} ^ 2 + 1)", f.s), SCALAR, Class::Any)
                    }
                    2 => {
                        self.tag("sqrt");
                        e(format!("sqrt({} ^ 2 + 0.5)", f.s), SCALAR, Class::Pos)
                    }
                    3 => {
                        let g = self.expr(SCALAR, Class::Any, 1, false);
                        self.tag("*");
                        e(format!("({} * {})", f.s, g.s), SCALAR, Class::Any)
                    }
                    4 => {
                        self.tag("tanh");
                        e(format!("tanh(0.1 * {})", f.s), SCALAR, Class::Any)
                    }
                    _ => {
                        self.tag("softplus");
                        e(format!("softplus({})", f.s), SCALAR, Class::Any)
                    }
                }
            }
            _ => {
                // Full grid, no mask: dense only.
                self.tag("unmasked grid");
                let depth = self.rng.pick(&[1, 2]);
                let g = self.expr(GRID, Class::Any, depth, false);
                let f = self.rng.pick(&["sum", "mean"]);
                self.tag(f);
                e(format!("{f}({})", g.s), SCALAR, Class::Any)
            }
        }
    }

    pub(super) fn loss(&mut self) -> String {
        let mut s = match self.sparse_operand {
            Some((orientation, kind)) => self.autoencoder_fit(orientation, kind).s,
            None => self.fit().s,
        };
        let terms = self.rng.pick(&[0, 1, 1, 2, 2]);
        for _ in 0..terms {
            let x = self.term();
            let sign = if self.rng.chance(0.8) { "+" } else { "-" };
            if self.rng.chance(0.5) {
                let c = self.coefficient();
                let _ = write!(s, " {sign} {c} * {}", wrap(&x.s));
            } else {
                let _ = write!(s, " {sign} {}", x.s);
            }
        }
        if self.rng.chance(0.1) {
            self.tag("neg");
            s = format!("-({s})");
        }
        // A penalty on every param: the simplifier may cancel a param out of
        // the random terms (`(P@Q + bu) - bu`), and a loss that does not
        // depend on a declared param is a compile error. A loss with no
        // param at all (`minimize sum(mask * D)`) passes the macro but emits
        // code that does not type-check (`ParamLayout::new([])` cannot infer
        // its name type), so there is always one.
        if self.params.is_empty() {
            self.params.insert("P");
        }
        let params: Vec<&'static str> = self.params.iter().copied().collect();
        let mut penalties = Vec::new();
        for p in params {
            let penalty = match (p, self.rng.below(6)) {
                ("P", 0) => {
                    self.tag("count_rows");
                    "sum(count_rows(D) * P ^ 2)".to_string()
                }
                ("Q", 0) => {
                    self.tag("count_cols");
                    "sum(count_cols(D) * Q ^ 2)".to_string()
                }
                (_, 1) => {
                    self.tag("norm");
                    format!("norm({p}) ^ 2")
                }
                (_, 2) => {
                    self.tag("mean");
                    format!("mean({p} ^ 2)")
                }
                (_, 3) => {
                    self.tag("norm");
                    format!("norm({p})")
                }
                _ => {
                    self.tag("sum");
                    format!("sum({p} ^ 2)")
                }
            };
            penalties.push(penalty);
        }
        let c = self.coefficient();
        format!("{s} + {c} * ({})", penalties.join(" + "))
    }
}
