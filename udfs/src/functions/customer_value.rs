//! `customer_value(table, as_of [, customer_col, time_col, amount_col [, options]])`: the
//! one-call predictive workflow (crm-reference §4, §2): summarise, fit, predict. One row per
//! buyer with `customer_id, p_alive, expected_purchases_90d, expected_spend, clv, stage,
//! clv_decile`, then the summary `x, t_x, T, m_x` it was computed from.
//!
//! Business meaning: "who is likely to come back, and what are they worth", for the whole
//! customer base in one query. Orders before `as_of` count (the calibration period ends the
//! day before, as in `btyd_summary`). The purchase model (BG/NBD by default, or Pareto/NBD) is
//! fitted on every buyer, the Gamma-Gamma spend model on repeat buyers with positive spend;
//! then for each customer: P(alive), expected purchases in the next 90 days, expected spend per
//! purchase, CLV over `months` months discounted at `monthly_discount` per month, the
//! model-based lifecycle stage (`new` when the first order is at most `new_days` before `as_of`,
//! else `churned` when P(alive) < `churned_below`, `dormant` when below `dormant_below`, else
//! `active`) and `clv_decile` (10 = the most valuable tenth; ties by customer id). A repeat
//! buyer whose repeat purchases net to zero or less (refunds) gets the population's expected
//! spend. A month is 4.345 weeks, 30 days or 1 month, per `time_unit` (lifetimes' constants).
//!
//! Options: `model` = `bgnbd` | `pareto_nbd`; `time_unit` = `weeks` | `days` | `months`;
//! `merge_same_day` = `true`; `months` = 12; `monthly_discount` = 0.01; `new_days` (default
//! `segmint.lifecycle_new_days`, 30); `churned_below` = 0.5; `dormant_below` = 0.8.
//! Errors: those of the fits (data that cannot identify a model) and of bad options.

use std::sync::{Arc, OnceLock};

use datafusion::arrow::array::{
    ArrayRef, AsArray, Float64Array, Int32Array, RecordBatch, StringArray,
};
use datafusion::arrow::compute::{SortOptions, cast, sort_to_indices, take_record_batch};
use datafusion::arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema, SchemaRef};
use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::error::Result;
use datafusion::logical_expr::Documentation;

use crate::args;
use crate::btyd::summary::{ARGUMENT_TYPES, Source, TimeUnit, plan, time_unit};
use crate::kernels::btyd::bgnbd::{self, BgNbd};
use crate::kernels::btyd::clv::discounted_value;
use crate::kernels::btyd::gamma_gamma::{self, GammaGamma};
use crate::kernels::btyd::observations::Observations;
use crate::kernels::btyd::pareto_nbd::{self, ParetoNbd};
use crate::kernels::btyd::{History, clv};
use crate::kernels::scoring::ntile_scores;
use crate::table::{KernelCall, KernelTable, TableKernel, customer_id_type};
use crate::{CrmFunction, FunctionOptions, NamedTableFunction};

const NAME: &str = "customer_value";

const OPTIONS: &[&str] = &[
    "model",
    "time_unit",
    "merge_same_day",
    "months",
    "monthly_discount",
    "new_days",
    "churned_below",
    "dormant_below",
];

/// The horizon of `expected_purchases_90d`, in days.
const HORIZON_DAYS: f64 = 90.0;

/// Registers `customer_value`.
pub fn functions() -> Vec<CrmFunction> {
    vec![CrmFunction::Table(Box::new(NamedTableFunction {
        name: NAME,
        function: Arc::new(CustomerValue),
        argument_types: ARGUMENT_TYPES,
        documentation: documentation(),
        kernel: Some(kernel),
    }))]
}

/// The `customer_value` table function.
#[derive(Debug)]
pub struct CustomerValue;

/// Which purchase model predicts.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Model {
    BgNbd,
    ParetoNbd,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Settings {
    model: Model,
    unit: TimeUnit,
    months: i64,
    monthly_discount: f64,
    new_days: i64,
    churned_below: f64,
    dormant_below: f64,
}

