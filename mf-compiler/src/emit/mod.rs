//! Stage 6: the plan → Rust code, with `quote!`: the generated items (the
//! structs and their impls), assembled here, and the helpers every part
//! shares (generated names, literals, sizes).
//!
//! For `pub struct SeedLoss { … }` the expansion defines:
//! - `SeedLoss`: the hyper-settings (`Default` from the declared defaults),
//!   with `explain()`, `layout()`, `init()` and `objective()`;
//! - `SeedLossData<'a>`: a reference to each data matrix;
//! - `SeedLossParams`: the parameters in one flat buffer, with an accessor
//!   per param (`P()`, `P_mut()`);
//! - `SeedLossObjective<'a>`: the loss bound to its data, implementing
//!   `mf_runtime::Objective`, with its scratch buffers allocated once.
//!
//! By what they emit:
//! - `workspace`: the scratch buffers allocated once at bind time;
//! - `objective`: the bodies of `value` and `value_and_gradient`, step by
//!   step, and a node's value at an entry of a loop;
//! - `dense`: fused loops over dense domains and matrix products;
//! - `entries`: passes over the observed entries of sparse data;
//! - `rows`: the row systems of the row-block methods (ALS, fold-in);
//! - `row_values`: the code of a row system at one observed entry or
//!   coordinate (its leaves, values and gradient and Hessian updates);
//! - `prediction`: a node's value at one entry from the flat parameters
//!   (`predict_flat`);
//! - `sharding`: which values are partial on one rank over shards;
//! - `shards`: binding the objective to one rank's block of rows, and its
//!   parameters to the rank's rows;
//! - `model`: what a trained model needs of the loss (the `Hypers` and
//!   `Prediction` impls, the objective's `prediction_tables`).

mod dense;
mod entries;
mod model;
mod objective;
mod prediction;
mod row_values;
mod rows;
mod sharding;
mod shards;
mod workspace;

pub(crate) use prediction::prediction_code;

use crate::check::{Symbol, Symbols};
use crate::ir::{Dim, Graph, NodeId, Shape};
use crate::lower::Plan;
use crate::parse::LossDef;
use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote};
use syn::ext::IdentExt;

