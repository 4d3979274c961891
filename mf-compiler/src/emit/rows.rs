//! Row systems: the `RowSystems` implementation of a loss whose terms all
//! have row blocks (see `crate::blocks`): per group, its description, the
//! copies prepared before its rows, and one row's loss, gradient and Hessian
//! summed over that row's observed entries and its penalties (the code at
//! one entry or coordinate is `row_values`).

use super::row_values::{param_start, EntryCode};
use crate::blocks::{Axis, Blocks, Group};
use crate::check::Symbols;
use crate::ir::{Dim, Graph};
use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};
use std::collections::BTreeSet;

/// How many entries ahead a row's loop prefetches the partner rows.
const PREFETCH_DISTANCE: usize = 8;

/// The generated row systems: the struct and its `RowSystems` impl, and the
/// body of the objective's `row_systems()`.
pub(super) struct RowItems {
    pub(super) items: TokenStream,
    /// The objective's field holding the systems (absent without them).
    pub(super) field: TokenStream,
    pub(super) field_init: TokenStream,
    pub(super) method: TokenStream,
}

/// Where the indices of a value come from in the code being emitted.
pub(super) enum At {
    /// An observed entry `(u, i)` of the data, `value` its value.
    Entry,
    /// Coordinate `(ri, cj)` of a member param, `xv` its value.
    Coord { member_param: u16 },
}

/// What the code of one group's rows is emitted from: the graph, the group,
/// and where the indices of the values being computed come from.
pub(super) struct Ctx<'a> {
    pub(super) g: &'a Graph,
    pub(super) s: &'a Symbols,
    pub(super) group: &'a Group,
    pub(super) data: &'a Ident,
    pub(super) at: At,
    /// Transposed copies the code reads (filled by `prepare`).
    pub(super) copies: std::cell::RefCell<BTreeSet<u16>>,
}

