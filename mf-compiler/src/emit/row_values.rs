//! Row systems' per-entry values: the code run at one observed entry (or one
//! coordinate of a penalty) of a row, from the row's leaves through every
//! value a term and its derivatives need, one local per node, to the
//! gradient and Hessian updates of the entry.

use super::float_literal;
use super::rows::{copy_field, dim_len, At, Ctx};
use crate::blocks::{Axis, Leaf};
use crate::ir::{Dim, NodeId, Op, Shape};
use crate::ops::spec;
use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};
use std::collections::BTreeSet;

/// The per-entry code of a row.
pub(super) struct EntryCode {
    pub(super) each: TokenStream,
    /// Prefetches of the partner rows an entry reads, given its `(u, i)`.
    pub(super) ahead: TokenStream,
}

/// The code of each computed node: a local, or a name or number used as it is.
pub(super) type Values = std::collections::HashMap<NodeId, TokenStream>;

/// The local holding a node's value.
pub(super) fn local(id: NodeId) -> Ident {
    format_ident!("v{}", id.0)
}

impl Ctx<'_> {
    /// The code run at each observed entry `(u, i)` with value `value`.
    /// A term whose second derivatives in the leaves are all one value `c`
    /// (the leaves enter through one scalar, as `P@Q + bu` does) adds the
    /// rank-1 term `c a aᵀ`, `a` the leaves' coefficients side by side;
    /// any other adds its pairs one by one.
    pub(super) fn entry_code(&self, system: bool) -> Result<EntryCode, String> {
        let rt = quote!(::mf_runtime);
        let group = self.group;
        let mut prelude = Vec::new();
        let mut ahead = Vec::new();
        for (j, leaf) in group.leaves.iter().enumerate() {
            let l = format_ident!("l{}", j);
            let (o, w) = (
                format_ident!("o{}", leaf.member),
                format_ident!("w{}", leaf.member),
            );
            match leaf.partner {
                None => prelude.push(quote!(let #l: f64 = z[#o];)),
                Some(partner) => {
                    let a = format_ident!("a{}", j);
                    let slice = self.operand_slice(
                        partner.param,
                        partner.transposed,
                        !partner.group_on_right,
                    );
                    ahead.push(quote!(#rt::kernel::prefetch(#slice);));
                    prelude.push(quote! {
                        let #a: &[f64] = #slice;
                        let #l: f64 = #rt::kernel::dot(&z[#o..#o + #w], #a);
                    });
                }
            }
        }
        // Every value the entry needs, computed once.
        let mut roots = Vec::new();
        for term in &group.entries {
            roots.push(term.expr);
            if system {
                roots.extend(term.d1.iter().flatten());
                roots.extend(term.d2.iter().flatten());
            }
        }
        let (lets, values) = self.values(&roots)?;
        let mut body = Vec::new();
        for term in &group.entries {
            let value = &values[&term.expr];
            body.push(quote!(total += #value;));
            if !system {
                continue;
            }
            for (j, d1) in term.d1.iter().enumerate() {
                let Some(d1) = d1 else { continue };
                let code = &values[d1];
                let leaf = &group.leaves[j];
                let o = format_ident!("o{}", leaf.member);
                body.push(match leaf.partner {
                    None => quote!(grad[#o] += #code;),
                    Some(_) => {
                        let a = format_ident!("a{}", j);
                        let w = format_ident!("w{}", leaf.member);
                        quote!(#rt::kernel::axpy(#code, #a, &mut grad[#o..#o + #w]);)
                    }
                });
            }
            let leaf_offset = |j: usize| format_ident!("o{}", group.leaves[j].member);
            let rank_one = match term.d2.first() {
                Some(&Some(first)) => term.d2.iter().all(|&d| d == Some(first)),
                _ => false,
            };
            if rank_one {
                let code = &values[&term.d2[0].expect("checked")];
                let parts = (0..group.leaves.len()).map(|j| {
                    let (o, v) = (leaf_offset(j), self.coefficient(j));
                    quote!((#o, #v))
                });
                body.push(quote!(hess.add_entry(#code, &[#(#parts),*]);));
                continue;
            }
            let mut pair = 0;
            for j in 0..group.leaves.len() {
                for l in j..group.leaves.len() {
                    let d2 = term.d2[pair];
                    pair += 1;
                    let Some(d2) = d2 else { continue };
                    let code = &values[&d2];
                    let (vj, vl) = (self.coefficient(j), self.coefficient(l));
                    let (oj, ol) = (leaf_offset(j), leaf_offset(l));
                    body.push(match j == l {
                        true => quote!(hess.add_outer(#code, #oj, #vj);),
                        false => quote!(hess.add_outer_pair(#code, #oj, #vj, #ol, #vl);),
                    });
                }
            }
        }
        Ok(EntryCode {
            each: quote! {
                #(#prelude)*
                #lets
                #(#body)*
            },
            ahead: quote!(#(#ahead)*),
        })
    }

    /// The coefficient vector of leaf `j` as a slice.
    fn coefficient(&self, j: usize) -> TokenStream {
        match self.group.leaves[j].partner {
            None => quote!(&[1.0f64][..]),
            Some(_) => {
                let a = format_ident!("a{}", j);
                quote!(#a)
            }
        }
    }

    /// A contiguous slice of a param operand of a product at the current
    /// entry: the left operand's row `u`, or the right operand's column `i`
    /// (from a transposed copy when the param stores it with a stride).
    fn operand_slice(&self, p: u16, transposed: bool, right: bool) -> TokenStream {
        let s = self.s;
        let param = &s.params[p as usize];
        let index = if right { quote!(i) } else { quote!(u) };
        let needs_copy = right != transposed;
        if needs_copy {
            self.copies.borrow_mut().insert(p);
            let field = copy_field(s, p);
            // The copy is [cols, rows] of the param: its row `index` has `rows` values.
            let len = dim_len(param.shape.rows);
            quote!(&self.#field[#index * #len..(#index + 1) * #len])
        } else {
            let len = dim_len(param.shape.cols);
            let start = param_start(p as usize, &quote!(self.offsets));
            quote!({
                let start = #start;
                &x[start + #index * #len..start + (#index + 1) * #len]
            })
        }
    }

    /// Let-bindings computing `roots` at the current entry or coordinate,
    /// one local per node (shared subexpressions once), and the local
    /// holding each root.
    pub(super) fn values(&self, roots: &[NodeId]) -> Result<(TokenStream, Values), String> {
        let g = self.g;
        let mut seen = BTreeSet::new();
        let mut stack = roots.to_vec();
        while let Some(id) = stack.pop() {
            if !seen.insert(id) || self.leaf(id).is_some() {
                continue;
            }
            match g.op(id) {
                Op::Masked => stack.push(g.args(id)[1]),
                Op::Broadcast => stack.push(g.args(id)[0]),
                op if spec(op).class == crate::ops::Class::Elementwise => {
                    stack.extend(g.args(id).iter().copied())
                }
                _ => {}
            }
        }
        // Ids are a topological order: arguments come first. A value that
        // is a name or a number already is used as it is; anything computed
        // gets a local.
        let mut lets = Vec::new();
        let mut values = Values::new();
        for &id in &seen {
            let code = match self.leaf(id) {
                Some(j) => {
                    let l = format_ident!("l{}", j);
                    quote!(#l)
                }
                None => self.node_code(id, &values)?,
            };
            let atom = self.leaf(id).is_some()
                || matches!(
                    g.op(id),
                    Op::Const(_)
                        | Op::Hyper(_)
                        | Op::Data(_)
                        | Op::Mask(_)
                        | Op::Masked
                        | Op::Broadcast
                )
                || matches!(
                    (g.op(id), &self.at),
                    (Op::Param(p), At::Coord { member_param }) if p == *member_param
                );
            if atom {
                values.insert(id, code);
            } else {
                let var = local(id);
                lets.push(quote!(let #var: f64 = #code;));
                values.insert(id, quote!(#var));
            }
        }
        Ok((quote!(#(#lets)*), values))
    }

    /// The index of `id` among the leaves, at an entry.
    fn leaf(&self, id: NodeId) -> Option<usize> {
        match self.at {
            At::Entry => self.group.leaves.iter().position(|l: &Leaf| l.node == id),
            At::Coord { .. } => None,
        }
    }

    /// One node's value from its arguments' locals.
    fn node_code(&self, id: NodeId, values: &Values) -> Result<TokenStream, String> {
        let g = self.g;
        let args = g.args(id);
        let shape = g.shape(id);
        Ok(match g.op(id) {
            Op::Const(c) => float_literal(c.get()),
            Op::Hyper(h) => {
                let name = &self.s.hypers[h as usize].name;
                quote!(self.loss.#name)
            }
            Op::Count(counted) => {
                let (r, c) = (dim_len(counted.rows), dim_len(counted.cols));
                quote!(((#r * #c) as f64))
            }
            Op::Data(_) => match self.at {
                At::Entry => quote!(value),
                At::Coord { .. } => return Err("a penalty reads the data's values".into()),
            },
            Op::Mask(_) => quote!(1.0f64),
            Op::Masked => values[&args[1]].clone(),
            Op::Broadcast => values[&args[0]].clone(),
            Op::RowCount(_) => self.count(shape, true),
            Op::ColCount(_) => self.count(shape, false),
            Op::Param(p) => self.param(p, shape, false)?,
            Op::Transpose => match g.op(args[0]) {
                Op::Param(p) => self.param(p, g.shape(args[0]), true)?,
                _ => return Err("a transposed expression is read at an entry".into()),
            },
            Op::MatMul => {
                let (a, b) = (args[0], args[1]);
                let operand = |id: NodeId| match g.op(id) {
                    Op::Param(p) => Some((p, false)),
                    Op::Transpose => match g.op(g.args(id)[0]) {
                        Op::Param(p) => Some((p, true)),
                        _ => None,
                    },
                    _ => None,
                };
                let (Some((pa, ta)), Some((pb, tb)), At::Entry) =
                    (operand(a), operand(b), &self.at)
                else {
                    return Err("a product of expressions is read at an entry".into());
                };
                let left = self.operand_slice(pa, ta, false);
                let right = self.operand_slice(pb, tb, true);
                quote!(::mf_runtime::kernel::dot(#left, #right))
            }
            op => match spec(op).code {
                Some(code) => {
                    let args: Vec<TokenStream> = args.iter().map(|a| values[a].clone()).collect();
                    code(op, &args)
                }
                None => return Err(format!("`{}` is not computed at one entry", spec(op).name)),
            },
        })
    }

    /// An observation count of the data at the current row: the row's own
    /// entry count along the group's axis (so a folded-in row counts its
    /// own entries), the bound data's elsewhere.
    fn count(&self, shape: Shape, rows: bool) -> TokenStream {
        let data = self.data;
        let own = matches!(
            (self.group.axis, rows),
            (Axis::DataRows(_), true) | (Axis::DataCols(_), false)
        );
        let index = self.index(if rows { shape.rows } else { shape.cols }, rows);
        if own {
            quote!((row.len() as f64))
        } else if rows {
            quote!((self.data.#data.user_count(#index) as f64))
        } else {
            quote!((self.data.#data.item_count(#index) as f64))
        }
    }

    /// The index along an axis of a value at the current entry or coordinate.
    fn index(&self, dim: Dim, rows: bool) -> TokenStream {
        match (dim, &self.at) {
            (Dim::One, _) => quote!(0usize),
            (_, At::Entry) => {
                if rows {
                    quote!(u)
                } else {
                    quote!(i)
                }
            }
            (_, At::Coord { .. }) => {
                if rows {
                    quote!(ri)
                } else {
                    quote!(cj)
                }
            }
        }
    }

    /// A param read elementwise: a member's value from the row's `z`, any
    /// other from `x`.
    fn param(&self, p: u16, shape: Shape, transposed: bool) -> Result<TokenStream, String> {
        if let At::Coord { member_param } = self.at {
            if member_param == p {
                return Ok(quote!(xv));
            }
            return Err("a penalty reads a second param".into());
        }
        if let Some(m) = self.group.members.iter().position(|m| m.param == p) {
            let o = format_ident!("o{}", m);
            return Ok(quote!(z[#o]));
        }
        // Entry indices of the param's own axes.
        let (rd, cd) = (shape.rows, shape.cols);
        let (ri, cj) = if transposed {
            (self.index(rd, false), self.index(cd, true))
        } else {
            (self.index(rd, true), self.index(cd, false))
        };
        let mut index = vec![param_start(p as usize, &quote!(self.offsets))];
        if rd != Dim::One {
            let cols = dim_len(cd);
            index.push(if cd == Dim::One {
                ri
            } else {
                quote!(#ri * #cols)
            });
        }
        if cd != Dim::One {
            index.push(cj);
        }
        Ok(quote!(x[#(#index)+*]))
    }
}

/// Where param `p`'s block starts in the flat vector, given the expression
/// of the array of block ends (`self.offsets`).
pub(super) fn param_start(p: usize, offsets: &TokenStream) -> TokenStream {
    match p {
        0 => quote!(0usize),
        _ => {
            let previous = p - 1;
            quote!(#offsets[#previous])
        }
    }
}
