//! Stage 6: the plan → Rust code, with `quote!`.
//!
//! For `pub struct SeedLoss { … }` the expansion defines:
//! - `SeedLoss`: the hyper-settings (`Default` from the declared defaults),
//!   with `explain()`, `layout()`, `init()` and `objective()`;
//! - `SeedLossData<'a>`: a reference to each data matrix;
//! - `SeedLossParams`: the parameters in one flat buffer, with an accessor
//!   per param (`P()`, `P_mut()`);
//! - `SeedLossObjective<'a>`: the loss bound to its data, implementing
//!   `mf_runtime::Objective`, with its scratch buffers allocated once.

use crate::check::{Symbol, Symbols};
use crate::ir::{Dim, Graph, NodeId, Op, Shape};
use crate::lower::{untransposed, LoopItem, Plan, Step, Target};
use crate::ops::{spec, Class};
use crate::parse::LossDef;
use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote};
use std::collections::BTreeSet;
use syn::ext::IdentExt;

/// Everything the emitter needs.
pub struct Input<'a> {
    pub def: &'a LossDef,
    pub symbols: &'a Symbols,
    pub graph: &'a Graph,
    pub loss: NodeId,
    pub value_plan: &'a Plan,
    pub gradient_plan: &'a Plan,
    pub explain: String,
    /// The body of `predict_flat`, when the loss has a prediction.
    pub prediction: Option<TokenStream>,
}

fn node_var(id: NodeId) -> Ident {
    format_ident!("v{}", id.0)
}

fn buffer_var(id: NodeId) -> Ident {
    format_ident!("b{}", id.0)
}

