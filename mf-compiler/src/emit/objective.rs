//! The `Objective` impl's bodies (`value`, `value_and_gradient`) and the
//! prediction tables' (`prediction_tables`): the
//! views bound on entry, the plan's steps in order and the result, and how
//! a step reads or computes a node's value at an entry of its loop.

use super::sharding::Sharding;
use super::{
    buffer_var, collapse, dim_size, entries, float_literal, node_var, prefixed, workspace, Input,
};
use crate::check::Symbols;
use crate::ir::{Dim, Graph, NodeId, Op};
use crate::lower::{Plan, Step, Target};
use crate::ops::{spec, Class};
use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote};
use std::collections::BTreeSet;

/// The bodies of `value` and of `value_and_gradient`.
pub(super) fn bodies(input: &Input, workspace_ty: &Ident) -> (TokenStream, TokenStream) {
    let emitter = BodyEmitter {
        graph: input.graph,
        symbols: input.symbols,
        sharding: Sharding::new(input.symbols),
        flat_reads: Default::default(),
    };
    let value_body = emitter.body(input.value_plan, Output::Loss(input.loss), workspace_ty);
    let gradient_body = emitter.body(
        input.gradient_plan,
        Output::Gradient(input.loss),
        workspace_ty,
    );
    (value_body, gradient_body)
}

/// The body of the objective's `prediction_tables`: the plan's steps, then
/// a copy of each table's buffer.
pub(super) fn tables_body(
    input: &Input,
    plan: &Plan,
    tables: &[NodeId],
    workspace_ty: &Ident,
) -> TokenStream {
    let emitter = BodyEmitter {
        graph: input.graph,
        symbols: input.symbols,
        sharding: Sharding::new(input.symbols),
        flat_reads: Default::default(),
    };
    emitter.body(plan, Output::Tables(tables), workspace_ty)
}

/// What a body computes and returns.
#[derive(Clone, Copy)]
enum Output<'a> {
    /// The loss's value.
    Loss(NodeId),
    /// The loss's value, writing its gradient into `grad`.
    Gradient(NodeId),
    /// The prediction's tables, each a copy of its buffer.
    Tables(&'a [NodeId]),
}

/// Emits the code of one body; its methods are spread over the modules by
/// what they emit (`dense`, `entries`).
pub(super) struct BodyEmitter<'a> {
    pub(super) graph: &'a Graph,
    pub(super) symbols: &'a Symbols,
    /// What a rank holds of each value over shards.
    pub(super) sharding: Sharding,
    /// Arrays read by the step being emitted, as flat slices: bound before
    /// the step (see [`BodyEmitter::step`]).
    flat_reads: std::cell::RefCell<BTreeSet<NodeId>>,
}

