//! The calibration summary of the BTYD models (crm-reference §0, §4): one row per customer
//! with `x` (repeat transactions), `t_x` (time of the last, from the first), `T` (time from
//! the first to the end of calibration) and `m_x` (mean value of the repeat transactions), as
//! a DataFusion plan (scan, filter, hash aggregation: parallel, and it spills).
//!
//! Conventions, those of the published CDNOW summary and lifetimes'
//! `summary_data_from_transaction_data`: transactions on or before `calibration_end` count;
//! with `merge_same_day` (the default) all of a customer's transactions on one calendar day are
//! one transaction whose value is their sum; times are whole days divided by the unit's length
//! (weeks by default: 7 days); `m_x` is 0 for customers without repeat transactions. Without
//! merging, the first transaction is the customer's earliest by time (ties: smallest amount).

use datafusion::arrow::datatypes::DataType;
use datafusion::catalog::TableFunctionArgs;
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::functions_aggregate::expr_fn::{count, first_value, max, min, sum};
use datafusion::logical_expr::{Expr, LogicalPlan, cast as cast_expr, col, lit, when};

use crate::args::{self, Days, Options};
use crate::table::{InputTable, is_key, is_numeric, is_temporal};

/// The SQL types of a summarising table function's positional arguments
/// `(table, date, customer_col, time_col, amount_col, options)`.
pub const ARGUMENT_TYPES: &[DataType] = &[
    DataType::Utf8,
    DataType::Date32,
    DataType::Utf8,
    DataType::Utf8,
    DataType::Utf8,
    DataType::Utf8,
];

/// The options every summarising function knows.
pub const OPTIONS: &[&str] = &["time_unit", "merge_same_day"];

/// The unit `t_x` and `T` are measured in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeUnit {
    /// Days.
    Days,
    /// Weeks of 7 days (the CDNOW convention).
    Weeks,
    /// Months of 365.25/12 days.
    Months,
}

impl TimeUnit {
    /// The unit's length in days.
    pub fn days(self) -> f64 {
        match self {
            TimeUnit::Days => 1.0,
            TimeUnit::Weeks => 7.0,
            TimeUnit::Months => 365.25 / 12.0,
        }
    }

    /// Its name (`days`, `weeks`, `months`).
    pub fn name(self) -> &'static str {
        match self {
            TimeUnit::Days => "days",
            TimeUnit::Weeks => "weeks",
            TimeUnit::Months => "months",
        }
    }
}

/// The arguments of a summarising table function:
/// `(table, date [, customer_col, time_col, amount_col [, options]])`.
#[derive(Debug, Clone)]
pub struct Source {
    /// The orders table.
    pub table: String,
    /// The date argument (calibration end or `as_of`).
    pub date: Days,
    /// Customer id column (default `customer_id`).
    pub customer_col: String,
    /// Order time column (default `order_ts`).
    pub time_col: String,
    /// Amount column (default `net_amount`).
    pub amount_col: String,
    /// The `'key=value,...'` options.
    pub options: Options,
    /// The options argument as written (`None` when the call passed none).
    pub options_text: Option<String>,
}

impl Source {
    /// Parses the arguments of `function`, checking options against `known`.
    pub fn parse(
        function: &'static str,
        args: &TableFunctionArgs,
        known: &[&str],
    ) -> Result<Source> {
        let session = args.session();
        let exprs = args.exprs();
        if !matches!(exprs.len(), 2 | 5 | 6) {
            return crate::crm_err!(
                WrongArity,
                "{function} takes (table, date [, customer_col, time_col, amount_col \
                 [, options]]), got {} arguments",
                exprs.len()
            );
        }
        let column = |i: usize, default: &str| -> Result<String> {
            match exprs.get(i) {
                Some(e) => args::text(function, i + 1, e, session),
                None => Ok(default.to_string()),
            }
        };
        let table = args::text(function, 1, &exprs[0], session)?;
        let date = args::date(function, 2, &exprs[1], session)?;
        let customer_col = column(2, "customer_id")?;
        let time_col = column(3, "order_ts")?;
        let amount_col = column(4, "net_amount")?;
        let options_text = match exprs.get(5) {
            Some(e) => Some(args::text(function, 6, e, session)?),
            None => None,
        };
        let options = match &options_text {
            Some(text) => Options::parse(function, text, known)?,
            None => Options::default(),
        };
        Ok(Source {
            table,
            date,
            customer_col,
            time_col,
            amount_col,
            options,
            options_text,
        })
    }

