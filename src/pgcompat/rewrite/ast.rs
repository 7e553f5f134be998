//! Builders of the syntax-tree nodes the rewrites produce, so no rewrite prints SQL to text
//! and parses it again.

use datafusion::sql::sqlparser::ast::{
    BinaryOperator, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArgumentClause,
    FunctionArgumentList, FunctionArguments, Ident, ObjectName, ObjectNamePart, OrderByExpr, Value,
};

/// `name(args...)`.
pub fn call(name: &str, args: Vec<Expr>) -> Expr {
    call_ordered(name, args, Vec::new())
}

/// `name(args... ORDER BY order)` (an ordered aggregate such as `array_agg`).
pub fn call_ordered(name: &str, args: Vec<Expr>, order: Vec<OrderByExpr>) -> Expr {
    let clauses = if order.is_empty() {
        Vec::new()
    } else {
        vec![FunctionArgumentClause::OrderBy(order)]
    };
    Expr::Function(Function {
        name: ObjectName(vec![ObjectNamePart::Identifier(Ident::new(name))]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: args
                .into_iter()
                .map(|a| FunctionArg::Unnamed(FunctionArgExpr::Expr(a)))
                .collect(),
            clauses,
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: Vec::new(),
    })
}

/// A string literal.
pub fn string(text: &str) -> Expr {
    Expr::Value(Value::SingleQuotedString(text.to_string()).into())
}

/// `NULL`.
pub fn null() -> Expr {
    Expr::Value(Value::Null.into())
}

/// `(expr)`.
pub fn nested(expr: Expr) -> Expr {
    Expr::Nested(Box::new(expr))
}

/// `left AND right`.
pub fn and(left: Expr, right: Expr) -> Expr {
    binary(left, BinaryOperator::And, right)
}

/// `left = right`.
pub fn eq(left: Expr, right: Expr) -> Expr {
    binary(left, BinaryOperator::Eq, right)
}

/// `left IS NOT NULL`.
pub fn is_not_null(expr: Expr) -> Expr {
    Expr::IsNotNull(Box::new(expr))
}

fn binary(left: Expr, op: BinaryOperator, right: Expr) -> Expr {
    Expr::BinaryOp {
        left: Box::new(left),
        op,
        right: Box::new(right),
    }
}

/// `relation.column`.
pub fn column(relation: &str, column: &str) -> Expr {
    Expr::CompoundIdentifier(vec![Ident::new(relation), Ident::new(column)])
}

/// A number literal.
pub fn number(n: i64) -> Expr {
    Expr::Value(Value::Number(n.to_string(), false).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_print_as_sql() {
        let x = column("t", "x");
        assert_eq!(call("max", vec![x.clone()]).to_string(), "max(t.x)");
        assert_eq!(
            and(nested(eq(x.clone(), number(1))), nested(is_not_null(x))).to_string(),
            "(t.x = 1) AND (t.x IS NOT NULL)"
        );
        assert_eq!(
            call("f", vec![string("it's"), null()]).to_string(),
            "f('it''s', NULL)"
        );
    }
}
