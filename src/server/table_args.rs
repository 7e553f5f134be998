//! `$n` parameters in the arguments of table functions (`rfm('orders', $1)`).
//!
//! A table function reads its arguments when the statement is planned, so a statement with a
//! parameter there cannot be planned once and bound many times like other statements. At
//! Parse, each such parameter takes the type of the function's argument (as PostgreSQL infers
//! it from the signature) and the statement is planned with a stand-in value of that type to
//! describe its result; at Execute, the bound values are written into the statement as
//! literals and it is planned for real.

use std::collections::BTreeMap;
use std::ops::ControlFlow;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::sql::sqlparser::ast::{
    Expr, FunctionArg, FunctionArgExpr, Statement, TableFactor, Value, VisitMut, VisitorMut,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

/// Parameters that appear as table-function arguments: parameter number (1-based) → type.
pub type TableArgParameters = BTreeMap<usize, DataType>;

/// Finds the parameters used as table-function arguments; `argument_types` gives a function's
/// declared argument types (text when unknown).
pub fn find(
    statement: &mut Statement,
    argument_types: &dyn Fn(&str) -> Option<&'static [DataType]>,
) -> TableArgParameters {
    let mut found = TableArgParameters::new();
    let _ = statement.visit(&mut ArgVisitor {
        on_placeholder: &mut |function: &str, position: usize, number: usize| {
            let data_type = argument_types(function)
                .and_then(|types| types.get(position))
                .cloned()
                .unwrap_or(DataType::Utf8);
            found.insert(number, data_type);
            None
        },
    });
    found
}

/// Replaces the table-function-argument parameters of `statement` with `values` (by
/// parameter number, as SQL literals).
pub fn substitute(statement: &mut Statement, values: &BTreeMap<usize, Expr>) {
    let _ = statement.visit(&mut ArgVisitor {
        on_placeholder: &mut |_: &str, _: usize, number: usize| values.get(&number).cloned(),
    });
}

/// A stand-in value of `data_type`, to plan a statement before its parameters are known.
pub fn stand_in(data_type: &DataType) -> Expr {
    let sql = match data_type {
        DataType::Date32 | DataType::Date64 => "DATE '2000-01-01'",
        DataType::Timestamp(_, _) => "TIMESTAMP '2000-01-01 00:00:00'",
        DataType::Boolean => "false",
        t if t.is_numeric() => "0",
        _ => "''",
    };
    parse_expr(sql).unwrap_or(Expr::Value(Value::Null.into()))
}

/// A bound parameter value as a SQL literal of its type.
pub fn literal(value: &ScalarValue) -> Expr {
    if value.is_null() {
        return Expr::Value(Value::Null.into());
    }
    let quoted = |s: &str| format!("'{}'", s.replace('\'', "''"));
    let sql = match value {
        ScalarValue::Utf8(Some(s))
        | ScalarValue::LargeUtf8(Some(s))
        | ScalarValue::Utf8View(Some(s)) => quoted(s),
        ScalarValue::Boolean(Some(b)) => b.to_string(),
        ScalarValue::Date32(_) | ScalarValue::Date64(_) => {
            format!("DATE {}", quoted(&value.to_string()))
        }
        ScalarValue::TimestampSecond(_, zone)
        | ScalarValue::TimestampMillisecond(_, zone)
        | ScalarValue::TimestampMicrosecond(_, zone)
        | ScalarValue::TimestampNanosecond(_, zone) => {
            let kind = if zone.is_some() {
                "TIMESTAMPTZ"
            } else {
                "TIMESTAMP"
            };
            format!("{kind} {}", quoted(&value.to_string()))
        }
        v if v.data_type().is_numeric() => v.to_string(),
        other => quoted(&other.to_string()),
    };
    parse_expr(&sql).unwrap_or(Expr::Value(Value::Null.into()))
}

fn parse_expr(sql: &str) -> Option<Expr> {
    Parser::new(&PostgreSqlDialect {})
        .try_with_sql(sql)
        .and_then(|mut parser| parser.parse_expr())
        .ok()
}

/// Calls `on_placeholder(function, argument position, parameter number)` for every `$n`
/// argument of a table function, replacing the argument when it returns an expression.
struct ArgVisitor<'a> {
    on_placeholder: &'a mut dyn FnMut(&str, usize, usize) -> Option<Expr>,
}

impl VisitorMut for ArgVisitor<'_> {
    type Break = ();

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
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
        for (position, arg) in args.args.iter_mut().enumerate() {
            let FunctionArg::Unnamed(FunctionArgExpr::Expr(expr)) = arg else {
                continue;
            };
            let Some(number) = placeholder_number(expr) else {
                continue;
            };
            if let Some(replacement) = (self.on_placeholder)(&function, position, number) {
                *expr = replacement;
            }
        }
        ControlFlow::Continue(())
    }
}

/// The number of a `$n` placeholder (possibly cast: `$1::date`).
fn placeholder_number(expr: &Expr) -> Option<usize> {
    match expr {
        Expr::Value(value) => match &value.value {
            Value::Placeholder(p) => p.strip_prefix('$')?.parse().ok(),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(sql: &str) -> Statement {
        Parser::parse_sql(&PostgreSqlDialect {}, sql)
            .expect("parses")
            .remove(0)
    }

    #[test]
    fn finds_typed_parameters_and_substitutes_literals() {
        let mut statement =
            parse("SELECT segment, count(*) FROM rfm('orders', $1) WHERE recency > $2 GROUP BY 1");
        let types = |name: &str| -> Option<&'static [DataType]> {
            (name == "rfm").then_some(&[DataType::Utf8, DataType::Date32][..])
        };
        let found = find(&mut statement, &types);
        assert_eq!(found, TableArgParameters::from([(1, DataType::Date32)]));
        let values = BTreeMap::from([(1, literal(&ScalarValue::Date32(Some(20454))))]);
        substitute(&mut statement, &values);
        assert_eq!(
            statement.to_string(),
            "SELECT segment, count(*) FROM rfm('orders', DATE '2026-01-01') WHERE recency > $2 GROUP BY 1"
        );
    }

    #[test]
    fn text_literals_are_quoted() {
        let expr = literal(&ScalarValue::Utf8(Some("it's".into())));
        assert_eq!(expr.to_string(), "'it''s'");
    }
}
