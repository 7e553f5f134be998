//! `lifecycle_stage(first_order, last_order, n_orders, as_of [, new_days, active_days,
//! churn_days [, gap_before_last_days]])`: a customer's lifecycle stage on an analysis date.
//! Documented once, in `DOC` (FUNCTIONS.md is generated from it).

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, StringBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::config::ConfigOptions;
use datafusion::error::Result;

use crate::args::format_date;
use crate::args::scalar::{Columns, Kind, Param, param};
use crate::kernels::lifecycle::{History, NewRule, Thresholds, stage};
use crate::scalar_spec::{Doc, Kernel, ScalarSpec};
use crate::{CrmFunction, FunctionOptions};

const NAME: &str = "lifecycle_stage";

const PARAMS: &[Param] = &[
    param("first_order", Kind::Date),
    param("last_order", Kind::Date),
    param("n_orders", Kind::Integer),
    param("as_of", Kind::Date),
    param("new_days", Kind::Integer),
    param("active_days", Kind::Integer),
    param("churn_days", Kind::Integer),
    param("gap_before_last_days", Kind::Number),
];

const ARITIES: &[usize] = &[4, 7, 8];

// Argument positions.
const FIRST: usize = 0;
const LAST: usize = 1;
const ORDERS: usize = 2;
const AS_OF: usize = 3;
const NEW_DAYS: usize = 4;
const ACTIVE_DAYS: usize = 5;
const CHURN_DAYS: usize = 6;
const GAP: usize = 7;

/// Registers `lifecycle_stage`.
pub fn functions() -> Vec<CrmFunction> {
    vec![
        ScalarSpec::new(
            NAME,
            PARAMS,
            DataType::Utf8,
            Kernel::Configured(configured_stages),
            DOC,
        )
        .arities(ARITIES)
        .into_function(),
    ]
}

const DOC: Doc = Doc {
    description: "A customer's lifecycle stage on an analysis date: prospect, new, reactivated, \
                 active, dormant or churned (crm-reference §2). It is the label a CRM team uses \
                 to pick a campaign (welcome series, win-back, sunset). Rules are evaluated \
                 top-down: 'prospect' (no orders), 'new' (first order at most new_days \
                 ago), 'reactivated' (last order at most active_days ago after a gap of more than \
                 churn_days; only when gap_before_last_days is given), 'active' (last order at \
                 most active_days ago), 'dormant' (at most churn_days ago), 'churned'. Defaults \
                 come from segmint.lifecycle_new_days / _active_days / _churn_days (30 / 90 / \
                 180); an optional argument given as NULL takes its default, so \
                 lifecycle_stage(f, l, n, d, NULL, NULL, 365) only moves the churn line. Dates \
                 may be dates or timestamps (a timestamp counts by its date). n_orders = 0 gives \
                 'prospect' whatever the dates, even NULL ones; a NULL n_orders, or a NULL as_of \
                 or order date of a buyer, gives NULL. Errors (at execution): an order after \
                 as_of, a first order after the last one, a negative n_orders or \
                 gap_before_last_days, negative thresholds or active_days > churn_days.",
    syntax: "lifecycle_stage(first_order, last_order, n_orders, as_of [, new_days, \
                 active_days, churn_days [, gap_before_last_days]])",
    arguments: &[
        (
            "first_order",
            "date or timestamp of the customer's first order",
        ),
        (
            "last_order",
            "date or timestamp of the customer's last order",
        ),
        (
            "n_orders",
            "number of orders (0 for a registered non-buyer)",
        ),
        ("as_of", "the analysis date (e.g. segmint_as_of())"),
        (
            "new_days",
            "first order at most this many days before as_of: 'new' (default 30)",
        ),
        (
            "active_days",
            "last order at most this many days before as_of: 'active' (default 90)",
        ),
        (
            "churn_days",
            "last order more than this many days before as_of: 'churned' (default 180)",
        ),
        (
            "gap_before_last_days",
            "days between the last order and the one before it; more than churn_days makes \
                 a recent buyer 'reactivated'",
        ),
    ],
    example: "SELECT customer_id,\n       \
                 lifecycle_stage(min(order_ts), max(order_ts), count(*), DATE '2026-01-01')\n\
                 FROM orders GROUP BY customer_id;\n\
                 SELECT lifecycle_stage(DATE '2024-01-01', DATE '2025-12-01', 5, \
                 DATE '2026-01-01', 30, 90, 365, 400);\n\
                 -- reactivated",
};

