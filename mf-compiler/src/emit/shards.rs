//! Training over shards: the objective's `over_shards` (binding a loss to
//! one rank's block of rows, its observation counts made global) and
//! `shards`; the passes' combining is emitted with each pass (`entries`).

use super::{workspace, Input};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

/// The objective's methods for training over shards.
pub(super) fn shard_methods(input: &Input) -> TokenStream {
    let s = input.symbols;
    let rt = quote!(::mf_runtime);
    let objective_ty = format_ident!("{}Objective", input.def.name);
    let sparse: Vec<_> = s.data.iter().filter(|d| d.sparse).collect();
    let check = match sparse
        .windows(2)
        .find(|w| w[0].shape.rows != w[1].shape.rows)
    {
        Some(w) => {
            let why = format!(
                "sparse data `{}` and `{}` have different row dimensions, and shards are blocks of the rows of every data matrix",
                w[0].name, w[1].name
            );
            quote!(return ::core::result::Result::Err(#rt::shard::ShardError::Loss(::std::string::String::from(#why)));)
        }
        None => {
            let sparse_args = sparse.iter().map(|d| {
                let (n, text) = (&d.name, d.name.to_string());
                quote!((#text, self.data.#n))
            });
            let dense_names = s
                .data
                .iter()
                .filter(|d| !d.sparse)
                .map(|d| d.name.to_string());
            quote!(shards.check_data(&[#(#sparse_args),*], &[#(#dense_names),*])?;)
        }
    };
    let counts = workspace::used_counts(input.graph, s)
        .into_iter()
        .map(|(field, _)| quote!(shards.sum(&mut self.#field);));
    quote! {
        #[allow(non_snake_case, unreachable_code)]
        impl #objective_ty<'_> {
            /// This objective bound to one rank's block of rows
            /// ([`shard_rows`](::mf_runtime::shard::shard_rows) of the data,
            /// the parameters of the whole problem): every pass over the
            /// observed entries is combined across the ranks of `shards`, and
            /// the observation counts the loss reads are summed over the
            /// ranks once, here, so every rank evaluates the value and
            /// gradient of the whole data. Every rank must call it, and then
            /// make the same evaluations in the same order.
            ///
            /// Errors when the data holds entries outside this rank's rows,
            /// has another row count than the bounds, is dense, or when the
            /// loss reads sparse data with different row dimensions.
            pub fn over_shards(mut self, mut shards: #rt::shard::Shards) -> ::core::result::Result<Self, #rt::shard::ShardError> {
                #check
                #(#counts)*
                self.shards = ::core::option::Option::Some(shards);
                ::core::result::Result::Ok(self)
            }

            /// The ranks this objective is combined over, when it is
            /// bound to a shard (with their communication time and bytes).
            pub fn shards(&self) -> ::core::option::Option<&#rt::shard::Shards> {
                self.shards.as_ref()
            }
        }
    }
}
