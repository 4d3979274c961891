//! Rows of the table for the leaves: constants, params, data, hypers,
//! masks and the counts and means read from the data.

use super::*;

pub(super) static CONST: OpSpec = OpSpec {
    meaning: "a number, e.g. `2`, `0.5`, `1e-3`",
    derivative: "0",
    ..leaf_const()
};

pub(super) const fn leaf_const() -> OpSpec {
    OpSpec {
        name: "constant",
        syntax: "",
        arity: 0,
        class: Class::Leaf,
        meaning: "",
        derivative: "",
        eval: None,
        code: None,
        adjoint: None,
    }
}

pub(super) static PARAM: OpSpec = OpSpec {
    name: "param",
    meaning: "a declared parameter: the unknowns the gradient is taken with respect to",
    ..leaf_const()
};
pub(super) static DATA: OpSpec = OpSpec {
    name: "data",
    meaning: "a declared data matrix (not differentiated)",
    ..leaf_const()
};
pub(super) static HYPER: OpSpec = OpSpec {
    name: "hyper",
    meaning: "a declared hyper-setting (a scalar field of the loss struct)",
    ..leaf_const()
};
pub(super) static COUNT: OpSpec = OpSpec {
    name: "count",
    meaning: "the number of entries of a shape, known at run time",
    ..leaf_const()
};
pub(super) static MASK: OpSpec = OpSpec {
    name: "mask",
    syntax: "mask(D)",
    meaning: "1 where data `D` is observed, 0 elsewhere; `mask` alone means the only data matrix. `mask * x` skips the missing entries: `x` is never read there, so a NaN in a missing cell cannot leak in. `mask(D) @ Y` sums, for each row, the rows of `Y` of its observed columns (the implicit feedback of SVD++); over sparse data it is a pass over the observed entries",
    derivative: "none (data); `mask * x` passes the adjoint of `x` through on observed entries only",
    ..leaf_const()
};
pub(super) static MEAN: OpSpec = OpSpec {
    name: "mean",
    syntax: "mean(x)",
    arity: 1,
    class: Class::Sugar,
    meaning: "`sum(x)` divided by the number of entries of `x` (all of them, masked or not)",
    derivative: "broadcast of 1 / (rows · cols)",
    ..leaf_const()
};

pub(super) static COUNT_ROWS: OpSpec = OpSpec {
    name: "count_rows",
    syntax: "count_rows(D)",
    meaning: "the number of observed entries in each row of data `D`, a column vector `[rows, 1]` (nᵤ, for weighted-λ penalties such as `sum(count_rows(D) * P^2)`)",
    derivative: "none (data)",
    arity: 1,
    ..leaf_const()
};
pub(super) static COUNT_COLS: OpSpec = OpSpec {
    name: "count_cols",
    syntax: "count_cols(D)",
    meaning: "the number of observed entries in each column of data `D`, a row vector `[1, cols]`",
    derivative: "none (data)",
    arity: 1,
    ..leaf_const()
};
