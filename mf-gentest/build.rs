//! Writes `$OUT_DIR/losses_{0,1,2,3}.rs` and `coverage.rs`: random `loss!`
//! definitions from a fixed seed, each with a test that checks the compiled
//! gradient against finite differences and, when every term over the
//! `users × items` grid sits under the mask, the sparse lowering
//! (`data D: sparse[users, items]`) against the dense one. The checks are `mf_gentest::check_case` (`src/lib.rs`).
//!
//! Values are kept where every function is smooth, by construction:
//!
//! - every expression carries what is known of its sign (`Class`): the
//!   arguments of `log`, `sqrt`, real and negative powers and denominators
//!   are positive and bounded away from 0 (`x^2 + c`, `exp(..)`, data ≥ 1,
//!   positive hypers);
//! - the kinks of `abs`, `relu`, `max(x, c)`, `huber(x, δ)` and `norm` are
//!   avoided: their arguments are bounded away from the kink. The test
//!   draws every parameter with |x| in [0.3, 1.2] and every rating with
//!   |D - 3| in [0.5, 2], so `P`, `D - 3` and their products with positive
//!   factors never come near 0 and keep a random sign per entry; `huber`
//!   gets either such an argument with δ below its range (the linear
//!   branches) or `0.4 * tanh(x)` with δ = 0.5 (the quadratic branch);
//! - `exp` takes `0.3 * tanh(x)` or a scaled, squared-negative argument.
//!
//! `MF_GENTEST_CASES` changes the number of losses (200 by default),
//! `MF_GENTEST_SEED` the seed. After them come a few losses whose model
//! multiplies the sparse data itself, in every orientation
//! (`build/sparse_operands.rs`).

#[path = "build/sparse_operands.rs"]
mod sparse_operands;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

const DEFAULT_SEED: u64 = 0x6d66_2d67_656e_7465;
const DEFAULT_CASES: usize = 200;
/// The losses are split round-robin over this many test binaries
/// (`tests/part0.rs` …): one compiler run over all of them needs about 9 GB
/// and cannot use a second core.
const PARTS: usize = 4;

/// SplitMix64: a fixed, dependency-free stream.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, p: f64) -> bool {
        ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }

    fn pick<T: Copy>(&mut self, options: &[T]) -> T {
        options[self.below(options.len())]
    }

    /// An index into `weights`, drawn in proportion to them.
    fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u32 = weights.iter().sum();
        let mut r = self.below(total as usize) as u32;
        for (i, &w) in weights.iter().enumerate() {
            if r < w {
                return i;
            }
            r -= w;
        }
        unreachable!()
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Dim {
    One,
    U,
    I,
    K,
}

type Shape = (Dim, Dim);

const SCALAR: Shape = (Dim::One, Dim::One);
const GRID: Shape = (Dim::U, Dim::I);

/// What is known of an expression's values.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Class {
    /// Anything.
    Any,
    /// ≥ 0, possibly 0.
    NonNeg,
    /// |x| ≥ c > 0 (c about 0.01 or more), either sign.
    Away,
    /// ≥ c > 0.
    Pos,
}

impl Class {
    fn satisfies(self, need: Class) -> bool {
        match need {
            Class::Any => true,
            Class::NonNeg => matches!(self, Class::NonNeg | Class::Pos),
            Class::Away => matches!(self, Class::Away | Class::Pos),
            Class::Pos => self == Class::Pos,
        }
    }
}

#[derive(Clone)]
struct E {
    s: String,
    shape: Shape,
    class: Class,
}

fn e(s: impl Into<String>, shape: Shape, class: Class) -> E {
    E {
        s: s.into(),
        shape,
        class,
    }
}

fn t(shape: Shape) -> Shape {
    (shape.1, shape.0)
}

fn has_grid_dims(shape: Shape) -> bool {
    matches!(shape, (Dim::U, Dim::I) | (Dim::I, Dim::U))
}

/// Whether a mode lets unmasked `users × items` values appear.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Also compiled as sparse: the grid only under the mask (or the Gram
    /// form `sum((A@B)^2)`).
    Sparse,
    /// Dense only: full-grid terms without a mask are allowed.
    DenseOnly,
}

