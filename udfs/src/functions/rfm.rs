//! `rfm(table, as_of [, customer_col, time_col, amount_col [, options]])`: one row per customer
//! with recency, frequency, monetary, their 1–n scores, the RFM code, the named segment and the
//! Chinese 8-class type.
//!
//! Business meaning: the standard "who are my best customers" scoring (crm-reference §1).
//! Orders strictly before `as_of` count (the window is `[as_of - window_days, as_of)`), so
//! `recency_days >= 1`; a table with no such orders gives no rows. Rows with a NULL customer or
//! time are skipped; NULL amounts count as 0.
//!
//! How it runs: a single parallel hash aggregation (max date, count, sum per customer), then
//! one pass over the customers for the scores: quantile edges by sorting one column, the
//! F-score ranking by one sort of (frequency, customer). No global window sorts.
//!
//! Options (`'key=value,...'`):
//! * `scheme` = `qcut` (default; R and M by value quantiles, F by rank then equal buckets,
//!   §1.2 A), `ntile` (equal buckets on all three, ties by customer id), `value_quantile`
//!   (value quantiles on all three), `rfm_pkg` (the rfm R package's bins, §1.2 B; explicit
//!   breaks with `r_breaks`, `f_breaks`, `m_breaks`), `fixed` (thresholds `r_cuts`, `f_cuts`,
//!   `m_cuts`, §1.2 C).
//! * Frequency counts purchases: the rows of an orders table (one row per order, so this is
//!   crm-reference §0's `count(distinct order_id)`), distinct order days with
//!   `merge_same_day=true`, or distinct values of `order_col=order_id` for a table with one
//!   row per order line.
//! * `preset` = `rf_grid` (default), `rfm_pkg`, `putler`: the segment map (5-point scores;
//!   with other bin counts `segment` is NULL).
//! * `bins` (default `segmint.rfm_bins`, 5), `merge_same_day` (count order days; default
//!   false), `order_col` (the purchase id column), `monetary` = `sum` | `avg` (spend per
//!   purchase), `window_days` (only the last N days before `as_of`),
//!   `class8_basis` = `raw` | `score`, `class8_cut` = `mean` | `median`.

use std::sync::{Arc, OnceLock};

use datafusion::arrow::array::{
    ArrayRef, AsArray, Float64Array, Int32Array, Int64Array, RecordBatch, StringBuilder,
    new_null_array,
};
use datafusion::arrow::compute::{SortOptions, cast, sort_to_indices};
use datafusion::arrow::datatypes::{DataType, Date32Type, Field, Schema, SchemaRef};
use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{Column, ScalarValue};
use datafusion::error::Result;
use datafusion::functions_aggregate::expr_fn::{count, max, sum};
use datafusion::logical_expr::{Documentation, Expr, LogicalPlanBuilder, cast as cast_expr, lit};

use crate::args::{self, Days, Options};
use crate::kernels::scoring::{
    PackageBins, ntile_scores, quantile_edges, threshold_score, value_quantile_scores,
};
use crate::kernels::segments::{class8, segment};
use crate::table::{
    InputTable, KernelCall, KernelTable, TableKernel, customer_id_type, is_key, is_numeric,
    is_temporal,
};
use crate::{CrmFunction, FunctionOptions, NamedTableFunction};

/// Registers `rfm`.
pub fn functions() -> Vec<CrmFunction> {
    vec![CrmFunction::Table(Box::new(NamedTableFunction {
        name: "rfm",
        function: Arc::new(Rfm),
        argument_types: &[
            DataType::Utf8,
            DataType::Date32,
            DataType::Utf8,
            DataType::Utf8,
            DataType::Utf8,
            DataType::Utf8,
        ],
        documentation: documentation(),
        kernel: Some(kernel),
    }))]
}

const OPTIONS: &[&str] = &[
    "scheme",
    "preset",
    "bins",
    "merge_same_day",
    "order_col",
    "monetary",
    "window_days",
    "class8_basis",
    "class8_cut",
    "r_cuts",
    "f_cuts",
    "m_cuts",
    "r_breaks",
    "f_breaks",
    "m_breaks",
];