impl TableFunctionImpl for CustomerValue {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let source = Source::parse(NAME, &args, OPTIONS)?;
        let defaults = FunctionOptions::from_config(args.session().config_options());
        let call = KernelCall::new(
            NAME,
            &source.table,
            source.date,
            vec![
                source.customer_col.clone(),
                source.time_col.clone(),
                source.amount_col.clone(),
            ],
            source.options_text.clone(),
            &defaults,
        );
        // Bad options are refused before the input is planned.
        settings(&call)?;
        let calibration_end = source.date - 1;
        let input = plan(NAME, args.session(), &source, calibration_end)?;
        let kernel = kernel(&call, input.schema().as_arrow())?;
        Ok(Arc::new(KernelTable::new(input, kernel)))
    }
}

/// The model settings of a `customer_value` call (with the call's
/// `segmint.lifecycle_new_days`).
fn settings(call: &KernelCall) -> Result<Settings> {
    let options = call.parse_options(OPTIONS)?;
    let defaults = call.function_options()?;
    let settings = Settings {
        model: match options.choice("model", &["bgnbd", "pareto_nbd"])? {
            "pareto_nbd" => Model::ParetoNbd,
            _ => Model::BgNbd,
        },
        unit: time_unit(&options)?,
        months: options.integer("months", 12, 0, 1200)?,
        monthly_discount: options.number("monthly_discount", 0.01)?,
        new_days: options.integer(
            "new_days",
            i64::try_from(defaults.lifecycle_new_days).unwrap_or(i64::MAX),
            0,
            36_500,
        )?,
        churned_below: options.number("churned_below", 0.5)?,
        dormant_below: options.number("dormant_below", 0.8)?,
    };
    if !(0.0..=settings.dormant_below).contains(&settings.churned_below)
        || settings.dormant_below > 1.0
    {
        return crate::crm_err!(
            InvalidArgument,
            "{NAME}: need 0 <= churned_below <= dormant_below <= 1, got {} and {}",
            settings.churned_below,
            settings.dormant_below
        );
    }
    if settings.monthly_discount <= -1.0 {
        return crate::crm_err!(InvalidArgument, "{NAME}: monthly_discount must be above -1");
    }
    Ok(settings)
}

/// Builds the `customer_value` kernel of `call` over an input with schema `input` (the BTYD
/// summary): at call time and when a plan codec rebuilds it.
fn kernel(call: &KernelCall, input: &Schema) -> Result<Arc<dyn TableKernel>> {
    let settings = settings(call)?;
    let number = |name: &str| Field::new(name, DataType::Float64, false);
    Ok(Arc::new(ValueKernel {
        settings,
        description: format!(
            "{NAME}({}, {}, model={})",
            call.table,
            args::format_date(call.as_of),
            match settings.model {
                Model::BgNbd => "bgnbd",
                Model::ParetoNbd => "pareto_nbd",
            }
        ),
        schema: Arc::new(Schema::new(vec![
            Field::new("customer_id", customer_id_type(NAME, input)?, false),
            number("p_alive"),
            number("expected_purchases_90d"),
            number("expected_spend"),
            number("clv"),
            Field::new("stage", DataType::Utf8, false),
            Field::new("clv_decile", DataType::Int32, false),
            Field::new("x", DataType::Int64, false),
            number("t_x"),
            number("T"),
            number("m_x"),
        ])),
        call: call.clone(),
    }))
}

#[derive(Debug)]
struct ValueKernel {
    call: KernelCall,
    settings: Settings,
    description: String,
    schema: SchemaRef,
}

/// The fitted purchase model.
#[derive(Debug, Clone, Copy)]
enum Fitted {
    BgNbd(BgNbd),
    ParetoNbd(ParetoNbd),
}

impl Fitted {
    fn p_alive(&self, h: History) -> std::result::Result<f64, String> {
        match self {
            Fitted::BgNbd(m) => Ok(m.p_alive(h)),
            Fitted::ParetoNbd(m) => m.p_alive(h),
        }
    }

