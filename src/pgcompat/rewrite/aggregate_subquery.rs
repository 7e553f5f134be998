//! Applied only on retry, when the plan holds a correlated scalar subquery that is not
//! aggregated (pgjdbc's `getTypeInfo`): a subquery selecting one plain value becomes
//! `(SELECT max(value) ...)`, which DataFusion decorrelates. The lookups it is used for match
//! at most one row, so the value is the same.

use datafusion::sql::sqlparser::ast::Expr;

use super::ast::call;
use super::{ExprRule, function_name, single_value, with_projection};

/// The retry's aggregation of value subqueries.
pub struct AggregateValueSubquery;

/// Aggregates whose result is already one row.
const AGGREGATES: [&str; 9] = [
    "count",
    "max",
    "min",
    "sum",
    "avg",
    "array_agg",
    "bool_or",
    "bool_and",
    "string_agg",
];

impl ExprRule for AggregateValueSubquery {
    fn rewrite(&self, expr: &Expr) -> Option<Expr> {
        let Expr::Subquery(query) = expr else {
            return None;
        };
        let (value, _) = single_value(query)?;
        if let Expr::Function(f) = value
            && function_name(f).is_some_and(|name| AGGREGATES.contains(&name.as_str()))
        {
            return None;
        }
        if query.limit_clause.is_some() && query.order_by.is_some() {
            return None;
        }
        let aggregate = call("max", vec![value.clone()]);
        Some(Expr::Subquery(Box::new(with_projection(query, aggregate))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pgcompat::rewrite::rewritten_by;

    #[test]
    fn a_correlated_value_subquery_is_aggregated() {
        assert_eq!(
            rewritten_by(
                &AggregateValueSubquery,
                "SELECT 1 FROM t WHERE (t.typrelid = 0 OR (SELECT c.relkind = 'c' FROM c WHERE c.oid = t.typrelid))"
            ),
            "SELECT 1 FROM t WHERE (t.typrelid = 0 OR (SELECT max(c.relkind = 'c') FROM c WHERE c.oid = t.typrelid))"
        );
        for kept in [
            "SELECT (SELECT count(*) FROM c WHERE c.oid = t.oid) FROM t",
            "SELECT (SELECT c.x FROM c ORDER BY c.y LIMIT 1) FROM t",
        ] {
            assert_eq!(rewritten_by(&AggregateValueSubquery, kept), kept);
        }
    }
}