/// An `f64` as code; constant folding may produce an infinity or NaN
/// (e.g. `1e308 * 1e308`), which has no literal.
fn float_literal(c: f64) -> TokenStream {
    if c.is_nan() {
        quote!(f64::NAN)
    } else if c == f64::INFINITY {
        quote!(f64::INFINITY)
    } else if c == f64::NEG_INFINITY {
        quote!(f64::NEG_INFINITY)
    } else {
        quote!(#c)
    }
}

/// A generated local for a user's symbol: `p_P`, `g_P`, … (raw
/// identifiers such as `r#type` lose their `r#`).
fn prefixed(prefix: &str, name: &Ident) -> Ident {
    format_ident!("{}_{}", prefix, name.unraw())
}

/// The generated items.
pub fn emit(input: &Input) -> TokenStream {
    let def = input.def;
    let s = input.symbols;
    let vis = &def.vis;
    let name = &def.name;
    let attrs = &def.attrs;
    let data_ty = format_ident!("{}Data", name);
    let params_ty = format_ident!("{}Params", name);
    let objective_ty = format_ident!("{}Objective", name);
    let workspace_ty = format_ident!("{}Workspace", name);
    let rt = quote!(::mf_runtime);
    let nd = quote!(::mf_runtime::ndarray);

    let hyper_fields = s.hypers.iter().map(|h| {
        let (n, a) = (&h.name, &h.attrs);
        quote!(#(#a)* pub #n: f64,)
    });
    let hyper_defaults = s.hypers.iter().map(|h| {
        let (n, d) = (&h.name, h.default);
        quote!(#n: #d,)
    });
    let data_type = |d: &Symbol| match d.sparse {
        true => quote!(#rt::Ratings),
        false => quote!(#rt::MaskedMatrix),
    };
    let data_fields = s.data.iter().map(|d| {
        let (n, a, ty) = (&d.name, &d.attrs, data_type(d));
        quote!(#(#a)* pub #n: &'a #ty,)
    });
    let data_from = (s.data.len() == 1).then(|| {
        let n = &s.data[0].name;
        let ty = data_type(&s.data[0]);
        quote! {
            impl<'a> ::core::convert::From<&'a #ty> for #data_ty<'a> {
                fn from(data: &'a #ty) -> Self {
                    #data_ty { #n: data }
                }
            }
        }
    });
    let accessors = s.params.iter().enumerate().map(|(i, p)| {
        let (n, a) = (&p.name, &p.attrs);
        let n_mut = format_ident!("{}_mut", n);
        quote! {
            #(#a)*
            pub fn #n(&self) -> #nd::ArrayView2<'_, f64> {
                self.params.block(#i)
            }
            /// Mutable view of the same block.
            pub fn #n_mut(&mut self) -> #nd::ArrayViewMut2<'_, f64> {
                self.params.block_mut(#i)
            }
        }
    });
    let param_names: Vec<String> = s.params.iter().map(|p| p.name.to_string()).collect();
    let num_dims = s.dims.len();
    let num_params = s.params.len();
    let free_dims: Vec<usize> = (0..num_dims)
        .filter(|&d| !s.data.iter().any(|x| uses_dim(x.shape, d)))
        .collect();
    // Mixed-site hygiene: a dimension named `data`, `init`, `rng` or `dims`
    // is a different variable from the generated arguments and locals of
    // those names.
    let free_args: Vec<Ident> = free_dims
        .iter()
        .map(|&d| Ident::new(&s.dims[d], Span::mixed_site()))
        .collect();
    let free_names: Vec<&String> = free_dims.iter().map(|&d| &s.dims[d]).collect();
    let free_sources: Vec<String> = free_names
        .iter()
        .map(|n| format!("argument `{n}`"))
        .collect();
    let bind_data = s.data.iter().map(|d| {
        let n = &d.name;
        let size = match d.sparse {
            true => quote!((data.#n.num_users(), data.#n.num_items())),
            false => quote!(data.#n.dim()),
        };
        bind_shape(d, "data", size, s)
    });
    let bind_params = s.params.iter().enumerate().map(|(i, p)| {
        let block = quote!(params.layout().blocks()[#i]);
        let n = p.name.to_string();
        let check = bind_shape(p, "param", quote!((#block.rows, #block.cols)), s);
        quote! {
            if #block.name != #n {
                return ::core::result::Result::Err(#rt::ShapeError::Layout {
                    expected: #num_params,
                    found: params.layout().blocks().len(),
                    what: ::std::format!("block {} is `{}`, the loss declares `{}`", #i, #block.name, #n),
                });
            }
            #check
        }
    });
    // Sparse data of one shape are read entry by entry together: the later
    // ones must have the first one's observed entries.
    let same_patterns = s.data.iter().enumerate().filter_map(|(k, later)| {
        let first = s.data[..k].iter().find(|d| d.sparse && later.sparse && d.shape == later.shape)?;
        let (a, b) = (&first.name, &later.name);
        let (a_text, b_text) = (a.to_string(), b.to_string());
        Some(quote! {
            if data.#a.csr().indptr != data.#b.csr().indptr || data.#a.csr().indices != data.#b.csr().indices {
                return ::core::result::Result::Err(#rt::ShapeError::Pattern {
                    first: #a_text.to_string(),
                    second: #b_text.to_string(),
                });
            }
        })
    });
    let dim_names = &s.dims;
    let layout_entries = s.params.iter().map(|p| {
        let n = p.name.to_string();
        let (r, c) = (
            dim_size_from_binder(p.shape.rows, s),
            dim_size_from_binder(p.shape.cols, s),
        );
        quote!((#n, #r, #c))
    });
    let buffers: BTreeSet<NodeId> = input
        .value_plan
        .buffers
        .iter()
        .chain(&input.gradient_plan.buffers)
        .copied()
        .collect();
    let buffer_fields = buffers.iter().map(|&b| {
        let v = buffer_var(b);
        quote!(#v: #nd::Array2<f64>,)
    });
    let buffer_inits = buffers.iter().map(|&b| {
        let v = buffer_var(b);
        let shape = input.graph.shape(b);
        let (r, c) = (dim_size(shape.rows), dim_size(shape.cols));
        quote!(#v: #nd::Array2::zeros((#r, #c)),)
    });
    // Tilings, column scratch and transposed copies of the passes
    // over sparse data.
    let mut entry_fields = Vec::new();
    let mut entry_inits = Vec::new();
    for (name, ty, init) in
        sparse_workspace(input.graph, s, &[input.value_plan, input.gradient_plan])
    {
        entry_fields.push(quote!(#name: #ty,));
        entry_inits.push(quote!(#name: #init,));
    }
    let offsets = s.params.iter().map(|p| {
        let (r, c) = (dim_size(p.shape.rows), dim_size(p.shape.cols));
        quote!({ offset += #r * #c; offset },)
    });
    // Observation counts per row or column, computed once when bound.
    let counts = used_counts(input.graph, s);
    let count_fields = counts
        .iter()
        .map(|(field, _)| quote!(#field: ::std::vec::Vec<f64>,));
    let count_inits = counts.iter().map(|(field, (d, rows))| {
        let n = &s.data[*d].name;
        let method = if *rows {
            quote!(row_counts)
        } else {
            quote!(col_counts)
        };
        quote!(#field: ::mf_runtime::data::ObservationCounts::#method(data.#n),)
    });
    let emitter = BodyEmitter {
        graph: input.graph,
        symbols: s,
        flat_reads: Default::default(),
    };
    let value_body = emitter.body(input.value_plan, input.loss, false, &workspace_ty);
    let gradient_body = emitter.body(input.gradient_plan, input.loss, true, &workspace_ty);
    let explain = &input.explain;
    let predict_methods = input.prediction.as_ref().map(|code| {
        quote! {
            /// The model's prediction at entry `(row, col)` (dense indices),
            /// as `explain()` shows it.
            pub fn predict(&self, params: &#params_ty, row: usize, col: usize) -> f64 {
                self.predict_flat(params.layout(), params.as_slice(), row, col)
            }

            /// The prediction from a flat parameter vector with the given
            /// layout (what an optimizer or a validation closure holds).
            ///
            /// # Panics
            /// If the layout is not this loss's, or an index is out of range.
            pub fn predict_flat(&self, layout: &#rt::ParamLayout, x: &[f64], row: usize, col: usize) -> f64 {
                let blocks = layout.blocks();
                #code
            }
        }
    });
    let doc_data = format!("The data of [`{name}`]: one reference per data matrix.");
    let doc_params = format!(
        "The parameters of [`{name}`] ({}), stored in one flat buffer; each has an accessor.",
        param_names.join(", ")
    );
    let doc_objective = format!(
        "[`{name}`] bound to its data: an [`Objective`]({rt_path}::Objective) for the optimizers. Made by [`{name}::objective`].",
        rt_path = "::mf_runtime"
    );
    let doc_layout = format!(
        "The parameter layout for this data{}.",
        if free_names.is_empty() {
            String::new()
        } else {
            format!(
                " and the free dimensions {}",
                free_names
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    );

    quote! {
        #(#attrs)*
        #[derive(Clone, Copy, Debug, PartialEq)]
        #[allow(non_snake_case)]
        #vis struct #name {
            #(#hyper_fields)*
        }

        impl ::core::default::Default for #name {
            fn default() -> Self {
                #name { #(#hyper_defaults)* }
            }
        }

        #[doc = #doc_data]
        #[derive(Clone, Copy, Debug)]
        #[allow(non_snake_case)]
        #vis struct #data_ty<'a> {
            #(#data_fields)*
        }

        #data_from

        #[doc = #doc_params]
        #[derive(Clone, Debug, PartialEq)]
        #vis struct #params_ty {
            params: #rt::Params,
        }

        #[allow(non_snake_case)]
        impl #params_ty {
            #(#accessors)*

            /// Wraps a parameter set whose blocks are this loss's params, in order.
            pub fn from_params(params: #rt::Params) -> ::core::result::Result<Self, #rt::ShapeError> {
                let names: ::std::vec::Vec<&str> = params.layout().blocks().iter().map(|b| b.name.as_str()).collect();
                let expected: &[&str] = &[#(#param_names),*];
                if names != expected {
                    return ::core::result::Result::Err(#rt::ShapeError::Layout {
                        expected: expected.len(),
                        found: names.len(),
                        what: ::std::format!("blocks {:?}, the loss declares {:?}", names, expected),
                    });
                }
                ::core::result::Result::Ok(#params_ty { params })
            }

            /// The underlying parameter set.
            pub fn into_params(self) -> #rt::Params {
                self.params
            }
        }

        impl ::core::ops::Deref for #params_ty {
            type Target = #rt::Params;
            fn deref(&self) -> &#rt::Params {
                &self.params
            }
        }

        impl ::core::ops::DerefMut for #params_ty {
            fn deref_mut(&mut self) -> &mut #rt::Params {
                &mut self.params
            }
        }

        impl ::core::convert::AsRef<[f64]> for #params_ty {
            fn as_ref(&self) -> &[f64] {
                self.params.as_slice()
            }
        }

        impl ::core::convert::AsMut<[f64]> for #params_ty {
            fn as_mut(&mut self) -> &mut [f64] {
                self.params.as_mut_slice()
            }
        }

        #[allow(non_snake_case)]
        impl #name {
            /// The derived gradients and the evaluation plan, as readable math.
            pub const EXPLAIN: &'static str = #explain;

            /// The derived gradients and the evaluation plan, as readable math.
            pub fn explain() -> &'static str {
                Self::EXPLAIN
            }

            #predict_methods

            fn bind_data(data: &#data_ty<'_>) -> ::core::result::Result<#rt::DimBinder, #rt::ShapeError> {
                let mut dims = #rt::DimBinder::default();
                #(#bind_data)*
                #(#same_patterns)*
                ::core::result::Result::Ok(dims)
            }

            #[doc = #doc_layout]
            pub fn layout<'a>(
                data: impl ::core::convert::Into<#data_ty<'a>>,
                #(#free_args: usize,)*
            ) -> ::core::result::Result<#rt::ParamLayout, #rt::ShapeError> {
                let data = data.into();
                let mut dims = Self::bind_data(&data)?;
                #(dims.bind(#free_names, #free_args, #free_sources)?;)*
                ::core::result::Result::Ok(#rt::ParamLayout::new([#(#layout_entries),*]))
            }

            /// Parameters for this data, every value drawn from `init` (seeded by `rng`).
            pub fn init<'a, R: ::mf_runtime::rand::Rng + ?Sized>(
                data: impl ::core::convert::Into<#data_ty<'a>>,
                #(#free_args: usize,)*
                init: #rt::Init,
                rng: &mut R,
            ) -> ::core::result::Result<#params_ty, #rt::ShapeError> {
                let layout = Self::layout(data, #(#free_args),*)?;
                ::core::result::Result::Ok(#params_ty { params: #rt::Params::init(layout, init, rng) })
            }

            /// This loss bound to `data`, for parameters shaped like `params`.
            /// Every dimension is checked; a mismatch names the symbol, both
            /// sizes and where each came from.
            pub fn objective<'a>(
                &self,
                data: impl ::core::convert::Into<#data_ty<'a>>,
                params: &#params_ty,
            ) -> ::core::result::Result<#objective_ty<'a>, #rt::ShapeError> {
                let data = data.into();
                let mut dims = Self::bind_data(&data)?;
                #(#bind_params)*
                let dims: [usize; #num_dims] = [#(dims.require(#dim_names)?),*];
                let mut offset = 0usize;
                let offsets: [usize; #num_params] = [#(#offsets)*];
                ::core::result::Result::Ok(#objective_ty {
                    loss: *self,
                    data,
                    dims,
                    offsets,
                    workspace: #workspace_ty { #(#buffer_inits)* #(#entry_inits)* },
                    #(#count_inits)*
                })
            }
        }

        #[allow(non_snake_case)]
        struct #workspace_ty {
            #(#buffer_fields)*
            #(#entry_fields)*
        }

        #[doc = #doc_objective]
        #[allow(non_snake_case)]
        #vis struct #objective_ty<'a> {
            loss: #name,
            data: #data_ty<'a>,
            dims: [usize; #num_dims],
            /// End of each param's block in the flat vector.
            offsets: [usize; #num_params],
            workspace: #workspace_ty,
            #(#count_fields)*
        }

        #[allow(non_snake_case, unused_variables, unused_mut, clippy::all)]
        impl #rt::Objective for #objective_ty<'_> {
            fn num_params(&self) -> usize {
                self.offsets[#num_params - 1]
            }

            fn value(&mut self, x: &[f64]) -> f64 {
                #value_body
            }

            fn value_and_gradient(&mut self, x: &[f64], grad: &mut [f64]) -> f64 {
                #gradient_body
            }
        }
    }
}

fn uses_dim(shape: Shape, d: usize) -> bool {
    [shape.rows, shape.cols].contains(&Dim::Sym(d as u16))
}

/// Binding code for one declared shape (`dims` is a `DimBinder`, `size` a
/// `(rows, cols)` expression).
fn bind_shape(symbol: &Symbol, role: &str, size: TokenStream, s: &Symbols) -> TokenStream {
    let rt = quote!(::mf_runtime);
    let axes = [("rows", symbol.shape.rows), ("columns", symbol.shape.cols)];
    let checks = axes.iter().enumerate().map(|(axis, (axis_name, dim))| {
        let source = format!("{axis_name} of {role} {}", symbol.name);
        let index = syn::Index::from(axis);
        match dim {
            Dim::One => quote!(#rt::DimBinder::expect_one(size.#index, #source)?;),
            Dim::Sym(d) => {
                let dim_name = &s.dims[*d as usize];
                quote!(dims.bind(#dim_name, size.#index, #source)?;)
            }
        }
    });
    quote! {
        {
            let size: (usize, usize) = #size;
            #(#checks)*
        }
    }
}

/// A dimension's size inside `objective()` (from the `dims` array).
fn dim_size(dim: Dim) -> TokenStream {
    match dim {
        Dim::One => quote!(1usize),
        Dim::Sym(d) => {
            let d = d as usize;
            quote!(dims[#d])
        }
    }
}

/// A dimension's size inside `layout()` (from the binder).
fn dim_size_from_binder(dim: Dim, s: &Symbols) -> TokenStream {
    match dim {
        Dim::One => quote!(1usize),
        Dim::Sym(d) => {
            let name = &s.dims[d as usize];
            quote!(dims.require(#name)?)
        }
    }
}

struct BodyEmitter<'a> {
    graph: &'a Graph,
    symbols: &'a Symbols,
    /// Arrays read by the step being emitted, as flat slices: bound before
    /// the step (see [`BodyEmitter::step`]).
    flat_reads: std::cell::RefCell<BTreeSet<NodeId>>,
}

impl BodyEmitter<'_> {
    /// The body of `value` (without gradients) or `value_and_gradient`.
    fn body(
        &self,
        plan: &Plan,
        loss: NodeId,
        gradients: bool,
        workspace_ty: &Ident,
    ) -> TokenStream {
        let s = self.symbols;
        let nd = quote!(::mf_runtime::ndarray);
        let num_params = s.params.len();
        let param_views = s.params.iter().enumerate().map(|(i, p)| {
            let v = prefixed("p", &p.name);
            let (r, c) = (dim_size(p.shape.rows), dim_size(p.shape.cols));
            let start = if i == 0 {
                quote!(0)
            } else {
                let j = i - 1;
                quote!(self.offsets[#j])
            };
            quote! {
                let #v = #nd::ArrayView2::from_shape((#r, #c), &x[#start..self.offsets[#i]])
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
        let counts = used_counts(self.graph, s)
            .into_iter()
            .map(|(field, _)| quote!(let #field: &[f64] = &self.#field;));
        let hypers = s.hypers.iter().map(|h| {
            let n = &h.name;
            let v = prefixed("h", n);
            quote!(let #v: f64 = self.loss.#n;)
        });
        let grad_views = if gradients {
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
                let mut rest: &mut [f64] = grad;
                #(#splits)*
            }
        } else {
            quote!()
        };
        let mut buffers: Vec<Ident> = plan.buffers.iter().map(|&b| buffer_var(b)).collect();
        buffers.extend(
            sparse_workspace(self.graph, s, &[plan])
                .into_iter()
                .map(|(name, _, _)| name),
        );
        let steps = plan.steps.iter().map(|step| self.step(plan, step));
        let result = self.access(
            plan,
            &BTreeSet::new(),
            loss,
            &quote!(0usize),
            &quote!(0usize),
        );
        quote! {
            ::core::assert_eq!(x.len(), self.offsets[#num_params - 1], "the parameter vector must have the length of the layout");
            let dims = self.dims;
            let data = self.data;
            #(#param_views)*
            #(#data_views)*
            #(#hypers)*
            #(#counts)*
            #grad_views
            let #workspace_ty { #(#buffers,)* .. } = &mut self.workspace;
            #(#steps)*
            #result
        }
    }

    fn target(&self, target: Target) -> TokenStream {
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

    fn step_code(&self, plan: &Plan, step: &Step) -> TokenStream {
        let nd = quote!(::mf_runtime::ndarray);
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
            Step::MatMul { node, target } => {
                let args = self.graph.args(*node);
                let (a, b) = (self.operand(args[0]), self.operand(args[1]));
                let t = self.target(*target);
                let scalar = (self.graph.shape(*node).is_scalar()
                    && matches!(target, Target::Buffer(_)))
                .then(|| {
                    let v = node_var(*node);
                    quote!(let #v: f64 = #t[[0, 0]];)
                });
                quote! {
                    #nd::linalg::general_mat_mul(1.0, &#a, &#b, 0.0, &mut #t);
                    #scalar
                }
            }
            Step::Loop {
                domain,
                inline,
                items,
            } => match sparse_passes(self.graph, self.symbols, plan)
                .into_iter()
                .find(|pass| pass.step == step)
            {
                Some(pass) => self.entry_pass(plan, &pass, inline, items),
                None => self.fused_loop(plan, *domain, inline, items),
            },
        }
    }

    /// A loop over the observed entries of sparse data: one parallel pass
    /// over the tiles of its pattern (`mf_runtime::kernel::over_tiles`)
    /// computes the sums and accumulates, in place, the user-side rows
    /// (products with the sparse operand on the left, sums keeping the rows)
    /// and the item-side ones (into a scratch laid out item by item, copied
    /// into the target afterwards). Rows of the factors are read as
    /// contiguous slices: a factor read by columns (`Q` in `P@Q`) is first
    /// copied transposed.
    fn entry_pass(
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
                None => col_outputs.push(quote!(#rt::RowOutput::new(#target.as_slice_mut().expect("contiguous"), #width))),
                Some((scratch, _)) => {
                    let items_dim = dim_size(shape.cols);
                    col_outputs.push(quote!(#rt::RowOutput::new(&mut (*#scratch)[..], #width)));
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
            let totals: [f64; #num_sums] = #rt::over_tiles(
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
    fn row_slice(&self, rows: RowsOf, index: &TokenStream) -> TokenStream {
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

    /// A name for a stored matrix: the param or data name, or the buffer.
    fn base_name(&self, id: NodeId) -> String {
        match self.graph.op(id) {
            Op::Param(p) => prefixed("p", &self.symbols.params[p as usize].name).to_string(),
            Op::Data(d) => prefixed("d", &self.symbols.data[d as usize].name).to_string(),
            _ => format!("b{}", id.0),
        }
    }

    /// The array view of a stored matrix.
    fn view_of(&self, id: NodeId) -> TokenStream {
        let name = Ident::new(&self.base_name(id), Span::call_site());
        match self.graph.op(id) {
            Op::Param(_) | Op::Data(_) => quote!(#name),
            _ => quote!((*#name)),
        }
    }

    /// A fused loop over a dense domain. When every item keeps its row (a
    /// store, a scalar sum, a sum over the columns), rows run in parallel in
    /// fixed chunks ([`mf_runtime::kernel::over_rows`]); a sum over the rows
    /// runs in one sequential loop.
    fn fused_loop(
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
        if row_wise {
            let num_outputs = outputs.len();
            quote! {
                let totals: [f64; #num_sums] = ::mf_runtime::kernel::over_rows(
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
                let totals = sums;
                #(#results)*
            }
        }
    }

    /// Code computing elementwise node `id` at entry `(i, j)` from its
    /// arguments (through the op table).
    fn compute(
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
            let row = self.row_slice(rows_of(self.graph, a, false), i);
            let col = self.row_slice(rows_of(self.graph, b, true), j);
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
    fn access(
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
            Op::Count(counted) => {
                let (r, c) = (dim_size(counted.rows), dim_size(counted.cols));
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
                let v = count_var(s, d as usize, true);
                quote!(#v[#ri])
            }
            Op::ColCount(d) => {
                let v = count_var(s, d as usize, false);
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

/// The index along an axis: 0 for a broadcast axis of size 1.
fn collapse(dim: Dim, index: &TokenStream) -> TokenStream {
    match dim {
        Dim::One => quote!(0usize),
        Dim::Sym(_) => index.clone(),
    }
}

/// One pass over the observed entries of a sparse data matrix.
struct SparsePass<'p> {
    step: &'p Step,
    data: usize,
    /// Items accumulated in place per user row.
    row_items: Vec<LoopItem>,
    /// Items accumulated in place per item, into a scratch laid out item by
    /// item.
    column_items: Vec<LoopItem>,
}

/// The passes of a plan that run over sparse data.
fn sparse_passes<'p>(g: &Graph, s: &Symbols, plan: &'p Plan) -> Vec<SparsePass<'p>> {
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
fn item_node(item: &LoopItem) -> NodeId {
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
fn column_scratch(g: &Graph, item: &LoopItem) -> Option<(Ident, TokenStream)> {
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
struct RowsOf {
    base: NodeId,
    transposed: bool,
}

/// The rows of `node` (or, with `columns`, its columns), looking through
/// transposes to the stored matrix.
fn rows_of(g: &Graph, node: NodeId, columns: bool) -> RowsOf {
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
fn transposed_var(g: &Graph, base: NodeId) -> Ident {
    match g.op(base) {
        Op::Param(p) => format_ident!("tr_param{}", p),
        Op::Data(d) => format_ident!("tr_data{}", d),
        _ => format_ident!("tr_b{}", base.0),
    }
}

/// Every row source a sparse pass reads.
fn pass_row_sources(g: &Graph, inline: &[NodeId], items: &[LoopItem]) -> BTreeSet<RowsOf> {
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

/// The workspace field holding the tiling of sparse data `d`'s pattern.
fn tiling_var(s: &Symbols, d: usize) -> Ident {
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
fn count_var(s: &Symbols, d: usize, rows: bool) -> Ident {
    prefixed(
        if rows { "count_rows" } else { "count_cols" },
        &s.data[d].name,
    )
}

/// The observation counts the loss uses: (field, (data index, per row)).
fn used_counts(g: &Graph, s: &Symbols) -> Vec<(Ident, (usize, bool))> {
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

/// The body of `predict_flat`: the prediction node at entry `(row, col)`,
/// reading params from the flat vector `x` through `blocks`; `Err` says
/// why a node cannot be computed at one entry.
pub fn prediction_code(g: &Graph, s: &Symbols, node: NodeId) -> Result<TokenStream, String> {
    entry_code(g, s, node, &quote!(row), &quote!(col))
}

fn entry_code(
    g: &Graph,
    s: &Symbols,
    id: NodeId,
    i: &TokenStream,
    j: &TokenStream,
) -> Result<TokenStream, String> {
    let shape = g.shape(id);
    let (ri, cj) = (collapse(shape.rows, i), collapse(shape.cols, j));
    let args = g.args(id);
    Ok(match g.op(id) {
        Op::Const(c) => float_literal(c.get()),
        Op::Hyper(h) => {
            let name = &s.hypers[h as usize].name;
            quote!(self.#name)
        }
        Op::Param(p) => {
            let p = p as usize;
            quote!(x[blocks[#p].offset + #ri * blocks[#p].cols + #cj])
        }
        Op::Transpose => entry_code(g, s, args[0], j, i)?,
        Op::Broadcast => entry_code(g, s, args[0], i, j)?,
        Op::MatMul => {
            let inner = g.shape(args[0]).cols;
            let size = dim_from_params(s, inner)
                .ok_or("its inner dimension is not the size of any param")?;
            let t = format_ident!("t{}", id.0);
            let a = entry_code(g, s, args[0], i, &quote!(#t))?;
            let b = entry_code(g, s, args[1], &quote!(#t), j)?;
            quote!({
                let mut dot = 0.0f64;
                for #t in 0..#size {
                    dot += #a * #b;
                }
                dot
            })
        }
        op => match spec(op).code {
            Some(code) => {
                let args: Result<Vec<TokenStream>, String> =
                    args.iter().map(|&a| entry_code(g, s, a, i, j)).collect();
                code(op, &args?)
            }
            None => return Err(format!("`{}` sums over many entries", spec(op).name)),
        },
    })
}

/// The size of a dimension, read from the layout of a param that has it.
fn dim_from_params(s: &Symbols, dim: Dim) -> Option<TokenStream> {
    if dim == Dim::One {
        return Some(quote!(1usize));
    }
    s.params.iter().enumerate().find_map(|(p, param)| {
        if param.shape.rows == dim {
            Some(quote!(blocks[#p].rows))
        } else if param.shape.cols == dim {
            Some(quote!(blocks[#p].cols))
        } else {
            None
        }
    })
}