    fn expected(&self, t: f64, h: History) -> std::result::Result<f64, String> {
        match self {
            Fitted::BgNbd(m) => m.expected_purchases(t, h),
            Fitted::ParetoNbd(m) => m.expected_purchases(t, h),
        }
    }
}

/// One customer's predictions.
#[derive(Debug, Clone, Copy, Default)]
struct Prediction {
    p_alive: f64,
    expected_90d: f64,
    spend: f64,
    clv: f64,
}

impl ValueKernel {
    fn fit(
        &self,
        histories: &[History],
        spend: &[f64],
        threads: usize,
    ) -> Result<(Fitted, GammaGamma)> {
        let mut purchases = Observations::<3>::new();
        let mut values = Observations::<2>::new();
        for (h, m) in histories.iter().zip(spend) {
            purchases.add([h.x, h.t_x, h.t], 1.0);
            if h.x > 0.0 && *m > 0.0 {
                values.add([h.x, *m], 1.0);
            }
        }
        let rows = purchases.rows();
        let fitted = match self.settings.model {
            Model::BgNbd => bgnbd::fit(&rows, threads)
                .and_then(|e| BgNbd::from_slice(&e.params))
                .map(Fitted::BgNbd),
            Model::ParetoNbd => pareto_nbd::fit(&rows, threads)
                .and_then(|e| ParetoNbd::from_slice(&e.params))
                .map(Fitted::ParetoNbd),
        };
        let spend_model = gamma_gamma::fit(&values.rows(), threads)
            .and_then(|e| GammaGamma::from_slice(&e.params));
        match (fitted, spend_model) {
            (Ok(fitted), Ok(spend_model)) => Ok((fitted, spend_model)),
            (Err(message), _) | (_, Err(message)) => crate::crm_err!(Data, "{NAME}: {message}"),
        }
    }

    fn predict(
        &self,
        fitted: Fitted,
        spend_model: GammaGamma,
        h: History,
        m_x: f64,
    ) -> std::result::Result<Prediction, String> {
        let unit_days = self.settings.unit.days();
        // Repeat purchases that net to a refund say nothing the spend model can use: such a
        // customer is valued at the population mean, as one without repeat purchases.
        let spend = if m_x > 0.0 {
            spend_model.expected_spend(h.x, m_x)?
        } else {
            spend_model.expected_spend(0.0, 0.0)?
        };
        let periods = clv::periods_per_month(self.settings.unit.name()).unwrap_or(4.345);
        Ok(Prediction {
            p_alive: fitted.p_alive(h)?,
            expected_90d: fitted.expected(HORIZON_DAYS / unit_days, h)?,
            spend,
            clv: discounted_value(
                self.settings.months,
                self.settings.monthly_discount,
                periods,
                spend,
                |t| fitted.expected(t, h),
            )?,
        })
    }

    fn stage(&self, h: History, p_alive: f64) -> &'static str {
        let days_since_first = (h.t * self.settings.unit.days()).round() as i64 + 1;
        if days_since_first <= self.settings.new_days {
            "new"
        } else if p_alive < self.settings.churned_below {
            "churned"
        } else if p_alive < self.settings.dormant_below {
            "dormant"
        } else {
            "active"
        }
    }
}

impl TableKernel for ValueKernel {
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
        // In customer order (the order of the result, and of ties between equal values); the
        // unsorted input is let go as soon as the sorted copy exists.
        let sorted = {
            let order = sort_to_indices(input.column(0), Some(SortOptions::default()), None)?;
            take_record_batch(&input, &order)?
        };
        drop(input);
        let input = sorted;
        let x = cast(input.column(1), &DataType::Int64)?;
        let x = x.as_primitive::<Int64Type>();
        let column = |i: usize| input.column(i).as_primitive::<Float64Type>();
        let (t_x, big_t, m_x) = (column(2), column(3), column(4));
        let histories = (0..input.num_rows())
            .map(|i| History::new(x.value(i) as f64, t_x.value(i), big_t.value(i)))
            .collect::<std::result::Result<Vec<_>, _>>();
        let histories = match histories {
            Ok(h) => h,
            Err(message) => return crate::crm_err!(InvalidArgument, "{NAME}: {message}"),
        };
        let spend: &[f64] = m_x.values();
        if histories.is_empty() {
            return Ok(RecordBatch::new_empty(self.schema.clone()));
        }
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let (fitted, spend_model) = self.fit(&histories, spend, threads)?;

