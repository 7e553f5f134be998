//! `_pg_expandarray(a)` (pgjdbc's `getPrimaryKeys`) and `generate_subscripts(a, 1)`
//! (SQLAlchemy's key reflection), set-returning functions in PostgreSQL, return arrays here:
//! they become `unnest(...)` of that array.

use datafusion::sql::sqlparser::ast::Expr;

use super::ast::call;
use super::{ExprRule, function_name};

/// The set-returning call rewrite.
pub struct UnnestSetReturningCalls;

impl ExprRule for UnnestSetReturningCalls {
    fn rewrite(&self, expr: &Expr) -> Option<Expr> {
        let Expr::Function(function) = expr else {
            return None;
        };
        matches!(
            function_name(function)?.as_str(),
            "_pg_expandarray" | "generate_subscripts"
        )
        .then(|| call("unnest", vec![expr.clone()]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pgcompat::rewrite::rewritten_by;

    #[test]
    fn set_returning_calls_are_unnested() {
        assert_eq!(
            rewritten_by(
                &UnnestSetReturningCalls,
                "SELECT _pg_expandarray(i.indkey) AS keys, generate_subscripts(c.conkey, 1) FROM i"
            ),
            "SELECT unnest(_pg_expandarray(i.indkey)) AS keys, unnest(generate_subscripts(c.conkey, 1)) FROM i"
        );
    }
}
