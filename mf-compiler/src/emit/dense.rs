//! Dense passes: fused loops over dense domains (in parallel by rows when
//! every item keeps its row) and matrix products.

use super::objective::BodyEmitter;
use super::{buffer_var, collapse, dim_size, node_var, prefixed};
use crate::ir::{Dim, NodeId, Op, Shape};
use crate::lower::{LoopItem, Plan, Target};
use proc_macro2::TokenStream;
use quote::quote;
use std::collections::BTreeSet;

impl BodyEmitter<'_> {
    /// A matrix product into its target (a buffer or a gradient); a scalar
    /// product is also bound as a local.
    pub(super) fn mat_mul(&self, node: NodeId, target: Target) -> TokenStream {
        let nd = quote!(::mf_runtime::ndarray);
        let args = self.graph.args(node);
        let (a, b) = (self.operand(args[0]), self.operand(args[1]));
        let t = self.target(target);
        let scalar = (self.graph.shape(node).is_scalar() && matches!(target, Target::Buffer(_)))
            .then(|| {
                let v = node_var(node);
                quote!(let #v: f64 = #t[[0, 0]];)
            });
        // A product over the users (`P.T @ P`) is this rank's part.
        let combine = self
            .sharding
            .contracts(self.graph, node)
            .then(|| self.sum_over_shards(quote!(#t.as_slice_mut().expect("contiguous"))));
        quote! {
            #nd::linalg::general_mat_mul(1.0, &#a, &#b, 0.0, &mut #t);
            #combine
            #scalar
        }
    }

    /// Code summing a partial result (a `&mut [f64]` expression) across
    /// ranks, when the objective is sharded.
    pub(super) fn sum_over_shards(&self, values: TokenStream) -> TokenStream {
        quote! {
            if let ::core::option::Option::Some(shards) = shards.as_mut() {
                shards.sum(#values);
            }
        }
    }

    /// An array view of a matrix-product operand.
    fn operand(&self, id: NodeId) -> TokenStream {
        match self.graph.op(id) {
            Op::Transpose => {
                let inner = self.operand(self.graph.args(id)[0]);
                quote!(#inner.reversed_axes())
            }
            Op::Param(i) => {
                let v = prefixed("p", &self.symbols.params[i as usize].name);
                quote!(#v.view())
            }
            Op::Data(i) => {
                let v = prefixed("d", &self.symbols.data[i as usize].name);
                quote!(#v.view())
            }
            _ => {
                let v = buffer_var(id);
                quote!(#v.view())
            }
        }
    }

    /// A fused loop over a dense domain. When every item keeps its row (a
    /// store, a scalar sum, a sum over the columns), rows run in parallel in
    /// fixed chunks ([`mf_runtime::kernel::over_rows`]); a sum over the rows
    /// runs in one sequential loop.
    pub(super) fn fused_loop(
        &self,
        plan: &Plan,
        domain: Shape,
        inline: &[NodeId],
        items: &[LoopItem],
    ) -> TokenStream {
        let g = self.graph;
        let inline_set: BTreeSet<NodeId> = inline.iter().copied().collect();
        let (i, j) = (quote!(i), quote!(j));
        let lets: Vec<TokenStream> = inline
            .iter()
            .map(|&id| {
                let v = node_var(id);
                let value = self.compute(plan, &inline_set, id, &i, &j);
                quote!(let #v: f64 = #value;)
            })
            .collect();
        let term = |node: NodeId| {
            let x = self.access(plan, &inline_set, g.args(node)[0], &i, &j);
            match g.op(node) {
                Op::Norm => quote!({ let t: f64 = #x; t * t }),
                _ => x,
            }
        };
        let (rows, cols) = (dim_size(domain.rows), dim_size(domain.cols));
        let row_wise = items.iter().all(|item| match *item {
            LoopItem::Reduce {
                node,
                target: Some(_),
            } => g.shape(node).cols == Dim::One && g.shape(node).rows == domain.rows,
            _ => true,
        });
        let mut sums = Vec::new();
        let mut outputs = Vec::new();
        let mut per_entry = Vec::new();
        let mut before = Vec::new();
        // Over shards, a reduction over the users leaves this rank's part:
        // the sums, and the targets without the users dimension.
        let partial = |node: NodeId| self.sharding.reduces(domain, g.shape(node));
        let mut after: Vec<TokenStream> = Vec::new();
        for item in items {
            match *item {
                LoopItem::Store { value, target } => {
                    let x = self.access(plan, &inline_set, value, &i, &j);
                    let t = self.target(target);
                    if row_wise {
                        // Every value is overwritten: no need to clear first.
                        let r = outputs.len();
                        outputs.push(quote!(::mf_runtime::kernel::RowOutput::onto(
                            #t.as_slice_mut().expect("contiguous"), #cols
                        )));
                        per_entry.push(quote!(outs[#r][j] = #x;));
                    } else {
                        per_entry.push(quote!(#t[[i, j]] = #x;));
                    }
                }
                LoopItem::Accumulate { value, target, .. } => {
                    let x = self.access(plan, &inline_set, value, &i, &j);
                    let t = self.target(target);
                    if row_wise {
                        let r = outputs.len();
                        outputs.push(quote!(::mf_runtime::kernel::RowOutput::onto(
                            #t.as_slice_mut().expect("contiguous"), #cols
                        )));
                        per_entry.push(quote!(outs[#r][j] += #x;));
                    } else {
                        per_entry.push(quote!(#t[[i, j]] += #x;));
                    }
                }
                LoopItem::Reduce { node, target: None } => {
                    let k = sums.len();
                    let x = term(node);
                    sums.push(node);
                    per_entry.push(quote!(sums[#k] += #x;));
                }
                LoopItem::Reduce {
                    node,
                    target: Some(target),
                } => {
                    let x = term(node);
                    let t = self.target(target);
                    if partial(node) {
                        after.push(
                            self.sum_over_shards(quote!(#t.as_slice_mut().expect("contiguous"))),
                        );
                    }
                    if row_wise {
                        let r = outputs.len();
                        outputs.push(quote!(::mf_runtime::kernel::RowOutput::new(#t.as_slice_mut().expect("contiguous"), 1usize)));
                        per_entry.push(quote!(outs[#r][0] += #x;));
                    } else {
                        let shape = g.shape(node);
                        let (ri, cj) = (collapse(shape.rows, &i), collapse(shape.cols, &j));
                        before.push(quote!(#t.fill(0.0);));
                        per_entry.push(quote!(#t[[#ri, #cj]] += #x;));
                    }
                }
                LoopItem::Scatter { .. } => per_entry.push(quote!(::core::compile_error!(
                    "internal compiler error: a scatter over dense data"
                );)),
            }
        }
        let results = sums.iter().enumerate().map(|(k, &node)| {
            let v = node_var(node);
            match g.op(node) {
                Op::Norm => quote!(let #v: f64 = totals[#k].sqrt();),
                _ => quote!(let #v: f64 = totals[#k];),
            }
        });
        let num_sums = sums.len();
        if num_sums > 0 && self.sharding.carries(domain) {
            after.push(self.sum_over_shards(quote!(&mut totals)));
        }
        if row_wise {
            let num_outputs = outputs.len();
            quote! {
                let mut totals: [f64; #num_sums] = ::mf_runtime::kernel::over_rows(
                    #rows,
                    #cols,
                    [#(#outputs),*],
                    |i: usize, outs: &mut [&mut [f64]; #num_outputs], sums: &mut [f64; #num_sums]| {
                        for j in 0..#cols {
                            #(#lets)*
                            #(#per_entry)*
                        }
                    },
                );
                #(#after)*
                #(#results)*
            }
        } else {
            quote! {
                #(#before)*
                let mut sums = [0.0f64; #num_sums];
                for i in 0..#rows {
                    for j in 0..#cols {
                        #(#lets)*
                        #(#per_entry)*
                    }
                }
                let mut totals = sums;
                #(#after)*
                #(#results)*
            }
        }
    }
}
