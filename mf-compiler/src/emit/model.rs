//! What a trained model needs of the loss: the `Hypers` impl (the
//! hyper-settings by name), the `Prediction` impl (identity, params,
//! tables, the prediction at an entry) and the objective's
//! `prediction_tables`.

use super::objective::tables_body;
use super::Input;
use crate::check::Symbols;
use crate::ir::Dim;
use crate::tables::Prediction;
use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};
use syn::ext::IdentExt;

/// `impl Hypers`: the hyper-settings by name.
pub(super) fn hypers_impl(name: &Ident, s: &Symbols) -> TokenStream {
    let rt = quote!(::mf_runtime);
    let names: Vec<String> = s
        .hypers
        .iter()
        .map(|h| h.name.unraw().to_string())
        .collect();
    let fields: Vec<&Ident> = s.hypers.iter().map(|h| &h.name).collect();
    quote! {
        impl #rt::model::Hypers for #name {
            fn hyper_names(&self) -> &'static [&'static str] {
                &[#(#names),*]
            }

            fn hyper(&self, name: &str) -> ::core::option::Option<f64> {
                match name {
                    #(#names => ::core::option::Option::Some(self.#fields),)*
                    _ => ::core::option::Option::None,
                }
            }

            #[allow(unreachable_code)]
            fn set_hyper(&mut self, name: &str, value: f64) -> ::core::result::Result<(), #rt::model::HyperError> {
                let slot: &mut f64 = match name {
                    #(#names => &mut self.#fields,)*
                    _ => return ::core::result::Result::Err(#rt::model::unknown_hyper(name, self.hyper_names())),
                };
                if !value.is_finite() {
                    return ::core::result::Result::Err(#rt::model::HyperError::NotFinite {
                        name: ::std::string::String::from(name),
                        value,
                    });
                }
                *slot = value;
                ::core::result::Result::Ok(())
            }
        }
    }
}

/// A dimension's name as the runtime's `ParamDecl` gives it.
fn dim_name(s: &Symbols, dim: Dim) -> String {
    match dim {
        Dim::One => "1".to_string(),
        Dim::Sym(d) => s.dims[d as usize].to_string(),
    }
}

/// `impl Prediction`: the prediction at one entry (`code`), the loss's
/// identity, its params' and tables' declarations, and the computation of
/// the tables from the training data.
pub(super) fn prediction_impl(input: &Input, p: &Prediction, code: &TokenStream) -> TokenStream {
    let (s, name) = (input.symbols, &input.def.name);
    let rt = quote!(::mf_runtime);
    let params_ty = format_ident!("{}Params", name);
    let loss_name = name.unraw().to_string();
    let source = &input.source;
    let decl = |n: String, rows: Dim, cols: Dim| {
        let (r, c) = (dim_name(s, rows), dim_name(s, cols));
        quote!(#rt::model::ParamDecl { name: #n, rows: #r, cols: #c })
    };
    let params = s.params.iter().map(|param| {
        decl(
            param.name.unraw().to_string(),
            param.shape.rows,
            param.shape.cols,
        )
    });
    let tables = p.tables.iter().zip(&p.names).map(|(&t, math)| {
        let shape = input.graph.shape(t);
        decl(math.clone(), shape.rows, shape.cols)
    });
    let (rows, cols) = (dim_name(s, p.rows), dim_name(s, p.cols));
    let compute = match (p.tables.is_empty(), p.ratings) {
        (false, Some(r)) => {
            let (masked, train) = match s.data[r].sparse {
                true => (quote!(), quote!(train)),
                false => (quote!(let masked = train.to_masked();), quote!(&masked)),
            };
            let data = training_data(input, r, train);
            quote! {
                let params = #rt::Params::from_vec(layout.clone(), x.to_vec()).ok_or_else(|| #rt::ShapeError::Layout {
                    expected: layout.len(),
                    found: x.len(),
                    what: ::std::string::String::from("the flat parameters"),
                })?;
                let params = #params_ty::from_params(params)?;
                #masked
                let mut objective = self.objective(#data, &params)?;
                ::core::result::Result::Ok(objective.prediction_tables(params.as_slice()))
            }
        }
        _ => quote!(::core::result::Result::Ok(::std::vec::Vec::new())),
    };
    quote! {
        #[allow(non_snake_case, unused_variables, clippy::all)]
        impl #rt::model::Prediction for #name {
            fn loss_name(&self) -> &'static str {
                #loss_name
            }

            fn loss_source(&self) -> &'static str {
                #source
            }

            fn explanation(&self) -> &'static str {
                Self::EXPLAIN
            }

            fn params(&self) -> &'static [#rt::model::ParamDecl] {
                &[#(#params),*]
            }

            fn domain(&self) -> (&'static str, &'static str) {
                (#rows, #cols)
            }

            fn tables(&self) -> &'static [#rt::model::ParamDecl] {
                &[#(#tables),*]
            }

            fn compute_tables(
                &self,
                train: &#rt::Ratings,
                side: &#rt::data::SideData,
                layout: &#rt::ParamLayout,
                x: &[f64],
            ) -> ::core::result::Result<::std::vec::Vec<#rt::ndarray::Array2<f64>>, #rt::ShapeError> {
                #compute
            }

            fn predict_flat(
                &self,
                layout: &#rt::ParamLayout,
                x: &[f64],
                tables: &[#rt::ndarray::Array2<f64>],
                row: usize,
                col: usize,
            ) -> f64 {
                let blocks = layout.blocks();
                #code
            }

            fn boxed(&self) -> ::std::boxed::Box<dyn #rt::model::Prediction> {
                ::std::boxed::Box::new(*self)
            }
        }
    }
}

