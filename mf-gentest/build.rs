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

#[path = "build/cases.rs"]
mod cases;
#[path = "build/expressions.rs"]
mod expressions;
#[path = "build/sparse_operands.rs"]
mod sparse_operands;
#[path = "build/terms.rs"]
mod terms;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use cases::{generate, write_case};

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

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=build");
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
