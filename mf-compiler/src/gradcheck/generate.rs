//! Generating random well-formed losses: shapes, leaves and expressions
//! over every operation, as syntax trees that print as `loss!` source.

use proptest::prelude::*;
use std::fmt;

/// A dimension of a generated shape: 0 is `1`, 1..=3 the symbols a, b, c.
pub(super) type Sh = (u8, u8);

pub(super) const SCALAR: Sh = (0, 0);
pub(super) const DIM_NAMES: [&str; 4] = ["1", "a", "b", "c"];

#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Leaf {
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
pub(super) enum E {
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

pub(super) fn shape_name((r, c): Sh) -> String {
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
    pub(super) fn leaves(&self, out: &mut Vec<Leaf>) {
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
    pub(super) fn source(&self) -> String {
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
    pub(super) fn syntax(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.syntax_into(&mut out);
        out.sort();
        out.dedup();
        out
    }

    pub(super) fn syntax_into(&self, out: &mut Vec<String>) {
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

    pub(super) fn all_data_guarded(&self) -> bool {
        let mut leaves = Vec::new();
        self.leaves(&mut leaves);
        !leaves.iter().any(|l| matches!(l, Leaf::Data(..)))
    }
}

pub(super) fn leaf(l: Leaf) -> E {
    E::Leaf(l)
}

pub(super) fn bin(op: &'static str, x: E, y: E) -> E {
    E::Bin(op, Box::new(x), Box::new(y))
}

/// Leaves of shape `s`.
pub(super) fn leaves(s: Sh) -> BoxedStrategy<E> {
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
pub(super) fn splits(s: Sh) -> Vec<(u32, Sh, Sh)> {
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
pub(super) fn one_of(mut options: Vec<(u32, BoxedStrategy<E>)>) -> BoxedStrategy<E> {
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
pub(super) type Level = [BoxedStrategy<E>];

pub(super) fn at(level: &Level, (r, c): Sh) -> BoxedStrategy<E> {
    level[(r * 4 + c) as usize].clone()
}

pub(super) fn all_shapes() -> impl Iterator<Item = Sh> {
    (0..4u8).flat_map(|r| (0..4u8).map(move |c| (r, c)))
}

/// A value of shape `s`, at least 0.5 everywhere: `x^2 + c`.
pub(super) fn positive(s: Sh, lower: &Level) -> BoxedStrategy<E> {
    (at(lower, s), prop::sample::select(vec![0.5, 1.0, 2.0]))
        .prop_map(|(x, c)| bin("+", E::Pow(Box::new(x), "2"), leaf(Leaf::Const(c))))
        .boxed()
}

/// A value of shape `s` that is never near 0.
pub(super) fn nonzero(s: Sh, lower: &Level) -> BoxedStrategy<E> {
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
pub(super) fn sparse_product(s: Sh, lower: &Level) -> BoxedStrategy<E> {
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
pub(super) fn expr(s: Sh, lower: &Level) -> BoxedStrategy<E> {
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
pub(super) fn losses(depth: u32) -> BoxedStrategy<E> {
    let mut level: Vec<BoxedStrategy<E>> = all_shapes().map(leaves).collect();
    for _ in 0..depth {
        level = all_shapes().map(|s| expr(s, &level)).collect();
    }
    at(&level, SCALAR)
}

/// One generated case: the loss, dimension sizes and a seed for the values.
#[derive(Debug, Clone)]
pub(super) struct Case {
    pub(super) loss: E,
    pub(super) sizes: [usize; 3],
    pub(super) seed: u64,
}

pub(super) fn case(depth: u32) -> impl Strategy<Value = Case> {
    (
        losses(depth),
        [1..=3usize, 1..=3usize, 1..=3usize],
        any::<u64>(),
    )
        .prop_map(|(loss, sizes, seed)| Case { loss, sizes, seed })
}
