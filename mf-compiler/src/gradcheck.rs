//! Property test of the whole symbolic pipeline (test-only).
//!
//! Random well-formed losses over every op of the language are written as
//! source text and compiled by the real front end (`parse` + `check`, which
//! simplifies as it builds), then differentiated (`diff`). For each one:
//!
//! - (a) the simplified IR, evaluated by [`crate::interp`], has the value of
//!   the syntax tree evaluated directly (no simplification at all);
//! - (b) every symbolic gradient matches central finite differences of the
//!   interpreted loss (the fourth-order stencil at h and h/2, combined by
//!   Richardson extrapolation), within 1e-6 relative error and a floor of
//!   1e-9 × max(1, |loss|);
//! - (c) when every read of a data matrix is guarded by its mask
//!   (`mask(D) * D`), the loss and the gradients stay finite with NaN in the
//!   missing cells: no rewrite lets a missing value leak.
//!
//! Values stay where the functions are smooth: the arguments of `log`,
//! `sqrt`, real and negative powers and denominators are written
//! `x^2 + c` (c > 0) or a nonzero constant, and `exp` arguments are scaled
//! down. `abs` and `norm` have kinks the generator cannot avoid; a finite
//! difference whose stencil crosses one (or comes near the pole of a norm)
//! is skipped, as the interpreter reports (`interp::Kink`), and so is one
//! where the two step sizes disagree by more than 1e-4 (too curved at the
//! scale of h to say anything). The test asserts that fewer than 5% of the
//! entries are skipped, and that every operation of the language and of the
//! IR is exercised in many cases.
//!
//! 10,000 cases per run, expressions up to 4 operations deep, dimensions of
//! size 1 to 3. A failure is shrunk (proptest's unions shrink towards
//! leaves) and printed as `loss!` source; put it in
//! `found_failures_stay_fixed`, and rerun one by hand with
//! `MF_CASE='guarded|a,b,c|seed|source' MF_DUMP=1 cargo test -p mf-compiler replay`.
//! A longer search: `PROPTEST_CASES=100000 MF_PROPTEST_DEPTH=6`.

use crate::interp::{self, Kink, Mat};
use crate::ir::{Number, Op};
use crate::ops::spec;
use crate::parse::{BinOp, Expr, LossDef};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use std::fmt;

/// A dimension of a generated shape: 0 is `1`, 1..=3 the symbols a, b, c.
type Sh = (u8, u8);

const SCALAR: Sh = (0, 0);
const DIM_NAMES: [&str; 4] = ["1", "a", "b", "c"];

#[derive(Clone, Copy, Debug, PartialEq)]
enum Leaf {
    Param(u8, Sh),
    /// `d`, read unguarded.
    Data(u8, Sh),
    /// `(mask(d) * d)`.
    Guarded(u8, Sh),
    /// `(mask(d) * tanh(d))`: a function of the values under the mask.
    GuardedTanh(u8, Sh),
    Mask(u8, Sh),
    Hyper(u8),
    Const(f64),
    /// `count_rows(d)` of data `d` with the given shape.
    CountRows(u8, Sh),
    /// `count_cols(d)`.
    CountCols(u8, Sh),
}

