//! Training over shards: the objective's `over_shards` (binding a loss to
//! one rank's block of rows: the layout of its parameters, the observation
//! counts made global), `shards` and `gather_params`, and the loss's
//! `rows_of` (a rank's start from the whole start). The combining of each
//! step's partial results is emitted with the step (`entries`, `dense`).

use super::sharding::Sharding;
use super::{dim_size, plans, workspace, Input};
use crate::ir::Dim;
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

/// Whether each param is a block of rows along the sharded dimension.
fn row_blocks(input: &Input) -> Vec<bool> {
    let sharding = Sharding::new(input.symbols);
    input
        .symbols
        .params
        .iter()
        .map(|p| sharding.is_sharded(p.shape.rows))
        .collect()
}

/// The loss's `rows_of`: a rank's parameters from the whole problem's.
pub(super) fn rows_of(input: &Input) -> TokenStream {
    let rt = quote!(::mf_runtime);
    let params_ty = format_ident!("{}Params", input.def.name);
    let row_blocks = row_blocks(input);
    let num_params = row_blocks.len();
    quote! {
        /// A rank's parameters from the whole problem's: rows `rows` of
        /// every param shaped along the users (the rows of the sparse
        /// data), the other params whole. Every rank draws the same whole
        /// start (same seed) and keeps its rows, so training over shards
        /// starts where one process does. Errors when `rows` is not a range
        /// of the users.
        pub fn rows_of(
            params: &#params_ty,
            rows: ::core::ops::Range<usize>,
        ) -> ::core::result::Result<#params_ty, #rt::shard::ShardError> {
            const ROW_BLOCKS: [bool; #num_params] = [#(#row_blocks),*];
            let mut shapes = ::std::vec::Vec::new();
            let mut values = ::std::vec::Vec::new();
            for (block, &by_rows) in params.layout().blocks().iter().zip(&ROW_BLOCKS) {
                let all = &params.as_slice()[block.range()];
                if !by_rows {
                    shapes.push((block.name.clone(), block.rows, block.cols));
                    values.extend_from_slice(all);
                    continue;
                }
                if rows.start > rows.end || rows.end > block.rows {
                    return ::core::result::Result::Err(#rt::shard::ShardError::Bounds {
                        bounds: ::std::vec![rows.start, rows.end],
                        rows: block.rows,
                        ranks: 1,
                    });
                }
                shapes.push((block.name.clone(), rows.len(), block.cols));
                values.extend_from_slice(&all[rows.start * block.cols..rows.end * block.cols]);
            }
            let params = #rt::Params::from_vec(#rt::ParamLayout::new(shapes), values)
                .expect("a value for each entry of the layout");
            ::core::result::Result::Ok(#params_ty { params })
        }
    }
}