/// The objective's `prediction_tables`, when the prediction has tables.
pub(super) fn tables_method(input: &Input, p: &Prediction, workspace_ty: &Ident) -> TokenStream {
    if p.tables.is_empty() {
        return quote!();
    }
    let objective_ty = format_ident!("{}Objective", input.def.name);
    let nd = quote!(::mf_runtime::ndarray);
    let body = tables_body(input, &p.plan, &p.tables, workspace_ty);
    let doc = format!(
        "The tables of the prediction at the flat parameters `x`, from the bound data: {}.",
        p.names
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    quote! {
        #[allow(non_snake_case, unused_variables, unused_mut, clippy::all)]
        impl #objective_ty<'_> {
            #[doc = #doc]
            pub fn prediction_tables(&mut self, x: &[f64]) -> ::std::vec::Vec<#nd::Array2<f64>> {
                #body
            }
        }
    }
}

/// The loss's data struct for training: the data matrix `ratings` is
/// `train` (an expression), every other one the side data's matrix of its
/// name (`side.matrix("F")?`).
fn training_data(input: &Input, ratings: usize, train: TokenStream) -> TokenStream {
    let data_ty = format_ident!("{}Data", input.def.name);
    let fields = input.symbols.data.iter().enumerate().map(|(d, x)| {
        let n = &x.name;
        match d == ratings {
            true => quote!(#n: #train),
            false => {
                let name = n.unraw().to_string();
                quote!(#n: side.matrix(#name)?)
            }
        }
    });
    quote!(#data_ty { #(#fields),* })
}

/// `impl Trainable`, for a loss with a prediction and one sparse data
/// matrix, the ratings it predicts (any other data is dense side data):
/// `start` with every free dimension (`free`, in `init`'s order) at the
/// rank, and `bind`.
pub(super) fn trainable_impl(input: &Input, free: &[&String]) -> TokenStream {
    let s = input.symbols;
    let mut sparse = s.data.iter().enumerate().filter(|(_, d)| d.sparse);
    let ratings = match (sparse.next(), sparse.next(), input.prediction) {
        (Some((r, _)), None, Some((p, _))) if p.ratings == Some(r) => r,
        _ => return quote!(),
    };
    let name = &input.def.name;
    let rt = quote!(::mf_runtime);
    let params_ty = format_ident!("{}Params", name);
    let ranks = free.iter().map(|_| quote!(rank));
    let free_names = free.iter().map(|d| d.to_string());
    let side_decls = s.data.iter().filter(|d| !d.sparse).map(|d| {
        let (n, rows, cols) = (
            d.name.unraw().to_string(),
            dim_name(s, d.shape.rows),
            dim_name(s, d.shape.cols),
        );
        quote!(#rt::model::ParamDecl { name: #n, rows: #rows, cols: #cols })
    });
    let data = training_data(input, ratings, quote!(train));
    // Named `_side` when the loss reads its ratings only.
    let side = match s.data.len() {
        1 => format_ident!("_side"),
        _ => format_ident!("side"),
    };
    quote! {
        impl #rt::model::Trainable for #name {
            fn free_dims(&self) -> &'static [&'static str] {
                &[#(#free_names),*]
            }

            fn side_data(&self) -> &'static [#rt::model::ParamDecl] {
                &[#(#side_decls),*]
            }

            fn start(
                &self,
                train: &#rt::Ratings,
                #side: &#rt::data::SideData,
                rank: usize,
                init: #rt::Init,
                rng: &mut dyn #rt::rand::RngCore,
            ) -> ::core::result::Result<#rt::Params, #rt::ShapeError> {
                ::core::result::Result::Ok(Self::init(#data, #(#ranks,)* init, rng)?.into())
            }

            fn bind<'a>(
                &self,
                train: &'a #rt::Ratings,
                #side: &'a #rt::data::SideData,
                params: &#rt::Params,
            ) -> ::core::result::Result<::std::boxed::Box<dyn #rt::Objective + 'a>, #rt::ShapeError> {
                let params = #params_ty::from_params(params.clone())?;
                ::core::result::Result::Ok(::std::boxed::Box::new(self.objective(#data, &params)?))
            }

            fn boxed_trainable(&self) -> ::std::boxed::Box<dyn #rt::model::Trainable> {
                ::std::boxed::Box::new(*self)
            }
        }
    }
}