        // Each thread writes its customers' predictions straight into the result columns.
        let rows = histories.len();
        let mut columns = [(); 4].map(|_| vec![0.0f64; rows]);
        let chunk = rows.div_ceil(threads).max(1);
        let predicted = std::thread::scope(|scope| {
            let [p_alive, expected, spend_out, clv] = &mut columns;
            let handles: Vec<_> = histories
                .chunks(chunk)
                .zip(spend.chunks(chunk))
                .zip(p_alive.chunks_mut(chunk))
                .zip(expected.chunks_mut(chunk))
                .zip(spend_out.chunks_mut(chunk))
                .zip(clv.chunks_mut(chunk))
                .map(|(((((h, m), p_alive), expected), spend_out), clv)| {
                    scope.spawn(move || {
                        for (i, (h, m)) in h.iter().zip(m).enumerate() {
                            let p = self.predict(fitted, spend_model, *h, *m)?;
                            p_alive[i] = p.p_alive;
                            expected[i] = p.expected_90d;
                            spend_out[i] = p.spend;
                            clv[i] = p.clv;
                        }
                        Ok::<(), String>(())
                    })
                })
                .collect();
            handles
                .into_iter()
                .try_for_each(|handle| match handle.join() {
                    Ok(done) => done,
                    Err(_) => Err("a scoring thread panicked".to_string()),
                })
        });
        if let Err(message) = predicted {
            return crate::crm_err!(InvalidArgument, "{NAME}: {message}");
        }
        let [p_alive, expected, spend_out, clv] = columns;

        let positions: Vec<u32> = (0..rows as u32).collect();
        let deciles = ntile_scores(&clv, &positions, 10, false);
        drop(positions);
        let stages: StringArray = histories
            .iter()
            .zip(&p_alive)
            .map(|(h, p_alive)| Some(self.stage(*h, *p_alive)))
            .collect();
        drop(histories);
        let columns: Vec<ArrayRef> = vec![
            input.column(0).clone(),
            Arc::new(Float64Array::from(p_alive)),
            Arc::new(Float64Array::from(expected)),
            Arc::new(Float64Array::from(spend_out)),
            Arc::new(Float64Array::from(clv)),
            Arc::new(stages),
            Arc::new(Int32Array::from_iter_values(
                deciles.iter().map(|d| i32::from(*d)),
            )),
            Arc::new(x.clone()),
            input.column(2).clone(),
            input.column(3).clone(),
            input.column(4).clone(),
        ];
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }

    /// The sorted copy of the input and its order, the histories, four prediction columns,
    /// the deciles and the stage texts.
    fn working_memory(&self, input: &RecordBatch, _projection: Option<&[usize]>) -> usize {
        let per_row = 8 + 24 + 4 * 8 + 4 + 1 + 4 + 16;
        input
            .get_array_memory_size()
            .saturating_add(input.num_rows().saturating_mul(per_row))
    }
}

