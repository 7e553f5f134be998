//! Correlated lookups in the select list that DataFusion cannot decorrelate (a scalar
//! subquery inside a `CASE` condition, say: SQLAlchemy's column reflection) become LEFT JOINs:
//!
//! `(SELECT e FROM f WHERE f.k = outer.c AND local)` →
//! `LEFT JOIN (SELECT f.k AS k0, e AS v FROM f WHERE local) AS __lookup0 ON __lookup0.k0 = outer.c`
//! and `__lookup0.v` in its place. Only lookups whose correlation is equalities between
//! qualified columns are rewritten (catalog lookups by OID, which match at most one row).

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    BinaryOperator, Expr, Ident, Join, Query, SelectItem, SetExpr, Statement, TableFactor, Visit,
    VisitMut, Visitor, VisitorMut,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

use super::{parse_expr, single_value};

/// Hoists the lookups of the top-level select list; true when any was rewritten.
pub fn hoist_lookups(statement: &mut Statement) -> bool {
    let Statement::Query(query) = statement else {
        return false;
    };
    let SetExpr::Select(select) = query.body.as_mut() else {
        return false;
    };
    let outer = relation_names(
        select
            .from
            .iter()
            .flat_map(|t| std::iter::once(&t.relation).chain(t.joins.iter().map(|j| &j.relation))),
    );
    let mut hoister = Hoister {
        outer,
        joins: Vec::new(),
    };
    for item in select.projection.iter_mut() {
        if let SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. } = item {
            let _ = VisitMut::visit(expr, &mut hoister);
        }
    }
    if hoister.joins.is_empty() {
        return false;
    }
    match select.from.last_mut() {
        Some(last) => last.joins.extend(hoister.joins),
        None => return false,
    }
    true
}

/// The names a relation can be referred by: its alias, else its name and last name part.
fn relation_names<'a>(factors: impl Iterator<Item = &'a TableFactor>) -> Vec<String> {
    let mut names = Vec::new();
    for factor in factors {
        if let TableFactor::Table { name, alias, .. } = factor {
            match alias {
                Some(alias) => names.push(alias.name.value.to_ascii_lowercase()),
                None => {
                    names.push(name.to_string().to_ascii_lowercase());
                    if let Some(last) = name.0.last().and_then(|p| p.as_ident()) {
                        names.push(last.value.to_ascii_lowercase());
                    }
                }
            }
        }
    }
    names
}

struct Hoister {
    outer: Vec<String>,
    joins: Vec<Join>,
}

#[derive(PartialEq)]
enum Side {
    Inner,
    Outer,
}

/// The relation part of a qualified column (`pg_catalog.pg_type` of
/// `pg_catalog.pg_type.oid`), lowercase.
fn qualifier(parts: &[Ident]) -> String {
    parts[..parts.len().saturating_sub(1)]
        .iter()
        .map(|p| p.value.to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join(".")
}

/// Which side every column of `expr` belongs to: `None` when unknown or mixed.
fn side_of(expr: &Expr, inner: &[String], outer: &[String]) -> Option<Option<Side>> {
    struct Columns<'a> {
        inner: &'a [String],
        outer: &'a [String],
        side: Option<Side>,
        bad: bool,
    }
    impl Visitor for Columns<'_> {
        type Break = ();
        fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
            let found = match expr {
                Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. } => {
                    self.bad = true;
                    return ControlFlow::Break(());
                }
                Expr::Identifier(_) => {
                    self.bad = true;
                    return ControlFlow::Break(());
                }
                Expr::CompoundIdentifier(parts) => {
                    let qualifier = qualifier(parts);
                    if self.inner.contains(&qualifier) {
                        Side::Inner
                    } else if self.outer.contains(&qualifier) {
                        Side::Outer
                    } else {
                        self.bad = true;
                        return ControlFlow::Break(());
                    }
                }
                _ => return ControlFlow::Continue(()),
            };
            match &self.side {
                None => self.side = Some(found),
                Some(side) if *side == found => {}
                Some(_) => {
                    self.bad = true;
                    return ControlFlow::Break(());
                }
            }
            ControlFlow::Continue(())
        }
    }
    let mut columns = Columns {
        inner,
        outer,
        side: None,
        bad: false,
    };
    let _ = expr.visit(&mut columns);
    (!columns.bad).then_some(columns.side)
}

fn conjuncts(expr: &Expr, out: &mut Vec<Expr>) {
    match expr {
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => {
            conjuncts(left, out);
            conjuncts(right, out);
        }
        Expr::Nested(inner) => match inner.as_ref() {
            Expr::BinaryOp {
                op: BinaryOperator::And,
                ..
            } => conjuncts(inner, out),
            _ => out.push(expr.clone()),
        },
        other => out.push(other.clone()),
    }
}

