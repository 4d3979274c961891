//! Passes over the observed entries of sparse data: which loops they are
//! ([`SparsePass`]), the rows they gather per entry and scatter into, the
//! column scratch, and the pass itself (one `over_tiles` call).

use super::objective::BodyEmitter;
use super::workspace::tiling_var;
use super::{dim_size, node_var, prefixed};
use crate::check::Symbols;
use crate::ir::{Dim, Graph, NodeId, Op};
use crate::lower::{untransposed, LoopItem, Plan, Step, Target};
use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};
use std::collections::BTreeSet;

impl BodyEmitter<'_> {
    /// A loop over the observed entries of sparse data: one parallel pass
    /// over the tiles of its pattern (`mf_runtime::kernel::over_tiles`)
    /// computes the sums and accumulates, in place, the user-side rows
    /// (products with the sparse operand on the left, sums keeping the rows)
    /// and the item-side ones (into a scratch laid out item by item, copied
    /// into the target afterwards). Rows of the factors are read as
    /// contiguous slices: a factor read by columns (`Q` in `P@Q`) is first
    /// copied transposed.
    pub(super) fn entry_pass(
        &self,
        plan: &Plan,
        pass: &SparsePass,
        inline: &[NodeId],
        items: &[LoopItem],
    ) -> TokenStream {
        let g = self.graph;
        let name = &self.symbols.data[pass.data].name;
        let (csr, tiling) = (prefixed("csr", name), tiling_var(self.symbols, pass.data));
        let inline_set: BTreeSet<NodeId> = inline.iter().copied().collect();
        let (i, j) = (quote!(i), quote!(j));
        let shape = self.symbols.data[pass.data].shape;
        // Every sparse data matrix on this pattern: its value at the entry.
        let entry_values = self
            .symbols
            .data
            .iter()
            .filter(|d| d.sparse && d.shape == shape)
            .map(|d| {
                let (csr, dv) = (prefixed("csr", &d.name), prefixed("dv", &d.name));
                quote!(let #dv: f64 = #csr.values[e];)
            });
        let prelude = pass_row_sources(g, inline, items)
            .into_iter()
            .map(|rows| self.bind_rows(rows));
        let lets = inline.iter().map(|&id| {
            let v = node_var(id);
            let value = self.compute(plan, &inline_set, id, &i, &j);
            quote!(let #v: f64 = #value;)
        });
        let sums: Vec<NodeId> = items
            .iter()
            .filter_map(|item| match *item {
                LoopItem::Reduce { node, target: None } => Some(node),
                _ => None,
            })
            .collect();
        let sum_updates = sums.iter().enumerate().map(|(k, &node)| {
            let x = self.access(plan, &inline_set, g.args(node)[0], &i, &j);
            match g.op(node) {
                Op::Norm => quote!({ let t: f64 = #x; sums[#k] += t * t; }),
                _ => quote!(sums[#k] += #x;),
            }
        });
        let sum_results = sums.iter().enumerate().map(|(k, &node)| {
            let v = node_var(node);
            match g.op(node) {
                Op::Norm => quote!(let #v: f64 = totals[#k].sqrt();),
                _ => quote!(let #v: f64 = totals[#k];),
            }
        });
        let rt = quote!(::mf_runtime::kernel);
        // A row-side and a column-side product of the same per-entry value
        // (the adjoint of `P@Q` for ∂P and ∂Q) update both rows in one loop.
        // partner[r]: the column item scattering the same per-entry value
        // as row item r (both adjoints of `P@Q`, say), updated in one loop.
        let mut partner: Vec<Option<usize>> = vec![None; pass.row_items.len()];
        for (r, row_item) in pass.row_items.iter().enumerate() {
            let LoopItem::Scatter { operand, .. } = *row_item else {
                continue;
            };
            partner[r] = (0..pass.column_items.len()).find(|&c| {
                matches!(pass.column_items[c], LoopItem::Scatter { operand: o, .. } if o == operand)
                    && !partner.contains(&Some(c))
            });
        }
        let mut row_outputs = Vec::new();
        let mut row_updates = Vec::new();
        // What the pass leaves partial for `Shards::combine_pass`, when
        // sharded: each column output's slice (the row outputs are the
        // rank's own rows, complete).
        let mut col_slices = Vec::new();
        for (r, item) in pass.row_items.iter().enumerate() {
            let target = self.target(item_target(item));
            let x = self.access(plan, &inline_set, scattered_root(g, item), &i, &j);
            match *item {
                LoopItem::Scatter { node, .. } => {
                    let slice = self.gathered_row(item, &j);
                    let width = dim_size(g.shape(node).cols);
                    row_outputs.push(quote!(#rt::RowOutput::new(#target.as_slice_mut().expect("contiguous"), #width)));
                    row_updates.push(match partner[r] {
                        Some(c) => {
                            let col_slice = self.gathered_row(&pass.column_items[c], &i);
                            quote!(#rt::axpy2(#x, #slice, outs[#r], #col_slice, col_outs[#c]);)
                        }
                        None => quote!(#rt::axpy(#x, #slice, outs[#r]);),
                    });
                }
                _ => {
                    row_outputs.push(quote!(#rt::RowOutput::new(#target.as_slice_mut().expect("contiguous"), 1usize)));
                    row_updates.push(quote!(outs[#r][0] += #x;));
                }
            }
        }
        let mut col_outputs = Vec::new();
        let mut col_updates = Vec::new();
        let mut copies = Vec::new();
        for (c, item) in pass.column_items.iter().enumerate() {
            let target = self.target(item_target(item));
            let x = self.access(plan, &inline_set, scattered_root(g, item), &i, &j);
            let width = match *item {
                LoopItem::Scatter { node, operand, .. } => {
                    let on_left = other_on_left(g, node, operand);
                    if !partner.contains(&Some(c)) {
                        let slice = self.gathered_row(item, &i);
                        col_updates.push(quote!(#rt::axpy(#x, #slice, col_outs[#c]);));
                    }
                    let shape = g.shape(node);
                    dim_size(if on_left { shape.rows } else { shape.cols })
                }
                _ => {
                    col_updates.push(quote!(col_outs[#c][0] += #x;));
                    quote!(1usize)
                }
            };
            // An output laid out item by item is written in place; `P.T @ G`
            // (`k × items`) goes through an item-major scratch copied
            // transposed after the pass.
            match column_scratch(g, item) {
                None => {
                    col_outputs.push(quote!(#rt::RowOutput::new(#target.as_slice_mut().expect("contiguous"), #width)));
                    col_slices.push(quote!(#target.as_slice_mut().expect("contiguous")));
                }
                Some((scratch, _)) => {
                    let items_dim = dim_size(shape.cols);
                    col_outputs.push(quote!(#rt::RowOutput::new(&mut (*#scratch)[..], #width)));
                    col_slices.push(quote!(&mut (*#scratch)[..]));
                    copies.push(quote! {
                        #rt::transpose(&(*#scratch)[..], #items_dim, #width, #target.as_slice_mut().expect("contiguous"));
                    });
                }
            }
        }
        let (by_row, by_col): (Vec<_>, Vec<_>) = pass_gathers(g, inline, items)
            .into_iter()
            .partition(|&(_, by_row)| by_row);
        let hint = |sources: Vec<(RowsOf, bool)>, index: &TokenStream| {
            let slices = sources
                .into_iter()
                .map(|(rows, _)| self.row_slice(rows, index));
            quote!(#(#rt::prefetch(#slices);)*)
        };
        let (hint_row, hint_col) = (hint(by_row, &i), hint(by_col, &j));
        let hint_values = self
            .symbols
            .data
            .iter()
            .filter(|d| d.sparse && d.shape == shape)
            .map(|d| {
                let csr = prefixed("csr", &d.name);
                quote!(#rt::prefetch(&#csr.values[e..e + 1]);)
            });
        let num_sums = sums.len();
        let (num_rows, num_cols) = (row_outputs.len(), col_outputs.len());
        quote! {
            #(#prelude)*
            let mut totals: [f64; #num_sums] = #rt::over_tiles(
                &*#tiling,
                #csr.indptr,
                #csr.indices,
                [#(#row_outputs),*],
                [#(#col_outputs),*],
                |ahead: #rt::Ahead| match ahead {
                    #rt::Ahead::Row(i) => { #hint_row }
                    #rt::Ahead::Entry { entry: e, col: j } => { #(#hint_values)* #hint_col }
                },
                |i: usize, j: usize, e: usize, outs: &mut [&mut [f64]; #num_rows], col_outs: &mut [&mut [f64]; #num_cols], sums: &mut [f64; #num_sums]| {
                    #(#entry_values)*
                    #(#lets)*
                    #(#sum_updates)*
                    #(#row_updates)*
                    #(#col_updates)*
                },
            );
            if let ::core::option::Option::Some(shards) = shards.as_mut() {
                shards.combine_pass(&mut totals, &mut [#(#col_slices),*]);
            }
            #(#sum_results)*
            #(#copies)*
        }
    }

    /// Binds the flat slice of a row source (after a transposed copy when
    /// the rows wanted are columns of the stored matrix).
    fn bind_rows(&self, rows: RowsOf) -> TokenStream {
        let var = self.rows_var(rows);
        let view = self.view_of(rows.base);
        match rows.transposed {
            false => quote!(let #var: &[f64] = #view.as_slice().expect("contiguous");),
            true => {
                let copy = transposed_var(self.graph, rows.base);
                let shape = self.graph.shape(rows.base);
                let (r, c) = (dim_size(shape.rows), dim_size(shape.cols));
                quote! {
                    ::mf_runtime::kernel::transpose(
                        #view.as_slice().expect("contiguous"), #r, #c,
                        (*#copy).as_slice_mut().expect("contiguous"),
                    );
                    let #var: &[f64] = (*#copy).as_slice().expect("contiguous");
                }
            }
        }
    }

    /// The row of a scattered product's dense operand that an entry
    /// gathers: row `index` (the entry's column for an item scattered by
    /// rows, its row for one scattered by columns). Only for a `Scatter`.
    fn gathered_row(&self, item: &LoopItem, index: &TokenStream) -> TokenStream {
        let g = self.graph;
        let LoopItem::Scatter { node, operand, .. } = *item else {
            return quote!(::core::compile_error!(
                "internal compiler error: a gathered row of a non-product"
            ));
        };
        let other = other_operand(g, node, operand);
        self.row_slice(rows_of(g, other, other_on_left(g, node, operand)), index)
    }

    /// Row `index` of a row source, as a slice.
    pub(super) fn row_slice(&self, rows: RowsOf, index: &TokenStream) -> TokenStream {
        let var = self.rows_var(rows);
        let width = rows_width(self.graph, rows);
        quote!(&#var[#index * #width..(#index + 1) * #width])
    }

    fn rows_var(&self, rows: RowsOf) -> Ident {
        let base = self.base_name(rows.base);
        match rows.transposed {
            false => format_ident!("rows_{}", base),
            true => format_ident!("rows_tr_{}", base),
        }
    }
}

/// One pass over the observed entries of a sparse data matrix.
pub(super) struct SparsePass<'p> {
    pub(super) step: &'p Step,
    pub(super) data: usize,
    /// Items accumulated in place per user row.
    row_items: Vec<LoopItem>,
    /// Items accumulated in place per item, into a scratch laid out item by
    /// item.
    pub(super) column_items: Vec<LoopItem>,
}

/// The passes of a plan that run over sparse data.
pub(super) fn sparse_passes<'p>(g: &Graph, s: &Symbols, plan: &'p Plan) -> Vec<SparsePass<'p>> {
    plan.steps
        .iter()
        .filter_map(|step| {
            let Step::Loop { domain, items, .. } = step else {
                return None;
            };
            let data = s.data.iter().position(|d| d.sparse && d.shape == *domain)?;
            let scattered = items.iter().filter(|item| {
                matches!(
                    item,
                    LoopItem::Scatter { .. }
                        | LoopItem::Reduce {
                            target: Some(_),
                            ..
                        }
                )
            });
            let (row_items, column_items): (Vec<LoopItem>, Vec<LoopItem>) = scattered
                .cloned()
                .partition(|item| scatters_by_rows(g, item));
            Some(SparsePass {
                step,
                data,
                row_items,
                column_items,
            })
        })
        .collect()
}

/// The node a loop item computes.
pub(super) fn item_node(item: &LoopItem) -> NodeId {
    match *item {
        LoopItem::Store { value, .. } | LoopItem::Accumulate { value, .. } => value,
        LoopItem::Reduce { node, .. } | LoopItem::Scatter { node, .. } => node,
    }
}

/// Where a scattered item goes (scattered items always have a target).
fn item_target(item: &LoopItem) -> Target {
    match *item {
        LoopItem::Store { target, .. }
        | LoopItem::Scatter { target, .. }
        | LoopItem::Accumulate { target, .. } => target,
        LoopItem::Reduce { target, node } => target.unwrap_or(Target::Buffer(node)),
    }
}

/// The node whose per-entry value a scattered item accumulates.
fn scattered_root(g: &Graph, item: &LoopItem) -> NodeId {
    match *item {
        LoopItem::Scatter { operand, .. } => untransposed(g, operand),
        LoopItem::Reduce { node, .. } => g.args(node)[0],
        LoopItem::Store { value, .. } | LoopItem::Accumulate { value, .. } => value,
    }
}

/// The dense operand of a scattered product.
fn other_operand(g: &Graph, node: NodeId, operand: NodeId) -> NodeId {
    let args = g.args(node);
    if args[0] == operand {
        args[1]
    } else {
        args[0]
    }
}

/// Whether the dense operand of a scattered product is on the left
/// (`P.T @ G`), so that its columns, not its rows, are read per entry.
fn other_on_left(g: &Graph, node: NodeId, operand: NodeId) -> bool {
    g.args(node)[0] != operand
}

/// Whether a scattered item accumulates by rows (sparse operand on the
/// left untransposed, or a sum that keeps the rows) rather than by columns.
fn scatters_by_rows(g: &Graph, item: &LoopItem) -> bool {
    match *item {
        LoopItem::Scatter { node, operand, .. } => {
            !other_on_left(g, node, operand) && g.op(operand) != Op::Transpose
        }
        LoopItem::Reduce { node, .. } => g.shape(node).cols == Dim::One,
        LoopItem::Store { .. } | LoopItem::Accumulate { .. } => true,
    }
}

fn scratch_var(node: NodeId) -> Ident {
    format_ident!("c{}", node.0)
}

/// The scratch vector (name, length) of an item scattered by columns into
/// a target not laid out item by item (`P.T @ G`, `k × items`). A target
/// that is (`M.T @ X`, `items × k`; a sum keeping the columns, `1 × items`)
/// needs none.
pub(super) fn column_scratch(g: &Graph, item: &LoopItem) -> Option<(Ident, TokenStream)> {
    let item_major = match *item {
        LoopItem::Scatter { node, operand, .. } => !other_on_left(g, node, operand),
        _ => true,
    };
    if scatters_by_rows(g, item) || item_major {
        return None;
    }
    let node = item_node(item);
    let shape = g.shape(node);
    let (r, c) = (dim_size(shape.rows), dim_size(shape.cols));
    Some((scratch_var(node), quote!(#r * #c)))
}

/// Rows of a stored matrix (a param, data or buffer), or rows of its
/// transpose (`transposed`), read as contiguous slices.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct RowsOf {
    pub(super) base: NodeId,
    pub(super) transposed: bool,
}

/// The rows of `node` (or, with `columns`, its columns), looking through
/// transposes to the stored matrix.
pub(super) fn rows_of(g: &Graph, node: NodeId, columns: bool) -> RowsOf {
    match g.op(node) {
        Op::Transpose => rows_of(g, g.args(node)[0], !columns),
        _ => RowsOf {
            base: node,
            transposed: columns,
        },
    }
}

/// The length of one row of a row source.
fn rows_width(g: &Graph, rows: RowsOf) -> TokenStream {
    let shape = g.shape(rows.base);
    dim_size(if rows.transposed {
        shape.rows
    } else {
        shape.cols
    })
}

/// The workspace matrix holding the transposed copy of a stored matrix.
pub(super) fn transposed_var(g: &Graph, base: NodeId) -> Ident {
    match g.op(base) {
        Op::Param(p) => format_ident!("tr_param{}", p),
        Op::Data(d) => format_ident!("tr_data{}", d),
        _ => format_ident!("tr_b{}", base.0),
    }
}

/// Every row source a sparse pass reads.
pub(super) fn pass_row_sources(
    g: &Graph,
    inline: &[NodeId],
    items: &[LoopItem],
) -> BTreeSet<RowsOf> {
    pass_gathers(g, inline, items)
        .into_iter()
        .map(|(rows, _)| rows)
        .collect()
}

/// The rows a sparse pass gathers per entry: each row source, and whether
/// it is indexed by the entry's row (`true`) or column.
fn pass_gathers(g: &Graph, inline: &[NodeId], items: &[LoopItem]) -> BTreeSet<(RowsOf, bool)> {
    let mut sources = BTreeSet::new();
    for &id in inline {
        if g.op(id) == Op::MatMul {
            sources.insert((rows_of(g, g.args(id)[0], false), true));
            sources.insert((rows_of(g, g.args(id)[1], true), false));
        }
    }
    for item in items {
        if let LoopItem::Scatter { node, operand, .. } = *item {
            let other = other_operand(g, node, operand);
            // Scattered by columns, the gathered row is the entry's row.
            let indexed_by_row = !scatters_by_rows(g, item);
            let rows = rows_of(g, other, other_on_left(g, node, operand));
            sources.insert((rows, indexed_by_row));
        }
    }
    sources
}