/// The scoring schemes.
pub const SCHEMES: &[&str] = &["qcut", "ntile", "value_quantile", "rfm_pkg", "fixed"];

/// The `rfm` table function.
#[derive(Debug)]
pub struct Rfm;

impl TableFunctionImpl for Rfm {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let session = args.session();
        let exprs = args.exprs();
        if !(2..=6).contains(&exprs.len()) || exprs.len() == 3 || exprs.len() == 4 {
            return crate::crm_err!(
                WrongArity,
                "rfm takes (table, as_of [, customer_col, time_col, amount_col [, options]]), \
                 got {} arguments",
                exprs.len()
            );
        }
        let table = args::text("rfm", 1, &exprs[0], session)?;
        let as_of = args::date("rfm", 2, &exprs[1], session)?;
        let column = |i: usize, default: &str| -> Result<String> {
            match exprs.get(i) {
                Some(e) => args::text("rfm", i + 1, e, session),
                None => Ok(default.to_string()),
            }
        };
        let customer_col = column(2, "customer_id")?;
        let time_col = column(3, "order_ts")?;
        let amount_col = column(4, "net_amount")?;
        let options = match exprs.get(5) {
            Some(e) => Some(args::text("rfm", 6, e, session)?),
            None => None,
        };
        let defaults = FunctionOptions::from_config(session.config_options());
        let call = KernelCall::new(
            "rfm",
            &table,
            as_of,
            vec![customer_col.clone(), time_col.clone(), amount_col.clone()],
            options,
            &defaults,
        );
        let (options, settings) = settings(&call)?;

        let input = InputTable::resolve("rfm", session, &table)?;
        let (customer, _) =
            input.column("customer", &customer_col, is_key, "an integer or text id")?;
        let (time, _) =
            input.column("order time", &time_col, is_temporal, "a date or timestamp")?;
        let (amount, _) = input.column("amount", &amount_col, is_numeric, "numeric")?;

        let day = cast_expr(time, DataType::Date32);
        let mut filter = day.clone().lt(lit(ScalarValue::Date32(Some(as_of))));
        if let Some(window) = settings.window_days {
            let start = as_of - window;
            filter = filter.and(day.clone().gt_eq(lit(ScalarValue::Date32(Some(start)))));
        }
        filter = filter.and(customer.clone().is_not_null());
        // A purchase is a row of the orders table, an order day with merge_same_day, or a
        // distinct value of order_col (for line-level tables). Distinct purchases are counted
        // by grouping twice, not with per-customer hash sets.
        let purchase = if settings.merge_same_day {
            Some(day.clone())
        } else if let Some(order_col) = options.get("order_col") {
            Some(input.column("order", order_col, |_| true, "any")?.0)
        } else {
            None
        };
        let per_customer = |builder: LogicalPlanBuilder, id: Expr, last: Expr, spend: Expr| {
            builder.aggregate(
                vec![id.alias("customer_id")],
                vec![
                    max(last).alias("last_day"),
                    count(lit(1)).alias("frequency"),
                    sum(spend).alias("monetary"),
                ],
            )
        };
        let scan = input.scan()?.filter(filter)?;
        let plan = match purchase {
            Some(purchase) => {
                let column = |name: &str| Expr::Column(Column::from_name(name));
                let purchases = scan.aggregate(
                    vec![customer.alias("c"), purchase.alias("p")],
                    vec![max(day).alias("d"), sum(amount).alias("m")],
                )?;
                per_customer(purchases, column("c"), column("d"), column("m"))?
            }
            None => per_customer(scan, customer, day, amount)?,
        }
        .build()?;
        let kernel = kernel(&call, plan.schema().as_arrow())?;
        Ok(Arc::new(KernelTable::new(plan, kernel)))
    }
}

