//! `ARRAY(SELECT e FROM ... [ORDER BY o])` (psql's `\du`), which DataFusion does not plan,
//! becomes `(SELECT array_agg(e [ORDER BY o]) FROM ...)`.

use datafusion::sql::sqlparser::ast::{Expr, FunctionArguments, OrderByKind};

use super::ast::call_ordered;
use super::{ExprRule, function_name, single_value, with_projection};

/// The `ARRAY(subquery)` rewrite.
pub struct ArraySubqueryToAggregate;

impl ExprRule for ArraySubqueryToAggregate {
    fn rewrite(&self, expr: &Expr) -> Option<Expr> {
        let Expr::Function(function) = expr else {
            return None;
        };
        let FunctionArguments::Subquery(query) = &function.args else {
            return None;
        };
        if function_name(function)? != "array" {
            return None;
        }
        let (value, _) = single_value(query)?;
        let order = match query.order_by.as_ref().map(|o| &o.kind) {
            Some(OrderByKind::Expressions(order)) => order.clone(),
            Some(OrderByKind::All(_)) => return None,
            None => Vec::new(),
        };
        let aggregate = call_ordered("array_agg", vec![value.clone()], order);
        Some(Expr::Subquery(Box::new(with_projection(query, aggregate))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pgcompat::rewrite::rewritten_by;

    #[test]
    fn array_of_subquery_becomes_array_agg() {
        assert_eq!(
            rewritten_by(
                &ArraySubqueryToAggregate,
                "SELECT ARRAY(SELECT b.rolname FROM m JOIN b ON m.roleid = b.oid WHERE m.member = r.oid ORDER BY 1) AS memberof FROM r",
            ),
            "SELECT (SELECT array_agg(b.rolname ORDER BY 1) FROM m JOIN b ON m.roleid = b.oid WHERE m.member = r.oid) AS memberof FROM r"
        );
        let plain = "SELECT ARRAY[1, 2]";
        assert_eq!(rewritten_by(&ArraySubqueryToAggregate, plain), plain);
    }
}