pub(super) fn row_items(
    g: &Graph,
    s: &Symbols,
    blocks: &Blocks,
    name: &Ident,
) -> Result<RowItems, String> {
    let rt = quote!(::mf_runtime);
    let groups = match blocks {
        Ok(groups) if !groups.is_empty() => groups,
        Ok(_) => return Err("the loss has no param indexed by the data".into()),
        Err(why) => return Err(why.clone()),
    };
    let rows_ty = format_ident!("{}Rows", name);
    let data_ty = format_ident!("{}Data", name);
    let data_index = s.data.iter().position(|d| d.sparse).unwrap_or(0);
    let data = &s.data[data_index].name;
    let num_params = s.params.len();

    let mut all_copies = BTreeSet::new();
    let mut group_descs = Vec::new();
    let mut prepares = Vec::new();
    let mut systems = Vec::new();
    let mut losses = Vec::new();
    let mut rows_of = Vec::new();
    let mut grams = Vec::new();
    for (gi, group) in groups.iter().enumerate() {
        let ctx = Ctx {
            g,
            s,
            group,
            data,
            at: At::Entry,
            copies: Default::default(),
        };
        group_descs.push(group_desc(s, group));
        let system = ctx.row_code(true)?;
        let loss = ctx.row_code(false)?;
        let copies = ctx.copies.borrow().clone();
        // Gram matrices and the norms majorized around the start.
        let mut prep = Vec::new();
        for c in &copies {
            let field = copy_field(s, *c);
            let p = *c as usize;
            let (r, cols) = (
                dim_len(s.params[p].shape.rows),
                dim_len(s.params[p].shape.cols),
            );
            let start = param_start(p, &quote!(self.offsets));
            prep.push(quote! {
                let start = #start;
                self.#field.resize(#r * #cols, 0.0);
                #rt::kernel::transpose(&x[start..self.offsets[#p]], #r, #cols, &mut self.#field);
            });
        }
        for norm in &group.norms {
            let p = group.members[norm.member].param as usize;
            let start = param_start(p, &quote!(self.offsets));
            prep.push(quote! {
                // The radius of the majorizer: ‖X₀‖, floored at an RMS of 1e-6
                // per element so that a param at zero (a bias at its start)
                // can leave it.
                let start = #start;
                let values = &x[start..self.offsets[#p]];
                let floor = 1e-6 * (values.len() as f64).sqrt();
                self.norms[#p] = #rt::kernel::dot(values, values).sqrt().max(floor);
            });
        }
        for (t, gram) in group.grams.iter().enumerate() {
            let field = format_ident!("gram_{}_{}", gi, t);
            let p = gram.partner as usize;
            let (r, c) = (
                dim_len(s.params[p].shape.rows),
                dim_len(s.params[p].shape.cols),
            );
            let (outer, inner) = if gram.partner_rows {
                (r.clone(), c.clone())
            } else {
                (c.clone(), r.clone())
            };
            let (ia, ib) = if gram.partner_rows {
                (quote!(t * #c + j), quote!(v * #c + j))
            } else {
                (quote!(j * #c + t), quote!(j * #c + v))
            };
            grams.push(field.clone());
            let start = param_start(p, &quote!(self.offsets));
            prep.push(quote! {
                let start = #start;
                let y = &x[start..self.offsets[#p]];
                let n = #outer;
                self.#field.clear();
                self.#field.resize(n * n, 0.0);
                for t in 0..n {
                    for v in 0..=t {
                        let mut sum = 0.0f64;
                        for j in 0..#inner {
                            sum += y[#ia] * y[#ib];
                        }
                        self.#field[t * n + v] = sum;
                        self.#field[v * n + t] = sum;
                    }
                }
            });
        }
        all_copies.extend(copies);
        prepares.push(quote!(#gi => { #(#prep)* }));
        systems.push(quote!(#gi => { #system }));
        losses.push(quote!(#gi => { #loss }));
        rows_of.push(match group.axis {
            Axis::DataRows(_) => quote!(#gi => {
                let (others, values) = self.data.#data.csr().row(index);
                #rt::blocks::Row { index, others, values }
            }),
            Axis::DataCols(_) => quote!(#gi => {
                let (others, values) = self.data.#data.csc().col(index);
                #rt::blocks::Row { index, others, values }
            }),
            Axis::Global => quote!(#gi => #rt::blocks::Row { index: 0, others: &[], values: &[] },),
        });
    }
    let copy_fields: Vec<Ident> = all_copies.iter().map(|&c| copy_field(s, c)).collect();
    let items = quote! {
        /// The row systems of the loss (`RowSystems`), built on first use.
        #[allow(non_snake_case)]
        struct #rows_ty<'a> {
            loss: #name,
            data: #data_ty<'a>,
            dims: Vec<usize>,
            offsets: [usize; #num_params],
            groups: Vec<#rt::blocks::RowGroup>,
            norms: [f64; #num_params],
            #(#copy_fields: Vec<f64>,)*
            #(#grams: Vec<f64>,)*
        }

        #[allow(non_snake_case, unused_variables, unused_mut, unused_parens, clippy::all)]
        impl<'a> #rows_ty<'a> {
            fn new(loss: #name, data: #data_ty<'a>, dims: &[usize], offsets: [usize; #num_params]) -> Self {
                let groups = ::std::vec![#(#group_descs),*];
                #rows_ty {
                    loss,
                    data,
                    dims: dims.to_vec(),
                    offsets,
                    groups,
                    norms: [0.0; #num_params],
                    #(#copy_fields: ::std::vec::Vec::new(),)*
                    #(#grams: ::std::vec::Vec::new(),)*
                }
            }
        }

        #[allow(non_snake_case, unused_variables, unused_mut, unused_parens, clippy::all)]
        impl #rt::blocks::RowSystems for #rows_ty<'_> {
            fn groups(&self) -> &[#rt::blocks::RowGroup] {
                &self.groups
            }

            fn prepare(&mut self, group: usize, x: &[f64]) {
                let dims = &self.dims;
                match group {
                    #(#prepares)*
                    _ => {}
                }
            }

            fn system(
                &self,
                group: usize,
                row: #rt::blocks::Row<'_>,
                x: &[f64],
                z: &[f64],
                grad: &mut [f64],
                hess: &mut #rt::blocks::RowHessian,
            ) -> f64 {
                let dims = &self.dims;
                let n = z.len();
                match group {
                    #(#systems)*
                    _ => f64::NAN,
                }
            }

            fn row_loss(&self, group: usize, row: #rt::blocks::Row<'_>, x: &[f64], z: &[f64]) -> f64 {
                let dims = &self.dims;
                let n = z.len();
                let grad: &mut [f64] = &mut [];
                let hess = &mut #rt::blocks::RowHessian::dense(0);
                match group {
                    #(#losses)*
                    _ => f64::NAN,
                }
            }

            fn row(&self, group: usize, index: usize) -> #rt::blocks::Row<'_> {
                match group {
                    #(#rows_of)*
                    _ => #rt::blocks::Row { index, others: &[], values: &[] },
                }
            }
        }
    };
    Ok(RowItems {
        items,
        field: quote!(rows: ::core::option::Option<#rows_ty<'a>>,),
        field_init: quote!(rows: ::core::option::Option::None,),
        method: quote! {
            fn row_systems(&mut self) -> ::core::result::Result<&mut dyn #rt::blocks::RowSystems, ::std::string::String> {
                if self.shards.is_some() {
                    return ::core::result::Result::Err(::std::string::String::from(#rt::shard::NO_ROW_SYSTEMS));
                }
                let (loss, data, dims, offsets) = (self.loss, self.data, self.dims, self.offsets);
                ::core::result::Result::Ok(self.rows.get_or_insert_with(|| #rows_ty::new(loss, data, &dims, offsets)))
            }
        },
    })
}

/// The `row_systems()` of a loss without row systems: the reason.
pub(super) fn refusal(why: &str) -> TokenStream {
    let rt = quote!(::mf_runtime);
    quote! {
        fn row_systems(&mut self) -> ::core::result::Result<&mut dyn #rt::blocks::RowSystems, ::std::string::String> {
            ::core::result::Result::Err(::std::string::String::from(#why))
        }
    }
}

/// The field holding a param's transposed copy.
pub(super) fn copy_field(s: &Symbols, p: u16) -> Ident {
    super::prefixed("t", &s.params[p as usize].name)
}

/// A dimension's size inside the row systems (from `dims`).
pub(super) fn dim_len(dim: Dim) -> TokenStream {
    match dim {
        Dim::One => quote!(1usize),
        Dim::Sym(d) => {
            let d = d as usize;
            quote!(dims[#d])
        }
    }
}

/// The `RowGroup` value describing a group.
fn group_desc(s: &Symbols, group: &Group) -> TokenStream {
    let rt = quote!(::mf_runtime);
    let (name, rows) = match group.axis {
        Axis::DataRows(d) | Axis::DataCols(d) => (s.dims[d as usize].clone(), dim_len(Dim::Sym(d))),
        Axis::Global => ("global".to_string(), quote!(1usize)),
    };
    let segments = group.members.iter().map(|m| {
        let p = m.param as usize;
        let pname = s.params[p].name.to_string();
        let cols = dim_len(s.params[p].shape.cols);
        let width = dim_len(m.width);
        let offset = param_start(p, &quote!(offsets));
        let (row_stride, coord_stride) = match (group.axis, m.along_cols) {
            (Axis::Global, _) => (quote!(0usize), quote!(1usize)),
            (_, false) => (cols.clone(), quote!(1usize)),
            (_, true) => (quote!(1usize), cols.clone()),
        };
        quote!(#rt::blocks::Segment {
            name: #pname,
            offset: #offset,
            row_stride: #row_stride,
            coord_stride: #coord_stride,
            width: #width,
        })
    });
    let quadratic = group.quadratic;
    quote!(#rt::blocks::RowGroup {
        name: #name,
        rows: #rows,
        segments: ::std::vec![#(#segments),*],
        quadratic: #quadratic,
    })
}

impl Ctx<'_> {
    /// The body computing one row's loss and, when `system`, adding its
    /// gradient and Hessian.
    fn row_code(&self, system: bool) -> Result<TokenStream, String> {
        let rt = quote!(::mf_runtime);
        let group = self.group;
        let data = self.data;
        // Each member's offset in z and its width.
        let offsets = group.members.iter().enumerate().map(|(m, member)| {
            let (o, w) = (format_ident!("o{}", m), format_ident!("w{}", m));
            let width = dim_len(member.width);
            let prev = if m == 0 {
                quote!(0usize)
            } else {
                let (po, pw) = (format_ident!("o{}", m - 1), format_ident!("w{}", m - 1));
                quote!(#po + #pw)
            };
            quote! { let #w: usize = #width; let #o: usize = #prev; }
        });
        let EntryCode { each: entry, ahead } = self.entry_code(system)?;
        // The partner rows of the entry a few places ahead are asked for
        // while this one is computed: they are scattered over a table
        // that may not fit in the cache.
        let distance = PREFETCH_DISTANCE;
        let over_entries = match group.axis {
            Axis::DataRows(_) => quote! {
                for (e, (&other, &value)) in row.others.iter().zip(row.values).enumerate() {
                    if let Some(&next) = row.others.get(e + #distance) {
                        let (u, i) = (row.index, next as usize);
                        #ahead
                    }
                    let (u, i) = (row.index, other as usize);
                    #entry
                }
            },
            Axis::DataCols(_) => quote! {
                for (e, (&other, &value)) in row.others.iter().zip(row.values).enumerate() {
                    if let Some(&next) = row.others.get(e + #distance) {
                        let (u, i) = (next as usize, row.index);
                        #ahead
                    }
                    let (u, i) = (other as usize, row.index);
                    #entry
                }
            },
            Axis::Global => quote! {
                let csr = self.data.#data.csr();
                total += #rt::blocks::sum_over_rows(self.data.#data.num_users(), grad, hess, |users, grad, hess| {
                    let mut total = 0.0f64;
                    for u in users {
                        let (cols, values) = csr.row(u);
                        for (&col, &value) in cols.iter().zip(values) {
                            let i = col as usize;
                            #entry
                        }
                    }
                    total
                });
            },
        };
        let over_entries = match (group.entries.is_empty(), group.axis) {
            (true, _) => quote!(),
            (false, Axis::Global) => over_entries,
            (false, _) => over_entries,
        };
        let mut penalties = Vec::new();
        for term in &group.coords {
            let member = &group.members[term.member];
            let ctx = Ctx {
                at: At::Coord {
                    member_param: member.param,
                },
                ..self.clone_shallow()
            };
            let mut roots = vec![term.expr];
            if system {
                roots.extend(term.d1);
                roots.extend(term.d2);
            }
            let (lets, values) = ctx.values(&roots)?;
            let value = &values[&term.expr];
            let (o, w) = (
                format_ident!("o{}", term.member),
                format_ident!("w{}", term.member),
            );
            let (ri, cj) = if member.along_cols {
                (quote!(c), quote!(row.index))
            } else {
                (quote!(row.index), quote!(c))
            };
            let updates = if system {
                let d1 = term.d1.map(|d| {
                    let v = &values[&d];
                    quote!(grad[#o + c] += #v;)
                });
                let d2 = term.d2.map(|d| {
                    let v = &values[&d];
                    quote!(hess.add_diagonal(#o + c, #v);)
                });
                quote!(#d1 #d2)
            } else {
                quote!()
            };
            self.copies
                .borrow_mut()
                .extend(ctx.copies.borrow().iter().copied());
            penalties.push(quote! {
                for c in 0..#w {
                    let (ri, cj) = (#ri, #cj);
                    let xv = z[#o + c];
                    #lets
                    total += #value;
                    #updates
                }
            });
        }
        for norm in &group.norms {
            let (coef_lets, coef) = self.values(&[norm.coef])?;
            let coef = &coef[&norm.coef];
            let p = group.members[norm.member].param as usize;
            let (o, w) = (
                format_ident!("o{}", norm.member),
                format_ident!("w{}", norm.member),
            );
            let updates = if system {
                quote! {
                    grad[#o + c] += coef * xv / radius;
                    hess.add_diagonal(#o + c, coef / radius);
                }
            } else {
                quote!()
            };
            penalties.push(quote! {
                // c‖X‖ ≤ c (‖X‖² / (2‖X₀‖) + ‖X₀‖ / 2): the row's part.
                #coef_lets
                let coef: f64 = #coef;
                let radius = self.norms[#p];
                for c in 0..#w {
                    let xv = z[#o + c];
                    total += coef * xv * xv / (2.0 * radius);
                    #updates
                }
            });
        }
        for (t, gram) in group.grams.iter().enumerate() {
            let (coef_lets, coef) = self.values(&[gram.coef])?;
            let coef = &coef[&gram.coef];
            let gi = self.group_index();
            let field = format_ident!("gram_{}_{}", gi, t);
            let (o, w) = (
                format_ident!("o{}", gram.member),
                format_ident!("w{}", gram.member),
            );
            let updates = if system {
                quote! {
                    grad[#o + a] += 2.0 * coef * gz;
                }
            } else {
                quote!()
            };
            let block = match system {
                true => quote!(hess.add_block(#o, #w, 2.0 * coef, gm);),
                false => quote!(),
            };
            penalties.push(quote! {
                // c xᵀ G x with the partner's Gram matrix G.
                #coef_lets
                let coef: f64 = #coef;
                let gm = &self.#field;
                for a in 0..#w {
                    let gz = #rt::kernel::dot(&gm[a * #w..(a + 1) * #w], &z[#o..#o + #w]);
                    total += coef * z[#o + a] * gz;
                    #updates
                }
                #block
            });
        }
        Ok(quote! {
            #(#offsets)*
            let mut total = 0.0f64;
            #over_entries
            #(#penalties)*
            total
        })
    }

    fn clone_shallow(&self) -> Ctx<'_> {
        Ctx {
            g: self.g,
            s: self.s,
            group: self.group,
            data: self.data,
            at: At::Entry,
            copies: Default::default(),
        }
    }

    fn group_index(&self) -> usize {
        match self.group.axis {
            Axis::DataRows(_) => 0,
            Axis::DataCols(_) => 1,
            Axis::Global => 2,
        }
    }
}