/// The parsed options of an `rfm` call and the scoring settings they give (with the call's
/// `segmint.rfm_bins`).
fn settings(call: &KernelCall) -> Result<(Options, Settings)> {
    let options = call.parse_options(OPTIONS)?;
    let defaults = call.function_options()?;
    let settings = Settings::from_options(&options, defaults.rfm_bins)?;
    Ok((options, settings))
}

/// Builds the `rfm` kernel of `call` over an input with schema `input` (the per-customer
/// aggregation): at call time and when a plan codec rebuilds it.
fn kernel(call: &KernelCall, input: &Schema) -> Result<Arc<dyn TableKernel>> {
    let (_, settings) = settings(call)?;
    Ok(Arc::new(RfmKernel {
        as_of: call.as_of,
        settings,
        description: format!("rfm({}, {})", call.table, args::format_date(call.as_of)),
        schema: output_schema(customer_id_type("rfm", input)?),
        call: call.clone(),
    }))
}

/// Positions of the text columns in [`output_schema`].
const CODE: usize = 7;
const SEGMENT: usize = 8;
const CLASS8: usize = 9;

fn output_schema(id_type: DataType) -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("customer_id", id_type, false),
        Field::new("recency_days", DataType::Int64, false),
        Field::new("frequency", DataType::Int64, false),
        Field::new("monetary", DataType::Float64, false),
        Field::new("r_score", DataType::Int32, true),
        Field::new("f_score", DataType::Int32, true),
        Field::new("m_score", DataType::Int32, true),
        Field::new("rfm_code", DataType::Utf8, true),
        Field::new("segment", DataType::Utf8, true),
        Field::new("class8", DataType::Utf8, true),
    ]))
}

/// How scores are computed, parsed from the options string.
#[derive(Debug, Clone, PartialEq)]
struct Settings {
    scheme: &'static str,
    preset: &'static str,
    bins: usize,
    merge_same_day: bool,
    monetary_avg: bool,
    window_days: Option<Days>,
    class8_on_scores: bool,
    class8_median: bool,
    cuts: [Option<Vec<f64>>; 3],
    breaks: [Option<Vec<f64>>; 3],
}

impl Settings {
    fn from_options(options: &Options, default_bins: usize) -> Result<Settings> {
        let scheme = options.choice("scheme", SCHEMES)?;
        let cuts = [
            options.cuts("r_cuts")?,
            options.cuts("f_cuts")?,
            options.cuts("m_cuts")?,
        ];
        let breaks = [
            options.cuts("r_breaks")?,
            options.cuts("f_breaks")?,
            options.cuts("m_breaks")?,
        ];
        if scheme == "fixed" && cuts.iter().any(Option::is_none) {
            return crate::crm_err!(
                InvalidArgument,
                "rfm: scheme=fixed needs r_cuts, f_cuts and m_cuts, e.g. \
                 'scheme=fixed,r_cuts=30;90;180;365,f_cuts=2;3;5;8,m_cuts=100;200;500;1000'"
            );
        }
        if !(2..=20).contains(&default_bins) {
            return crate::crm_err!(
                InvalidArgument,
                "rfm: segmint.rfm_bins must be from 2 to 20, got {default_bins}"
            );
        }
        let bins = options.integer("bins", default_bins as i64, 2, 20)? as usize;
        if let Some(too_many) = cuts.iter().chain(&breaks).flatten().find(|c| c.len() > 19) {
            return crate::crm_err!(
                InvalidArgument,
                "rfm: at most 19 cut points (20 scores), got {}",
                too_many.len()
            );
        }
        let window_days = match options.get("window_days") {
            Some(_) => Some(options.integer("window_days", 365, 1, 36_500)? as Days),
            None => None,
        };
        Ok(Settings {
            scheme,
            preset: options.choice("preset", crate::kernels::segments::PRESETS)?,
            bins,
            merge_same_day: options.flag("merge_same_day", false)?,
            monetary_avg: options.choice("monetary", &["sum", "avg"])? == "avg",
            window_days,
            class8_on_scores: options.choice("class8_basis", &["raw", "score"])? == "score",
            class8_median: options.choice("class8_cut", &["mean", "median"])? == "median",
            cuts,
            breaks,
        })
    }
}