/// A generated loss expression; `Display` writes it as source text.
#[derive(Clone)]
enum E {
    Leaf(Leaf),
    Neg(Box<E>),
    T(Box<E>),
    Bin(&'static str, Box<E>, Box<E>),
    /// Base and exponent text.
    Pow(Box<E>, &'static str),
    Call(&'static str, Box<E>),
    /// A function with a constant second argument: `max(x, c)`, `huber(x, δ)`.
    CallWith(&'static str, Box<E>, &'static str),
}

fn shape_name((r, c): Sh) -> String {
    format!("{}{}", DIM_NAMES[r as usize], DIM_NAMES[c as usize])
}

impl fmt::Display for Leaf {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match *self {
            Leaf::Param(i, s) => write!(f, "p{i}_{}", shape_name(s)),
            Leaf::Data(i, s) => write!(f, "d{i}_{}", shape_name(s)),
            Leaf::Guarded(i, s) => write!(f, "(mask(d{i}_{0}) * d{i}_{0})", shape_name(s)),
            Leaf::GuardedTanh(i, s) => {
                write!(f, "(mask(d{i}_{0}) * tanh(d{i}_{0}))", shape_name(s))
            }
            Leaf::Mask(i, s) => write!(f, "mask(d{i}_{})", shape_name(s)),
            Leaf::Hyper(i) => write!(f, "h{i}"),
            Leaf::Const(c) if c < 0.0 => write!(f, "(-{:?})", -c),
            Leaf::Const(c) => write!(f, "{c:?}"),
            Leaf::CountRows(i, s) => write!(f, "count_rows(d{i}_{})", shape_name(s)),
            Leaf::CountCols(i, s) => write!(f, "count_cols(d{i}_{})", shape_name(s)),
        }
    }
}

impl fmt::Display for E {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            E::Leaf(l) => write!(f, "{l}"),
            E::Neg(x) => write!(f, "(-{x})"),
            E::T(x) => write!(f, "({x}).T"),
            E::Bin(op, x, y) => write!(f, "({x} {op} {y})"),
            E::Pow(x, p) => write!(f, "({x} ^ {p})"),
            E::Call(func, x) => write!(f, "{func}({x})"),
            E::CallWith(func, x, c) => write!(f, "{func}({x}, {c})"),
        }
    }
}

/// Failures print the expression as source text.
impl fmt::Debug for E {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl E {
    fn leaves(&self, out: &mut Vec<Leaf>) {
        match self {
            E::Leaf(l) => out.push(*l),
            E::Neg(x) | E::T(x) | E::Pow(x, _) | E::Call(_, x) | E::CallWith(_, x, _) => {
                x.leaves(out)
            }
            E::Bin(_, x, y) => {
                x.leaves(out);
                y.leaves(out);
            }
        }
    }

    /// The `loss!` input: a header declaring exactly the symbols used.
    fn source(&self) -> String {
        let mut leaves = Vec::new();
        self.leaves(&mut leaves);
        let mut decls: Vec<String> = Vec::new();
        for leaf in leaves {
            let dims = |(r, c): Sh| {
                if (r, c) == SCALAR {
                    "[]".to_string()
                } else {
                    format!("[{}, {}]", DIM_NAMES[r as usize], DIM_NAMES[c as usize])
                }
            };
            let decl = match leaf {
                Leaf::Param(i, s) => format!("param p{i}_{}: {}", shape_name(s), dims(s)),
                Leaf::Data(i, s)
                | Leaf::Guarded(i, s)
                | Leaf::GuardedTanh(i, s)
                | Leaf::Mask(i, s)
                | Leaf::CountRows(i, s)
                | Leaf::CountCols(i, s) => {
                    format!("data d{i}_{}: {}", shape_name(s), dims(s))
                }
                Leaf::Hyper(i) => format!("hyper h{i}: f64 = 0.5"),
                Leaf::Const(_) => continue,
            };
            if !decls.contains(&decl) {
                decls.push(decl);
            }
        }
        format!("struct L {{ {} }} minimize {self}", decls.join(", "))
    }

    /// The operations written, for the coverage report.
    fn syntax(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.syntax_into(&mut out);
        out.sort();
        out.dedup();
        out
    }

