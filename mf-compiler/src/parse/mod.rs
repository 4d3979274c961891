//! Stage 1: tokens → syntax tree.
//!
//! A `loss!` invocation is a header that declares every symbol, then the
//! loss body:
//!
//! ```text
//! /// docs
//! pub struct SeedLoss {
//!     data  D: [users, items],          // or sparse[users, items]
//!     param P: [users, k],
//!     param Q: [k, items],
//!     hyper beta: f64 = 0.02,
//! }
//! minimize sum(mask * (D - P@Q)^2) + beta*(norm(P)+norm(Q))
//! ```
//!
//! Expressions follow numpy/Python precedence, from loosest to tightest:
//! `+ -`, then `* / @` (left-associative), then unary `-`, then `^`
//! (right-associative, like Python's `**`, so `-x^2` is `-(x^2)`), then the
//! postfix transpose `.T` and function calls.

pub(crate) mod expr;

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Attribute, Ident, Token, Visibility};

use expr::parse_expr;

/// Where a piece of source text starts and ends, for errors that cover a
/// whole subexpression.
#[derive(Clone, Copy, Debug)]
pub struct SpanRange {
    pub first: Span,
    pub last: Span,
}

impl SpanRange {
    pub fn single(span: Span) -> Self {
        SpanRange {
            first: span,
            last: span,
        }
    }

    pub fn to(self, other: SpanRange) -> Self {
        SpanRange {
            first: self.first,
            last: other.last,
        }
    }

    /// A `syn::Error` underlining this whole range.
    pub fn error(self, message: impl std::fmt::Display) -> syn::Error {
        syn::Error::new_spanned(self, message)
    }
}

impl ToTokens for SpanRange {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        // `syn::Error::new_spanned` reports from the first token's start to
        // the last token's end: two placeholder tokens carry the two spans.
        Ident::new("first", self.first).to_tokens(tokens);
        Ident::new("last", self.last).to_tokens(tokens);
    }
}

/// The whole `loss!` input.
pub struct LossDef {
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub name: Ident,
    pub decls: Vec<Decl>,
    pub body: Expr,
    /// `predict <expression>`: the model's value at an entry, when given.
    pub predict: Option<Expr>,
}

/// The role of a declared symbol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Param,
    Data,
    Hyper,
}

impl Role {
    pub fn keyword(self) -> &'static str {
        match self {
            Role::Param => "param",
            Role::Data => "data",
            Role::Hyper => "hyper",
        }
    }
}

/// One dimension in a declared shape: a symbol or the literal `1`.
#[derive(Clone, Debug)]
pub enum DimSpec {
    Symbol(Ident),
    One,
}

/// A declared symbol: `param P: [users, k]`, `hyper beta: f64 = 0.02`, ….
pub struct Decl {
    pub attrs: Vec<Attribute>,
    pub role: Role,
    pub name: Ident,
    /// `sparse[..]` rather than `[..]`.
    pub sparse: Option<Span>,
    /// Empty for a scalar (`[]` or a hyper-setting).
    pub dims: Vec<DimSpec>,
    pub dims_span: Span,
    /// The default of a hyper-setting.
    pub default: Option<f64>,
    /// The start value of a param (`= 0`, `= mean(D)`), if declared.
    pub start: Option<Start>,
}

/// The start value of a param, written after its shape: every value of
/// the param starts there instead of at a random draw.
#[derive(Clone, Debug)]
pub enum Start {
    /// `= 0`, `= -1.5`: a number.
    Number(f64),
    /// `= mean(D)`: the mean of the observed values of data `D`.
    Mean(Ident),
}

/// A binary operator of the loss language.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    MatMul,
    Pow,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::MatMul => "@",
            BinOp::Pow => "^",
        }
    }
}