#[derive(Debug)]
struct RfmKernel {
    call: KernelCall,
    as_of: Days,
    settings: Settings,
    description: String,
    schema: SchemaRef,
}

/// Scores of one dimension, and how many score levels it has.
struct Scored {
    scores: Vec<u8>,
    levels: usize,
}

impl RfmKernel {
    fn score(&self, dimension: usize, values: &[f64], tiebreak: &[i64]) -> Scored {
        let n = self.settings.bins;
        let reverse = dimension == 0;
        match self.settings.scheme {
            "qcut" if dimension == 1 => Scored {
                scores: ntile_scores(values, tiebreak, n, false),
                levels: n,
            },
            "qcut" | "value_quantile" => Scored {
                scores: value_quantile_scores(values, n, reverse),
                levels: n,
            },
            "ntile" => Scored {
                // Recency: the longest ago first, so the most recent land in the top bucket.
                scores: ntile_scores(values, tiebreak, n, reverse),
                levels: n,
            },
            "rfm_pkg" => {
                let bins = PackageBins::new(values, n, self.settings.breaks[dimension].as_deref());
                Scored {
                    levels: bins.lower.len(),
                    scores: bins.scores(values, reverse),
                }
            }
            _ => {
                let cuts = self.settings.cuts[dimension].as_deref().unwrap_or(&[]);
                Scored {
                    scores: values
                        .iter()
                        .map(|v| threshold_score(*v, cuts, reverse))
                        .collect(),
                    levels: cuts.len() + 1,
                }
            }
        }
    }
}

fn comparison(values: &[f64], median: bool) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    if median {
        quantile_edges(values, 2)[1]
    } else {
        values.iter().sum::<f64>() / values.len() as f64
    }
}

impl TableKernel for RfmKernel {
    fn call(&self) -> &KernelCall {
        &self.call
    }

    fn describe(&self) -> String {
        format!(
            "{} scheme={} preset={}",
            self.description, self.settings.scheme, self.settings.preset
        )
    }

    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn compute(&self, input: RecordBatch) -> Result<RecordBatch> {
        self.compute_projected(input, None)
    }

    /// Recency, frequency, monetary and the tiebreak (8 bytes each), two float copies being
    /// scored and their selection orders, the scores and their columns; the text columns and
    /// class8's comparison values only when read.
    fn working_memory(&self, input: &RecordBatch, projection: Option<&[usize]>) -> usize {
        let wanted = |column: usize| projection.is_none_or(|p| p.contains(&column));
        let text = [(CODE, 8), (SEGMENT, 20), (CLASS8, 48)];
        let per_row = 80
            + text
                .iter()
                .filter(|(column, _)| wanted(*column))
                .map(|(_, bytes)| bytes)
                .sum::<usize>();
        input.num_rows().saturating_mul(per_row)
    }

