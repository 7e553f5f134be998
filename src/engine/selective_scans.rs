//! Row-level Parquet filtering for the scans it pays on.
//!
//! A Parquet scan can evaluate its filter while decoding (DataFusion's `pushdown_filters`,
//! late materialization): the filter's columns are decoded first, the others only for the
//! rows that pass. For a lookup of one customer that skips nearly all decoding; for a filter
//! that keeps most rows (`status = 'completed'`, the last twelve months) it adds a second pass
//! of small skips and reads. Measured on a time-ordered file written by pyarrow, pushdown on
//! for every scan made the lifecycle query 1.5× DuckDB's time and off 0.9×, while off made one
//! customer's orders 3× slower. The setting is per session; [`SelectiveScans`] makes it per
//! scan: with the session's `pushdown_filters` off (the default), it turns row-level filtering
//! on for the Parquet scans whose predicate the file statistics estimate to keep at most
//! [`SELECTIVE`] of the rows (an equality or `IN` on a wide-ranging column such as a customer
//! id, or a narrow range). Every other scan still prunes row groups and pages with the same
//! predicate. The `FilterExec` above the scan stays, so the answer never depends on the
//! estimate.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::common::ScalarValue;
use datafusion::common::stats::{ColumnStatistics, Statistics};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::config::ConfigOptions;
use datafusion::datasource::physical_plan::{
    FileScanConfig, FileScanConfigBuilder, FileSource, ParquetSource,
};
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::Result;
use datafusion::logical_expr::Operator;
use datafusion::physical_expr::expressions::{BinaryExpr, Column, InListExpr, Literal};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::{ExecutionPlan, PhysicalExpr};

/// The largest estimated share of rows a predicate may keep for its scan to filter rows while
/// decoding.
pub const SELECTIVE: f64 = 0.01;

/// Turns on row-level filtering for the Parquet scans whose predicate is selective.
#[derive(Debug, Default)]
pub struct SelectiveScans;

