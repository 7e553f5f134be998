//! `price_sensitivity(discount_share, discount_depth [, thresholds])`: how strongly a customer
//! buys on discount.
//! Documented once, in `DOC` (FUNCTIONS.md is generated from it).

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, StringBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::error::Result;

use crate::CrmFunction;
use crate::args::scalar::{Columns, Kind, Param, param};
use crate::scalar_spec::{Doc, Kernel, ScalarSpec};

const NAME: &str = "price_sensitivity";

const PARAMS: &[Param] = &[
    param("discount_share", Kind::Number),
    param("discount_depth", Kind::Number),
    param("thresholds", Kind::Cuts),
];

/// Default minimum share of discounted orders (crm-reference §3.3).
pub const DEFAULT_SHARE_THRESHOLD: f64 = 0.5;
/// Default minimum spend-weighted discount depth (crm-reference §3.3).
pub const DEFAULT_DEPTH_THRESHOLD: f64 = 0.15;

/// Registers `price_sensitivity`.
pub fn functions() -> Vec<CrmFunction> {
    vec![
        ScalarSpec::new(NAME, PARAMS, DataType::Utf8, Kernel::Arrays(levels), DOC)
            .arities(&[2, 3])
            .into_function(),
    ]
}

const DOC: Doc = Doc {
    description: "How strongly a customer buys on discount: 'high', 'medium' or 'low' \
                 (crm-reference §3.3 price sensitivity). A three-level score to decide who gets \
                 coupons and who buys at full price anyway: 'high' when discount_share >= \
                 share_threshold (default 0.5) AND discount_depth >= depth_threshold (default \
                 0.15), the spec's price-sensitive tag; 'medium' when exactly one holds; 'low' \
                 otherwise. thresholds = [share_threshold, depth_threshold] (array or '0.5;0.15'). \
                 A NULL share or depth gives NULL, NULL thresholds the defaults; shares, depths \
                 and thresholds outside [0, 1] (or NaN), or thresholds that are not two numbers, \
                 are an error at execution.",
    syntax: "price_sensitivity(discount_share, discount_depth [, thresholds])",
    arguments: &[
        (
            "discount_share",
            "share of the customer's orders with a discount, in [0, 1]",
        ),
        (
            "discount_depth",
            "spend-weighted discount depth sum(discount) / sum(gross), in [0, 1]",
        ),
        (
            "thresholds",
            "[minimum discount_share, minimum discount_depth], default [0.5, 0.15]",
        ),
    ],
    example: "SELECT customer_id, price_sensitivity(\n         \
                 avg(CASE WHEN discount_amount > 0 THEN 1.0 ELSE 0.0 END),\n         \
                 sum(discount_amount) / sum(gross_amount))\n\
                 FROM orders GROUP BY customer_id;\n\
                 SELECT price_sensitivity(0.8, 0.2), price_sensitivity(0.8, 0.05);\n\
                 -- high | medium",
};

/// The level from the two conditions: both `'high'`, one `'medium'`, none `'low'`.
pub fn level(share: f64, depth: f64, share_threshold: f64, depth_threshold: f64) -> &'static str {
    match (share >= share_threshold, depth >= depth_threshold) {
        (true, true) => "high",
        (true, false) | (false, true) => "medium",
        (false, false) => "low",
    }
}

fn fraction(name: &str, value: f64) -> Result<f64> {
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        crate::crm_err!(
            InvalidArgument,
            "{NAME}: {name} must be a fraction between 0 and 1, got {value}"
        )
    }
}

fn levels(rows: usize, columns: &Columns) -> Result<ArrayRef> {
    let mut out = StringBuilder::with_capacity(rows, rows * 6);
    for row in 0..rows {
        let (share_threshold, depth_threshold) =
            match columns.numbers(NAME, "thresholds", 2, row)?.as_deref() {
                None => (DEFAULT_SHARE_THRESHOLD, DEFAULT_DEPTH_THRESHOLD),
                Some([share, depth]) => (
                    fraction("share_threshold", *share)?,
                    fraction("depth_threshold", *depth)?,
                ),
                Some(other) => {
                    return crate::crm_err!(
                        InvalidArgument,
                        "{NAME}: thresholds must be [share_threshold, depth_threshold], got {} \
                         numbers",
                        other.len()
                    );
                }
            };
        let (Some(share), Some(depth)) = (columns.number(0, row), columns.number(1, row)) else {
            out.append_null();
            continue;
        };
        let share = fraction("discount_share", share)?;
        let depth = fraction("discount_depth", depth)?;
        out.append_value(level(share, depth, share_threshold, depth_threshold));
    }
    Ok(Arc::new(out.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, AsArray, Float64Array};
    use proptest::prelude::*;

    fn run(columns: Vec<Vec<Option<f64>>>) -> Result<Vec<Option<String>>> {
        let rows = columns[0].len();
        let arrays = columns
            .into_iter()
            .map(|c| Arc::new(Float64Array::from(c)) as ArrayRef)
            .collect();
        let out = levels(rows, &Columns::from_arrays(arrays))?;
        let out = out.as_string::<i32>();
        Ok((0..rows)
            .map(|i| out.is_valid(i).then(|| out.value(i).to_string()))
            .collect())
    }

    #[test]
    fn levels_at_and_around_the_thresholds() {
        let got = run(vec![
            vec![Some(0.5), Some(0.5), Some(0.49), Some(0.0), None, Some(1.0)],
            vec![
                Some(0.15),
                Some(0.1),
                Some(0.15),
                Some(0.0),
                Some(0.3),
                None,
            ],
        ])
        .unwrap();
        let expected = [
            Some("high"),
            Some("medium"),
            Some("medium"),
            Some("low"),
            None,
            None,
        ];
        assert_eq!(got, expected.map(|s| s.map(String::from)));
        // Own thresholds (the SQL forms [share, depth] and 'share;depth' are in the .slt).
        assert_eq!(level(0.3, 0.1, 0.25, 0.05), "high");
        assert_eq!(level(0.3, 0.1, 0.5, 0.15), "low");
    }

    #[test]
    fn values_outside_zero_one_are_errors() {
        for (share, depth) in [(1.5, 0.1), (0.5, -0.1), (f64::NAN, 0.1)] {
            let message = run(vec![vec![Some(share)], vec![Some(depth)]])
                .unwrap_err()
                .to_string();
            assert!(
                message.contains("price_sensitivity: discount_"),
                "{message}"
            );
        }
        assert!(run(vec![vec![Some(0.5)], vec![Some(0.5)], vec![Some(2.0)]]).is_err());
    }

    proptest! {
        #[test]
        fn more_discounting_never_lowers_the_level(
            share in 0.0f64..=1.0, depth in 0.0f64..=1.0, more in 0.0f64..=1.0,
        ) {
            let rank = |s: &str| ["low", "medium", "high"].iter().position(|x| *x == s).unwrap();
            let base = level(share, depth, 0.5, 0.15);
            let deeper = level(share, (depth + more).min(1.0), 0.5, 0.15);
            let wider = level((share + more).min(1.0), depth, 0.5, 0.15);
            prop_assert!(rank(base) <= rank(deeper));
            prop_assert!(rank(base) <= rank(wider));
        }
    }
}