    /// Scores are always computed; the text columns (`rfm_code`, `segment`, `class8`) only
    /// when the query reads them.
    fn compute_projected(
        &self,
        input: RecordBatch,
        projection: Option<&[usize]>,
    ) -> Result<RecordBatch> {
        let wanted = |column: usize| projection.is_none_or(|p| p.contains(&column));
        let rows = input.num_rows();
        let last = input.column(1).as_primitive::<Date32Type>();
        let recency: Vec<i64> = last
            .iter()
            .map(|d| i64::from(self.as_of - d.unwrap_or(self.as_of)))
            .collect();
        let frequency: Vec<i64> = cast(input.column(2), &DataType::Int64)?
            .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
            .iter()
            .map(|v| v.unwrap_or(0))
            .collect();
        // Sums are exact for decimal and integer amounts; float sums are rounded to 1e-6 so the
        // order partial sums merge in cannot move a customer across a quantile edge.
        let monetary: Vec<f64> = cast(input.column(3), &DataType::Float64)?
            .as_primitive::<datafusion::arrow::datatypes::Float64Type>()
            .iter()
            .zip(&frequency)
            .map(|(total, orders)| {
                let total = (total.unwrap_or(0.0) * 1e6).round() / 1e6;
                if self.settings.monetary_avg && *orders > 0 {
                    total / *orders as f64
                } else {
                    total
                }
            })
            .collect();

        // Rank-based scores break ties by customer id: integer ids compare directly, other ids
        // by their rank. The three dimensions are scored on two threads.
        let ids = input.column(0).clone();
        drop(input);
        let tiebreak: Vec<i64> = match ids.data_type() {
            DataType::Int64 | DataType::Int32 | DataType::Int16 | DataType::Int8 => {
                let ids = cast(&ids, &DataType::Int64)?;
                let ids = ids.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
                ids.iter().map(|id| id.unwrap_or(i64::MIN)).collect()
            }
            _ => {
                let order = sort_to_indices(&ids, Some(SortOptions::default()), None)?;
                let mut rank = vec![0i64; rows];
                for (position, row) in order.values().iter().enumerate() {
                    rank[*row as usize] = position as i64;
                }
                rank
            }
        };
        // Counts as floats are made where they are scored and dropped right after, so at most
        // two such copies exist at once (the kernel's memory is reserved per row).
        let as_float = |values: &[i64]| -> Vec<f64> { values.iter().map(|v| *v as f64).collect() };
        let (frequency_scores, value_scores) = std::thread::scope(|scope| {
            let frequency = scope.spawn(|| self.score(1, &as_float(&frequency), &tiebreak));
            let recency_scores = self.score(0, &as_float(&recency), &tiebreak);
            let monetary_scores = self.score(2, &monetary, &tiebreak);
            (frequency.join(), [recency_scores, monetary_scores])
        });
        drop(tiebreak);
        let frequency_scores =
            frequency_scores.map_err(|_| crate::crm_error!(Internal, "rfm: scoring failed"))?;
        let [recency_scores, monetary_scores] = value_scores;
        let scored = [recency_scores, frequency_scores, monetary_scores];
        let five_point = scored.iter().all(|s| s.levels == 5);

        let text = [CODE, SEGMENT, CLASS8].map(wanted);
        // The values class8 compares with its cuts, only when the query reads class8.
        let class8_values: Option<[Vec<f64>; 3]> = text[2].then(|| {
            if self.settings.class8_on_scores {
                // The high/low test is `recency < cut` and `value > cut`: on scores (5 = best
                // for every dimension) the R score is negated so a high score counts as recent.
                [0, 1, 2].map(|d| {
                    let sign = if d == 0 { -1.0 } else { 1.0 };
                    scored[d]
                        .scores
                        .iter()
                        .map(|s| sign * f64::from(*s))
                        .collect()
                })
            } else {
                [as_float(&recency), as_float(&frequency), monetary.clone()]
            }
        });
        let cuts = class8_values
            .as_ref()
            .map(|values| [0, 1, 2].map(|d| comparison(&values[d], self.settings.class8_median)));
        let capacity =
            |wanted: bool, width: usize| if wanted { (rows, rows * width) } else { (0, 0) };
        let (n, bytes) = capacity(text[0], 3);
        let mut codes = StringBuilder::with_capacity(n, bytes);
        let (n, bytes) = capacity(text[1], 12);
        let mut segments = StringBuilder::with_capacity(n, bytes);
        let (n, bytes) = capacity(text[2], 18);
        let mut classes = StringBuilder::with_capacity(n, bytes);
        let score_column = |d: usize| -> Int32Array {
            scored[d]
                .scores
                .iter()
                .map(|s| (*s > 0).then_some(i32::from(*s)))
                .collect()
        };
        let rows_scores = scored[0]
            .scores
            .iter()
            .zip(&scored[1].scores)
            .zip(&scored[2].scores);
        for (row, ((&r, &f), &m)) in rows_scores.enumerate().filter(|_| text.contains(&true)) {
            if text[0] {
                let code = [b'0' + r, b'0' + f, b'0' + m];
                match std::str::from_utf8(&code) {
                    Ok(code) if r > 0 && f > 0 && m > 0 && r < 10 && f < 10 && m < 10 => {
                        codes.append_value(code)
                    }
                    _ => codes.append_null(),
                }
            }
            if text[1] {
                segments.append_option(if five_point {
                    segment(self.settings.preset, r, f, m)
                } else {
                    None
                });
            }
            if let (Some(values), Some(cuts)) = (&class8_values, &cuts) {
                let v = [0, 1, 2].map(|d| values[d][row]);
                classes.append_value(class8(v[0] < cuts[0], v[1] > cuts[1], v[2] > cuts[2]));
            }
        }
        // Columns nobody reads are all NULL (and projected away below).
        let text_column = |builder: &mut StringBuilder, wanted: bool| -> ArrayRef {
            if wanted {
                Arc::new(builder.finish())
            } else {
                new_null_array(&DataType::Utf8, rows)
            }
        };
        let columns: Vec<ArrayRef> = vec![
            ids,
            Arc::new(Int64Array::from(recency)),
            Arc::new(Int64Array::from(frequency)),
            Arc::new(Float64Array::from(monetary)),
            Arc::new(score_column(0)),
            Arc::new(score_column(1)),
            Arc::new(score_column(2)),
            text_column(&mut codes, text[0]),
            text_column(&mut segments, text[1]),
            text_column(&mut classes, text[2]),
        ];
        let columns = columns
            .into_iter()
            .zip(self.schema.fields())
            .map(|(c, f)| cast(&c, f.data_type()))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let output = RecordBatch::try_new(self.schema.clone(), columns)?;
        match projection {
            Some(indices) => Ok(output.project(indices)?),
            None => Ok(output),
        }
    }
}