fn documentation() -> Documentation {
    static DOC: OnceLock<Documentation> = OnceLock::new();
    DOC.get_or_init(|| {
        crate::docs::builder(
            "Predictive customer value in one call (crm-reference §4): summarises the orders \
             before as_of, fits BG/NBD (or Pareto/NBD) and Gamma-Gamma, and returns per buyer \
             p_alive, expected_purchases_90d, expected_spend (per purchase), clv (next months, \
             discounted monthly), the model-based lifecycle stage (new / active / dormant / \
             churned by P(alive) cut-offs) and clv_decile (10 = most valuable), then the \
             summary x, t_x, T, m_x. Options: model=bgnbd|pareto_nbd, time_unit=weeks, \
             merge_same_day=true, months=12, monthly_discount=0.01, new_days (default \
             segmint.lifecycle_new_days), churned_below=0.5, dormant_below=0.8.",
            "customer_value(table, as_of [, customer_col, time_col, amount_col [, options]])",
        )
        .with_argument("table", "name of a table or view of orders")
        .with_argument("as_of", "analysis date; orders before it count")
        .with_argument("customer_col", "customer id column (default customer_id)")
        .with_argument(
            "time_col",
            "order date or timestamp column (default order_ts)",
        )
        .with_argument("amount_col", "order amount column (default net_amount)")
        .with_argument("options", "'key=value,...' (see above)")
        .with_sql_example(
            "SELECT clv_decile, count(*), round(avg(p_alive), 3), round(sum(clv), 2)\n\
             FROM customer_value('orders', DATE '2026-01-01')\n\
             GROUP BY clv_decile ORDER BY clv_decile DESC;",
        )
        .build()
    })
    .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kernel(new_days: i64) -> ValueKernel {
        ValueKernel {
            call: KernelCall::new(NAME, "test", 0, vec![], None, &FunctionOptions::default()),
            settings: Settings {
                model: Model::BgNbd,
                unit: TimeUnit::Weeks,
                months: 12,
                monthly_discount: 0.01,
                new_days,
                churned_below: 0.5,
                dormant_below: 0.8,
            },
            description: String::new(),
            schema: Arc::new(Schema::empty()),
        }
    }

    #[test]
    fn stages_follow_the_cut_offs() {
        let k = kernel(30);
        let old = History::new(2.0, 10.0, 40.0).unwrap();
        assert_eq!(k.stage(old, 0.9), "active");
        assert_eq!(k.stage(old, 0.8), "active");
        assert_eq!(k.stage(old, 0.79), "dormant");
        assert_eq!(k.stage(old, 0.49), "churned");
        let recent = History::new(0.0, 0.0, 4.0).unwrap();
        assert_eq!(k.stage(recent, 1.0), "new");
        assert_eq!(kernel(0).stage(recent, 1.0), "active");
    }

    #[test]
    fn the_published_customer_is_worth_the_published_clv() {
        let k = kernel(30);
        let fitted = Fitted::BgNbd(BgNbd::new(0.243, 4.414, 0.793, 2.426).unwrap());
        let spend = GammaGamma::new(6.25, 3.74, 15.44).unwrap();
        let p = k
            .predict(
                fitted,
                spend,
                History::new(2.0, 30.43, 38.86).unwrap(),
                22.35,
            )
            .unwrap();
        assert!((p.clv - 36.289211).abs() < 1e-6);
        assert!((p.p_alive - 0.726579).abs() < 1e-6);
        assert!((p.spend - 24.663714).abs() < 1e-6);
    }

    #[tokio::test]
    async fn kernels_rebuild_from_their_call() {
        use crate::table::testing::{assert_rebuilds, date, set};
        use datafusion::logical_expr::lit;

        let ctx = crate::slt_runner::fixture_context().await;
        set(&ctx, "SET segmint.lifecycle_new_days = 45").await;
        let args = [
            lit("btyd_orders"),
            date("2026-01-01"),
            lit("customer_id"),
            lit("order_ts"),
            lit("net_amount"),
            lit("time_unit=days,months=6,churned_below=0.4"),
        ];
        let (call, out) = assert_rebuilds(&ctx, NAME, &args).await;
        assert_eq!(
            call.defaults.get("lifecycle_new_days").map(String::as_str),
            Some("45")
        );
        assert_eq!(call.options, "time_unit=days,months=6,churned_below=0.4");
        assert_eq!(out.num_rows(), 400);
    }
}
