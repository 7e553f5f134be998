//! Rewrites of PostgreSQL idioms that client catalog queries use and DataFusion does not
//! plan, applied after `datafusion-pg-catalog`'s compatibility rules:
//!
//! - `ARRAY(SELECT e FROM ...)` (psql's `\du`) becomes `(SELECT array_agg(e) FROM ...)`;
//! - `_pg_expandarray(a)` (pgjdbc's `getPrimaryKeys`), a set-returning function, becomes
//!   `unnest(_pg_expandarray(a))` over the array of `(x, n)` records it returns here;
//! - `generate_subscripts(a, 1)` (SQLAlchemy's key reflection) likewise becomes
//!   `unnest(generate_subscripts(a, 1))` over the array of subscripts;
//! - `oid::regtype::text` (pgcli) becomes `format_type(oid, NULL)`, the type's name;
//! - `information_schema.columns` and the key and constraint views read the tables of
//!   [`crate::engine::information_schema`];
//! - `x LIKE p ESCAPE '/'` (SQLAlchemy's inspector) is rewritten to the backslash escape;
//! - `(record).field` (pgjdbc) becomes `get_field(record, 'field')`;
//! - `oids::regtype[]` (pgcli) becomes `_pg_type_names(oids)`, the types' names;
//! - `CASE WHEN c THEN (SELECT e FROM f WHERE w) END` (SQLAlchemy's column reflection), a
//!   subquery DataFusion cannot decorrelate inside `CASE`, becomes the equivalent
//!   `(SELECT e FROM f WHERE (w) AND (c))`: no row, so NULL, exactly when `c` is not true;
//! - when the plan holds a correlated scalar subquery DataFusion cannot run ([`Unplannable`],
//!   read from the plan, not from error text), lookups are hoisted into joins, and scalar
//!   subqueries that select one plain value (pgjdbc's `getTypeInfo`) are retried as
//!   `max(value)`.

use std::ops::ControlFlow;

use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::logical_expr::{Expr as LogicalExpr, LogicalPlan, Subquery};
use datafusion::sql::sqlparser::ast::{
    AccessExpr, CastKind, DataType as SqlType, Expr, FunctionArguments, GroupByExpr, Ident,
    ObjectName, ObjectNamePart, Query, SelectItem, SetExpr, Statement, TableAlias, TableFactor,
    Value, VisitMut, VisitorMut,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

/// Applies the always-on rewrites.
pub fn rewrite(statement: &mut Statement) {
    let _ = statement.visit(&mut Rewriter { aggregate: false });
}

/// Why a statement that planned cannot run as it is, read from its logical plan; a rewrite
/// of the statement avoids it ([`retry_rewrite`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unplannable {
    /// A correlated scalar subquery that is not aggregated, which DataFusion refuses as it
    /// might return more than one row.
    UnaggregatedSubquery,
    /// A scalar subquery the optimizer could not turn into a join, which the physical
    /// planner cannot run.
    UndecorrelatedSubquery,
}

/// Whether `plan` holds a correlated scalar subquery DataFusion's executable-plan check
/// refuses: correlated, not aggregated and not known to return at most one row.
pub fn has_unaggregated_subquery(plan: &LogicalPlan) -> bool {
    fn strip(plan: &LogicalPlan) -> &LogicalPlan {
        match plan {
            LogicalPlan::Projection(p) => strip(&p.input),
            LogicalPlan::SubqueryAlias(a) => strip(&a.input),
            other => other,
        }
    }
    let refused = |subquery: &Subquery| {
        let inner = strip(&subquery.subquery);
        let aggregated = match inner {
            LogicalPlan::Aggregate(_) => true,
            LogicalPlan::Filter(filter) => matches!(*filter.input, LogicalPlan::Aggregate(_)),
            _ => false,
        };
        !subquery.outer_ref_columns.is_empty()
            && !aggregated
            && subquery.subquery.max_rows().is_none_or(|rows| rows > 1)
    };
    any_scalar_subquery(plan, &refused)
}

/// Whether an optimized `plan` still holds a scalar subquery (which the physical planner
/// cannot run).
pub fn has_scalar_subquery_left(plan: &LogicalPlan) -> bool {
    any_scalar_subquery(plan, &|_| true)
}