/// The syntax tree of a loss expression.
pub enum Expr {
    Number {
        value: f64,
        span: Span,
    },
    Symbol(Ident),
    Call {
        func: Ident,
        args: Vec<Expr>,
        range: SpanRange,
    },
    Neg {
        operand: Box<Expr>,
        range: SpanRange,
    },
    Binary {
        op: BinOp,
        op_span: Span,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    Transpose {
        operand: Box<Expr>,
        t_span: Span,
    },
}

impl Expr {
    /// The source range the expression covers.
    pub fn range(&self) -> SpanRange {
        match self {
            Expr::Number { span, .. } => SpanRange::single(*span),
            Expr::Symbol(ident) => SpanRange::single(ident.span()),
            Expr::Call { range, .. } | Expr::Neg { range, .. } => *range,
            Expr::Binary { lhs, rhs, .. } => lhs.range().to(rhs.range()),
            Expr::Transpose { operand, t_span } => operand.range().to(SpanRange::single(*t_span)),
        }
    }
}

impl Parse for LossDef {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        if !input.peek(Token![struct]) {
            return Err(input.error(
                "expected `struct Name { … }`: a loss starts with `pub struct MyLoss { param …, data …, hyper … }`",
            ));
        }
        input.parse::<Token![struct]>()?;
        let name: Ident = input.parse()?;
        let content;
        let brace = syn::braced!(content in input);
        let decls = Punctuated::<Decl, Token![,]>::parse_terminated(&content)?
            .into_iter()
            .collect();
        if input.is_empty() {
            return Err(syn::Error::new(
                brace.span.close(),
                "the loss is missing: after the declarations write `minimize <expression>`, e.g. `minimize sum(mask * (D - P@Q)^2)`",
            ));
        }
        let minimize = input.call(Ident::parse_any).map_err(|e| {
            syn::Error::new(
                e.span(),
                "expected `minimize <expression>` after the declarations, e.g. `minimize sum(mask * (D - P@Q)^2)`",
            )
        })?;
        if minimize == "maximize" {
            return Err(syn::Error::new(
                minimize.span(),
                "a loss is minimized: to maximize `f`, write `minimize -(f)`",
            ));
        }
        if minimize != "minimize" {
            return Err(syn::Error::new(
                minimize.span(),
                format!(
                    "expected `minimize` after the declarations, found `{minimize}`: write `minimize <expression>`, e.g. `minimize sum(mask * (D - P@Q)^2)`"
                ),
            ));
        }
        if input.is_empty() {
            return Err(syn::Error::new(
                minimize.span(),
                "`minimize` needs an expression, e.g. `minimize sum(mask * (D - P@Q)^2)`",
            ));
        }
        let body = parse_expr(input, 0, 0)?.0;
        let predict = if input.peek(Ident) && input.fork().call(Ident::parse_any)? == "predict" {
            let keyword = input.call(Ident::parse_any)?;
            if input.is_empty() {
                return Err(syn::Error::new(
                    keyword.span(),
                    "`predict` needs an expression, e.g. `predict P@Q + bu + bi + mu`",
                ));
            }
            Some(parse_expr(input, 0, 0)?.0)
        } else {
            None
        };
        if !input.is_empty() {
            return Err(input.error(
                "unexpected tokens after the loss expression (one `minimize` expression per loss, then optionally `predict <expression>`)",
            ));
        }
        Ok(LossDef {
            attrs,
            vis,
            name,
            decls,
            body,
            predict,
        })
    }
}

impl Parse for Decl {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let role_ident = input.call(Ident::parse_any)?;
        let role = match role_ident.to_string().as_str() {
            "param" => Role::Param,
            "data" => Role::Data,
            "hyper" => Role::Hyper,
            other => {
                let message = match crate::check::suggestion(
                    other,
                    ["param", "data", "hyper"].into_iter(),
                ) {
                    Some(near) => format!("unknown role `{other}`: did you mean `{near}`?"),
                    None => format!(
                        "unknown role `{other}`: each declaration starts with `param`, `data` or `hyper`, e.g. `param P: [users, k]`"
                    ),
                };
                return Err(syn::Error::new(role_ident.span(), message));
            }
        };
        let name: Ident = input.parse()?;
        input.parse::<Token![:]>().map_err(|e| {
            syn::Error::new(
                e.span(),
                format!("expected `:` and a shape after `{name}`, e.g. `{name}: [users, k]`"),
            )
        })?;
        if role == Role::Hyper {
            return parse_hyper_rest(input, attrs, name);
        }
        let sparse = if input.peek(Ident) {
            let word: Ident = input.parse()?;
            if word != "sparse" {
                return Err(syn::Error::new(
                    word.span(),
                    format!(
                        "expected a shape `[rows, cols]` or `sparse[rows, cols]`, found `{word}`"
                    ),
                ));
            }
            Some(word.span())
        } else {
            None
        };
        if !input.peek(syn::token::Bracket) {
            return Err(input.error(format!(
                "expected a shape in brackets for `{name}`, e.g. `[users, k]`, `[users, 1]` or `[]`"
            )));
        }
        let content;
        let bracket = syn::bracketed!(content in input);
        let mut dims = Vec::new();
        while !content.is_empty() {
            dims.push(parse_dim(&content)?);
            if content.is_empty() {
                break;
            }
            content.parse::<Token![,]>()?;
        }
        if dims.len() == 1 || dims.len() > 2 {
            return Err(syn::Error::new(
                bracket.span.join(),
                format!(
                    "a shape has two dimensions (`[rows, cols]`; `[n, 1]` for a column vector, `[1, n]` for a row vector) or none (`[]`, a scalar); found {}",
                    dims.len()
                ),
            ));
        }
        let start = match input.peek(Token![=]) {
            true => Some(parse_start(input, role, &name)?),
            false => None,
        };
        Ok(Decl {
            attrs,
            role,
            name,
            sparse,
            dims,
            dims_span: bracket.span.join(),
            default: None,
            start,
        })
    }
}

