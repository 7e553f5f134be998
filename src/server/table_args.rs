//! `$n` parameters in the arguments of table functions (`rfm('orders', $1)`).
//!
//! A table function reads its arguments when the statement is planned, so a statement with a
//! parameter there cannot be planned once and bound many times like other statements. At
//! Parse, each such parameter takes the type of the function's argument (as PostgreSQL infers
//! it from the signature) and the statement is planned with a stand-in value of that type to
//! describe its result; at Execute it is planned again with the bound values. Either way the
//! values reach the table function as values
//! ([`segmint_udfs::bound_parameters::BoundParameters`]), never as SQL text.

use std::collections::BTreeMap;
use std::ops::ControlFlow;

use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::ScalarValue;
use datafusion::sql::sqlparser::ast::{
    Expr, FunctionArg, FunctionArgExpr, Statement, TableFactor, Value, Visit, Visitor,
};

/// Parameters that appear as table-function arguments: parameter number (1-based) → type.
pub type TableArgParameters = BTreeMap<usize, DataType>;

/// Finds the parameters used as table-function arguments; `argument_types` gives a function's
/// declared argument types (text when unknown).
pub fn find(
    statement: &Statement,
    argument_types: &dyn Fn(&str) -> Option<&'static [DataType]>,
) -> TableArgParameters {
    let mut finder = ArgFinder {
        argument_types,
        found: TableArgParameters::new(),
    };
    let _ = statement.visit(&mut finder);
    finder.found
}

/// A stand-in value of `data_type`, to plan a statement before its parameters are known.
pub fn stand_in(data_type: &DataType) -> ScalarValue {
    match data_type {
        // 2000-01-01.
        DataType::Date32 => ScalarValue::Date32(Some(10_957)),
        DataType::Date64 => ScalarValue::Date64(Some(946_684_800_000)),
        DataType::Timestamp(TimeUnit::Second, zone) => {
            ScalarValue::TimestampSecond(Some(946_684_800), zone.clone())
        }
        DataType::Timestamp(unit, zone) => {
            ScalarValue::new_zero(&DataType::Timestamp(*unit, zone.clone()))
                .unwrap_or(ScalarValue::Null)
        }
        DataType::Boolean => ScalarValue::Boolean(Some(false)),
        t if t.is_numeric() => ScalarValue::new_zero(t).unwrap_or(ScalarValue::Null),
        _ => ScalarValue::Utf8(Some(String::new())),
    }
}

/// Collects the `$n` arguments of table functions with their declared types.
struct ArgFinder<'a> {
    argument_types: &'a dyn Fn(&str) -> Option<&'static [DataType]>,
    found: TableArgParameters,
}

impl Visitor for ArgFinder<'_> {
    type Break = ();

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
        let TableFactor::Table {
            name,
            args: Some(args),
            ..
        } = factor
        else {
            return ControlFlow::Continue(());
        };
        let function = name
            .0
            .last()
            .and_then(|part| part.as_ident())
            .map(|ident| ident.value.to_ascii_lowercase())
            .unwrap_or_default();
        for (position, arg) in args.args.iter().enumerate() {
            let FunctionArg::Unnamed(FunctionArgExpr::Expr(expr)) = arg else {
                continue;
            };
            let Some(number) = placeholder_number(expr) else {
                continue;
            };
            let data_type = (self.argument_types)(&function)
                .and_then(|types| types.get(position))
                .cloned()
                .unwrap_or(DataType::Utf8);
            self.found.insert(number, data_type);
        }
        ControlFlow::Continue(())
    }
}

/// The number of a `$n` placeholder (`n` from 1).
fn placeholder_number(expr: &Expr) -> Option<usize> {
    match expr {
        Expr::Value(value) => match &value.value {
            Value::Placeholder(p) => p.strip_prefix('$')?.parse().ok().filter(|n| *n >= 1),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    #[test]
    fn finds_typed_parameters_of_table_functions_only() {
        let statement = Parser::parse_sql(
            &PostgreSqlDialect {},
            "SELECT segment, count(*) FROM rfm('orders', $1) WHERE recency > $2 GROUP BY 1",
        )
        .expect("parses")
        .remove(0);
        let types = |name: &str| -> Option<&'static [DataType]> {
            (name == "rfm").then_some(&[DataType::Utf8, DataType::Date32][..])
        };
        assert_eq!(
            find(&statement, &types),
            TableArgParameters::from([(1, DataType::Date32)])
        );
    }

    #[test]
    fn stand_ins_have_the_argument_type() {
        for data_type in [
            DataType::Date32,
            DataType::Int64,
            DataType::Float64,
            DataType::Boolean,
            DataType::Utf8,
            DataType::Timestamp(TimeUnit::Microsecond, None),
        ] {
            assert_eq!(stand_in(&data_type).data_type(), data_type);
        }
        assert_eq!(stand_in(&DataType::Date32).to_string(), "2000-01-01");
    }
}
