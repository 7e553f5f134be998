//! `CASE WHEN c THEN (SELECT e FROM f WHERE w) [ELSE NULL] END` (SQLAlchemy's column
//! reflection) has a subquery DataFusion cannot decorrelate inside `CASE`; it becomes the
//! equivalent `(SELECT e FROM f WHERE (w) AND (c))`: no row, so NULL, exactly when `c` is not
//! true.

use datafusion::sql::sqlparser::ast::{Expr, Query, SetExpr, Value};

use super::ast::{and, nested};
use super::{ExprRule, has_scalar_subquery, single_value};

/// The `CASE`-guarded subquery rewrite.
pub struct GuardedCaseSubquery;

impl ExprRule for GuardedCaseSubquery {
    fn rewrite(&self, expr: &Expr) -> Option<Expr> {
        let Expr::Case {
            operand: None,
            conditions,
            else_result,
            ..
        } = expr
        else {
            return None;
        };
        let else_null = else_result
            .as_deref()
            .is_none_or(|e| matches!(e, Expr::Value(v) if v.value == Value::Null));
        if conditions.len() != 1 || !else_null {
            return None;
        }
        match &conditions[0].result {
            Expr::Subquery(query) => guarded(query, &conditions[0].condition),
            _ => None,
        }
    }
}

/// `(SELECT e FROM f WHERE w)` guarded by `condition`.
fn guarded(query: &Query, condition: &Expr) -> Option<Expr> {
    single_value(query)?;
    // A condition with its own subquery would nest it: such lookups are hoisted instead.
    if has_scalar_subquery(condition) {
        return None;
    }
    let mut query = query.clone();
    let SetExpr::Select(select) = query.body.as_mut() else {
        return None;
    };
    let condition = nested(condition.clone());
    select.selection = Some(match select.selection.take() {
        Some(w) => and(nested(w), condition),
        None => condition,
    });
    Some(Expr::Subquery(Box::new(query)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pgcompat::rewrite::rewritten_by;

    #[test]
    fn the_guard_moves_inside_the_subquery() {
        assert_eq!(
            rewritten_by(
                &GuardedCaseSubquery,
                "SELECT CASE WHEN a.atthasdef THEN (SELECT pg_get_expr(d.adbin, d.adrelid) FROM d WHERE d.adrelid = a.attrelid) ELSE NULL END AS dflt FROM a"
            ),
            "SELECT (SELECT pg_get_expr(d.adbin, d.adrelid) FROM d WHERE (d.adrelid = a.attrelid) AND (a.atthasdef)) AS dflt FROM a"
        );
        assert_eq!(
            rewritten_by(
                &GuardedCaseSubquery,
                "SELECT CASE WHEN a.x THEN (SELECT d.y FROM d) END FROM a"
            ),
            "SELECT (SELECT d.y FROM d WHERE (a.x)) FROM a"
        );
    }

    #[test]
    fn other_cases_stay() {
        for sql in [
            "SELECT CASE WHEN a.x THEN (SELECT d.y FROM d) ELSE 0 END FROM a",
            "SELECT CASE WHEN (SELECT b.z FROM b) THEN (SELECT d.y FROM d) END FROM a",
            "SELECT CASE WHEN a.x THEN 1 END FROM a",
        ] {
            assert_eq!(rewritten_by(&GuardedCaseSubquery, sql), sql);
        }
    }
}