    /// The time unit option (`weeks` by default).
    pub fn time_unit(&self) -> Result<TimeUnit> {
        time_unit(&self.options)
    }
}

/// The `time_unit` option of `options` (`weeks` by default).
pub fn time_unit(options: &Options) -> Result<TimeUnit> {
    Ok(
        match options.choice("time_unit", &["weeks", "days", "months"])? {
            "days" => TimeUnit::Days,
            "months" => TimeUnit::Months,
            _ => TimeUnit::Weeks,
        },
    )
}

/// The summary plan: `customer_id, x (BIGINT), t_x, T, m_x (DOUBLE)` from the transactions of
/// `source` on or before `calibration_end`.
pub fn plan(
    function: &'static str,
    session: &dyn datafusion::catalog::Session,
    source: &Source,
    calibration_end: Days,
) -> Result<LogicalPlan> {
    let unit = source.time_unit()?;
    let merge = source.options.flag("merge_same_day", true)?;
    let input = InputTable::resolve(function, session, &source.table)?;
    let (customer, _) = input.column(
        "customer",
        &source.customer_col,
        is_key,
        "an integer or text id",
    )?;
    let (time, _) = input.column(
        "order time",
        &source.time_col,
        is_temporal,
        "a date or timestamp",
    )?;
    let (amount, _) = input.column("amount", &source.amount_col, is_numeric, "numeric")?;

    let day = cast_expr(time.clone(), DataType::Date32);
    let amount = cast_expr(amount, DataType::Float64);
    let end = ScalarValue::Date32(Some(calibration_end));
    let scan = input.scan()?.filter(
        customer
            .clone()
            .is_not_null()
            .and(day.clone().is_not_null())
            .and(day.clone().lt_eq(lit(end))),
    )?;
    // One row per transaction: (customer, day, value, order key for "first").
    let transactions = if merge {
        scan.aggregate(
            vec![customer.alias("customer"), day.alias("day")],
            vec![sum(amount).alias("value")],
        )?
        .project(vec![
            col("customer"),
            col("day"),
            col("value"),
            cast_expr(col("day"), DataType::Int32).alias("first_key"),
        ])?
    } else {
        scan.project(vec![
            customer.alias("customer"),
            day.alias("day"),
            amount.alias("value"),
            cast_expr(
                time,
                DataType::Timestamp(datafusion::arrow::datatypes::TimeUnit::Microsecond, None),
            )
            .alias("first_key"),
        ])?
    };
    let value = col("value");
    let per_customer = transactions.aggregate(
        vec![col("customer")],
        vec![
            count(lit(1)).alias("n"),
            min(col("day")).alias("first_day"),
            max(col("day")).alias("last_day"),
            sum(value.clone()).alias("total"),
            first_value(
                value.clone(),
                vec![col("first_key").sort(true, false), value.sort(true, false)],
            )
            .alias("first_value"),
        ],
    )?;
    let days = |e: Expr| cast_expr(cast_expr(e, DataType::Int32), DataType::Float64);
    let unit_days = lit(unit.days());
    let repeats = col("n") - lit(1i64);
    let zero = lit(0.0f64);
    let repeat_spend = (datafusion::functions::expr_fn::coalesce(vec![col("total"), zero.clone()])
        - datafusion::functions::expr_fn::coalesce(vec![col("first_value"), zero.clone()]))
        / cast_expr(repeats.clone(), DataType::Float64);
    per_customer
        .project(vec![
            col("customer").alias("customer_id"),
            repeats.clone().alias("x"),
            ((days(col("last_day")) - days(col("first_day"))) / unit_days.clone()).alias("t_x"),
            ((lit(f64::from(calibration_end)) - days(col("first_day"))) / unit_days).alias("T"),
            when(repeats.gt(lit(0i64)), repeat_spend)
                .otherwise(zero)?
                .alias("m_x"),
        ])?
        .build()
}
