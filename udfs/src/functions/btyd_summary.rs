//! `btyd_summary(table, calibration_end [, customer_col, time_col, amount_col [, options]])`:
//! one row per customer with `customer_id, x, t_x, T, m_x`, the input of the BTYD models
//! (crm-reference §0, §4).
//!
//! Business meaning: a customer's purchase history reduced to what the predictive models need:
//! `x` repeat transactions (the first purchase is not counted), `t_x` the time of the last one
//! and `T` the time from the first purchase to the end of calibration (both measured from the
//! first purchase), `m_x` the mean value of the repeat transactions (0 when `x = 0`).
//! Transactions on or before `calibration_end` count.
//!
//! Options: `time_unit` = `weeks` (default) | `days` | `months` (365.25/12 days);
//! `merge_same_day` = `true` (default: all of a customer's orders on one calendar day are one
//! transaction worth their sum, the Fader-Hardie convention that reproduces the published CDNOW
//! summary) | `false`. Defaults for the columns: `customer_id`, `order_ts`, `net_amount`.
//! The `T` column is upper-case: write it `"T"` in SQL.

use std::sync::{Arc, OnceLock};

use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::datasource::ViewTable;
use datafusion::error::Result;
use datafusion::logical_expr::Documentation;

use crate::btyd::summary::{ARGUMENT_TYPES, OPTIONS, Source, plan};
use crate::{CrmFunction, NamedTableFunction};

/// Registers `btyd_summary`.
pub fn functions() -> Vec<CrmFunction> {
    vec![CrmFunction::Table(Box::new(NamedTableFunction {
        name: "btyd_summary",
        function: Arc::new(BtydSummary),
        argument_types: ARGUMENT_TYPES,
        documentation: documentation(),
        // A view: planned at call time, no kernel to rebuild.
        kernel: None,
    }))]
}

/// The `btyd_summary` table function.
#[derive(Debug)]
pub struct BtydSummary;

impl TableFunctionImpl for BtydSummary {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let source = Source::parse("btyd_summary", &args, OPTIONS)?;
        let plan = plan("btyd_summary", args.session(), &source, source.date)?;
        Ok(Arc::new(ViewTable::new(plan, None)))
    }
}

fn documentation() -> Documentation {
    static DOC: OnceLock<Documentation> = OnceLock::new();
    DOC.get_or_init(|| {
        crate::docs::builder(
            "The BTYD calibration summary, one row per customer (crm-reference §4): x repeat \
             transactions, t_x the time of the last and T the time from the first purchase to \
             calibration_end (both from the first purchase), m_x the mean value of the repeat \
             transactions (0 when x = 0). Transactions on or before calibration_end count. \
             Options: time_unit=weeks|days|months, merge_same_day=true (one transaction per \
             customer and day, the convention of the published CDNOW summary). Write the T \
             column as \"T\".",
            "btyd_summary(table, calibration_end [, customer_col, time_col, amount_col \
             [, options]])",
        )
        .with_argument("table", "name of a table or view of orders")
        .with_argument(
            "calibration_end",
            "last day of the calibration period (included)",
        )
        .with_argument("customer_col", "customer id column (default customer_id)")
        .with_argument(
            "time_col",
            "order date or timestamp column (default order_ts)",
        )
        .with_argument("amount_col", "order amount column (default net_amount)")
        .with_argument("options", "'key=value,...' (see above)")
        .with_sql_example(
            "SELECT customer_id, x, round(t_x, 2), round(\"T\", 2), round(m_x, 2)\n\
             FROM btyd_summary('orders', DATE '2025-12-31', 'customer_id', 'order_ts', \
             'net_amount', 'time_unit=days');",
        )
        .build()
    })
    .clone()
}