struct Gen<'a> {
    rng: &'a mut Rng,
    mode: Mode,
    /// A confidence-weight matrix `C` on D's pattern is declared.
    with_c: bool,
    params: BTreeSet<&'static str>,
    /// Hypers used, with their declared defaults.
    hypers: BTreeMap<usize, f64>,
    /// Language features used (coverage).
    tags: BTreeSet<&'static str>,
    /// The loss's first term multiplies the sparse data: the orientation
    /// and kind of `sparse_operands`.
    sparse_operand: Option<(usize, usize)>,
}

const HYPER_DEFAULTS: [f64; 3] = [0.1, 0.25, 0.5];

impl Gen<'_> {
    fn tag(&mut self, tag: &'static str) {
        self.tags.insert(tag);
    }

    fn param(&mut self, name: &'static str) -> String {
        self.params.insert(name);
        if name == "mu" || name == "bu" || name == "bi" {
            self.tag("bias");
        }
        name.to_string()
    }

    fn mask(&self) -> &'static str {
        if self.with_c {
            "mask(D)"
        } else {
            "mask"
        }
    }

    fn hyper(&mut self) -> String {
        let i = self.rng.below(HYPER_DEFAULTS.len());
        self.hypers.insert(i, HYPER_DEFAULTS[i]);
        self.tag("hyper");
        format!("h{i}")
    }

    /// A positive scalar coefficient: a hyper or a constant.
    fn coefficient(&mut self) -> String {
        if self.rng.chance(0.4) {
            self.hyper()
        } else {
            self.rng
                .pick(&["0.1", "0.05", "0.5", "2", "0.3", "1.5"])
                .to_string()
        }
    }

    /// A product of params of `shape` (for shapes without a param of their own).
    fn product_leaf(&mut self, shape: Shape) -> Option<E> {
        use Dim::*;
        let s = match shape {
            (U, U) => format!("({} @ {}.T)", self.param("P"), self.param("P")),
            (I, I) => format!("({}.T @ {})", self.param("Q"), self.param("Q")),
            (One, K) => match self.rng.below(2) {
                0 => format!("({}.T @ {})", self.param("bu"), self.param("P")),
                _ => format!("({} @ {})", self.param("bi"), self.param("R")),
            },
            (K, One) => match self.rng.below(2) {
                0 => format!("({}.T @ {})", self.param("P"), self.param("bu")),
                _ => format!("({} @ {}.T)", self.param("Q"), self.param("bi")),
            },
            (One, One) => format!("({}.T @ {})", self.param("bu"), self.param("bu")),
            _ => return None,
        };
        self.tag("@");
        self.tag(".T");
        Some(e(s, shape, Class::Any))
    }

    /// A param (or its transpose) of `shape`; |x| ≥ 0.3 entry by entry.
    fn param_leaf(&mut self, shape: Shape) -> Option<E> {
        use Dim::*;
        let (name, transposed) = match shape {
            (U, K) => ("P", false),
            (K, I) => *[("Q", false), ("R", true)].get(self.rng.below(2)).unwrap(),
            (I, K) => *[("R", false), ("Q", true)].get(self.rng.below(2)).unwrap(),
            (K, U) => ("P", true),
            (U, One) => ("bu", false),
            (One, I) => ("bi", false),
            (I, One) => ("bi", true),
            (One, U) => ("bu", true),
            (K, K) => ("W", false),
            (One, One) => ("mu", false),
            _ => return None,
        };
        let mut s = self.param(name);
        if transposed {
            self.tag(".T");
            s.push_str(".T");
        }
        Some(e(s, shape, Class::Away))
    }

    /// The model's prediction: a `users × items` product of params, plus
    /// biases.
    fn model(&mut self, depth: u32) -> E {
        self.tag("@");
        let mut s = match self.rng.weighted(&[6, 2, 1, 2, 1]) {
            0 => format!("{} @ {}", self.param("P"), self.param("Q")),
            1 => {
                self.tag(".T");
                format!("{} @ {}.T", self.param("P"), self.param("R"))
            }
            2 => format!(
                "{} @ {} @ {}",
                self.param("P"),
                self.param("W"),
                self.param("Q")
            ),
            3 if depth > 0 => {
                let left = self.expr((Dim::U, Dim::K), Class::Any, depth - 1, false);
                format!("{} @ {}", left.s, self.param("Q"))
            }
            _ if depth > 0 => {
                let right = self.expr((Dim::K, Dim::I), Class::Any, depth - 1, false);
                format!("{} @ {}", self.param("P"), right.s)
            }
            _ => format!("{} @ {}", self.param("P"), self.param("Q")),
        };
        for bias in ["bu", "bi", "mu"] {
            if self.rng.chance(0.3) {
                let _ = write!(s, " + {}", self.param(bias));
            }
        }
        e(format!("({s})"), GRID, Class::Any)
    }

    /// A leaf of `shape` (or the simplest expression that has it).
    fn leaf(&mut self, shape: Shape, need: Class, grid: bool) -> E {
        use Dim::*;
        let mut options: Vec<E> = Vec::new();
        if shape == GRID && grid {
            let r = self.rng.below(6);
            let leaf = match r {
                0 => {
                    self.tag("data");
                    e("D", GRID, Class::Pos)
                }
                1 => {
                    self.tag("data");
                    e("(D - 3)", GRID, Class::Away)
                }
                2 if self.with_c => {
                    self.tag("weights C");
                    e("C", GRID, Class::Pos)
                }
                3 => self.model(1),
                _ => {
                    self.tag("data");
                    let m = self.model(1);
                    e(format!("(D - {})", m.s), GRID, Class::Any)
                }
            };
            options.push(leaf);
        } else if has_grid_dims(shape) {
            // Dense-only losses: the grid outside the mask.
            let m = self.model(1);
            if shape == GRID {
                options.push(m);
            } else {
                self.tag(".T");
                options.push(e(format!("{}.T", m.s), shape, Class::Any));
            }
        } else {
            let r = self.rng.below(10);
            let leaf = match (shape, r) {
                ((U, One), 0) => {
                    self.tag("count_rows");
                    Some(e("count_rows(D)", shape, Class::NonNeg))
                }
                ((One, I), 0) => {
                    self.tag("count_cols");
                    Some(e("count_cols(D)", shape, Class::NonNeg))
                }
                (SCALAR, 0..=2) => Some(e(self.hyper(), shape, Class::Pos)),
                (SCALAR, 3..=4) => {
                    let c = self.rng.pick(&["0.5", "2", "1.5", "(-0.75)", "(-2)"]);
                    self.tag("constant");
                    let class = if c.starts_with('(') {
                        Class::Away
                    } else {
                        Class::Pos
                    };
                    Some(e(c, shape, class))
                }
                _ => None,
            };
            if let Some(l) = leaf.or_else(|| self.param_leaf(shape)) {
                options.push(l);
            } else if let Some(l) = self.product_leaf(shape) {
                options.push(l);
            }
        }
        let x = options.pop().expect("a leaf for every shape");
        self.coerce(x, need)
    }

    /// `x`, rewritten so that it has class `need`.
    fn coerce(&mut self, x: E, need: Class) -> E {
        if x.class.satisfies(need) {
            return x;
        }
        match need {
            Class::Any => x,
            Class::NonNeg => {
                self.tag("^int");
                e(format!("({} ^ 2)", x.s), x.shape, Class::NonNeg)
            }
            Class::Away | Class::Pos => {
                if self.rng.chance(0.8) {
                    self.tag("^int");
                    let c = self.rng.pick(&["0.5", "1", "2"]);
                    let base = if x.class.satisfies(Class::NonNeg) {
                        x.s
                    } else {
                        format!("{} ^ 2", x.s)
                    };
                    e(format!("({base} + {c})"), x.shape, Class::Pos)
                } else {
                    self.tag("exp");
                    self.tag("tanh");
                    e(format!("exp(0.3 * tanh({}))", x.s), x.shape, Class::Pos)
                }
            }
        }
    }

    /// The two operand shapes of a broadcasting operation with result `s`.
    fn split(&mut self, s: Shape) -> (Shape, Shape) {
        let mut axis = |d: Dim| {
            if d == Dim::One {
                return (Dim::One, Dim::One);
            }
            match self.rng.weighted(&[5, 1, 1]) {
                0 => (d, d),
                1 => (d, Dim::One),
                _ => (Dim::One, d),
            }
        };
        let (r1, r2) = axis(s.0);
        let (c1, c2) = axis(s.1);
        ((r1, c1), (r2, c2))
    }

    /// A random expression of `shape` and class `need`, at most `depth`
    /// operations deep. `grid`: under the mask (data may be read).
    fn expr(&mut self, shape: Shape, need: Class, depth: u32, grid: bool) -> E {
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
    fn function(&mut self, shape: Shape, d: u32, grid: bool) -> E {
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
    fn signed(&mut self, shape: Shape, d: u32, grid: bool) -> E {
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
    fn kink(&mut self, shape: Shape, d: u32, grid: bool) -> E {
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
    fn reduction(&mut self, d: u32) -> E {
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

    /// `sum(mask * G)` and its variants: a term over the observed entries.
    fn fit(&mut self) -> E {
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
    fn term(&mut self) -> E {
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

    fn loss(&mut self) -> String {
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

/// `s` in parentheses unless it is one token or already parenthesized as a
/// whole.
fn wrap(s: &str) -> String {
    let simple = s
        .chars()
        .all(|c| c.is_alphanumeric() || c == '_' || c == '.');
    let call = s.ends_with(')') && {
        // `f(...)` or `(...)` whose first parenthesis closes at the end.
        let open = s.find('(').unwrap_or(0);
        let mut depth = 0;
        let mut end = 0;
        for (i, c) in s.char_indices().skip(open) {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        end = i;
                        break;
                    }
                }
                _ => {}
            }
        }
        end == s.len() - 1 && s[..open].chars().all(|c| c.is_alphanumeric() || c == '_')
    };
    if simple || call {
        s.to_string()
    } else {
        format!("({s})")
    }
}

struct Case {
    name: String,
    source_dense: String,
    source_sparse: Option<String>,
    expression: String,
    uses_k: bool,
    with_c: bool,
    hypers: Vec<(usize, f64, f64)>,
    tags: BTreeSet<&'static str>,
}

fn dims(name: &str) -> &'static str {
    match name {
        "P" => "[users, k]",
        "Q" => "[k, items]",
        "R" => "[items, k]",
        "W" => "[k, k]",
        "bu" => "[users, 1]",
        "bi" => "[1, items]",
        "mu" => "[]",
        _ => unreachable!("{name}"),
    }
}

/// The `index`-th loss; one with a `sparse_operand` is always compiled as
/// sparse too, with no weights.
fn generate(rng: &mut Rng, index: usize, sparse_operand: Option<(usize, usize)>) -> Case {
    let mode = if rng.chance(0.75) || sparse_operand.is_some() {
        Mode::Sparse
    } else {
        Mode::DenseOnly
    };
    let with_c = rng.chance(0.12) && sparse_operand.is_none();
    let mut g = Gen {
        rng,
        mode,
        with_c,
        params: BTreeSet::new(),
        hypers: BTreeMap::new(),
        tags: BTreeSet::new(),
        sparse_operand,
    };
    let expression = g.loss();
    let name = format!("G{index:03}");
    let uses_k = g.params.iter().any(|p| ["P", "Q", "R", "W"].contains(p));
    // Half the losses are run with hypers other than their defaults.
    let other = g.rng.chance(0.5);
    let hypers: Vec<(usize, f64, f64)> = g
        .hypers
        .iter()
        .map(|(&i, &default)| {
            (
                i,
                default,
                if other { default * 3.0 + 0.05 } else { default },
            )
        })
        .collect();
    let header = |sparse: bool| {
        let kind = if sparse { "sparse" } else { "" };
        let mut decls = vec![format!("data D: {kind}[users, items]")];
        if with_c {
            decls.push(format!("data C: {kind}[users, items]"));
        }
        for p in ["P", "Q", "R", "W", "bu", "bi", "mu"] {
            if g.params.contains(p) {
                decls.push(format!("param {p}: {}", dims(p)));
            }
        }
        for &(i, default, _) in &hypers {
            decls.push(format!("hyper h{i}: f64 = {default:?}"));
        }
        decls
    };
    let source = |sparse: bool, suffix: &str| {
        let mut s = format!("    /// Generated loss {index}.\n    pub struct {name}{suffix} {{\n");
        for d in header(sparse) {
            let _ = writeln!(s, "        {d},");
        }
        let _ = write!(s, "    }}\n    minimize {expression}\n");
        s
    };
    let source_dense = source(false, "");
    let source_sparse = (mode == Mode::Sparse).then(|| source(true, "S"));
    let mut tags = g.tags;
    if with_c {
        tags.insert("weights C");
    }
    Case {
        name,
        source_dense,
        source_sparse,
        expression,
        uses_k,
        with_c,
        hypers,
        tags,
    }
}

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=build/sparse_operands.rs");
    println!("cargo::rerun-if-env-changed=MF_GENTEST_CASES");
    println!("cargo::rerun-if-env-changed=MF_GENTEST_SEED");
    let cases: usize = std::env::var("MF_GENTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    let seed: u64 = std::env::var("MF_GENTEST_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_SEED);
    let mut rng = Rng(seed);
    let mut parts = vec![String::new(); PARTS];
    let mut coverage: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut sparse_count = 0;
    // The sparse-operand losses draw from their own stream, so that the
    // random ones stay what they were.
    let mut operand_rng = Rng(seed ^ 0x5350_4152_5345);
    let total = cases + sparse_operands::CASES;
    for index in 0..total {
        let case = match index.checked_sub(cases) {
            None => generate(&mut rng, index, None),
            Some(j) => generate(&mut operand_rng, index, Some(sparse_operands::pick(j))),
        };
        for tag in &case.tags {
            *coverage.entry(tag).or_default() += 1;
        }
        write_case(&mut parts[index % PARTS], &case);
        sparse_count += usize::from(case.source_sparse.is_some());
    }
    let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR").unwrap());
    for (i, part) in parts.iter().enumerate() {
        write_if_changed(&out_dir.join(format!("losses_{i}.rs")), part);
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "/// Losses generated, and of them compiled as sparse too."
    );
    let _ = writeln!(
        out,
        "pub const COUNTS: (usize, usize) = ({total}, {sparse_count});"
    );
    let _ = writeln!(
        out,
        "/// For each feature of the language, the number of losses using it."
    );
    let _ = writeln!(out, "pub const COVERAGE: &[(&str, usize)] = &[");
    for (tag, n) in &coverage {
        let _ = writeln!(out, "    ({tag:?}, {n}),");
    }
    let _ = writeln!(out, "];");
    write_if_changed(&out_dir.join("coverage.rs"), &out);
}

/// Leaves an unchanged file alone, so that editing this script without
/// changing what it generates does not rebuild the test binaries.
fn write_if_changed(path: &std::path::Path, text: &str) {
    if std::fs::read_to_string(path).ok().as_deref() != Some(text) {
        std::fs::write(path, text).unwrap();
    }
}

fn write_case(out: &mut String, case: &Case) {
    let name = &case.name;
    let lower = name.to_lowercase();
    let _ = writeln!(out, "loss! {{\n{}}}\n", case.source_dense);
    if let Some(sparse) = &case.source_sparse {
        let _ = writeln!(out, "loss! {{\n{sparse}}}\n");
    }
    let k = if case.uses_k { " p.k," } else { "" };
    let hyper_literal = |ty: &str| {
        if case
            .hypers
            .iter()
            .all(|&(_, default, value)| default == value)
        {
            format!("{ty}::default()")
        } else {
            let fields: Vec<String> = case
                .hypers
                .iter()
                .map(|&(i, _, value)| format!("h{i}: {value:?}"))
                .collect();
            format!("{ty} {{ {} }}", fields.join(", "))
        }
    };
    let (dense_data, sparse_data) = if case.with_c {
        (
            format!("{name}Data {{ D: &p.dense, C: &p.dense_weights }}"),
            format!("{name}SData {{ D: &p.sparse, C: &p.sparse_weights }}"),
        )
    } else {
        ("&p.dense".to_string(), "&p.sparse".to_string())
    };
    let _ = writeln!(out, "fn {lower}_bind(p: &Problem) -> Bound<'_> {{");
    let _ = writeln!(
        out,
        "    let params = {name}::init({dense_data},{k} Init::Zeros, &mut zeros()).unwrap();"
    );
    let _ = writeln!(
        out,
        "    let dense = {}.objective({dense_data}, &params).unwrap();",
        hyper_literal(name)
    );
    if case.source_sparse.is_some() {
        let sname = format!("{name}S");
        let _ = writeln!(
            out,
            "    let params = {sname}::init({sparse_data},{k} Init::Zeros, &mut zeros()).unwrap();"
        );
        let _ = writeln!(
            out,
            "    let sparse = {}.objective({sparse_data}, &params).unwrap();",
            hyper_literal(&sname)
        );
        let _ = writeln!(
            out,
            "    Bound {{ dense: Box::new(dense), sparse: Some(Box::new(sparse)) }}"
        );
    } else {
        let _ = writeln!(out, "    Bound {{ dense: Box::new(dense), sparse: None }}");
    }
    let _ = writeln!(out, "}}\n");
    let _ = writeln!(out, "#[test]\nfn {lower}() {{");
    let _ = writeln!(
        out,
        "    check_case({:?}, {:?}, {lower}_bind);",
        name, case.expression
    );
    let _ = writeln!(out, "}}\n");
}