impl Hoister {
    fn lookup(&mut self, query: &Query) -> Option<Expr> {
        let (value, select) = single_value(query)?;
        if query.order_by.is_some() || query.limit_clause.is_some() || select.from.len() != 1 {
            return None;
        }
        let inner = relation_names(
            std::iter::once(&select.from[0].relation)
                .chain(select.from[0].joins.iter().map(|j| &j.relation)),
        );
        // A value that also uses outer columns is computed outside the join, from the
        // lookup's columns, and only when the lookup found a row.
        let alias = format!("__lookup{}", self.joins.len());
        let (value_sql, outside) = match side_of(value, &inner, &self.outer) {
            Some(_) => (format!("{value} AS v"), format!("{alias}.v")),
            None => {
                let mut split = SplitValue {
                    inner: &inner,
                    alias: &alias,
                    columns: Vec::new(),
                };
                let mut outside = value.clone();
                let _ = VisitMut::visit(&mut outside, &mut split);
                if split.columns.is_empty() {
                    return None;
                }
                let columns: Vec<String> = split
                    .columns
                    .iter()
                    .enumerate()
                    .map(|(i, c)| format!("{c} AS c{i}"))
                    .collect();
                (
                    format!("{}, 1 AS found", columns.join(", ")),
                    format!("CASE WHEN {alias}.found IS NOT NULL THEN {outside} END"),
                )
            }
        };
        let mut parts = Vec::new();
        conjuncts(select.selection.as_ref()?, &mut parts);
        let (mut keys, mut local, mut guards) = (Vec::new(), Vec::new(), Vec::new());
        for part in parts {
            match side_of(&part, &inner, &self.outer) {
                Some(Some(Side::Inner)) | Some(None) => local.push(part),
                Some(Some(Side::Outer)) => guards.push(part),
                None => {
                    let Expr::BinaryOp {
                        left,
                        op: BinaryOperator::Eq,
                        right,
                    } = &part
                    else {
                        return None;
                    };
                    let l = side_of(left, &inner, &self.outer)??;
                    let r = side_of(right, &inner, &self.outer)??;
                    match (l, r) {
                        (Side::Inner, Side::Outer) => keys.push((left.clone(), right.clone())),
                        (Side::Outer, Side::Inner) => keys.push((right.clone(), left.clone())),
                        _ => return None,
                    }
                }
            }
        }
        if keys.is_empty() {
            return None;
        }
        let key_list: Vec<String> = keys
            .iter()
            .enumerate()
            .map(|(i, (k, _))| format!("{k} AS k{i}"))
            .collect();
        let from = &select.from[0];
        let where_clause = if local.is_empty() {
            String::new()
        } else {
            let local: Vec<String> = local.iter().map(|p| format!("({p})")).collect();
            format!(" WHERE {}", local.join(" AND "))
        };
        let mut on: Vec<String> = keys
            .iter()
            .enumerate()
            .map(|(i, (_, o))| format!("{alias}.k{i} = {o}"))
            .collect();
        on.extend(guards.iter().map(|g| format!("({g})")));
        let sql = format!(
            "SELECT 1 FROM x LEFT JOIN (SELECT {}, {value_sql} FROM {from}{where_clause}) AS {alias} ON {}",
            key_list.join(", "),
            on.join(" AND ")
        );
        let mut parsed = Parser::parse_sql(&PostgreSqlDialect {}, &sql).ok()?;
        let Statement::Query(parsed) = parsed.pop()? else {
            return None;
        };
        let SetExpr::Select(mut parsed) = *parsed.body else {
            return None;
        };
        let join = parsed.from.pop()?.joins.pop()?;
        self.joins.push(join);
        parse_expr(&outside)
    }
}

/// Replaces the lookup's own columns in a value with columns of the joined lookup
/// (`__lookupN.cI`), collecting them.
struct SplitValue<'a> {
    inner: &'a [String],
    alias: &'a str,
    columns: Vec<String>,
}

impl VisitorMut for SplitValue<'_> {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if let Expr::CompoundIdentifier(parts) = expr
            && self.inner.contains(&qualifier(parts))
        {
            let text = expr.to_string();
            let index = match self.columns.iter().position(|c| *c == text) {
                Some(i) => i,
                None => {
                    self.columns.push(text);
                    self.columns.len() - 1
                }
            };
            if let Some(column) = parse_expr(&format!("{}.c{index}", self.alias)) {
                *expr = column;
            }
        }
        ControlFlow::Continue(())
    }
}

impl VisitorMut for Hoister {
    type Break = ();

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if let Expr::Subquery(query) = expr
            && !super::has_scalar_subquery(query.as_ref())
            && let Some(replacement) = self.lookup(query)
        {
            *expr = replacement;
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_in_case_conditions_become_left_joins() {
        let mut statement = Parser::parse_sql(
            &PostgreSqlDialect {},
            "SELECT a.attname, CASE WHEN a.attcollation <> 0 AND \
             (SELECT t.typcollation FROM pg_catalog.pg_type AS t WHERE t.oid = a.atttypid) <> a.attcollation \
             THEN 1 END AS c FROM pg_catalog.pg_attribute AS a",
        )
        .expect("parses")
        .remove(0);
        assert!(hoist_lookups(&mut statement));
        assert_eq!(
            statement.to_string(),
            "SELECT a.attname, CASE WHEN a.attcollation <> 0 AND __lookup0.v <> a.attcollation THEN 1 END AS c \
             FROM pg_catalog.pg_attribute AS a LEFT JOIN (SELECT t.oid AS k0, t.typcollation AS v \
             FROM pg_catalog.pg_type AS t) AS __lookup0 ON __lookup0.k0 = a.atttypid"
        );
    }
}
