//! `lifecycle(table, as_of [, customer_col, time_col [, options]])`: one row per customer with
//! `customer_id, first_order, last_order, n_orders, stage`.
//!
//! Business meaning: where each buyer stands in the lifecycle (crm-reference §2): `new`
//! (first order within `new_days`), `reactivated` (optional: back within `active_days` after a
//! gap longer than `churn_days`), `active` (last order within `active_days`), `dormant` (within
//! `churn_days`), `churned` (longer ago). Orders strictly before `as_of` count. Customers with
//! no orders are not in an orders table: LEFT JOIN the customer master and call them
//! `prospect` (see `customer_360`), or use `lifecycle_stage(...)` with `n_orders = 0`.
//!
//! Options: `new_days`, `active_days`, `churn_days` (defaults `segmint.lifecycle_*`: 30, 90,
//! 180), `new_rule` = `first_order` | `second_purchase` (new only while one order),
//! `reactivated` = false | true, `variant` = `recency` | `cadence` (active within `k1` typical
//! gaps, dormant within `k2`; the typical gap is the customer's median gap between order days
//! with at least 3 order days, else the median over repeat buyers of their median gap; with no
//! repeat buyer at all the recency rules apply), `k1` (1.5), `k2` (3),
//! `merge_same_day` (n_orders counts order days).

use std::sync::{Arc, OnceLock};

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Date32Array, Int64Array, RecordBatch, StringBuilder,
};
use datafusion::arrow::compute::{SortOptions, cast, sort_to_indices, take_record_batch};
use datafusion::arrow::datatypes::{DataType, Date32Type, Field, Int64Type, Schema, SchemaRef};
use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::functions_aggregate::expr_fn::{array_agg, count, count_distinct, max, min};
use datafusion::logical_expr::{Documentation, cast as cast_expr, lit};

use crate::args::{self, Days, Options};
use crate::kernels::lifecycle::{History, NewRule, Thresholds, cadence_stage, gaps, median, stage};
use crate::table::{
    InputTable, KernelCall, KernelTable, TableKernel, customer_id_type, is_key, is_temporal,
};
use crate::{CrmFunction, FunctionOptions, NamedTableFunction};

/// Registers `lifecycle`.
pub fn functions() -> Vec<CrmFunction> {
    vec![CrmFunction::Table(Box::new(NamedTableFunction {
        name: "lifecycle",
        function: Arc::new(Lifecycle),
        argument_types: &[
            DataType::Utf8,
            DataType::Date32,
            DataType::Utf8,
            DataType::Utf8,
            DataType::Utf8,
        ],
        documentation: documentation(),
        kernel: Some(kernel),
    }))]
}

const OPTIONS: &[&str] = &[
    "new_days",
    "active_days",
    "churn_days",
    "new_rule",
    "reactivated",
    "variant",
    "k1",
    "k2",
    "merge_same_day",
];

/// The `lifecycle` table function.
#[derive(Debug)]
pub struct Lifecycle;

#[derive(Debug, Clone, Copy, PartialEq)]
struct Settings {
    thresholds: Thresholds,
    new_rule: NewRule,
    reactivated: bool,
    cadence: bool,
    k1: f64,
    k2: f64,
}

impl Settings {
    fn needs_days(&self) -> bool {
        self.reactivated || self.cadence
    }
}

impl TableFunctionImpl for Lifecycle {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let session = args.session();
        let exprs = args.exprs();
        if !matches!(exprs.len(), 2 | 4 | 5) {
            return crate::crm_err!(
                WrongArity,
                "lifecycle takes (table, as_of [, customer_col, time_col [, options]]), got {} \
                 arguments",
                exprs.len()
            );
        }
        let table = args::text("lifecycle", 1, &exprs[0], session)?;
        let as_of = args::date("lifecycle", 2, &exprs[1], session)?;
        let column = |i: usize, default: &str| -> Result<String> {
            match exprs.get(i) {
                Some(e) => args::text("lifecycle", i + 1, e, session),
                None => Ok(default.to_string()),
            }
        };
        let customer_col = column(2, "customer_id")?;
        let time_col = column(3, "order_ts")?;
        let options = match exprs.get(4) {
            Some(e) => Some(args::text("lifecycle", 5, e, session)?),
            None => None,
        };
        let defaults = FunctionOptions::from_config(session.config_options());
        let call = KernelCall::new(
            "lifecycle",
            &table,
            as_of,
            vec![customer_col.clone(), time_col.clone()],
            options,
            &defaults,
        );
        let (options, settings) = settings(&call)?;