impl PhysicalOptimizerRule for SelectiveScans {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        // Pushdown on for the session: every scan filters while decoding already.
        if config.execution.parquet.pushdown_filters {
            return Ok(plan);
        }
        plan.transform_up(|node| {
            Ok(match selective_scan(node.as_ref()) {
                Some(scan) => Transformed::yes(scan),
                None => Transformed::no(node),
            })
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "SelectiveScans"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// `plan` with row-level filtering on, when it is a Parquet scan with a selective predicate.
fn selective_scan(plan: &dyn ExecutionPlan) -> Option<Arc<dyn ExecutionPlan>> {
    let exec = plan.downcast_ref::<DataSourceExec>()?;
    let config = exec.data_source().downcast_ref::<FileScanConfig>()?;
    let source = config.file_source().downcast_ref::<ParquetSource>()?;
    if source.table_parquet_options().global.pushdown_filters {
        return None;
    }
    let predicate = source.filter()?;
    let schema = config.file_source().table_schema().table_schema();
    let kept = kept_share(predicate.as_ref(), schema, &config.statistics())?;
    if kept > SELECTIVE {
        return None;
    }
    tracing::debug!(kept, %predicate, "row-level filtering for a selective scan");
    let source = source.clone().with_pushdown_filters(true);
    let config = FileScanConfigBuilder::from(config.clone())
        .with_source(Arc::new(source))
        .build();
    Some(DataSourceExec::from_data_source(config))
}

/// The estimated share of rows `expr` keeps, from the minimum and maximum of its columns;
/// `None` when the statistics cannot tell.
fn kept_share(expr: &dyn PhysicalExpr, schema: &Schema, stats: &Statistics) -> Option<f64> {
    if let Some(binary) = expr.downcast_ref::<BinaryExpr>() {
        let (left, right) = (binary.left().as_ref(), binary.right().as_ref());
        return match binary.op() {
            // A conjunction keeps at most what its most selective side keeps.
            Operator::And => match (
                kept_share(left, schema, stats),
                kept_share(right, schema, stats),
            ) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
            Operator::Or => Some(
                (kept_share(left, schema, stats)? + kept_share(right, schema, stats)?).min(1.0),
            ),
            op => comparison(*op, left, right, schema, stats),
        };
    }
    let in_list = expr.downcast_ref::<InListExpr>()?;
    if in_list.negated() {
        return None;
    }
    let range = ColumnRange::of(in_list.expr().as_ref(), schema, stats)?;
    let mut kept = 0.0;
    for item in in_list.list() {
        kept += range.equal_share(literal(item.as_ref())?)?;
    }
    Some(kept.min(1.0))
}

/// The share a comparison of a column with a literal keeps.
fn comparison(
    op: Operator,
    left: &dyn PhysicalExpr,
    right: &dyn PhysicalExpr,
    schema: &Schema,
    stats: &Statistics,
) -> Option<f64> {
    // `literal op column` reads as `column op' literal`.
    let (column, value, op) = match (literal(left), literal(right)) {
        (None, Some(value)) => (left, value, op),
        (Some(value), None) => (right, value, op.swap()?),
        _ => return None,
    };
    let range = ColumnRange::of(column, schema, stats)?;
    match op {
        Operator::Eq => range.equal_share(value),
        Operator::Lt | Operator::LtEq => range.below_share(value),
        Operator::Gt | Operator::GtEq => range.below_share(value).map(|below| 1.0 - below),
        _ => None,
    }
}

fn literal(expr: &dyn PhysicalExpr) -> Option<&ScalarValue> {
    expr.downcast_ref::<Literal>().map(Literal::value)
}

/// A column's type and value range, as numbers.
struct ColumnRange<'a> {
    data_type: &'a DataType,
    min: f64,
    max: f64,
}

impl<'a> ColumnRange<'a> {
    fn of(expr: &dyn PhysicalExpr, schema: &'a Schema, stats: &Statistics) -> Option<Self> {
        let column = expr.downcast_ref::<Column>()?;
        let index = schema.index_of(column.name()).ok()?;
        let ColumnStatistics {
            min_value,
            max_value,
            ..
        } = stats.column_statistics.get(index)?;
        Some(ColumnRange {
            data_type: schema.field(index).data_type(),
            min: number(min_value.get_value()?)?,
            max: number(max_value.get_value()?)?,
        })
    }

    /// The value as a number on this column's scale; `None` when its type differs.
    fn value(&self, value: &ScalarValue) -> Option<f64> {
        (&value.data_type() == self.data_type)
            .then(|| number(value))
            .flatten()
    }

    /// Share kept by `column = value`: one value out of the whole numbers in the range (an
    /// integer, date, timestamp or decimal column holds whole numbers of its unit).
    fn equal_share(&self, value: &ScalarValue) -> Option<f64> {
        let value = self.value(value)?;
        if value < self.min || value > self.max {
            return Some(0.0);
        }
        Some(1.0 / (self.max - self.min + 1.0))
    }

    /// Share below `value`, interpolated over the range.
    fn below_share(&self, value: &ScalarValue) -> Option<f64> {
        let value = self.value(value)?;
        if self.max <= self.min {
            return Some(if value > self.min { 1.0 } else { 0.0 });
        }
        Some(((value - self.min) / (self.max - self.min)).clamp(0.0, 1.0))
    }
}

/// A whole-number-valued scalar as `f64` (integers, dates, timestamps, unscaled decimals).
fn number(value: &ScalarValue) -> Option<f64> {
    Some(match value {
        ScalarValue::Int8(Some(v)) => f64::from(*v),
        ScalarValue::Int16(Some(v)) => f64::from(*v),
        ScalarValue::Int32(Some(v)) => f64::from(*v),
        ScalarValue::Int64(Some(v)) => *v as f64,
        ScalarValue::UInt8(Some(v)) => f64::from(*v),
        ScalarValue::UInt16(Some(v)) => f64::from(*v),
        ScalarValue::UInt32(Some(v)) => f64::from(*v),
        ScalarValue::UInt64(Some(v)) => *v as f64,
        ScalarValue::Date32(Some(v)) => f64::from(*v),
        ScalarValue::Date64(Some(v)) => *v as f64,
        ScalarValue::TimestampSecond(Some(v), _)
        | ScalarValue::TimestampMillisecond(Some(v), _)
        | ScalarValue::TimestampMicrosecond(Some(v), _)
        | ScalarValue::TimestampNanosecond(Some(v), _) => *v as f64,
        ScalarValue::Decimal128(Some(v), _, _) => *v as f64,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::common::stats::Precision;
    use datafusion::physical_expr::expressions::{col, in_list, lit};
    use datafusion::physical_plan::expressions::binary;

    fn schema() -> Schema {
        Schema::new(vec![
            datafusion::arrow::datatypes::Field::new("customer_id", DataType::Int64, false),
            datafusion::arrow::datatypes::Field::new("status", DataType::Utf8, false),
        ])
    }

    fn stats() -> Statistics {
        let mut stats = Statistics::new_unknown(&schema());
        stats.column_statistics[0].min_value = Precision::Exact(ScalarValue::Int64(Some(1)));
        stats.column_statistics[0].max_value = Precision::Exact(ScalarValue::Int64(Some(100_000)));
        stats
    }

    fn share(expr: Arc<dyn PhysicalExpr>) -> Option<f64> {
        kept_share(expr.as_ref(), &schema(), &stats())
    }

    fn compare(name: &str, op: Operator, value: ScalarValue) -> Arc<dyn PhysicalExpr> {
        let schema = schema();
        binary(col(name, &schema).unwrap(), op, lit(value), &schema).unwrap()
    }

    #[test]
    fn an_equality_on_a_wide_column_is_selective() {
        let kept = share(compare(
            "customer_id",
            Operator::Eq,
            ScalarValue::Int64(Some(42)),
        ));
        assert_eq!(kept, Some(1.0 / 100_000.0));
        // Outside the range: nothing kept.
        let kept = share(compare(
            "customer_id",
            Operator::Eq,
            ScalarValue::Int64(Some(0)),
        ));
        assert_eq!(kept, Some(0.0));
    }

    #[test]
    fn ranges_are_interpolated_and_flipped() {
        let kept = share(compare(
            "customer_id",
            Operator::Lt,
            ScalarValue::Int64(Some(50_000)),
        ))
        .unwrap();
        assert!((kept - 0.5).abs() < 1e-3, "{kept}");
        let schema = schema();
        let flipped = binary(
            lit(ScalarValue::Int64(Some(99_001))),
            Operator::Lt,
            col("customer_id", &schema).unwrap(),
            &schema,
        )
        .unwrap();
        let kept = share(flipped).unwrap();
        assert!((kept - 0.01).abs() < 1e-3, "{kept}");
    }

    #[test]
    fn unknown_columns_and_types_say_nothing() {
        let text = compare("status", Operator::Eq, ScalarValue::from("completed"));
        assert_eq!(share(text.clone()), None);
        // A conjunction keeps at most its known side; a disjunction needs both.
        let schema = schema();
        let id = compare("customer_id", Operator::Eq, ScalarValue::Int64(Some(7)));
        let and = binary(text.clone(), Operator::And, id.clone(), &schema).unwrap();
        assert_eq!(share(and), Some(1.0 / 100_000.0));
        let or = binary(text, Operator::Or, id, &schema).unwrap();
        assert_eq!(share(or), None);
        // A literal of another type than the column's is not compared.
        let cast = compare("customer_id", Operator::Eq, ScalarValue::Int32(Some(7)));
        assert_eq!(share(cast), None);
    }

    #[test]
    fn in_lists_add_up() {
        let schema = schema();
        let list = in_list(
            col("customer_id", &schema).unwrap(),
            (1..=3).map(|v| lit(ScalarValue::Int64(Some(v)))).collect(),
            &false,
            &schema,
        )
        .unwrap();
        let kept = share(list).unwrap();
        assert!((kept - 3.0 / 100_000.0).abs() < 1e-12, "{kept}");
    }
}