fn any_scalar_subquery(plan: &LogicalPlan, test: &dyn Fn(&Subquery) -> bool) -> bool {
    let mut found = false;
    let _ = plan.apply_with_subqueries(|node| {
        node.apply_expressions(|expr| {
            expr.apply(|e| {
                if let LogicalExpr::ScalarSubquery(subquery) = e
                    && test(subquery)
                {
                    found = true;
                    return Ok(TreeNodeRecursion::Stop);
                }
                Ok(TreeNodeRecursion::Continue)
            })
        })?;
        Ok(if found {
            TreeNodeRecursion::Stop
        } else {
            TreeNodeRecursion::Continue
        })
    });
    found
}

/// Rewrites `statement` to avoid `why` and returns true (plan again), or false when no
/// rewrite applies.
pub fn retry_rewrite(why: Unplannable, statement: &mut Statement) -> bool {
    // Lookups that can become joins first; what is left is aggregated.
    if hoist::hoist_lookups(statement) {
        return true;
    }
    if why != Unplannable::UnaggregatedSubquery {
        return false;
    }
    let _ = statement.visit(&mut Rewriter { aggregate: true });
    true
}

mod hoist;

pub(crate) fn parse_expr(sql: &str) -> Option<Expr> {
    Parser::new(&PostgreSqlDialect {})
        .try_with_sql(sql)
        .and_then(|mut parser| parser.parse_expr())
        .ok()
}

struct Rewriter {
    /// Also wrap plain scalar subqueries in `max()`.
    aggregate: bool,
}

/// Whether `node` (a statement, query or expression) has a scalar subquery, whose
/// decorrelation can fail late, in the optimizer or physical planner, and be retried with
/// [`retry_rewrite`].
pub fn has_scalar_subquery<T: datafusion::sql::sqlparser::ast::Visit>(node: &T) -> bool {
    use datafusion::sql::sqlparser::ast::Visitor;
    struct Finder;
    impl Visitor for Finder {
        type Break = ();
        fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
            match expr {
                Expr::Subquery(_) => ControlFlow::Break(()),
                _ => ControlFlow::Continue(()),
            }
        }
    }
    node.visit(&mut Finder).is_break()
}

/// The view of `information_schema.<view>` that Segmint serves itself, if `name` is one.
fn own_information_schema_view(name: &ObjectName) -> Option<String> {
    let parts: Vec<String> = name
        .0
        .iter()
        .filter_map(|p| p.as_ident().map(|i| i.value.to_ascii_lowercase()))
        .collect();
    let n = parts.len();
    (n >= 2
        && parts[n - 2] == "information_schema"
        && crate::engine::information_schema::EXTRA_VIEWS.contains(&parts[n - 1].as_str()))
    .then(|| parts[n - 1].clone())
}

impl VisitorMut for Rewriter {
    type Break = ();

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        if let TableFactor::Table {
            name,
            alias,
            args: None,
            ..
        } = factor
            && let Some(view) = own_information_schema_view(name)
        {
            *name = ObjectName(vec![
                ObjectNamePart::Identifier(Ident::new("pg_catalog")),
                ObjectNamePart::Identifier(Ident::new(format!(
                    "{}{view}",
                    crate::engine::information_schema::REWRITE_PREFIX
                ))),
            ]);
            if alias.is_none() {
                *alias = Some(TableAlias {
                    explicit: true,
                    name: Ident::new(view),
                    columns: vec![],
                    at: None,
                });
            }
        }
        ControlFlow::Continue(())
    }

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
                    (Some("_pg_expandarray" | "generate_subscripts"), _) => {
                        parse_expr(&format!("unnest({function})"))
                    }
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
            Expr::Cast {
                expr: oids,
                data_type: data_type @ SqlType::Array(_),
                ..
            } if data_type
                .to_string()
                .to_ascii_lowercase()
                .starts_with("regtype") =>
            {
                parse_expr(&format!("_pg_type_names({oids})"))
            }
            Expr::Subquery(query) if self.aggregate => aggregated(query),
            Expr::Case {
                operand: None,
                conditions,
                else_result,
                ..
            } if conditions.len() == 1
                && else_result
                    .as_deref()
                    .is_none_or(|e| matches!(e, Expr::Value(v) if v.value == Value::Null)) =>
            {
                match &conditions[0].result {
                    Expr::Subquery(query) => guarded_subquery(query, &conditions[0].condition),
                    _ => None,
                }
            }
            Expr::Like {
                negated,
                expr: value,
                pattern,
                escape_char: Some(escape),
                any: false,
            } => match &escape.value {
                Value::SingleQuotedString(c) if c != "\\" && c.chars().count() == 1 => {
                    let not = if *negated { "NOT " } else { "" };
                    let c = c.replace('\'', "''");
                    parse_expr(&format!(
                        "{value} {not}LIKE replace(replace({pattern}, '\\', '\\\\'), '{c}', '\\')"
                    ))
                }
                _ => None,
            },
            Expr::CompoundFieldAccess { root, access_chain }
                if access_chain
                    .iter()
                    .all(|a| matches!(a, AccessExpr::Dot(Expr::Identifier(_)))) =>
            {
                let mut sql = root.to_string();
                for access in access_chain.iter() {
                    if let AccessExpr::Dot(Expr::Identifier(field)) = access {
                        sql = format!("get_field({sql}, '{}')", field.value.replace('\'', "''"));
                    }
                }
                parse_expr(&sql)
            }
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