fn documentation() -> Documentation {
    static DOC: OnceLock<Documentation> = OnceLock::new();
    DOC.get_or_init(|| {
        crate::docs::builder(
            "RFM scores and segments, one row per customer (crm-reference §1): recency_days \
             (as_of minus the last order day), frequency (orders), monetary (sum of amounts), \
             1-5 scores (5 = best), rfm_code ('545'), segment (preset map) and class8 (the \
             Chinese 8-class type against the population mean). Orders strictly before as_of \
             count. Options: scheme=qcut (default) | ntile | value_quantile | rfm_pkg | fixed; \
             preset=rf_grid (default) | rfm_pkg | putler; bins=5; merge_same_day=false; \
             order_col=<column>; monetary=sum|avg; window_days=<n>; class8_basis=raw|score; \
             class8_cut=mean|median; r_cuts/f_cuts/m_cuts=a;b;c (fixed); \
             r_breaks/f_breaks/m_breaks=a;b;c (rfm_pkg). Works on any table or view.",
            "rfm(table, as_of [, customer_col, time_col, amount_col [, options]])",
        )
        .with_argument("table", "name of a table or view of orders, e.g. 'orders'")
        .with_argument("as_of", "analysis date; orders before it count")
        .with_argument("customer_col", "customer id column (default customer_id)")
        .with_argument(
            "time_col",
            "order date or timestamp column (default order_ts)",
        )
        .with_argument("amount_col", "order amount column (default net_amount)")
        .with_argument("options", "'key=value,...' (see above)")
        .with_sql_example(
            "SELECT segment, count(*) AS customers, round(avg(monetary), 2) AS avg_spend\n\
             FROM rfm('orders', DATE '2026-01-01')\n\
             GROUP BY segment ORDER BY customers DESC;",
        )
        .build()
    })
    .clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Date32Array, StringArray};

    fn kernel(scheme: &str) -> RfmKernel {
        let options = Options::parse("rfm", &format!("scheme={scheme}"), OPTIONS).unwrap();
        RfmKernel {
            call: KernelCall::new(
                "rfm",
                "test",
                100,
                vec![],
                Some(format!("scheme={scheme}")),
                &FunctionOptions::default(),
            ),
            as_of: 100,
            settings: Settings::from_options(&options, 5).unwrap(),
            description: "test".into(),
            schema: output_schema(DataType::Utf8),
        }
    }

    fn input() -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("customer_id", DataType::Utf8, false),
            Field::new("last_day", DataType::Date32, true),
            Field::new("frequency", DataType::Int64, false),
            Field::new("monetary", DataType::Float64, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(vec!["e", "d", "c", "b", "a"])),
                Arc::new(Date32Array::from(vec![99, 90, 80, 50, 10])),
                Arc::new(Int64Array::from(vec![9, 5, 3, 1, 1])),
                Arc::new(Float64Array::from(vec![
                    Some(900.0),
                    Some(500.0),
                    Some(300.0),
                    None,
                    Some(10.0),
                ])),
            ],
        )
        .unwrap()
    }

    #[test]
    fn qcut_scores_and_segments() {
        let out = kernel("qcut").compute(input()).unwrap();
        let ids = out.column(0).as_string::<i32>();
        // Output keeps the input order: e, d, c, b, a.
        assert_eq!(ids.value(4), "a");
        let r = out
            .column(4)
            .as_primitive::<datafusion::arrow::datatypes::Int32Type>();
        // e (recency 1) is the most recent: R 5; a (recency 90): R 1.
        assert_eq!(r.value(0), 5);
        assert_eq!(r.value(4), 1);
        let segment = out.column(8).as_string::<i32>();
        assert_eq!(segment.value(0), "champions");
        let class8 = out.column(9).as_string::<i32>();
        assert_eq!(class8.value(0), "重要价值客户");
        // b's NULL amount counts as 0.
        let m = out
            .column(3)
            .as_primitive::<datafusion::arrow::datatypes::Float64Type>();
        assert_eq!(m.value(3), 0.0);
    }

    #[test]
    fn fixed_needs_cuts() {
        let options = Options::parse("rfm", "scheme=fixed", OPTIONS).unwrap();
        assert!(Settings::from_options(&options, 5).is_err());
    }

    #[test]
    fn empty_input_gives_no_rows() {
        let batch = input().slice(0, 0);
        assert_eq!(kernel("ntile").compute(batch).unwrap().num_rows(), 0);
    }

    #[tokio::test]
    async fn kernels_rebuild_from_their_call() {
        use crate::table::testing::{assert_rebuilds, date, set};
        use datafusion::logical_expr::lit;

        let ctx = crate::slt_runner::fixture_context().await;
        let with_options = [
            lit("orders"),
            date("2026-01-01"),
            lit("customer_id"),
            lit("order_ts"),
            lit("net_amount"),
            lit("scheme=ntile,bins=4"),
        ];
        let (call, out) = assert_rebuilds(&ctx, "rfm", &with_options).await;
        assert_eq!(call.options, "scheme=ntile,bins=4");
        let r = out
            .column(4)
            .as_primitive::<datafusion::arrow::datatypes::Int32Type>();
        assert_eq!(r.iter().flatten().max(), Some(4));

        // A session default travels with the call.
        set(&ctx, "SET segmint.rfm_bins = 3").await;
        let (call, out) = assert_rebuilds(&ctx, "rfm", &[lit("orders"), date("2026-01-01")]).await;
        assert_eq!(call.defaults.get("rfm_bins").map(String::as_str), Some("3"));
        let r = out
            .column(4)
            .as_primitive::<datafusion::arrow::datatypes::Int32Type>();
        assert_eq!(r.iter().flatten().max(), Some(3));
        // Without it the rebuilt kernel would score differently.
        let mut plain = call.clone();
        plain.defaults.clear();
        let plain = crate::table::rebuild_kernel(&plain, &input().schema()).unwrap();
        assert_eq!(
            plain.describe(),
            "rfm(orders, 2026-01-01) scheme=qcut preset=rf_grid"
        );
        let bins = plain
            .compute(input())
            .unwrap()
            .column(4)
            .as_primitive::<datafusion::arrow::datatypes::Int32Type>()
            .iter()
            .flatten()
            .max();
        assert_eq!(bins, Some(5));
    }
}
