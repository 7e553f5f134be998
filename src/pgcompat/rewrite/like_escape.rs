//! `x LIKE p ESCAPE 'c'` (SQLAlchemy's inspector) with an escape character other than the
//! backslash, which DataFusion does not take, becomes the backslash escape:
//! `x LIKE replace(replace(p, '\', '\\'), 'c', '\')`.

use datafusion::sql::sqlparser::ast::{Expr, Value};

use super::ExprRule;
use super::ast::{call, string};

/// The `LIKE ... ESCAPE` rewrite.
pub struct LikeEscapeToBackslash;

impl ExprRule for LikeEscapeToBackslash {
    fn rewrite(&self, expr: &Expr) -> Option<Expr> {
        let Expr::Like {
            negated,
            expr: value,
            pattern,
            escape_char: Some(escape),
            any: false,
        } = expr
        else {
            return None;
        };
        let Value::SingleQuotedString(c) = &escape.value else {
            return None;
        };
        if c == "\\" || c.chars().count() != 1 {
            return None;
        }
        let doubled = call(
            "replace",
            vec![pattern.as_ref().clone(), string("\\"), string("\\\\")],
        );
        Some(Expr::Like {
            negated: *negated,
            expr: value.clone(),
            pattern: Box::new(call("replace", vec![doubled, string(c), string("\\")])),
            escape_char: None,
            any: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pgcompat::rewrite::rewritten_by;

    #[test]
    fn a_custom_escape_becomes_the_backslash() {
        assert_eq!(
            rewritten_by(
                &LikeEscapeToBackslash,
                "SELECT 1 FROM t WHERE n NOT LIKE 'pg/_' || '%' ESCAPE '/'"
            ),
            "SELECT 1 FROM t WHERE n NOT LIKE replace(replace('pg/_' || '%', '\\', '\\\\'), '/', '\\')"
        );
        let backslash = "SELECT 1 FROM t WHERE n LIKE 'a\\_%' ESCAPE '\\'";
        assert_eq!(rewritten_by(&LikeEscapeToBackslash, backslash), backslash);
    }
}