/// `= <number>` or `= mean(D)` after a param's shape.
fn parse_start(input: ParseStream, role: Role, name: &Ident) -> syn::Result<Start> {
    let eq = input.parse::<Token![=]>()?;
    if role != Role::Param {
        return Err(syn::Error::new(
            eq.span,
            format!(
                "only a param has a start value; `{name}` is {}",
                role.keyword()
            ),
        ));
    }
    let usage = format!(
        "a start value is a number or the mean of a data matrix: `param {name}: [..] = 0` or `param {name}: [] = mean(D)`"
    );
    let negative = input.parse::<Option<Token![-]>>()?.is_some();
    if input.peek(syn::LitInt) || input.peek(syn::LitFloat) {
        let (value, _) = parse_number(input)?;
        return Ok(Start::Number(if negative { -value } else { value }));
    }
    if !negative && input.peek(Ident) && input.peek2(syn::token::Paren) {
        let function: Ident = input.parse()?;
        let content;
        syn::parenthesized!(content in input);
        if function == "mean" && content.peek(Ident) {
            let data: Ident = content.parse()?;
            if content.is_empty() {
                return Ok(Start::Mean(data));
            }
        }
        return Err(syn::Error::new(function.span(), usage));
    }
    Err(input.error(usage))
}

fn parse_hyper_rest(input: ParseStream, attrs: Vec<Attribute>, name: Ident) -> syn::Result<Decl> {
    let ty: Ident = input.parse().map_err(|e| {
        syn::Error::new(
            e.span(),
            "a hyper-setting is declared `hyper beta: f64 = 0.02`",
        )
    })?;
    if ty != "f64" {
        return Err(syn::Error::new(
            ty.span(),
            format!(
                "hyper-settings are `f64`, found `{ty}`: write `hyper {name}: f64 = <default>`"
            ),
        ));
    }
    if !input.peek(Token![=]) {
        return Err(syn::Error::new(
            ty.span(),
            format!("a hyper-setting needs a default: write `hyper {name}: f64 = 0.02`"),
        ));
    }
    input.parse::<Token![=]>()?;
    let negative = input.parse::<Option<Token![-]>>()?.is_some();
    if !(input.peek(syn::LitInt) || input.peek(syn::LitFloat)) {
        return Err(input.error(format!(
            "the default of a hyper-setting is a number: write `hyper {name}: f64 = 0.02`"
        )));
    }
    let (value, span) = parse_number(input)?;
    Ok(Decl {
        attrs,
        role: Role::Hyper,
        dims_span: span,
        name,
        sparse: None,
        dims: Vec::new(),
        default: Some(if negative { -value } else { value }),
        start: None,
    })
}

fn parse_dim(input: ParseStream) -> syn::Result<DimSpec> {
    if input.peek(syn::LitInt) {
        let lit: syn::LitInt = input.parse()?;
        if lit.base10_digits() == "1" && lit.suffix().is_empty() {
            return Ok(DimSpec::One);
        }
        return Err(syn::Error::new(
            lit.span(),
            "a dimension is a symbol such as `users` or `k` (bound at run time), or `1`",
        ));
    }
    let ident = input.call(Ident::parse_any).map_err(|e| {
        syn::Error::new(
            e.span(),
            "expected a dimension: a symbol such as `users`, or `1`",
        )
    })?;
    // Dimensions become argument names in the generated code: they must be
    // plain identifiers.
    if ident.to_string().starts_with("r#") || syn::parse2::<Ident>(ident.to_token_stream()).is_err()
    {
        return Err(syn::Error::new(
            ident.span(),
            format!("`{ident}` cannot name a dimension (it is a Rust keyword): choose another name, e.g. `n`"),
        ));
    }
    Ok(DimSpec::Symbol(ident))
}

fn parse_number(input: ParseStream) -> syn::Result<(f64, Span)> {
    let lookahead = input.lookahead1();
    if lookahead.peek(syn::LitInt) {
        let lit: syn::LitInt = input.parse()?;
        check_no_suffix(lit.suffix(), lit.span())?;
        let value = check_finite(lit.base10_parse::<f64>()?, lit.span())?;
        Ok((value, lit.span()))
    } else if lookahead.peek(syn::LitFloat) {
        let lit: syn::LitFloat = input.parse()?;
        check_no_suffix(lit.suffix(), lit.span())?;
        let value = check_finite(lit.base10_parse::<f64>()?, lit.span())?;
        Ok((value, lit.span()))
    } else {
        Err(lookahead.error())
    }
}

/// Rejects numbers that do not fit an `f64` (they would become infinite).
fn check_finite(value: f64, span: Span) -> syn::Result<f64> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(syn::Error::new(
            span,
            "this number is too large for an f64 (at most about 1.8e308)",
        ))
    }
}

fn check_no_suffix(suffix: &str, span: Span) -> syn::Result<()> {
    if suffix.is_empty() {
        Ok(())
    } else {
        Err(syn::Error::new(
            span,
            format!("numbers in a loss are plain (f64): drop the `{suffix}` suffix"),
        ))
    }
}

#[cfg(test)]
mod tests;