/// The stages with the session's default thresholds (`segmint.lifecycle_*_days`).
fn configured_stages(rows: usize, columns: &Columns, config: &ConfigOptions) -> Result<ArrayRef> {
    let options = FunctionOptions::from_config(config);
    let defaults = Thresholds {
        new_days: days_setting(options.lifecycle_new_days),
        active_days: days_setting(options.lifecycle_active_days),
        churn_days: days_setting(options.lifecycle_churn_days),
    };
    stages(rows, columns, defaults)
}

fn days_setting(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// The thresholds of one row: the row's own values, or the defaults where NULL or absent.
/// An error names the session settings when the defaults it used are themselves invalid.
fn row_thresholds(columns: &Columns, row: usize, defaults: Thresholds) -> Result<Thresholds> {
    let own = [
        columns.int(NEW_DAYS, row),
        columns.int(ACTIVE_DAYS, row),
        columns.int(CHURN_DAYS, row),
    ];
    let thresholds = Thresholds {
        new_days: own[0].unwrap_or(defaults.new_days),
        active_days: own[1].unwrap_or(defaults.active_days),
        churn_days: own[2].unwrap_or(defaults.churn_days),
    };
    thresholds.validate().map_err(|message| {
        if own.iter().any(Option::is_none)
            && let Err(settings) = defaults.validate()
        {
            crate::crm_error!(
                InvalidArgument,
                "{NAME}: the segmint.lifecycle_* settings are invalid: {settings}"
            )
        } else {
            crate::crm_error!(InvalidArgument, "{NAME}: {message}")
        }
    })?;
    Ok(thresholds)
}

/// The gap before the last order, in whole days for the kernel's `gap > churn_days` test
/// (`x > n` exactly when `ceil(x) > n` for a whole `n`).
fn row_gap(columns: &Columns, row: usize) -> Result<Option<i64>> {
    match columns.number(GAP, row) {
        None => Ok(None),
        Some(gap) if gap.is_nan() || gap < 0.0 => crate::crm_err!(
            InvalidArgument,
            "{NAME}: gap_before_last_days must be a non-negative number of days, got {gap}"
        ),
        Some(gap) => Ok(Some(gap.ceil().min(i64::MAX as f64) as i64)),
    }
}

fn stages(rows: usize, columns: &Columns, defaults: Thresholds) -> Result<ArrayRef> {
    let mut out = StringBuilder::with_capacity(rows, rows * 8);
    for row in 0..rows {
        let thresholds = row_thresholds(columns, row, defaults)?;
        let gap_before_last = row_gap(columns, row)?;
        let orders = match columns.int(ORDERS, row) {
            None => {
                out.append_null();
                continue;
            }
            Some(n) if n < 0 => {
                return crate::crm_err!(
                    InvalidArgument,
                    "{NAME}: n_orders must not be negative, got {n}"
                );
            }
            Some(n) => n,
        };
        let first = columns.date(FIRST, row);
        let last = columns.date(LAST, row);
        if let (Some(first), Some(last)) = (first, last)
            && orders > 0
            && first > last
        {
            return crate::crm_err!(
                Data,
                "{NAME}: first_order {} is after last_order {}",
                format_date(first),
                format_date(last)
            );
        }
        let history = History {
            first,
            last,
            orders,
            gap_before_last,
        };
        let Some(as_of) = columns.date(AS_OF, row) else {
            // A prospect does not depend on the date.
            out.append_option((orders == 0).then_some("prospect"));
            continue;
        };
        match stage(history, as_of, thresholds, NewRule::FirstOrder) {
            Ok(label) => out.append_option(label),
            Err(message) => {
                return crate::crm_err!(
                    Data,
                    "{NAME}: {message} (filter orders to those on or before as_of)"
                );
            }
        }
    }
    Ok(Arc::new(out.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::scalar::coerce;
    use datafusion::arrow::array::{Array, AsArray, Date32Array, Float64Array, Int64Array};
    use proptest::prelude::*;

    const DEFAULTS: Thresholds = Thresholds {
        new_days: 30,
        active_days: 90,
        churn_days: 180,
    };

    fn dates(values: Vec<Option<i32>>) -> ArrayRef {
        Arc::new(Date32Array::from(values))
    }

    fn ints(values: Vec<Option<i64>>) -> ArrayRef {
        Arc::new(Int64Array::from(values))
    }

    /// The four required columns (as of day 1000), then `extra`.
    fn columns(
        first: Vec<Option<i32>>,
        last: Vec<Option<i32>>,
        n: Vec<Option<i64>>,
        extra: Vec<ArrayRef>,
    ) -> Columns {
        let rows = n.len();
        let mut arrays = vec![
            dates(first),
            dates(last),
            ints(n),
            dates(vec![Some(1000); rows]),
        ];
        arrays.extend(extra);
        Columns::from_arrays(arrays)
    }

    fn run(columns: &Columns, rows: usize) -> Result<Vec<Option<String>>> {
        let out = stages(rows, columns, DEFAULTS)?;
        let out = out.as_string::<i32>();
        Ok((0..rows)
            .map(|i| out.is_valid(i).then(|| out.value(i).to_string()))
            .collect())
    }

    #[test]
    fn stages_nulls_and_prospects() {
        let got = run(
            &columns(
                vec![
                    None,
                    Some(990),
                    Some(500),
                    Some(500),
                    Some(500),
                    None,
                    Some(1),
                ],
                vec![
                    None,
                    Some(995),
                    Some(950),
                    Some(850),
                    Some(700),
                    None,
                    Some(1),
                ],
                vec![Some(0), Some(1), Some(4), Some(3), Some(2), Some(2), None],
                vec![],
            ),
            7,
        )
        .unwrap();
        let expected = [
            Some("prospect"),
            Some("new"),
            Some("active"),
            Some("dormant"),
            Some("churned"),
            None,
            None,
        ];
        assert_eq!(got, expected.map(|s| s.map(String::from)));
    }

    #[test]
    fn thresholds_and_gaps_per_row() {
        let input = columns(
            vec![Some(100), Some(100), Some(100)],
            vec![Some(950), Some(950), Some(700)],
            vec![Some(5), Some(5), Some(5)],
            vec![
                ints(vec![None, None, None]),
                ints(vec![None, None, Some(10)]),
                ints(vec![None, Some(365), Some(365)]),
                Arc::new(Float64Array::from(vec![Some(180.5), Some(365.0), None])),
            ],
        );
        let got = run(&input, 3).unwrap();
        assert_eq!(
            got,
            vec![
                Some("reactivated".to_string()),
                Some("active".to_string()),
                Some("dormant".to_string())
            ]
        );
    }

    #[test]
    fn impossible_values_are_errors() {
        let after = columns(vec![Some(900)], vec![Some(1001)], vec![Some(2)], vec![]);
        let message = run(&after, 1).unwrap_err().to_string();
        assert!(message.contains("lifecycle_stage"), "{message}");
        assert!(message.contains("after the analysis date"), "{message}");
        let reversed = columns(vec![Some(900)], vec![Some(800)], vec![Some(2)], vec![]);
        assert!(run(&reversed, 1).is_err());
        let negative = columns(vec![Some(900)], vec![Some(900)], vec![Some(-1)], vec![]);
        assert!(run(&negative, 1).is_err());
        let bad = columns(
            vec![Some(900)],
            vec![Some(900)],
            vec![Some(1)],
            vec![
                ints(vec![None]),
                ints(vec![Some(400)]),
                ints(vec![Some(100)]),
            ],
        );
        assert!(run(&bad, 1).is_err());
    }

    #[test]
    fn wrong_types_fail_at_coercion() {
        assert!(coerce(NAME, PARAMS, ARITIES, &vec![DataType::Date32; 3]).is_err());
        let mut types = vec![
            DataType::Date32,
            DataType::Date32,
            DataType::Utf8,
            DataType::Date32,
        ];
        assert!(coerce(NAME, PARAMS, ARITIES, &types).is_err());
        types[2] = DataType::Int32;
        assert_eq!(
            coerce(NAME, PARAMS, ARITIES, &types).unwrap()[2],
            DataType::Int64
        );
    }

    proptest! {
        #[test]
        fn every_buyer_gets_one_known_stage(
            first in 0i32..1000,
            span in 0i32..1000,
            n in 1i64..50,
            gap in proptest::option::of(0.0f64..1000.0),
        ) {
            let last = (first + span).min(1000);
            let input = columns(
                vec![Some(first)],
                vec![Some(last)],
                vec![Some(n)],
                vec![ints(vec![None]), ints(vec![None]), ints(vec![None]),
                     Arc::new(Float64Array::from(vec![gap]))],
            );
            let got = run(&input, 1).unwrap().remove(0).unwrap();
            let known = ["new", "reactivated", "active", "dormant", "churned"];
            prop_assert!(known.contains(&got.as_str()));
            if gap.is_none() {
                prop_assert_ne!(got.as_str(), "reactivated");
            }
        }

        #[test]
        fn no_orders_is_always_a_prospect(
            first in proptest::option::of(0i32..2000),
            last in proptest::option::of(0i32..2000),
        ) {
            let input = columns(vec![first], vec![last], vec![Some(0)], vec![]);
            let got = run(&input, 1).unwrap();
            prop_assert_eq!(got[0].as_deref(), Some("prospect"));
        }
    }
}