        let input = InputTable::resolve("lifecycle", session, &table)?;
        let (customer, _) =
            input.column("customer", &customer_col, is_key, "an integer or text id")?;
        let (time, _) =
            input.column("order time", &time_col, is_temporal, "a date or timestamp")?;
        let day = cast_expr(time, DataType::Date32);
        let orders = if options.flag("merge_same_day", false)? {
            count_distinct(day.clone())
        } else {
            count(lit(1))
        };
        let mut aggregates = vec![
            min(day.clone()).alias("first_order"),
            max(day.clone()).alias("last_order"),
            orders.alias("n_orders"),
        ];
        if settings.needs_days() {
            aggregates.push(array_agg(day.clone()).alias("days"));
        }
        let plan = input
            .scan()?
            .filter(
                day.lt(lit(ScalarValue::Date32(Some(as_of))))
                    .and(customer.clone().is_not_null()),
            )?
            .aggregate(vec![customer.alias("customer_id")], aggregates)?
            .build()?;
        let kernel = kernel(&call, plan.schema().as_arrow())?;
        Ok(Arc::new(KernelTable::new(plan, kernel)))
    }
}

/// The parsed options of a `lifecycle` call and the stage rules they give (with the call's
/// `segmint.lifecycle_*` defaults).
fn settings(call: &KernelCall) -> Result<(Options, Settings)> {
    let options = call.parse_options(OPTIONS)?;
    let defaults = call.function_options()?;
    let day_option = |key: &str, default: u64| options.integer(key, default as i64, 0, 36_500);
    let thresholds = Thresholds {
        new_days: day_option("new_days", defaults.lifecycle_new_days)?,
        active_days: day_option("active_days", defaults.lifecycle_active_days)?,
        churn_days: day_option("churn_days", defaults.lifecycle_churn_days)?,
    };
    if let Err(message) = thresholds.validate() {
        return crate::crm_err!(InvalidArgument, "lifecycle: {message}");
    }
    let settings = Settings {
        thresholds,
        new_rule: match options.choice("new_rule", &["first_order", "second_purchase"])? {
            "second_purchase" => NewRule::SecondPurchase,
            _ => NewRule::FirstOrder,
        },
        reactivated: options.flag("reactivated", false)?,
        cadence: options.choice("variant", &["recency", "cadence"])? == "cadence",
        k1: options.number("k1", 1.5)?,
        k2: options.number("k2", 3.0)?,
    };
    if settings.k1 <= 0.0 || settings.k2 < settings.k1 {
        return crate::crm_err!(
            InvalidArgument,
            "lifecycle: need 0 < k1 <= k2, got k1={} k2={}",
            settings.k1,
            settings.k2
        );
    }
    Ok((options, settings))
}

/// Builds the `lifecycle` kernel of `call` over an input with schema `input` (the
/// per-customer aggregation): at call time and when a plan codec rebuilds it.
fn kernel(call: &KernelCall, input: &Schema) -> Result<Arc<dyn TableKernel>> {
    let (_, settings) = settings(call)?;
    Ok(Arc::new(LifecycleKernel {
        as_of: call.as_of,
        settings,
        description: format!(
            "lifecycle({}, {})",
            call.table,
            args::format_date(call.as_of)
        ),
        schema: Arc::new(Schema::new(vec![
            Field::new("customer_id", customer_id_type("lifecycle", input)?, false),
            Field::new("first_order", DataType::Date32, false),
            Field::new("last_order", DataType::Date32, false),
            Field::new("n_orders", DataType::Int64, false),
            Field::new("stage", DataType::Utf8, true),
        ])),
        call: call.clone(),
    }))
}

#[derive(Debug)]
struct LifecycleKernel {
    call: KernelCall,
    as_of: Days,
    settings: Settings,
    description: String,
    schema: SchemaRef,
}

/// Distinct order days of each row (sorted), from the `days` list column.
fn order_days(input: &RecordBatch) -> Vec<Vec<Days>> {
    let Some(column) = input.columns().get(4) else {
        return vec![];
    };
    let lists = column.as_list::<i32>();
    (0..input.num_rows())
        .map(|row| {
            let mut days: Vec<Days> = lists
                .value(row)
                .as_primitive::<Date32Type>()
                .iter()
                .flatten()
                .collect();
            days.sort_unstable();
            days.dedup();
            days
        })
        .collect()
}

impl TableKernel for LifecycleKernel {
    fn call(&self) -> &KernelCall {
        &self.call
    }

