//! `lifecycle_stage_cadence(last_order, typical_gap_days, as_of [, k1 [, k2]])`: the lifecycle
//! stage against the customer's own purchase rhythm.
//! Documented once, in `DOC` (FUNCTIONS.md is generated from it).

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, StringBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::error::Result;

use crate::CrmFunction;
use crate::args::format_date;
use crate::args::scalar::{Columns, Kind, Param, param};
use crate::kernels::lifecycle::cadence_stage;
use crate::scalar_spec::{Doc, Kernel, ScalarSpec};

const NAME: &str = "lifecycle_stage_cadence";

const PARAMS: &[Param] = &[
    param("last_order", Kind::Date),
    param("typical_gap_days", Kind::Number),
    param("as_of", Kind::Date),
    param("k1", Kind::Number),
    param("k2", Kind::Number),
];

const ARITIES: &[usize] = &[3, 4, 5];

/// Default multiple of the typical gap up to which a customer is `active`.
pub const DEFAULT_K1: f64 = 1.5;
/// Default multiple of the typical gap up to which a customer is `dormant`.
pub const DEFAULT_K2: f64 = 3.0;

/// Registers `lifecycle_stage_cadence`.
pub fn functions() -> Vec<CrmFunction> {
    vec![
        ScalarSpec::new(NAME, PARAMS, DataType::Utf8, Kernel::Arrays(stages), DOC)
            .arities(ARITIES)
            .into_function(),
    ]
}

const DOC: Doc = Doc {
    description: "A customer's lifecycle stage (active, dormant or churned) measured against their \
                 own purchase rhythm (crm-reference §2, purchase-interval variant). A coffee \
                 buyer who orders every week is lapsing after three quiet weeks, a sofa buyer is \
                 not lapsing after a year. With d = days from last_order to as_of: 'active' when \
                 d <= k1 * typical_gap_days, 'dormant' when d <= k2 * typical_gap_days, else \
                 'churned' (k1 = 1.5, k2 = 3 by default). typical_gap_days is usually the median \
                 gap between the customer's orders (for customers with 3+ orders), else the \
                 median gap of all repeat buyers. NULL last_order, typical_gap_days or as_of \
                 give NULL; a NULL k1 or k2 takes its default. A gap that is not positive, an \
                 order after as_of, k1 <= 0 or k2 < k1 is an error at execution.",
    syntax: "lifecycle_stage_cadence(last_order, typical_gap_days, as_of [, k1 [, k2]])",
    arguments: &[
        (
            "last_order",
            "date or timestamp of the customer's last order",
        ),
        (
            "typical_gap_days",
            "the customer's typical days between orders (e.g. the median gap); > 0",
        ),
        ("as_of", "the analysis date (e.g. segmint_as_of())"),
        ("k1", "active while d <= k1 gaps (default 1.5)"),
        (
            "k2",
            "dormant while d <= k2 gaps, churned beyond (default 3)",
        ),
    ],
    example: "SELECT lifecycle_stage_cadence(DATE '2025-12-10', 14, DATE '2026-01-01'),\n       \
                 lifecycle_stage_cadence(DATE '2025-12-10', 7, DATE '2026-01-01');\n\
                 -- 'dormant' (22 days > 1.5 * 14), 'churned' (22 days > 3 * 7)",
};

/// The cadence multipliers of one row (defaults where NULL or absent), checked.
fn row_multipliers(columns: &Columns, row: usize) -> Result<(f64, f64)> {
    let k1 = columns.number(3, row).unwrap_or(DEFAULT_K1);
    let k2 = columns.number(4, row).unwrap_or(DEFAULT_K2);
    if !(k1.is_finite() && k1 > 0.0) {
        return crate::crm_err!(
            InvalidArgument,
            "{NAME}: k1 must be a positive number, got {k1}"
        );
    }
    if !(k2.is_finite() && k2 >= k1) {
        return crate::crm_err!(
            InvalidArgument,
            "{NAME}: k2 must be a number at least k1 ({k1}), got {k2}"
        );
    }
    Ok((k1, k2))
}

