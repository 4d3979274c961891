//! The prediction: a node's value at one entry `(row, col)`, computed from
//! the flat parameter vector and the prediction's tables (the body of
//! `predict_flat`).

use super::{collapse, float_literal};
use crate::check::Symbols;
use crate::ir::{Dim, Graph, NodeId, Op};
use crate::ops::spec;
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

/// The body of `predict_flat`: the prediction node at entry `(row, col)`,
/// reading params from the flat vector `x` through `blocks`, and table `t`
/// of `tables` from `tables[t]`; `Err` says why a node cannot be computed
/// at one entry.
pub(crate) fn prediction_code(
    g: &Graph,
    s: &Symbols,
    node: NodeId,
    tables: &[NodeId],
) -> Result<TokenStream, String> {
    entry_code(g, s, tables, node, &quote!(row), &quote!(col))
}

fn entry_code(
    g: &Graph,
    s: &Symbols,
    tables: &[NodeId],
    id: NodeId,
    i: &TokenStream,
    j: &TokenStream,
) -> Result<TokenStream, String> {
    let shape = g.shape(id);
    let (ri, cj) = (collapse(shape.rows, i), collapse(shape.cols, j));
    if let Some(t) = tables.iter().position(|&table| table == id) {
        return Ok(quote!(tables[#t][[#ri, #cj]]));
    }
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
        Op::Transpose => entry_code(g, s, tables, args[0], j, i)?,
        Op::Broadcast => entry_code(g, s, tables, args[0], i, j)?,
        Op::MatMul => {
            let inner = g.shape(args[0]).cols;
            let size = dim_from_params(s, inner)
                .ok_or("its inner dimension is not the size of any param")?;
            let t = format_ident!("t{}", id.0);
            let a = entry_code(g, s, tables, args[0], i, &quote!(#t))?;
            let b = entry_code(g, s, tables, args[1], &quote!(#t), j)?;
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
                let args: Result<Vec<TokenStream>, String> = args
                    .iter()
                    .map(|&a| entry_code(g, s, tables, a, i, j))
                    .collect();
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
