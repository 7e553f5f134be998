//! Parameters of a prepared statement used as table-function arguments
//! (`SELECT * FROM rfm('orders', $1)`). A table function reads its arguments when the statement
//! is planned, so a server plans such a statement once the values are bound and hands the
//! values to the planning session ([`BoundParameters`], a `SessionConfig` extension);
//! every registered table function is wrapped in [`WithBoundParameters`], which gives the
//! function those values where its arguments hold `$n`. The values are never written into
//! SQL text.

use std::sync::Arc;

use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::ScalarValue;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::error::Result;
use datafusion::logical_expr::{Expr, lit};

/// The values of `$1`, `$2`, ... (`None`: not bound for planning).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BoundParameters(pub Vec<Option<ScalarValue>>);

impl BoundParameters {
    /// The value of the placeholder `id` (`$n`), if bound.
    pub fn value(&self, id: &str) -> Option<&ScalarValue> {
        let number: usize = id.strip_prefix('$')?.parse().ok()?;
        self.0.get(number.checked_sub(1)?)?.as_ref()
    }

    /// `expr` with its bound placeholders replaced by their values.
    pub fn bind(&self, expr: &Expr) -> Result<Expr> {
        expr.clone()
            .transform(|e| match &e {
                Expr::Placeholder(p) => Ok(match self.value(&p.id) {
                    Some(value) => Transformed::yes(lit(value.clone())),
                    None => Transformed::no(e),
                }),
                _ => Ok(Transformed::no(e)),
            })
            .map(|t| t.data)
    }
}

/// A table function that takes bound parameter values for `$n` arguments.
#[derive(Debug)]
pub struct WithBoundParameters(pub Arc<dyn TableFunctionImpl>);

impl TableFunctionImpl for WithBoundParameters {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let Some(bound) = args.session().config().get_extension::<BoundParameters>() else {
            return self.0.call_with_args(args);
        };
        let exprs = args
            .exprs()
            .iter()
            .map(|e| bound.bind(e))
            .collect::<Result<Vec<_>>>()?;
        self.0
            .call_with_args(TableFunctionArgs::new(&exprs, args.session()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::DataType;
    use datafusion::logical_expr::expr::Placeholder;
    use datafusion::logical_expr::{cast, col};

    #[test]
    fn placeholders_take_their_values() {
        let bound = BoundParameters(vec![None, Some(ScalarValue::Date32(Some(20454)))]);
        assert_eq!(bound.value("$2"), Some(&ScalarValue::Date32(Some(20454))));
        assert_eq!(bound.value("$1"), None);
        assert_eq!(bound.value("$0"), None);
        assert_eq!(bound.value("x"), None);
        let placeholder =
            |id: &str| Expr::Placeholder(Placeholder::new_with_field(id.into(), None));
        let expr = cast(placeholder("$2"), DataType::Date32);
        assert_eq!(
            bound.bind(&expr).expect("binds"),
            cast(lit(ScalarValue::Date32(Some(20454))), DataType::Date32)
        );
        let unbound = placeholder("$1").eq(col("a"));
        assert_eq!(bound.bind(&unbound).expect("binds"), unbound);
    }
}