    fn describe(&self) -> String {
        self.description.clone()
    }

    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn compute(&self, input: RecordBatch) -> Result<RecordBatch> {
        let order = sort_to_indices(input.column(0), Some(SortOptions::default()), None)?;
        let input = take_record_batch(&input, &order)?;
        let first = input.column(1).as_primitive::<Date32Type>();
        let last = input.column(2).as_primitive::<Date32Type>();
        let counts = cast(input.column(3), &DataType::Int64)?;
        let counts = counts.as_primitive::<Int64Type>();
        let days = order_days(&input);
        let customer_gaps: Vec<Vec<f64>> = days.iter().map(|d| gaps(d)).collect();
        // The fallback gap: the median over repeat buyers of each one's median gap.
        let typical_gap = if self.settings.cadence {
            let mut per_customer: Vec<f64> = customer_gaps
                .iter()
                .filter_map(|gaps| median(&mut gaps.clone()))
                .collect();
            median(&mut per_customer)
        } else {
            None
        };

        let mut stages = StringBuilder::with_capacity(input.num_rows(), input.num_rows() * 8);
        for row in 0..input.num_rows() {
            let gap_before_last = if self.settings.reactivated {
                customer_gaps[row].last().map(|g| *g as i64)
            } else {
                None
            };
            let history = History {
                first: first.is_valid(row).then(|| first.value(row)),
                last: last.is_valid(row).then(|| last.value(row)),
                orders: counts.value(row),
                gap_before_last,
            };
            let by_recency = match stage(
                history,
                self.as_of,
                self.settings.thresholds,
                self.settings.new_rule,
            ) {
                Ok(stage) => stage,
                Err(message) => return crate::crm_err!(Data, "lifecycle: {message}"),
            };
            let result = match (by_recency, typical_gap) {
                (Some("active" | "dormant" | "churned"), Some(global)) => {
                    let own = if days[row].len() >= 3 {
                        median(&mut customer_gaps[row].clone())
                    } else {
                        None
                    };
                    let since_last = f64::from(self.as_of - last.value(row));
                    Some(cadence_stage(
                        since_last,
                        own.unwrap_or(global),
                        self.settings.k1,
                        self.settings.k2,
                    ))
                }
                (stage, _) => stage,
            };
            stages.append_option(result);
        }
        let columns: Vec<ArrayRef> = vec![
            input.column(0).clone(),
            Arc::new(Date32Array::from(first.clone())),
            Arc::new(Date32Array::from(last.clone())),
            Arc::new(Int64Array::from(counts.clone())),
            Arc::new(stages.finish()),
        ];
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }
}

fn documentation() -> Documentation {
    static DOC: OnceLock<Documentation> = OnceLock::new();
    DOC.get_or_init(|| {
        crate::docs::builder(
            "Lifecycle stage of every buyer, one row per customer (crm-reference §2): new (first \
             order within new_days), reactivated (optional), active (last order within \
             active_days), dormant (within churn_days), churned. Orders strictly before as_of \
             count. Options: new_days=30, active_days=90, churn_days=180 (defaults from \
             segmint.lifecycle_*), new_rule=first_order|second_purchase, reactivated=false|true, \
             variant=recency|cadence (k1=1.5, k2=3 typical gaps), merge_same_day=false. \
             Customers without orders are not listed: LEFT JOIN the customer master for prospects.",
            "lifecycle(table, as_of [, customer_col, time_col [, options]])",
        )
        .with_argument("table", "name of a table or view of orders")
        .with_argument("as_of", "analysis date; orders before it count")
        .with_argument("customer_col", "customer id column (default customer_id)")
        .with_argument(
            "time_col",
            "order date or timestamp column (default order_ts)",
        )
        .with_argument("options", "'key=value,...' (see above)")
        .with_sql_example(
            "SELECT stage, count(*) FROM lifecycle('orders', DATE '2026-01-01')\n\
             GROUP BY stage ORDER BY 2 DESC;",
        )
        .build()
    })
    .clone()
}

#[cfg(test)]
mod tests {
    use datafusion::logical_expr::lit;

    use crate::table::testing::{assert_rebuilds, date, set};

    #[tokio::test]
    async fn kernels_rebuild_from_their_call() {
        let ctx = crate::slt_runner::fixture_context().await;
        set(&ctx, "SET segmint.lifecycle_active_days = 60").await;
        let args = [
            lit("orders"),
            date("2026-01-01"),
            lit("customer_id"),
            lit("order_ts"),
            lit("new_days=10,reactivated=true,variant=cadence,k1=2"),
        ];
        let (call, out) = assert_rebuilds(&ctx, "lifecycle", &args).await;
        assert_eq!(
            call.defaults
                .get("lifecycle_active_days")
                .map(String::as_str),
            Some("60")
        );
        assert_eq!(call.columns, ["customer_id", "order_ts"]);
        // The cadence variant reads the order days: the input carries them.
        assert_eq!(out.num_columns(), 5);

        let (call, _) =
            assert_rebuilds(&ctx, "lifecycle", &[lit("orders"), date("2025-06-01")]).await;
        assert_eq!(call.options, "");
    }
}
