//! Parsing a loss's expression: operators by binding power (a Pratt
//! parser), prefix minus, postfix transpose, calls and parentheses, with a
//! limit on nesting.

use super::*;

/// Binding powers of the binary operators: (left, right). Higher binds tighter.
fn binding_power(op: BinOp) -> (u8, u8) {
    match op {
        BinOp::Add | BinOp::Sub => (1, 2),
        BinOp::Mul | BinOp::Div | BinOp::MatMul => (3, 4),
        // Right-associative, tighter than unary minus (which sits at 5).
        BinOp::Pow => (8, 7),
    }
}

const UNARY_MINUS_POWER: u8 = 5;

fn peek_binop(input: ParseStream) -> Option<BinOp> {
    if input.peek(Token![+]) && !input.peek(Token![+=]) {
        Some(BinOp::Add)
    } else if input.peek(Token![-]) && !input.peek(Token![-=]) && !input.peek(Token![->]) {
        Some(BinOp::Sub)
    } else if input.peek(Token![*]) && !input.peek(Token![*=]) {
        Some(BinOp::Mul)
    } else if input.peek(Token![/]) && !input.peek(Token![/=]) {
        Some(BinOp::Div)
    } else if input.peek(Token![@]) {
        Some(BinOp::MatMul)
    } else if input.peek(Token![^]) && !input.peek(Token![^=]) {
        Some(BinOp::Pow)
    } else {
        None
    }
}

fn parse_binop_token(input: ParseStream, op: BinOp) -> syn::Result<Span> {
    Ok(match op {
        BinOp::Add => input.parse::<Token![+]>()?.span,
        BinOp::Sub => input.parse::<Token![-]>()?.span,
        BinOp::Mul => input.parse::<Token![*]>()?.span,
        BinOp::Div => input.parse::<Token![/]>()?.span,
        BinOp::MatMul => input.parse::<Token![@]>()?.span,
        BinOp::Pow => input.parse::<Token![^]>()?.span,
    })
}

/// The deepest expression tree the parser accepts, in operators and calls
/// from the root to a leaf. The later stages walk the tree (and the graphs
/// built from it) recursively: the limit keeps them far from the end of the
/// stack (a proc macro cannot catch a stack overflow: it aborts the
/// compiler), and is far beyond any real loss.
pub const MAX_DEPTH: usize = 100;

fn too_deep() -> String {
    format!(
        "this expression is nested too deeply (more than {MAX_DEPTH} levels of operators, calls and parentheses): write it as a shallower expression"
    )
}

/// `expr` with its depth, or an error if that is too deep.
fn limit_depth(expr: Expr, depth: usize) -> syn::Result<(Expr, usize)> {
    if depth > MAX_DEPTH {
        return Err(expr.range().error(too_deep()));
    }
    Ok((expr, depth))
}

/// Pratt parser: an expression whose operators all bind at least
/// `min_power`, with its depth (a leaf is 1 deep).
///
/// `nesting` counts the enclosing `parse_expr` calls: operands to the right
/// (`-x`, `a ^ b`, `(x)`, call arguments) are parsed recursively, and the
/// limit applies to that recursion before it goes deeper, as well as to the
/// depth of the finished tree (left-associative chains such as `a + b + c`
/// grow it without recursing).
pub(super) fn parse_expr(
    input: ParseStream,
    min_power: u8,
    nesting: usize,
) -> syn::Result<(Expr, usize)> {
    if nesting > MAX_DEPTH {
        return Err(input.error(too_deep()));
    }
    let (mut lhs, mut depth) = parse_prefix(input, nesting)?;
    while let Some(op) = peek_binop(input) {
        let (left, right) = binding_power(op);
        if left < min_power {
            break;
        }
        let op_span = parse_binop_token(input, op)?;
        if input.is_empty() {
            return Err(syn::Error::new(
                op_span,
                format!("`{}` needs a right-hand operand", op.symbol()),
            ));
        }
        let (rhs, rhs_depth) = parse_expr(input, right, nesting + 1)?;
        (lhs, depth) = limit_depth(
            Expr::Binary {
                op,
                op_span,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
            },
            1 + depth.max(rhs_depth),
        )?;
    }
    Ok((lhs, depth))
}

fn parse_prefix(input: ParseStream, nesting: usize) -> syn::Result<(Expr, usize)> {
    if input.peek(Token![-]) {
        let minus = input.parse::<Token![-]>()?;
        let (operand, depth) = parse_expr(input, UNARY_MINUS_POWER, nesting + 1)?;
        let range = SpanRange::single(minus.span).to(operand.range());
        return limit_depth(
            Expr::Neg {
                operand: Box::new(operand),
                range,
            },
            depth + 1,
        );
    }
    if input.peek(Token![+]) {
        input.parse::<Token![+]>()?;
        return parse_expr(input, UNARY_MINUS_POWER, nesting + 1);
    }
    let primary = parse_primary(input, nesting)?;
    parse_postfix(input, primary)
}

fn parse_postfix(
    input: ParseStream,
    (mut expr, mut depth): (Expr, usize),
) -> syn::Result<(Expr, usize)> {
    while input.peek(Token![.]) && !input.peek(Token![..]) {
        let dot = input.parse::<Token![.]>()?;
        let member = input.call(Ident::parse_any).map_err(|_| {
            syn::Error::new(
                dot.span,
                "after `.` only `T` (transpose) is allowed, e.g. `Q.T`",
            )
        })?;
        if member != "T" {
            return Err(syn::Error::new(
                member.span(),
                format!("unknown member `.{member}`: for the transpose write `.T`"),
            ));
        }
        (expr, depth) = limit_depth(
            Expr::Transpose {
                operand: Box::new(expr),
                t_span: member.span(),
            },
            depth + 1,
        )?;
    }
    Ok((expr, depth))
}

fn parse_primary(input: ParseStream, nesting: usize) -> syn::Result<(Expr, usize)> {
    if input.peek(syn::token::Paren) {
        let content;
        syn::parenthesized!(content in input);
        if content.is_empty() {
            return Err(content.error("empty parentheses: expected an expression"));
        }
        let inner = parse_expr(&content, 0, nesting + 1)?;
        if !content.is_empty() {
            return Err(content.error("expected an operator or `)`"));
        }
        return Ok(inner);
    }
    if input.peek(syn::LitInt) || input.peek(syn::LitFloat) {
        let (value, span) = parse_number(input)?;
        return Ok((Expr::Number { value, span }, 1));
    }
    if input.peek(Ident::peek_any) {
        let ident = input.call(Ident::parse_any)?;
        if input.peek(syn::token::Paren) {
            let content;
            let parens = syn::parenthesized!(content in input);
            let mut args = Vec::new();
            let mut depth = 0;
            while !content.is_empty() {
                let (arg, arg_depth) = parse_expr(&content, 0, nesting + 1)?;
                args.push(arg);
                depth = depth.max(arg_depth);
                if content.is_empty() {
                    break;
                }
                content.parse::<Token![,]>()?;
            }
            let range = SpanRange {
                first: ident.span(),
                last: parens.span.close(),
            };
            return limit_depth(
                Expr::Call {
                    func: ident,
                    args,
                    range,
                },
                depth + 1,
            );
        }
        return Ok((Expr::Symbol(ident), 1));
    }
    if input.is_empty() {
        return Err(input.error("expected an expression"));
    }
    Err(input.error("expected a number, a symbol, a function call such as `sum(…)`, or `( … )`"))
}
