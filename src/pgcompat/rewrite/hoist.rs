//! Correlated lookups in the select list that DataFusion cannot decorrelate (a scalar
//! subquery inside a `CASE` condition, say: SQLAlchemy's column reflection) become LEFT JOINs:
//!
//! `(SELECT e FROM f WHERE f.k = outer.c AND local)` →
//! `LEFT JOIN (SELECT f.k AS k0, e AS v FROM f WHERE local) AS __lookup0 ON __lookup0.k0 = outer.c`
//! and `__lookup0.v` in its place. Only lookups whose correlation is equalities between
//! qualified columns are rewritten (catalog lookups by OID, which match at most one row).

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::helpers::attached_token::AttachedToken;
use datafusion::sql::sqlparser::ast::{
    BinaryOperator, CaseWhen, Expr, Ident, Join, JoinConstraint, JoinOperator, Query, SelectItem,
    SetExpr, Statement, TableAlias, TableFactor, Visit, VisitMut, Visitor, VisitorMut,
};

use super::ast::{and, column, eq, is_not_null, nested, number};
use super::single_value;

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
        let (values, outside) = match side_of(value, &inner, &self.outer) {
            Some(_) => (vec![item(value.clone(), "v")], column(&alias, "v")),
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
                let mut values: Vec<SelectItem> = split
                    .columns
                    .into_iter()
                    .enumerate()
                    .map(|(i, c)| item(c, &format!("c{i}")))
                    .collect();
                values.push(item(number(1), "found"));
                let found = is_not_null(column(&alias, "found"));
                (values, when(found, outside))
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
                        (Side::Inner, Side::Outer) => keys.push((*left.clone(), *right.clone())),
                        (Side::Outer, Side::Inner) => keys.push((*right.clone(), *left.clone())),
                        _ => return None,
                    }
                }
            }
        }
        if keys.is_empty() {
            return None;
        }
        // The lookup: its keys and values, filtered by its own conditions.
        let mut lookup = query.clone();
        let SetExpr::Select(lookup_select) = lookup.body.as_mut() else {
            return None;
        };
        lookup_select.projection = keys
            .iter()
            .enumerate()
            .map(|(i, (k, _))| item(k.clone(), &format!("k{i}")))
            .chain(values)
            .collect();
        lookup_select.selection = all(local.into_iter().map(nested));
        let on = all(keys
            .into_iter()
            .enumerate()
            .map(|(i, (_, o))| eq(column(&alias, &format!("k{i}")), o))
            .chain(guards.into_iter().map(nested)))?;
        self.joins.push(Join {
            relation: TableFactor::Derived {
                lateral: false,
                subquery: Box::new(lookup),
                alias: Some(TableAlias {
                    explicit: true,
                    name: Ident::new(alias),
                    columns: vec![],
                    at: None,
                }),
                sample: None,
            },
            global: false,
            join_operator: JoinOperator::Left(JoinConstraint::On(on)),
        });
        Some(outside)
    }
}

/// `expr AS alias`.
fn item(expr: Expr, alias: &str) -> SelectItem {
    SelectItem::ExprWithAlias {
        expr,
        alias: Ident::new(alias),
    }
}

/// `CASE WHEN condition THEN result END`.
fn when(condition: Expr, result: Expr) -> Expr {
    Expr::Case {
        case_token: AttachedToken::empty(),
        end_token: AttachedToken::empty(),
        operand: None,
        conditions: vec![CaseWhen { condition, result }],
        else_result: None,
    }
}

/// The conjunction of `parts` (`None` for none).
fn all(parts: impl Iterator<Item = Expr>) -> Option<Expr> {
    parts.reduce(and)
}

/// Replaces the lookup's own columns in a value with columns of the joined lookup
/// (`__lookupN.cI`), collecting them.
struct SplitValue<'a> {
    inner: &'a [String],
    alias: &'a str,
    columns: Vec<Expr>,
}

impl VisitorMut for SplitValue<'_> {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if let Expr::CompoundIdentifier(parts) = expr
            && self.inner.contains(&qualifier(parts))
        {
            let index = match self.columns.iter().position(|c| c == expr) {
                Some(i) => i,
                None => {
                    self.columns.push(expr.clone());
                    self.columns.len() - 1
                }
            };
            *expr = column(self.alias, &format!("c{index}"));
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
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

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

    #[test]
    fn a_value_with_outer_columns_is_computed_outside_the_join() {
        let mut statement = Parser::parse_sql(
            &PostgreSqlDialect {},
            "SELECT (SELECT t.typname || a.suffix FROM pg_type AS t WHERE t.oid = a.atttypid AND t.typlen > 0) AS n FROM a",
        )
        .expect("parses")
        .remove(0);
        assert!(hoist_lookups(&mut statement));
        assert_eq!(
            statement.to_string(),
            "SELECT CASE WHEN __lookup0.found IS NOT NULL THEN __lookup0.c0 || a.suffix END AS n \
             FROM a LEFT JOIN (SELECT t.oid AS k0, t.typname AS c0, 1 AS found FROM pg_type AS t \
             WHERE (t.typlen > 0)) AS __lookup0 ON __lookup0.k0 = a.atttypid"
        );
    }

    #[test]
    fn lookups_without_an_equality_key_stay() {
        let sql = "SELECT (SELECT t.x FROM t WHERE t.y > a.y) FROM a";
        let mut statement = Parser::parse_sql(&PostgreSqlDialect {}, sql)
            .expect("parses")
            .remove(0);
        assert!(!hoist_lookups(&mut statement));
        assert_eq!(statement.to_string(), sql);
    }
}