fn stages(rows: usize, columns: &Columns) -> Result<ArrayRef> {
    let mut out = StringBuilder::with_capacity(rows, rows * 7);
    for row in 0..rows {
        let (k1, k2) = row_multipliers(columns, row)?;
        let (Some(last), Some(gap), Some(as_of)) = (
            columns.date(0, row),
            columns.number(1, row),
            columns.date(2, row),
        ) else {
            out.append_null();
            continue;
        };
        if !(gap.is_finite() && gap > 0.0) {
            return crate::crm_err!(
                InvalidArgument,
                "{NAME}: typical_gap_days must be a positive number, got {gap}"
            );
        }
        if last > as_of {
            return crate::crm_err!(
                Data,
                "{NAME}: last_order {} lies after the analysis date {} (filter orders to those \
                 on or before as_of)",
                format_date(last),
                format_date(as_of)
            );
        }
        let days_since_last = f64::from(as_of - last);
        out.append_value(cadence_stage(days_since_last, gap, k1, k2));
    }
    Ok(Arc::new(out.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, AsArray, Date32Array, Float64Array};
    use proptest::prelude::*;

    type Column = Vec<Option<f64>>;

    fn run(
        last: Vec<Option<i32>>,
        gap: Column,
        k: Option<(Column, Column)>,
    ) -> Result<Vec<Option<String>>> {
        let rows = last.len();
        let mut arrays: Vec<ArrayRef> = vec![
            Arc::new(Date32Array::from(last)),
            Arc::new(Float64Array::from(gap)),
            Arc::new(Date32Array::from(vec![Some(100); rows])),
        ];
        if let Some((k1, k2)) = k {
            arrays.push(Arc::new(Float64Array::from(k1)));
            arrays.push(Arc::new(Float64Array::from(k2)));
        }
        let out = stages(rows, &Columns::from_arrays(arrays))?;
        let out = out.as_string::<i32>();
        Ok((0..rows)
            .map(|i| out.is_valid(i).then(|| out.value(i).to_string()))
            .collect())
    }

    fn labels(values: &[Option<&str>]) -> Vec<Option<String>> {
        values.iter().map(|v| v.map(String::from)).collect()
    }

    #[test]
    fn stages_with_default_and_given_multipliers() {
        // 15, 30 and 31 days since the last order with a 10-day rhythm.
        let got = run(
            vec![Some(85), Some(70), Some(69), None, Some(90)],
            vec![Some(10.0), Some(10.0), Some(10.0), Some(10.0), None],
            None,
        )
        .unwrap();
        assert_eq!(
            got,
            labels(&[Some("active"), Some("dormant"), Some("churned"), None, None])
        );
        let got = run(
            vec![Some(80), Some(80)],
            vec![Some(10.0), Some(10.0)],
            Some((vec![Some(2.0), None], vec![None, Some(5.0)])),
        )
        .unwrap();
        assert_eq!(got, labels(&[Some("active"), Some("dormant")]));
    }

    #[test]
    fn impossible_values_are_errors() {
        assert!(run(vec![Some(90)], vec![Some(0.0)], None).is_err());
        assert!(run(vec![Some(90)], vec![Some(-3.0)], None).is_err());
        assert!(run(vec![Some(101)], vec![Some(3.0)], None).is_err());
        let bad_k = run(
            vec![Some(90)],
            vec![Some(3.0)],
            Some((vec![Some(3.0)], vec![Some(2.0)])),
        );
        let message = bad_k.unwrap_err().to_string();
        assert!(message.contains("lifecycle_stage_cadence: k2"), "{message}");
        assert!(run(vec![None], vec![None], Some((vec![Some(0.0)], vec![None]))).is_err());
    }

    proptest! {
        #[test]
        fn a_longer_silence_never_looks_better(
            a in 0i32..100, b in 0i32..100, gap in 0.5f64..60.0,
        ) {
            let rank = |s: &str| ["churned", "dormant", "active"].iter().position(|x| *x == s);
            let got = run(vec![Some(a.min(b)), Some(a.max(b))], vec![Some(gap); 2], None).unwrap();
            let older = rank(got[0].as_deref().unwrap());
            let newer = rank(got[1].as_deref().unwrap());
            prop_assert!(older.is_some() && newer.is_some());
            prop_assert!(older <= newer);
        }
    }
}
