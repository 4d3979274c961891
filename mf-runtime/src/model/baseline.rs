//! What a model predicts for an id without training ratings under
//! [`Unknown::Baseline`](super::Unknown::Baseline): the loss's prediction
//! with the id's rows of params at zero. The rows of the prediction's
//! tables of such an id in the id maps are computed that way too (the
//! attribute offset `F@W` alone, for a user with attributes and no
//! ratings); an id outside the maps reads an appended row (column) of
//! zeros.

use ndarray::{Array2, Axis};

use super::query::Rated;
use super::ParamDecl;
use crate::{ParamLayout, Params};

/// The ids without training ratings, and the dimensions of the
/// prediction's rows (`users`) and columns (`items`).
pub(super) struct Baseline<'a> {
    users: &'a str,
    items: &'a str,
    untrained_users: Vec<usize>,
    untrained_items: Vec<usize>,
}

impl<'a> Baseline<'a> {
    /// The ids of `rated` without training ratings, on the axes named
    /// `users` and `items`.
    pub(super) fn new(users: &'a str, items: &'a str, rated: &Rated) -> Baseline<'a> {
        let (num_users, num_items) = rated.dim();
        Baseline {
            users,
            items,
            untrained_users: (0..num_users)
                .filter(|&u| rated.user_count(u) == 0)
                .collect(),
            untrained_items: (0..num_items)
                .filter(|&i| rated.item_count(i) == 0)
                .collect(),
        }
    }

    /// Whether some id has no training ratings.
    pub(super) fn has_untrained(&self) -> bool {
        !(self.untrained_users.is_empty() && self.untrained_items.is_empty())
    }

    /// The untrained indices along an axis of dimension `dim`.
    fn untrained(&self, dim: &str) -> &[usize] {
        match dim {
            d if d == self.users => &self.untrained_users,
            d if d == self.items => &self.untrained_items,
            _ => &[],
        }
    }

    /// `params` (blocks declared by `decls`) with the untrained ids' rows
    /// (columns) at zero.
    pub(super) fn zeroed(&self, params: &Params, decls: &[ParamDecl]) -> Params {
        let mut out = params.clone();
        for (index, decl) in decls.iter().enumerate() {
            for (axis, dim) in [(Axis(0), decl.rows), (Axis(1), decl.cols)] {
                for &j in self.untrained(dim) {
                    out.block_mut(index).index_axis_mut(axis, j).fill(0.0);
                }
            }
        }
        out
    }

    /// Gives the untrained ids' rows (columns) of `tables` the values of
    /// `at_zero`, the tables at the [`zeroed`](Self::zeroed) params; a
    /// value that is not finite there (a table dividing by an empty row's
    /// count, as SVD++'s `mask(D) @ Y / sqrt(count_rows(D))`) is zero.
    pub(super) fn merge(
        &self,
        tables: &mut [Array2<f64>],
        at_zero: &[Array2<f64>],
        decls: &[ParamDecl],
    ) {
        let finite = |v: &f64| if v.is_finite() { *v } else { 0.0 };
        for ((table, zero), decl) in tables.iter_mut().zip(at_zero).zip(decls) {
            for (axis, dim) in [(Axis(0), decl.rows), (Axis(1), decl.cols)] {
                for &j in self.untrained(dim) {
                    table
                        .index_axis_mut(axis, j)
                        .assign(&zero.index_axis(axis, j).map(finite));
                }
            }
        }
    }

    /// Whether an axis of dimension `dim` grows by the row of zeros.
    fn grows(&self, dim: &str) -> usize {
        usize::from(dim == self.users || dim == self.items)
    }

    /// `a`, declared `decl`, with a row (column) of zeros appended on every
    /// axis over users (items): the index of an id outside the maps.
    pub(super) fn padded_array(&self, a: &Array2<f64>, decl: &ParamDecl) -> Array2<f64> {
        let (rows, cols) = a.dim();
        let mut out = Array2::zeros((rows + self.grows(decl.rows), cols + self.grows(decl.cols)));
        out.slice_mut(ndarray::s![..rows, ..cols]).assign(a);
        out
    }

    /// The params predictions read: `params` [`zeroed`](Self::zeroed),
    /// padded as [`padded_array`](Self::padded_array) pads.
    pub(super) fn padded_params(&self, params: &Params, decls: &[ParamDecl]) -> Params {
        let zeroed = self.zeroed(params, decls);
        let layout = ParamLayout::new(decls.iter().zip(params.layout().blocks()).map(|(d, b)| {
            (
                b.name.clone(),
                b.rows + self.grows(d.rows),
                b.cols + self.grows(d.cols),
            )
        }));
        let mut out = Params::zeros(layout);
        for index in 0..decls.len() {
            let block = zeroed.block(index);
            let (rows, cols) = block.dim();
            out.block_mut(index)
                .slice_mut(ndarray::s![..rows, ..cols])
                .assign(&block);
        }
        out
    }
}