    fn syntax_into(&self, out: &mut Vec<String>) {
        match self {
            E::Leaf(Leaf::Mask(..) | Leaf::Guarded(..) | Leaf::GuardedTanh(..)) => {
                out.push("mask".into())
            }
            E::Leaf(Leaf::CountRows(..) | Leaf::CountCols(..)) => out.push("count".into()),
            E::Leaf(_) => {}
            E::Neg(x) => {
                out.push("neg".into());
                x.syntax_into(out);
            }
            E::T(x) => {
                out.push(".T".into());
                x.syntax_into(out);
            }
            E::Bin(op, x, y) => {
                out.push(op.to_string());
                x.syntax_into(out);
                y.syntax_into(out);
            }
            E::Pow(x, p) => {
                out.push(
                    if p.starts_with('-') {
                        "^neg"
                    } else if ["0.5", "1.5", "2.5", "(1 / 3)"].contains(p) {
                        "^real"
                    } else {
                        "^int"
                    }
                    .into(),
                );
                x.syntax_into(out);
            }
            E::Call(f, x) | E::CallWith(f, x, _) => {
                out.push(f.to_string());
                x.syntax_into(out);
            }
        }
    }

    fn all_data_guarded(&self) -> bool {
        let mut leaves = Vec::new();
        self.leaves(&mut leaves);
        !leaves.iter().any(|l| matches!(l, Leaf::Data(..)))
    }
}

fn leaf(l: Leaf) -> E {
    E::Leaf(l)
}

fn bin(op: &'static str, x: E, y: E) -> E {
    E::Bin(op, Box::new(x), Box::new(y))
}

/// Leaves of shape `s`.
fn leaves(s: Sh) -> BoxedStrategy<E> {
    let symbols = prop_oneof![
        4 => (0..2u8).prop_map(move |i| leaf(Leaf::Param(i, s))),
        1 => Just(leaf(Leaf::Data(0, s))),
        1 => (0..2u8).prop_map(move |i| leaf(Leaf::Guarded(i, s))),
        1 => (0..2u8).prop_map(move |i| leaf(Leaf::Mask(i, s))),
    ];
    // Observation counts of a data matrix whose other axis is random.
    let symbols = match s {
        (r, 0) if r != 0 => prop_oneof![
            6 => symbols,
            1 => ((0..2u8), (1..4u8)).prop_map(move |(i, c)| leaf(Leaf::CountRows(i, (r, c)))),
        ]
        .boxed(),
        (0, c) if c != 0 => prop_oneof![
            6 => symbols,
            1 => ((0..2u8), (1..4u8)).prop_map(move |(i, r)| leaf(Leaf::CountCols(i, (r, c)))),
        ]
        .boxed(),
        _ => symbols.boxed(),
    };
    if s == SCALAR {
        prop_oneof![
            3 => symbols,
            1 => (0..2u8).prop_map(|i| leaf(Leaf::Hyper(i))),
            2 => prop::sample::select(vec![0.0, 1.0, -1.0, 2.0, 0.5, 3.0, -2.5])
                .prop_map(|c| leaf(Leaf::Const(c))),
        ]
        .boxed()
    } else {
        symbols.boxed()
    }
}

/// The pairs of shapes that broadcast to `s`, with weights that favour
/// equal shapes.
fn splits(s: Sh) -> Vec<(u32, Sh, Sh)> {
    let axis = |d: u8| {
        if d == 0 {
            vec![(1, 0, 0)]
        } else {
            vec![(4, d, d), (1, d, 0), (1, 0, d)]
        }
    };
    let mut out = Vec::new();
    for (wr, r1, r2) in axis(s.0) {
        for (wc, c1, c2) in axis(s.1) {
            out.push((wr * wc, (r1, c1), (r2, c2)));
        }
    }
    out
}

/// A weighted choice, as a balanced tree of two-way unions: a union
/// prepares every option before the one it picks (with a fresh RNG each),
/// which made flat 15-way choices the bulk of the test's run time.
fn one_of(mut options: Vec<(u32, BoxedStrategy<E>)>) -> BoxedStrategy<E> {
    if options.len() == 1 {
        return options.remove(0).1;
    }
    let right = options.split_off(options.len() / 2);
    let weight = |o: &[(u32, BoxedStrategy<E>)]| o.iter().map(|(w, _)| w).sum::<u32>();
    let (wl, wr) = (weight(&options), weight(&right));
    proptest::strategy::Union::new_weighted(vec![(wl, one_of(options)), (wr, one_of(right))])
        .boxed()
}

/// The strategies of one depth, by shape (`rows * 4 + cols`).
type Level = [BoxedStrategy<E>];

fn at(level: &Level, (r, c): Sh) -> BoxedStrategy<E> {
    level[(r * 4 + c) as usize].clone()
}

fn all_shapes() -> impl Iterator<Item = Sh> {
    (0..4u8).flat_map(|r| (0..4u8).map(move |c| (r, c)))
}

/// A value of shape `s`, at least 0.5 everywhere: `x^2 + c`.
fn positive(s: Sh, lower: &Level) -> BoxedStrategy<E> {
    (at(lower, s), prop::sample::select(vec![0.5, 1.0, 2.0]))
        .prop_map(|(x, c)| bin("+", E::Pow(Box::new(x), "2"), leaf(Leaf::Const(c))))
        .boxed()
}

/// A value of shape `s` that is never near 0.
fn nonzero(s: Sh, lower: &Level) -> BoxedStrategy<E> {
    let pos = positive(s, lower);
    let mut options = vec![
        (3, pos.clone()),
        (1, pos.prop_map(|x| E::Neg(Box::new(x))).boxed()),
    ];
    if s == SCALAR {
        options.push((
            1,
            prop::sample::select(vec![1.0, -1.0, 2.0, 0.5, -2.5])
                .prop_map(|c| leaf(Leaf::Const(c)))
                .boxed(),
        ));
        options.push((1, (0..2u8).prop_map(|i| leaf(Leaf::Hyper(i))).boxed()));
    }
    one_of(options)
}

/// A product of shape `s` with data as one operand, the way an
/// autoencoder reads ratings: its mask, its values under the mask or a
/// function of them, on the left or the right, plain or transposed (`S @ x`,
/// `x @ S`, `S.T @ x`, `x @ S.T`).
fn sparse_product(s: Sh, lower: &Level) -> BoxedStrategy<E> {
    one_of(
        (0..4u8)
            .map(|k| {
                let p = (
                    (0..2u8, 0..3u8, 0..4u8),
                    at(lower, (s.0, k)),
                    at(lower, (k, s.1)),
                )
                    .prop_map(move |((i, kind, orientation), x, y)| {
                        let data = |sh: Sh| match kind {
                            0 => leaf(Leaf::Mask(i, sh)),
                            1 => leaf(Leaf::Guarded(i, sh)),
                            _ => leaf(Leaf::GuardedTanh(i, sh)),
                        };
                        let t = |x: E| E::T(Box::new(x));
                        match orientation {
                            0 => bin("@", data((s.0, k)), y),
                            1 => bin("@", x, data((k, s.1))),
                            2 => bin("@", t(data((k, s.0))), y),
                            _ => bin("@", x, t(data((s.1, k)))),
                        }
                    })
                    .boxed();
                (1, p)
            })
            .collect(),
    )
}

/// Random expressions of shape `s` whose operands come from `lower`.
fn expr(s: Sh, lower: &Level) -> BoxedStrategy<E> {
    let sub = at(lower, s);
    let unary = |f: fn(E) -> E| sub.clone().prop_map(f).boxed();
    let by_split = |f: &dyn Fn(Sh, Sh) -> BoxedStrategy<E>| {
        one_of(
            splits(s)
                .into_iter()
                .map(|(w, a, b)| (w, f(a, b)))
                .collect(),
        )
    };
    let binary = by_split(&|a, b| {
        (
            prop::sample::select(vec!["+", "-", "*"]),
            at(lower, a),
            at(lower, b),
        )
            .prop_map(|(op, x, y)| bin(op, x, y))
            .boxed()
    });
    let quotient = by_split(&|a, b| {
        (at(lower, a), nonzero(b, lower))
            .prop_map(|(x, y)| bin("/", x, y))
            .boxed()
    });
    let masked = by_split(&|a, b| {
        ((0..2u8), at(lower, b))
            .prop_map(move |(i, x)| bin("*", leaf(Leaf::Mask(i, a)), x))
            .boxed()
    });
    let product = one_of(
        (0..4u8)
            .map(|k| {
                let p = (at(lower, (s.0, k)), at(lower, (k, s.1)))
                    .prop_map(|(x, y)| bin("@", x, y))
                    .boxed();
                (1, p)
            })
            .collect(),
    );
    let mut options: Vec<(u32, BoxedStrategy<E>)> = vec![
        (6, leaves(s)),
        (6, binary),
        (2, quotient),
        (3, product),
        (1, sparse_product(s, lower)),
        (
            2,
            (
                sub.clone(),
                prop::sample::select(vec!["2", "3", "1", "0", "(1 + 1)"]),
            )
                .prop_map(|(x, p)| E::Pow(Box::new(x), p))
                .boxed(),
        ),
        (
            2,
            (
                positive(s, lower),
                prop::sample::select(vec!["-1", "-2", "0.5", "1.5", "-0.5", "(1 / 3)", "2.5"]),
            )
                .prop_map(|(x, p)| E::Pow(Box::new(x), p))
                .boxed(),
        ),
        (1, unary(|x| E::Neg(Box::new(x)))),
        (
            2,
            at(lower, (s.1, s.0))
                .prop_map(|x| E::T(Box::new(x)))
                .boxed(),
        ),
        (1, unary(|x| E::Call("abs", Box::new(x)))),
        (
            1,
            positive(s, lower)
                .prop_map(|x| E::Call("sqrt", Box::new(x)))
                .boxed(),
        ),
        (
            1,
            positive(s, lower)
                .prop_map(|x| E::Call("log", Box::new(x)))
                .boxed(),
        ),
        (
            1,
            unary(|x| E::Call("exp", Box::new(bin("*", leaf(Leaf::Const(0.5)), x)))),
        ),
        (2, masked),
        (
            3,
            (
                sub.clone(),
                prop::sample::select(vec!["sigmoid", "softplus", "tanh", "relu"]),
            )
                .prop_map(|(x, f)| E::Call(f, Box::new(x)))
                .boxed(),
        ),
        (
            1,
            positive(s, lower)
                .prop_map(|x| E::Call("log1p", Box::new(x)))
                .boxed(),
        ),
        (
            2,
            (
                sub.clone(),
                prop::sample::select(vec![
                    ("max", "0.3"),
                    ("max", "(-0.5)"),
                    ("huber", "0.5"),
                    ("huber", "1.5"),
                ]),
            )
                .prop_map(|(x, (f, c))| E::CallWith(f, Box::new(x), c))
                .boxed(),
        ),
    ];
    if s == SCALAR {
        let reductions = all_shapes()
            .map(|x| {
                let r = (
                    prop::sample::select(vec!["sum", "sum", "mean", "norm"]),
                    at(lower, x),
                )
                    .prop_map(|(f, x)| E::Call(f, Box::new(x)))
                    .boxed();
                (1, r)
            })
            .collect();
        options.push((8, one_of(reductions)));
    }
    one_of(options)
}

/// Scalar losses at most `depth` operations deep. Each depth's strategies
/// are built once, from the previous depth's.
fn losses(depth: u32) -> BoxedStrategy<E> {
    let mut level: Vec<BoxedStrategy<E>> = all_shapes().map(leaves).collect();
    for _ in 0..depth {
        level = all_shapes().map(|s| expr(s, &level)).collect();
    }
    at(&level, SCALAR)
}

/// One generated case: the loss, dimension sizes and a seed for the values.
#[derive(Debug, Clone)]
struct Case {
    loss: E,
    sizes: [usize; 3],
    seed: u64,
}

fn case(depth: u32) -> impl Strategy<Value = Case> {
    (
        losses(depth),
        [1..=3usize, 1..=3usize, 1..=3usize],
        any::<u64>(),
    )
        .prop_map(|(loss, sizes, seed)| Case { loss, sizes, seed })
}

/// SplitMix64: values from the case's seed, without a `rand` dependency.
struct Values(u64);

impl Values {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[-1, 1)`.
    fn uniform(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    }

    fn mat(&mut self, (rows, cols): (usize, usize)) -> Mat {
        Mat::from_fn(rows, cols, |_, _| self.uniform())
    }
}

/// The syntax tree's value, straight from the definitions (no IR, no
/// simplification). Symbols are looked up by name in the checked symbols.
struct AstEval<'a> {
    symbols: &'a crate::check::Symbols,
    env: &'a interp::Env,
}

impl AstEval<'_> {
    fn elementwise(&self, op: Op, args: &[Mat]) -> Result<Mat, String> {
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

    fn data_index(&self, name: &str) -> Result<usize, String> {
        self.symbols
            .data
            .iter()
            .position(|d| d.name == name)
            .ok_or_else(|| format!("no data `{name}`"))
    }

    fn eval(&self, e: &Expr) -> Result<Mat, String> {
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
fn close(a: f64, b: f64, rel: f64, abs: f64) -> bool {
    a == b || (a - b).abs() <= rel * a.abs().max(b.abs()) + abs
}

/// Fourth-order central difference step (and half of it).
const H: f64 = 1e-3;
/// A norm, square root or `div_or_zero` denominator below this (and not
/// identically 0) makes the loss too curved for the stencil.
const POLE_MARGIN: f64 = 0.1;

/// Whether the loss is smooth across a stencil: every kink argument keeps
/// its sign, and every pole stays away from 0 (or is 0 at every point: a
/// structural zero, where the zero subgradient is what central differences
/// of an even function give).
fn smooth(stencil: &[Vec<Kink>]) -> bool {
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
struct Outcome {
    /// The IR operations of the loss and its gradients.
    ops: Vec<&'static str>,
    /// Gradient entries compared with finite differences, and skipped
    /// because the stencil crossed a kink.
    checked: usize,
    skipped: usize,
}

fn run(case: &Case) -> Result<Outcome, TestCaseError> {
    check_source(
        &case.loss.source(),
        case.loss.all_data_guarded(),
        case.sizes,
        case.seed,
    )
}

/// Checks one loss (its `loss!` input): `guarded` when every data read is
/// `mask(D) * D`; `sizes` of the dimensions a, b, c; `seed` of the values.
fn check_source(
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

/// The property test: 10,000 random losses per run. A failure is shrunk
/// to a minimal loss and printed as `loss!` source text; `replay` reruns
/// one by hand.
#[test]
fn simplified_values_and_symbolic_gradients_are_right() {
    // `PROPTEST_CASES` and `MF_PROPTEST_DEPTH` run a longer search by hand.
    let knob = |name: &str, default: u32| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let config = ProptestConfig {
        cases: knob("PROPTEST_CASES", 10_000),
        max_global_rejects: 5_000,
        // Cheap to fork: the strategies fork the RNG at every choice.
        rng_algorithm: proptest::test_runner::RngAlgorithm::XorShift,
        // Found failures become cases of `found_failures_stay_fixed`.
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let mut runner = proptest::test_runner::TestRunner::new(config);
    let ops = std::cell::RefCell::new(std::collections::BTreeMap::<&str, usize>::new());
    let syntax = std::cell::RefCell::new(std::collections::BTreeMap::<String, usize>::new());
    let (checked, skipped) = (std::cell::Cell::new(0), std::cell::Cell::new(0));
    let result = runner.run(&case(knob("MF_PROPTEST_DEPTH", 4)), |case| {
        let outcome = run(&case)?;
        for op in outcome.ops {
            *ops.borrow_mut().entry(op).or_default() += 1;
        }
        for word in case.loss.syntax() {
            *syntax.borrow_mut().entry(word).or_default() += 1;
        }
        checked.set(checked.get() + outcome.checked);
        skipped.set(skipped.get() + outcome.skipped);
        Ok(())
    });
    if let Err(error) = result {
        panic!("{error}");
    }
    let (ops, syntax) = (ops.into_inner(), syntax.into_inner());
    eprintln!(
        "IR ops: {ops:?}\nsyntax: {syntax:?}\ngradient entries checked: {}, skipped at kinks: {}",
        checked.get(),
        skipped.get()
    );
    // Every operation of the language and of the IR is exercised, often.
    for s in crate::ops::ALL
        .iter()
        .filter(|s| s.class != crate::ops::Class::Sugar)
    {
        let n = ops.get(s.name).copied().unwrap_or(0);
        assert!(n >= 50, "IR op `{}` met in {n} cases only", s.name);
    }
    for word in [
        "+", "-", "*", "/", "@", "^int", "^real", "^neg", "neg", ".T", "sum", "mean", "norm",
        "abs", "sqrt", "exp", "log", "mask", "sigmoid", "softplus", "tanh", "relu", "log1p", "max",
        "huber", "count",
    ] {
        let n = syntax.get(word).copied().unwrap_or(0);
        assert!(n >= 100, "`{word}` written in {n} cases only");
    }
    assert!(
        skipped.get() * 20 < checked.get(),
        "too many finite differences skipped at kinks"
    );
}

/// Failures the property test found, kept as regression cases:
/// (guarded, sizes of a, b, c, seed, source).
#[test]
fn found_failures_stay_fixed() {
    let cases: [(bool, [usize; 3], u64, &str); 3] = [
        // The gradient read a guarded scalar data value outside its mask
        // (fixed in `simplify`: masks stay outside sums and broadcasts).
        (
            true,
            [1, 2, 1],
            3697640140301500817,
            "struct L { data d0_11: [], param p0_11: [], data d1_1c: [1, c], param p0_1c: [1, c] } \
             minimize sum(((mask(d0_11) * d0_11) * p0_11) * mask(d1_1c)) + sum(p0_1c)",
        ),
        // With masks on rows and on columns, moving a mask out of a sum
        // dropped the one that gave the summand its rows: a sum from a row
        // to a column (the interpreter's shape checks caught it).
        (
            false,
            [2, 3, 1],
            0,
            "struct L { param p0_11: [], data d0_1b: [1, b], data d0_a1: [a, 1] } \
             minimize (p0_11 + norm((mask(d0_1b) * (mask(d0_a1) * ((p0_11 @ p0_11) @ p0_11)))))",
        ),
        // Too steep for a fourth-order stencil at h = 1e-3 alone (relative
        // error 1.7e-6): finite differences now extrapolate from h and h/2.
        (
            false,
            [1, 1, 1],
            17514965690144179283,
            "struct L { param p0_11: [] } \
             minimize exp((0.5 * (p0_11 + exp((0.5 * ((((p0_11 * 3.0) ^ 2) + 0.5) ^ 2.5))))))",
        ),
    ];
    for (guarded, sizes, seed, source) in cases {
        if let Err(error) = check_source(source, guarded, sizes, seed) {
            panic!("{error}");
        }
    }
}

/// Runs the case in `MF_CASE` (`guarded|a,b,c|seed|source`), to investigate
/// a failure by hand.
#[test]
fn replay() {
    let Ok(spec) = std::env::var("MF_CASE") else {
        return;
    };
    let parts: Vec<&str> = spec.splitn(4, '|').collect();
    let sizes: Vec<usize> = parts[1]
        .split(',')
        .map(|s| s.parse().expect("size"))
        .collect();
    let result = check_source(
        parts[3],
        parts[0] == "1",
        [sizes[0], sizes[1], sizes[2]],
        parts[2].parse().expect("seed"),
    );
    if let Err(error) = result {
        panic!("{error}");
    }
}
