//! Losses whose model multiplies the sparse data itself, AutoRec-style: the
//! mask, the values under it or a function of them, on either side of a
//! product with a dense expression, plain or transposed, so that the
//! forward products and their derivatives cover every orientation.

use super::{e, Class, Dim, Gen, Shape, E, SCALAR};

/// The sparse operands, by kind: the mask, the values under it, a function
/// of them.
const KINDS: [(&str, &str); 3] = [
    ("mask(D)", "mask(D) operand"),
    ("(mask(D) * D)", "values operand"),
    ("(mask(D) * sqrt(D))", "f(values) operand"),
];

/// The orientations `S @ X`, `X @ S`, `S.T @ X`, `X @ S.T`, with the
/// shape of the dense operand `X`.
const ORIENTATIONS: [(&str, Shape); 4] = [
    ("S @ X", (Dim::I, Dim::K)),
    ("X @ S", (Dim::K, Dim::U)),
    ("S.T @ X", (Dim::U, Dim::K)),
    ("X @ S.T", (Dim::K, Dim::I)),
];

/// How many such losses are generated after the random ones: each
/// orientation with each kind once.
pub const CASES: usize = KINDS.len() * ORIENTATIONS.len();

/// The orientation and kind of the `j`-th such loss.
pub fn pick(j: usize) -> (usize, usize) {
    (j % ORIENTATIONS.len(), j % KINDS.len())
}

impl Gen<'_> {
    /// `sum(mask * (D - decode(g(encode(S)))) ^ 2)`: the sparse operand `S`
    /// encoded by a product with a random dense expression, squashed, and
    /// decoded back to the `users × items` grid by `P` or `Q`.
    pub fn autoencoder_fit(&mut self, orientation: usize, kind: usize) -> E {
        let (s, kind_tag) = KINDS[kind];
        let (orientation_tag, other) = ORIENTATIONS[orientation];
        self.tag("mask");
        self.tag("@");
        self.tag(kind_tag);
        self.tag(orientation_tag);
        if orientation >= 2 {
            self.tag(".T");
        }
        let depth = self.rng.pick(&[0, 1, 1, 2]);
        let x = self.expr(other, Class::Any, depth, false).s;
        let code = match orientation {
            0 => format!("({s} @ {x})"),
            1 => format!("({x} @ {s})"),
            2 => format!("({s}.T @ {x})"),
            _ => format!("({x} @ {s}.T)"),
        };
        let f = self.rng.pick(&["sigmoid", "tanh"]);
        self.tag(f);
        let hidden = format!("{f}(0.3 * {code})");
        let decoded = match orientation {
            0 => format!("{hidden} @ {}", self.param("Q")),
            1 => format!("{} @ {hidden}", self.param("P")),
            2 => format!("{} @ {hidden}.T", self.param("P")),
            _ => format!("{hidden}.T @ {}", self.param("Q")),
        };
        let mask = self.mask();
        e(
            format!("sum({mask} * (D - {decoded}) ^ 2)"),
            SCALAR,
            Class::NonNeg,
        )
    }
}