/// Everything the emitter needs.
pub(crate) struct Input<'a> {
    pub(crate) def: &'a LossDef,
    pub(crate) symbols: &'a Symbols,
    pub(crate) graph: &'a Graph,
    pub(crate) loss: NodeId,
    pub(crate) value_plan: &'a Plan,
    pub(crate) gradient_plan: &'a Plan,
    pub(crate) explain: String,
    /// The prediction, when the loss has one that can be computed, with
    /// the body of `predict_flat`.
    pub(crate) prediction: Option<&'a (crate::tables::Prediction, TokenStream)>,
    /// The loss as written, without attributes (`Prediction::loss_source`).
    pub(crate) source: String,
    /// The row systems, or why the loss has none.
    pub(crate) blocks: &'a crate::blocks::Blocks,
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
pub(crate) fn emit(input: &Input) -> TokenStream {
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
    // Declared start values, applied after the random draw (which so
    // stays the same stream for the other params).
    let starts = s.params.iter().enumerate().filter_map(|(i, p)| {
        let value = match p.start.as_ref()? {
            crate::parse::Start::Number(v) => quote!(#v),
            crate::parse::Start::Mean(d) => quote!(data.#d.mean()),
        };
        Some(quote!(params.block_mut(#i).fill(#value);))
    });
    let started: Vec<String> = s
        .params
        .iter()
        .filter_map(|p| {
            let value = match p.start.as_ref()? {
                crate::parse::Start::Number(v) => format!("{v}"),
                crate::parse::Start::Mean(d) => format!("the mean of `{d}`'s observed values"),
            };
            Some(format!("`{}` at {value}", p.name))
        })
        .collect();
    let doc_init = match started.is_empty() {
        true => "Parameters for this data, every value drawn from `init` (seeded by `rng`).".to_string(),
        false => format!(
            "Parameters for this data, every value drawn from `init` (seeded by `rng`), except the start values the loss declares: {}.",
            started.join(", ")
        ),
    };
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
    let (workspace_fields, workspace_inits) = workspace::fields(input.graph, s, &plans(input));
    let offsets = s.params.iter().map(|p| {
        let (r, c) = (dim_size(p.shape.rows), dim_size(p.shape.cols));
        quote!({ offset += #r * #c; offset },)
    });
    let (count_fields, count_inits) = workspace::count_fields(input.graph, s);
    let (value_body, gradient_body) = objective::bodies(input, &workspace_ty);
    let (rows_items, rows_field, rows_init, rows_method) =
        match rows::row_items(input.graph, s, input.blocks, name) {
            Ok(r) => (r.items, r.field, r.field_init, r.method),
            Err(why) => (quote!(), quote!(), quote!(), rows::refusal(&why)),
        };
    let (shard_methods, rows_of_method) = (shards::shard_methods(input), shards::rows_of(input));
    let explain = &input.explain;
    let predict_methods = input
        .prediction
        .filter(|(p, _)| p.tables.is_empty())
        .map(|_| {
            quote! {
                /// The model's prediction at entry `(row, col)` (dense indices),
                /// as `explain()` shows it; see
                /// [`Prediction::predict_flat`](::mf_runtime::model::Prediction::predict_flat)
                /// for a flat parameter vector.
                pub fn predict(&self, params: &#params_ty, row: usize, col: usize) -> f64 {
                    <Self as #rt::model::Prediction>::predict_flat(self, params.layout(), params.as_slice(), &[], row, col)
                }
            }
        });
    let hypers_impl = model::hypers_impl(name, s);
    let trainable_impl = model::trainable_impl(input, &free_names);
    let (prediction_impl, tables_method) = match input.prediction {
        Some((p, code)) => (
            model::prediction_impl(input, p, code),
            model::tables_method(input, p, &workspace_ty),
        ),
        None => (quote!(), quote!()),
    };
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

        impl ::core::convert::From<#params_ty> for #rt::Params {
            fn from(params: #params_ty) -> #rt::Params {
                params.params
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

            #rows_of_method

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

            #[doc = #doc_init]
            pub fn init<'a, R: ::mf_runtime::rand::Rng + ?Sized>(
                data: impl ::core::convert::Into<#data_ty<'a>>,
                #(#free_args: usize,)*
                init: #rt::Init,
                rng: &mut R,
            ) -> ::core::result::Result<#params_ty, #rt::ShapeError> {
                let data = data.into();
                let layout = Self::layout(data, #(#free_args),*)?;
                let mut params = #rt::Params::init(layout, init, rng);
                #(#starts)*
                ::core::result::Result::Ok(#params_ty { params })
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
                    whole_dims: dims,
                    offsets,
                    workspace: #workspace_ty { #(#workspace_inits)* },
                    #rows_init
                    shards: ::core::option::Option::None,
                    whole: ::std::vec::Vec::new(),
                    #(#count_inits)*
                })
            }
        }

        #[allow(non_snake_case)]
        struct #workspace_ty {
            #(#workspace_fields)*
        }

        #[doc = #doc_objective]
        #[allow(non_snake_case)]
        #vis struct #objective_ty<'a> {
            loss: #name,
            data: #data_ty<'a>,
            dims: [usize; #num_dims],
            /// The sizes of the whole problem's dimensions: `dims`, but
            /// over shards the users of every rank (for `mean`).
            whole_dims: [usize; #num_dims],
            /// End of each param's block in the flat vector.
            offsets: [usize; #num_params],
            workspace: #workspace_ty,
            #rows_field
            /// The ranks each pass is combined over, when bound to a shard.
            shards: ::core::option::Option<#rt::shard::Shards>,
            /// Over shards: rank 0's whole blocks (the params not along the
            /// users), shared at each evaluation.
            whole: ::std::vec::Vec<f64>,
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

            fn sum_over_ranks(&mut self, partials: &mut [f64]) {
                if let ::core::option::Option::Some(shards) = self.shards.as_mut() {
                    shards.sum(partials);
                }
            }

            #rows_method
        }

        #tables_method

        #shard_methods

        #rows_items

        #hypers_impl

        #prediction_impl

        #trainable_impl
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

/// The plans whose buffers the workspace holds.
fn plans<'a>(input: &Input<'a>) -> Vec<&'a Plan> {
    let mut plans = vec![input.value_plan, input.gradient_plan];
    plans.extend(input.prediction.map(|(p, _)| &p.plan));
    plans
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

/// The index along an axis: 0 for a broadcast axis of size 1.
fn collapse(dim: Dim, index: &TokenStream) -> TokenStream {
    match dim {
        Dim::One => quote!(0usize),
        Dim::Sym(_) => index.clone(),
    }
}