/// `(SELECT e FROM f WHERE w)` guarded by `condition`: `(SELECT e FROM f WHERE (w) AND (condition))`.
fn guarded_subquery(query: &Query, condition: &Expr) -> Option<Expr> {
    single_value(query)?;
    // A condition with its own subquery would nest it: such lookups are hoisted instead.
    if condition
        .to_string()
        .to_ascii_uppercase()
        .contains("SELECT ")
    {
        return None;
    }
    let mut query = query.clone();
    let SetExpr::Select(select) = query.body.as_mut() else {
        return None;
    };
    let guard = match select.selection.take() {
        Some(w) => parse_expr(&format!("({w}) AND ({condition})"))?,
        None => parse_expr(&format!("({condition})"))?,
    };
    select.selection = Some(guard);
    Some(Expr::Subquery(Box::new(query)))
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
    fn catalog_idioms() {
        assert_eq!(
            rewritten(
                "SELECT column_name FROM information_schema.columns WHERE n NOT LIKE 'pg/_' || '%' ESCAPE '/' AND (i.keys).x = 1",
                false
            ),
            "SELECT column_name FROM pg_catalog._segmint_information_schema_columns AS columns \
             WHERE n NOT LIKE replace(replace('pg/_' || '%', '\\', '\\\\'), '/', '\\') AND get_field((i.keys), 'x') = 1"
        );
    }

    #[test]
    fn case_guarded_subquery_moves_the_guard_inside() {
        assert_eq!(
            rewritten(
                "SELECT CASE WHEN a.atthasdef THEN (SELECT pg_get_expr(d.adbin, d.adrelid) FROM d WHERE d.adrelid = a.attrelid) ELSE NULL END AS dflt FROM a",
                false
            ),
            "SELECT (SELECT pg_get_expr(d.adbin, d.adrelid) FROM d WHERE (d.adrelid = a.attrelid) AND (a.atthasdef)) AS dflt FROM a"
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

    #[tokio::test]
    async fn reads_unplannable_subqueries_from_the_plan() {
        let ctx = datafusion::prelude::SessionContext::new();
        ctx.sql("CREATE TABLE t (id INT, v INT) AS VALUES (1, 10), (2, 20)")
            .await
            .expect("table");
        let plan = |sql: &'static str| {
            let state = ctx.state();
            async move { state.create_logical_plan(sql).await.expect("plans") }
        };
        let lookup = plan("SELECT (SELECT v FROM t AS u WHERE u.id = t.id) FROM t").await;
        assert!(has_unaggregated_subquery(&lookup));
        let aggregated = plan("SELECT (SELECT max(v) FROM t AS u WHERE u.id = t.id) FROM t").await;
        assert!(!has_unaggregated_subquery(&aggregated));
        assert!(has_scalar_subquery_left(&aggregated), "before optimization");
        let optimized = ctx.state().optimize(&aggregated).expect("optimizes");
        assert!(
            !has_scalar_subquery_left(&optimized),
            "decorrelated into a join"
        );
        let uncorrelated = plan("SELECT (SELECT v FROM t WHERE id = 1) FROM t").await;
        assert!(!has_unaggregated_subquery(&uncorrelated));
    }

    #[test]
    fn retry_hoists_a_lookup_into_a_join() {
        let mut statement = Parser::parse_sql(
            &PostgreSqlDialect {},
            "SELECT t.id, (SELECT u.v FROM u WHERE u.id = t.id) AS w FROM t",
        )
        .expect("parses")
        .remove(0);
        assert!(retry_rewrite(
            Unplannable::UnaggregatedSubquery,
            &mut statement
        ));
        let text = statement.to_string();
        assert!(text.contains("JOIN"), "{text}");
        assert!(!text.contains("(SELECT u.v"), "{text}");
    }
}
