//! The scratch buffers allocated once at bind time: the plans' buffers and,
//! for the passes over sparse data, the tilings, column scratch and
//! transposed copies (the workspace struct), and the observation counts
//! (fields of the objective).

use super::entries::{column_scratch, pass_row_sources, sparse_passes, transposed_var};
use super::{buffer_var, dim_size, prefixed};
use crate::check::Symbols;
use crate::ir::{Graph, NodeId, Op};
use crate::lower::{Plan, Step};
use proc_macro2::{Ident, TokenStream};
use quote::quote;
use std::collections::BTreeSet;

/// The workspace struct's fields and their initial values in
/// `objective()`: the buffers of `plans`, then what their passes over
/// sparse data need.
pub(super) fn fields(
    g: &Graph,
    s: &Symbols,
    plans: &[&Plan],
) -> (Vec<TokenStream>, Vec<TokenStream>) {
    let nd = quote!(::mf_runtime::ndarray);
    let buffers: BTreeSet<NodeId> = plans
        .iter()
        .flat_map(|plan| &plan.buffers)
        .copied()
        .collect();
    let mut fields: Vec<TokenStream> = buffers
        .iter()
        .map(|&b| {
            let v = buffer_var(b);
            quote!(#v: #nd::Array2<f64>,)
        })
        .collect();
    let mut inits: Vec<TokenStream> = buffers
        .iter()
        .map(|&b| {
            let v = buffer_var(b);
            let shape = g.shape(b);
            let (r, c) = (dim_size(shape.rows), dim_size(shape.cols));
            quote!(#v: #nd::Array2::zeros((#r, #c)),)
        })
        .collect();
    // Tilings, column scratch and transposed copies of the passes
    // over sparse data.
    for (name, ty, init) in sparse_workspace(g, s, plans) {
        fields.push(quote!(#name: #ty,));
        inits.push(quote!(#name: #init,));
    }
    (fields, inits)
}

/// The workspace fields one plan uses, as the locals its body binds.
pub(super) fn locals(g: &Graph, s: &Symbols, plan: &Plan) -> Vec<Ident> {
    let mut names: Vec<Ident> = plan.buffers.iter().map(|&b| buffer_var(b)).collect();
    names.extend(
        sparse_workspace(g, s, &[plan])
            .into_iter()
            .map(|(name, _, _)| name),
    );
    names
}

/// The objective's fields holding observation counts per row or column,
/// and their values in `objective()` (computed once when bound).
pub(super) fn count_fields(g: &Graph, s: &Symbols) -> (Vec<TokenStream>, Vec<TokenStream>) {
    let counts = used_counts(g, s);
    let fields = counts
        .iter()
        .map(|(field, _)| quote!(#field: ::std::vec::Vec<f64>,))
        .collect();
    let inits = counts
        .iter()
        .map(|(field, (d, rows))| {
            let n = &s.data[*d].name;
            let method = if *rows {
                quote!(row_counts)
            } else {
                quote!(col_counts)
            };
            quote!(#field: ::mf_runtime::data::ObservationCounts::#method(data.#n),)
        })
        .collect();
    (fields, inits)
}

/// The workspace field holding the tiling of sparse data `d`'s pattern.
pub(super) fn tiling_var(s: &Symbols, d: usize) -> Ident {
    prefixed("tiling", &s.data[d].name)
}

/// The workspace fields the sparse passes of `plans` need: (name, type,
/// initial value in `objective()`), each once.
fn sparse_workspace(
    g: &Graph,
    s: &Symbols,
    plans: &[&Plan],
) -> Vec<(Ident, TokenStream, TokenStream)> {
    let nd = quote!(::mf_runtime::ndarray);
    let mut fields: Vec<(Ident, TokenStream, TokenStream)> = Vec::new();
    let mut add = |name: Ident, ty: TokenStream, init: TokenStream| {
        if !fields.iter().any(|(n, _, _)| *n == name) {
            fields.push((name, ty, init));
        }
    };
    for plan in plans {
        for pass in sparse_passes(g, s, plan) {
            let data = &s.data[pass.data].name;
            add(
                tiling_var(s, pass.data),
                quote!(::mf_runtime::kernel::Tiling),
                quote!(::mf_runtime::kernel::Tiling::new(
                    data.#data.csr().indptr,
                    data.#data.csr().indices,
                    data.#data.num_items(),
                )),
            );
            for item in &pass.column_items {
                if let Some((scratch, len)) = column_scratch(g, item) {
                    add(
                        scratch,
                        quote!(::std::vec::Vec<f64>),
                        quote!(::std::vec![0.0; #len]),
                    );
                }
            }
            if let Step::Loop { inline, items, .. } = pass.step {
                for rows in pass_row_sources(g, inline, items) {
                    if rows.transposed {
                        let shape = g.shape(rows.base);
                        let (r, c) = (dim_size(shape.cols), dim_size(shape.rows));
                        add(
                            transposed_var(g, rows.base),
                            quote!(#nd::Array2<f64>),
                            quote!(#nd::Array2::zeros((#r, #c))),
                        );
                    }
                }
            }
        }
    }
    fields
}

/// The objective's field holding the observation counts of data `d` per
/// row (`rows`) or per column.
pub(super) fn count_var(s: &Symbols, d: usize, rows: bool) -> Ident {
    prefixed(
        if rows { "count_rows" } else { "count_cols" },
        &s.data[d].name,
    )
}

/// The observation counts the loss uses: (field, (data index, per row)).
pub(super) fn used_counts(g: &Graph, s: &Symbols) -> Vec<(Ident, (usize, bool))> {
    let mut used: BTreeSet<(usize, bool)> = BTreeSet::new();
    for id in (0..g.len() as u32).map(NodeId) {
        match g.op(id) {
            Op::RowCount(d) => used.insert((d as usize, true)),
            Op::ColCount(d) => used.insert((d as usize, false)),
            _ => false,
        };
    }
    used.into_iter()
        .map(|(d, rows)| (count_var(s, d, rows), (d, rows)))
        .collect()
}