impl BodyEmitter<'_> {
    /// The body of `value`, `value_and_gradient` or `prediction_tables`.
    fn body(&self, plan: &Plan, output: Output, workspace_ty: &Ident) -> TokenStream {
        let s = self.symbols;
        let nd = quote!(::mf_runtime::ndarray);
        let num_params = s.params.len();
        // Over shards, on ranks other than 0, the whole blocks (the params
        // not along the users) are rank 0's, one after the other in `whole`.
        let param_views = s.params.iter().enumerate().map(|(i, p)| {
            let v = prefixed("p", &p.name);
            let (r, c) = (dim_size(p.shape.rows), dim_size(p.shape.cols));
            let start = if i == 0 {
                quote!(0)
            } else {
                let j = i - 1;
                quote!(self.offsets[#j])
            };
            let values = match self.sharding.is_sharded(p.shape.rows) {
                true => quote!(&x[#start..self.offsets[#i]]),
                false => quote! {
                    match shared {
                        true => {
                            let len = #r * #c;
                            packed += len;
                            &whole[packed - len..packed]
                        }
                        false => &x[#start..self.offsets[#i]],
                    }
                },
            };
            quote! {
                let #v = #nd::ArrayView2::from_shape((#r, #c), #values)
                    .expect("a param block holds rows × cols values");
            }
        });
        let data_views = s.data.iter().map(|d| {
            let n = &d.name;
            if d.sparse {
                let csr = prefixed("csr", n);
                return quote!(let #csr = data.#n.csr(););
            }
            let values = prefixed("d", n);
            let mask = prefixed("m", n);
            quote! {
                let #values = data.#n.values();
                let #mask = data.#n.observed();
            }
        });
        let counts = workspace::used_counts(self.graph, s)
            .into_iter()
            .map(|(field, _)| quote!(let #field: &[f64] = &self.#field;));
        let hypers = s.hypers.iter().map(|h| {
            let n = &h.name;
            let v = prefixed("h", n);
            quote!(let #v: f64 = self.loss.#n;)
        });
        let grad_views = if let Output::Gradient(_) = output {
            let splits = s.params.iter().enumerate().map(|(i, p)| {
                let g = prefixed("g", &p.name);
                let (r, c) = (dim_size(p.shape.rows), dim_size(p.shape.cols));
                let len = if i == 0 {
                    quote!(self.offsets[0])
                } else {
                    let j = i - 1;
                    quote!(self.offsets[#i] - self.offsets[#j])
                };
                quote! {
                    let (#g, tail) = ::core::mem::take(&mut rest).split_at_mut(#len);
                    rest = tail;
                    let mut #g = #nd::ArrayViewMut2::from_shape((#r, #c), #g)
                        .expect("a gradient block holds rows × cols values");
                }
            });
            quote! {
                ::core::assert_eq!(grad.len(), x.len(), "the gradient buffer must have the length of the parameters");
                let mut rest: &mut [f64] = &mut *grad;
                #(#splits)*
            }
        } else {
            quote!()
        };
        // Over shards, the whole blocks are rank 0's (each rank evaluates at
        // them), and their gradient is left to rank 0.
        let (shared, own_gradient) = match output {
            Output::Loss(_) => (true, false),
            Output::Gradient(_) => (true, true),
            Output::Tables(_) => (false, false),
        };
        let shared = match shared {
            true => quote! {
                let shared = match self.shards.as_mut() {
                    ::core::option::Option::Some(shards) => shards.share_whole_blocks(x, &mut self.whole),
                    ::core::option::Option::None => false,
                };
            },
            false => quote!(let shared = false;),
        };
        let own_gradient = own_gradient.then(|| {
            quote! {
                if let ::core::option::Option::Some(shards) = shards.as_ref() {
                    shards.keep_own_gradient(grad);
                }
            }
        });
        let buffers = workspace::locals(self.graph, s, plan);
        let steps = plan.steps.iter().map(|step| self.step(plan, step));
        let result = match output {
            Output::Loss(loss) | Output::Gradient(loss) => self.access(
                plan,
                &BTreeSet::new(),
                loss,
                &quote!(0usize),
                &quote!(0usize),
            ),
            Output::Tables(tables) => {
                let copies = tables.iter().map(|&t| buffer_var(t));
                quote!(::std::vec![#(#copies.clone()),*])
            }
        };
        quote! {
            ::core::assert_eq!(x.len(), self.offsets[#num_params - 1], "the parameter vector must have the length of the layout");
            #shared
            let whole: &[f64] = &self.whole;
            let mut packed = 0usize;
            let dims = self.dims;
            let whole_dims = self.whole_dims;
            let data = self.data;
            #(#param_views)*
            #(#data_views)*
            #(#hypers)*
            #(#counts)*
            #grad_views
            let #workspace_ty { #(#buffers,)* .. } = &mut self.workspace;
            let shards = &mut self.shards;
            #(#steps)*
            #own_gradient
            #result
        }
    }

    pub(super) fn target(&self, target: Target) -> TokenStream {
        match target {
            Target::Buffer(b) => {
                let v = buffer_var(b);
                quote!((*#v))
            }
            Target::Grad(p) => {
                let g = prefixed("g", &self.symbols.params[p].name);
                quote!(#g)
            }
        }
    }

    /// A step, preceded by the flat slices of the arrays it reads.
    fn step(&self, plan: &Plan, step: &Step) -> TokenStream {
        self.flat_reads.borrow_mut().clear();
        let code = self.step_code(plan, step);
        let reads = std::mem::take(&mut *self.flat_reads.borrow_mut());
        let bindings = reads.into_iter().map(|id| {
            let flat = self.flat_var(id);
            match self.graph.op(id) {
                Op::Mask(d) => {
                    let mask = prefixed("m", &self.symbols.data[d as usize].name);
                    quote!(let #flat: &[bool] = #mask.as_slice().expect("contiguous");)
                }
                _ => {
                    let view = self.view_of(id);
                    quote!(let #flat: &[f64] = #view.as_slice().expect("contiguous");)
                }
            }
        });
        quote! {
            #(#bindings)*
            #code
        }
    }

    fn flat_var(&self, id: NodeId) -> Ident {
        match self.graph.op(id) {
            Op::Mask(d) => format_ident!(
                "flat_{}",
                prefixed("m", &self.symbols.data[d as usize].name)
            ),
            _ => format_ident!("flat_{}", self.base_name(id)),
        }
    }

    /// Entry `(row, col)` of a stored matrix, through its flat slice.
    fn flat_entry(&self, id: NodeId, row: &TokenStream, col: &TokenStream) -> TokenStream {
        self.flat_reads.borrow_mut().insert(id);
        let flat = self.flat_var(id);
        let cols = dim_size(self.graph.shape(id).cols);
        quote!(#flat[#row * #cols + #col])
    }

    /// The code of one step: products and fused loops over dense domains
    /// are emitted in `dense`, passes over sparse data in `entries`.
    fn step_code(&self, plan: &Plan, step: &Step) -> TokenStream {
        let none = BTreeSet::new();
        match step {
            Step::Scalar(id) => {
                let v = node_var(*id);
                let value = self.compute(plan, &none, *id, &quote!(0usize), &quote!(0usize));
                quote!(let #v: f64 = #value;)
            }
            Step::ZeroGrad(p) => {
                let g = prefixed("g", &self.symbols.params[*p].name);
                quote!(#g.fill(0.0);)
            }
            Step::MatMul { node, target } => self.mat_mul(*node, *target),
            Step::Loop {
                domain,
                inline,
                items,
            } => match entries::sparse_passes(self.graph, self.symbols, plan)
                .into_iter()
                .find(|pass| pass.step == step)
            {
                Some(pass) => self.entry_pass(plan, &pass, inline, items),
                None => self.fused_loop(plan, *domain, inline, items),
            },
        }
    }

    /// A name for a stored matrix: the param or data name, or the buffer.
    pub(super) fn base_name(&self, id: NodeId) -> String {
        match self.graph.op(id) {
            Op::Param(p) => prefixed("p", &self.symbols.params[p as usize].name).to_string(),
            Op::Data(d) => prefixed("d", &self.symbols.data[d as usize].name).to_string(),
            _ => format!("b{}", id.0),
        }
    }

    /// The array view of a stored matrix.
    pub(super) fn view_of(&self, id: NodeId) -> TokenStream {
        let name = Ident::new(&self.base_name(id), Span::call_site());
        match self.graph.op(id) {
            Op::Param(_) | Op::Data(_) => quote!(#name),
            _ => quote!((*#name)),
        }
    }

    /// Code computing elementwise node `id` at entry `(i, j)` from its
    /// arguments (through the op table).
    pub(super) fn compute(
        &self,
        plan: &Plan,
        inline: &BTreeSet<NodeId>,
        id: NodeId,
        i: &TokenStream,
        j: &TokenStream,
    ) -> TokenStream {
        let op = self.graph.op(id);
        let args: Vec<TokenStream> = self
            .graph
            .args(id)
            .iter()
            .map(|&a| self.access(plan, inline, a, i, j))
            .collect();
        if op == Op::MatMul {
            // A product sampled at one entry (only inside a pass over sparse
            // data): the dot product of a row of A and a column of B.
            let (a, b) = (self.graph.args(id)[0], self.graph.args(id)[1]);
            let row = self.row_slice(entries::rows_of(self.graph, a, false), i);
            let col = self.row_slice(entries::rows_of(self.graph, b, true), j);
            return quote!(::mf_runtime::kernel::dot(#row, #col));
        }
        match spec(op).code {
            Some(code) => code(op, &args),
            None => quote!(::core::compile_error!(
                "internal compiler error: no code for an elementwise step"
            )),
        }
    }

    /// Code reading node `id` at entry `(i, j)` of a loop (or at `(0, 0)` for
    /// a scalar), where it is a leaf, stored, computed inline or a scalar.
    pub(super) fn access(
        &self,
        plan: &Plan,
        inline: &BTreeSet<NodeId>,
        id: NodeId,
        i: &TokenStream,
        j: &TokenStream,
    ) -> TokenStream {
        let g = self.graph;
        let s = self.symbols;
        let shape = g.shape(id);
        let (ri, cj) = (collapse(shape.rows, i), collapse(shape.cols, j));
        match g.op(id) {
            Op::Const(c) => float_literal(c.get()),
            Op::Hyper(h) => {
                let v = prefixed("h", &s.hypers[h as usize].name);
                quote!(#v)
            }
            // Over shards, a count along the users is all the ranks' users.
            Op::Count(counted) => {
                let whole = |dim: Dim| match dim {
                    Dim::One => quote!(1usize),
                    Dim::Sym(d) => {
                        let d = d as usize;
                        quote!(whole_dims[#d])
                    }
                };
                let (r, c) = (whole(counted.rows), whole(counted.cols));
                quote!(((#r * #c) as f64))
            }
            Op::Param(_) => self.flat_entry(id, &ri, &cj),
            // On sparse data a loop only visits observed entries.
            Op::Data(d) if s.data[d as usize].sparse => {
                let v = prefixed("dv", &s.data[d as usize].name);
                quote!(#v)
            }
            Op::Mask(d) if s.data[d as usize].sparse => quote!(1.0f64),
            Op::Data(_) => self.flat_entry(id, &ri, &cj),
            Op::RowCount(d) => {
                let v = workspace::count_var(s, d as usize, true);
                quote!(#v[#ri])
            }
            Op::ColCount(d) => {
                let v = workspace::count_var(s, d as usize, false);
                quote!(#v[#cj])
            }
            Op::Mask(_) => {
                let entry = self.flat_entry(id, &ri, &cj);
                quote!((if #entry { 1.0f64 } else { 0.0f64 }))
            }
            Op::Transpose => self.access(plan, inline, g.args(id)[0], j, i),
            Op::Broadcast => self.access(plan, inline, g.args(id)[0], i, j),
            _ if inline.contains(&id) || shape.is_scalar() => {
                let v = node_var(id);
                quote!(#v)
            }
            _ if plan.buffers.contains(&id) => self.flat_entry(id, &ri, &cj),
            _ => match spec(g.op(id)).class {
                Class::Elementwise => self.compute(plan, inline, id, i, j),
                _ => quote!(::core::compile_error!(
                    "internal compiler error: a value is read before it is computed"
                )),
            },
        }
    }
}
