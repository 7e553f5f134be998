//! Rewrites of PostgreSQL idioms that client catalog queries use and DataFusion does not
//! plan, applied to the syntax tree after `datafusion-pg-catalog`'s compatibility rules. Each
//! rewrite is a named rule in its own module, with its tests (input SQL -> output SQL):
//!
//! - [`information_schema_views`]: `information_schema.columns` and the key and constraint
//!   views read the tables of [`crate::pgcompat::information_schema`];
//! - [`array_subquery`]: `ARRAY(SELECT e FROM ...)` (psql's `\du`) becomes
//!   `(SELECT array_agg(e) FROM ...)`;
//! - [`set_returning`]: `_pg_expandarray(a)` and `generate_subscripts(a, 1)` become
//!   `unnest(...)` of the arrays they return here;
//! - [`regtype`]: `oid::regtype::text` and `oids::regtype[]` (pgcli) become type names;
//! - [`case_subquery`]: `CASE WHEN c THEN (SELECT e FROM f WHERE w) END` (SQLAlchemy) becomes
//!   `(SELECT e FROM f WHERE (w) AND (c))`;
//! - [`like_escape`]: `x LIKE p ESCAPE '/'` (SQLAlchemy's inspector) takes the backslash escape;
//! - [`field_access`]: `(record).field` (pgjdbc) becomes `get_field(record, 'field')`;
//! - on retry, when the plan holds a correlated scalar subquery DataFusion cannot run
//!   ([`Unplannable`], read from the plan, not from error text): [`hoist`] turns lookups into
//!   joins, and [`aggregate_subquery`] turns value subqueries (pgjdbc's `getTypeInfo`) into
//!   `max(value)`.
//!
//! New nodes are built with [`ast`]; no rewrite prints SQL to text and parses it again.

use std::ops::ControlFlow;

use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::logical_expr::{Expr as LogicalExpr, LogicalPlan, Subquery};
use datafusion::sql::sqlparser::ast::{
    Expr, Function, GroupByExpr, Query, SelectItem, SetExpr, Statement, VisitMut, VisitorMut,
};

mod aggregate_subquery;
mod array_subquery;
mod ast;
mod case_subquery;
mod field_access;
mod hoist;
mod information_schema_views;
mod like_escape;
mod regtype;
mod set_returning;

/// One rewrite of an expression: its replacement, or `None` to keep it.
trait ExprRule {
    /// The replacement for `expr`, whose own sub-expressions are already rewritten.
    fn rewrite(&self, expr: &Expr) -> Option<Expr>;
}

/// Applies expression rules bottom-up, each node through every rule in order.
struct ApplyRules<'a>(&'a [&'a dyn ExprRule]);

impl VisitorMut for ApplyRules<'_> {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        for rule in self.0 {
            if let Some(replacement) = rule.rewrite(expr) {
                *expr = replacement;
            }
        }
        ControlFlow::Continue(())
    }
}

/// The always-on rules, in the order they apply to each expression.
const ALWAYS: &[&dyn ExprRule] = &[
    &array_subquery::ArraySubqueryToAggregate,
    &set_returning::UnnestSetReturningCalls,
    &regtype::RegtypeNames,
    &case_subquery::GuardedCaseSubquery,
    &like_escape::LikeEscapeToBackslash,
    &field_access::RecordFieldAccess,
];

/// Applies the always-on rewrites.
pub fn rewrite(statement: &mut Statement) {
    let _ = statement.visit(&mut information_schema_views::OwnInformationSchemaViews);
    let _ = statement.visit(&mut ApplyRules(ALWAYS));
}

/// The lower-case last part of a function's name.
fn function_name(function: &Function) -> Option<String> {
    function
        .name
        .0
        .last()
        .and_then(|p| p.as_ident())
        .map(|i| i.value.to_ascii_lowercase())
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
    let _ = statement.visit(&mut ApplyRules(&[
        &aggregate_subquery::AggregateValueSubquery,
    ]));
    true
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

/// The one statement of `sql` (for tests).
#[cfg(test)]
fn parse_one(sql: &str) -> Statement {
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;
    Parser::parse_sql(&PostgreSqlDialect {}, sql)
        .expect("parses")
        .remove(0)
}

/// `sql` after `visitor`, as text (for tests).
#[cfg(test)]
fn visited(visitor: &mut impl VisitorMut, sql: &str) -> String {
    let mut statement = parse_one(sql);
    let _ = statement.visit(visitor);
    statement.to_string()
}

#[cfg(test)]
fn rewritten_by(rule: &dyn ExprRule, sql: &str) -> String {
    visited(&mut ApplyRules(&[rule]), sql)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(sql: &str) -> String {
        let mut statement = parse_one(sql);
        rewrite(&mut statement);
        statement.to_string()
    }

    #[test]
    fn the_always_on_rules_compose() {
        assert_eq!(
            rewritten(
                "SELECT column_name FROM information_schema.columns WHERE n NOT LIKE 'pg/_' || '%' ESCAPE '/' AND (i.keys).x = 1"
            ),
            "SELECT column_name FROM pg_catalog._segmint_information_schema_columns AS columns \
             WHERE n NOT LIKE replace(replace('pg/_' || '%', '\\', '\\\\'), '/', '\\') AND get_field((i.keys), 'x') = 1"
        );
        // Inner expressions are rewritten before the ones around them.
        assert_eq!(
            rewritten("SELECT CASE WHEN a.x THEN (SELECT t.oid::regtype::text FROM t) END FROM a"),
            "SELECT (SELECT format_type(t.oid, NULL) FROM t WHERE (a.x)) FROM a"
        );
    }

    #[test]
    fn the_retry_does_not_apply_the_always_on_rules_again() {
        let mut statement = parse_one(
            "SELECT unnest(_pg_expandarray(i.k)), (SELECT c.relkind FROM c WHERE c.oid > t.oid) FROM t",
        );
        assert!(retry_rewrite(
            Unplannable::UnaggregatedSubquery,
            &mut statement
        ));
        assert_eq!(
            statement.to_string(),
            "SELECT unnest(_pg_expandarray(i.k)), (SELECT max(c.relkind) FROM c WHERE c.oid > t.oid) FROM t"
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
        let mut statement =
            parse_one("SELECT t.id, (SELECT u.v FROM u WHERE u.id = t.id) AS w FROM t");
        assert!(retry_rewrite(
            Unplannable::UnaggregatedSubquery,
            &mut statement
        ));
        let text = statement.to_string();
        assert!(text.contains("JOIN"), "{text}");
        assert!(!text.contains("(SELECT u.v"), "{text}");
    }
}