/// The objective's methods for training over shards.
pub(super) fn shard_methods(input: &Input) -> TokenStream {
    let s = input.symbols;
    let rt = quote!(::mf_runtime);
    let objective_ty = format_ident!("{}Objective", input.def.name);
    let params_ty = format_ident!("{}Params", input.def.name);
    let sharding = Sharding::new(s);
    let refuse = |why: String| quote!(return ::core::result::Result::Err(#rt::shard::ShardError::Loss(::std::string::String::from(#why))););
    let sparse: Vec<_> = s.data.iter().filter(|d| d.sparse).collect();
    let by_columns = s.params.iter().find(|p| sharding.is_sharded(p.shape.cols));
    let check = if let Some(w) = sparse
        .windows(2)
        .find(|w| w[0].shape.rows != w[1].shape.rows)
    {
        refuse(format!(
            "sparse data `{}` and `{}` have different row dimensions, and shards are blocks of the rows of every data matrix",
            w[0].name, w[1].name
        ))
    } else if let Some(p) = by_columns {
        refuse(format!(
            "param `{p}` is shaped along `{n}` in its columns; a rank holds its block's rows of a param, so declare it with `{n}` as rows (and transpose it in the loss)",
            p = p.name,
            n = sharding.name()
        ))
    } else if let Some(why) = sharding.refusal(input.graph, &plans(input)) {
        refuse(why)
    } else {
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
    };
    // The counts per column are partial (a rank counts its entries); the
    // counts per row are the rank's rows', complete.
    let counts = workspace::used_counts(input.graph, s)
        .into_iter()
        .filter(|(_, (_, per_row))| !per_row)
        .map(|(field, _)| quote!(shards.sum(&mut self.#field);));
    let blocks = s
        .params
        .iter()
        .zip(row_blocks(input))
        .enumerate()
        .map(|(i, (p, by_rows))| {
            let name = p.name.to_string();
            let start = match i {
                0 => quote!(0usize),
                _ => {
                    let j = i - 1;
                    quote!(self.offsets[#j])
                }
            };
            let width = match by_rows {
                true => {
                    let cols = dim_size(p.shape.cols);
                    quote!(::core::option::Option::Some(#cols))
                }
                false => quote!(::core::option::Option::None),
            };
            quote!((#name, self.offsets[#i] - #start, #width))
        });
    let whole_users = s
        .dims
        .iter()
        .enumerate()
        .filter(|&(d, _)| sharding.is_sharded(Dim::Sym(d as u16)))
        .map(|(d, _)| quote!(self.whole_dims[#d] = *shards.bounds().last().expect("ranks + 1 bounds");));
    let whole_shapes = s.params.iter().map(|p| {
        let name = p.name.to_string();
        let whole = |dim: Dim| match dim {
            Dim::One => quote!(1usize),
            Dim::Sym(d) => {
                let d = d as usize;
                quote!(self.whole_dims[#d])
            }
        };
        let (r, c) = (whole(p.shape.rows), whole(p.shape.cols));
        quote!((#name, #r, #c))
    });
    quote! {
        #[allow(non_snake_case, unreachable_code, unused_variables)]
        impl #objective_ty<'_> {
            /// This objective bound to one rank's block of rows: the data
            /// is [`shard_rows`](::mf_runtime::shard::shard_rows) of the
            /// rank's block, the parameters the loss's `rows_of` the whole
            /// start. Each evaluation sums the partial results of every
            /// step across the ranks of `shards`, and the observation counts
            /// per item are summed once, here, so every rank evaluates the
            /// value of the whole data, and the gradient of its own rows
            /// and (rank 0) of the whole blocks. Every rank must call it,
            /// and then make the same evaluations in the same order.
            ///
            /// Errors when the data or the parameters hold another number
            /// of rows than this rank's block, the data is dense, the loss
            /// reads sparse data with different row dimensions, a param is
            /// shaped along the users in its columns, or the loss computes
            /// a users × users matrix.
            pub fn over_shards(mut self, mut shards: #rt::shard::Shards) -> ::core::result::Result<Self, #rt::shard::ShardError> {
                #check
                let dims = self.dims;
                shards.hold_params(&[#(#blocks),*])?;
                #(#counts)*
                #(#whole_users)*
                self.shards = ::core::option::Option::Some(shards);
                ::core::result::Result::Ok(self)
            }

            /// The ranks this objective is combined over, when it is
            /// bound to a shard (with their communication time and bytes).
            pub fn shards(&self) -> ::core::option::Option<&#rt::shard::Shards> {
                self.shards.as_ref()
            }

            /// The whole vector of a vector in this rank's layout (its
            /// parameters, or a gradient) on rank 0, `None` on the other
            /// ranks (see [`Shards::gather`](::mf_runtime::shard::Shards::gather)):
            /// every rank must call it. Not bound to a shard, a copy.
            pub fn gather(&mut self, local: &[f64]) -> ::core::option::Option<::std::vec::Vec<f64>> {
                match self.shards.as_mut() {
                    ::core::option::Option::Some(shards) => shards.gather(local),
                    ::core::option::Option::None => ::core::option::Option::Some(local.to_vec()),
                }
            }

            /// The whole problem's parameters on rank 0 (every rank's user
            /// rows, rank 0's whole blocks: what one process trains and
            /// saves), `None` on the other ranks; every rank must call it.
            pub fn gather_params(&mut self, local: &#params_ty) -> ::core::option::Option<#params_ty> {
                let values = self.gather(local.as_slice())?;
                let layout = #rt::ParamLayout::new([#(#whole_shapes),*]);
                let params = #rt::Params::from_vec(layout, values).expect("the whole layout's values");
                ::core::option::Option::Some(#params_ty { params })
            }
        }
    }
}
