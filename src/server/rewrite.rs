//! Rewrites of PostgreSQL idioms that client catalog queries use and DataFusion does not
//! plan, applied after `datafusion-pg-catalog`'s compatibility rules:
//!
//! - `ARRAY(SELECT e FROM ...)` (psql's `\du`) becomes `(SELECT array_agg(e) FROM ...)`;
//! - `_pg_expandarray(a)` (pgjdbc's `getPrimaryKeys`), a set-returning function, becomes
//!   `unnest(_pg_expandarray(a))` over the array of `(x, n)` records it returns here;
//! - `oid::regtype::text` (pgcli) becomes `format_type(oid, NULL)`, the type's name;
//! - on "correlated scalar subquery must be aggregated" (pgjdbc's `getTypeInfo`), scalar
//!   subqueries that select one plain value are retried as `max(value)`.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    CastKind, DataType as SqlType, Expr, FunctionArguments, GroupByExpr, Query, SelectItem,
    SetExpr, Statement, VisitMut, VisitorMut,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;
use pgwire::error::PgWireError;

/// Applies the always-on rewrites.
pub fn rewrite(statement: &mut Statement) {
    let _ = statement.visit(&mut Rewriter { aggregate: false });
}

/// When `error` is one a rewrite can avoid, applies it and returns true (plan again).
pub fn retry_rewrite(error: &PgWireError, statement: &mut Statement) -> bool {
    let message = match error {
        PgWireError::UserError(info) => info.message.clone(),
        other => other.to_string(),
    };
    if !message.contains("Correlated scalar subquery must be aggregated") {
        return false;
    }
    let _ = statement.visit(&mut Rewriter { aggregate: true });
    true
}

fn parse_expr(sql: &str) -> Option<Expr> {
    Parser::new(&PostgreSqlDialect {})
        .try_with_sql(sql)
        .and_then(|mut parser| parser.parse_expr())
        .ok()
}

struct Rewriter {
    /// Also wrap plain scalar subqueries in `max()`.
    aggregate: bool,
}

impl VisitorMut for Rewriter {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        let replacement = match expr {
            Expr::Function(function) => {
                let name = function
                    .name
                    .0
                    .last()
                    .and_then(|p| p.as_ident())
                    .map(|i| i.value.to_ascii_lowercase());
                match (name.as_deref(), &function.args) {
                    (Some("array"), FunctionArguments::Subquery(query)) => array_subquery(query),
                    (Some("_pg_expandarray"), _) => parse_expr(&format!("unnest({function})")),
                    _ => None,
                }
            }
            Expr::Cast {
                expr: inner,
                data_type: SqlType::Text,
                kind: CastKind::DoubleColon | CastKind::Cast,
                ..
            } => match inner.as_ref() {
                Expr::Cast {
                    expr: oid,
                    data_type: SqlType::Custom(name, _),
                    ..
                } if name.to_string().eq_ignore_ascii_case("regtype") => {
                    parse_expr(&format!("format_type({oid}, NULL)"))
                }
                _ => None,
            },
            Expr::Subquery(query) if self.aggregate => aggregated(query),
            _ => None,
        };
        if let Some(replacement) = replacement {
            *expr = replacement;
        }
        ControlFlow::Continue(())
    }
}

/// The single plain select item of a simple `SELECT` (no grouping, no aggregate at the top).
fn single_value(query: &Query) -> Option<(&Expr, &datafusion::sql::sqlparser::ast::Select)> {
    let SetExpr::Select(select) = query.body.as_ref() else {
        return None;
    };
    let grouped = match &select.group_by {
        GroupByExpr::Expressions(exprs, _) => !exprs.is_empty(),
        GroupByExpr::All(_) => true,
    };
    if grouped || select.distinct.is_some() || select.projection.len() != 1 {
        return None;
    }
    match &select.projection[0] {
        SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => Some((e, select)),
        _ => None,
    }
}

fn with_projection(query: &Query, value: Expr) -> Query {
    let mut query = query.clone();
    if let SetExpr::Select(select) = query.body.as_mut() {
        select.projection = vec![SelectItem::UnnamedExpr(value)];
    }
    query.order_by = None;
    query
}

fn array_subquery(query: &Query) -> Option<Expr> {
    let (value, _) = single_value(query)?;
    let order = query
        .order_by
        .as_ref()
        .map(|o| format!(" {o}"))
        .unwrap_or_default();
    let aggregate = parse_expr(&format!("array_agg({value}{order})"))?;
    Some(Expr::Subquery(Box::new(with_projection(query, aggregate))))
}

fn aggregated(query: &Query) -> Option<Expr> {
    let (value, _) = single_value(query)?;
    if let Expr::Function(f) = value {
        let name = f.name.to_string().to_ascii_lowercase();
        if [
            "count",
            "max",
            "min",
            "sum",
            "avg",
            "array_agg",
            "bool_or",
            "bool_and",
            "string_agg",
        ]
        .contains(&name.as_str())
        {
            return None;
        }
    }
    if query.limit_clause.is_some() && query.order_by.is_some() {
        return None;
    }
    let aggregate = parse_expr(&format!("max({value})"))?;
    Some(Expr::Subquery(Box::new(with_projection(query, aggregate))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(sql: &str, aggregate: bool) -> String {
        let mut statement = Parser::parse_sql(&PostgreSqlDialect {}, sql)
            .expect("parses")
            .remove(0);
        let _ = statement.visit(&mut Rewriter { aggregate });
        statement.to_string()
    }

    #[test]
    fn array_of_subquery_becomes_array_agg() {
        assert_eq!(
            rewritten(
                "SELECT ARRAY(SELECT b.rolname FROM m JOIN b ON m.roleid = b.oid WHERE m.member = r.oid ORDER BY 1) AS memberof FROM r",
                false
            ),
            "SELECT (SELECT array_agg(b.rolname ORDER BY 1) FROM m JOIN b ON m.roleid = b.oid WHERE m.member = r.oid) AS memberof FROM r"
        );
    }

    #[test]
    fn regtype_text_and_expandarray() {
        assert_eq!(
            rewritten(
                "SELECT a.atttypid::regtype::text, _pg_expandarray(i.indkey) AS keys FROM a",
                false
            ),
            "SELECT format_type(a.atttypid, NULL), unnest(_pg_expandarray(i.indkey)) AS keys FROM a"
        );
    }

    #[test]
    fn correlated_value_subquery_is_aggregated_on_retry() {
        assert_eq!(
            rewritten(
                "SELECT 1 FROM t WHERE (t.typrelid = 0 OR (SELECT c.relkind = 'c' FROM c WHERE c.oid = t.typrelid))",
                true
            ),
            "SELECT 1 FROM t WHERE (t.typrelid = 0 OR (SELECT max(c.relkind = 'c') FROM c WHERE c.oid = t.typrelid))"
        );
    }
}
