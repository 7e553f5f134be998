//! `rfm_score(value [, scheme [, bins [, reverse [, tiebreak]]]]) OVER (...)`: the 1–n score
//! of each row's value within its window partition, so the scores of `rfm()` can be written by
//! hand in SQL.
//!
//! Schemes (crm-reference §1.2): `value_quantile` (default; value quantiles with linear
//! interpolation, equal values share a score — the R and M rule of the qcut recipe), `ntile`
//! (equal-size buckets ordered by value then `tiebreak` — the F rule; without a tiebreak,
//! equal values keep the order of the window's `ORDER BY`), and `rfm_pkg` (the rfm R
//! package's bins). `reverse` turns scores around so the smallest values score highest, as
//! recency does. NULL values get a NULL score and are left out of the population.
//!
//! ```sql
//! SELECT customer_id,
//!        rfm_score(recency_days, 'value_quantile', 5, true) OVER () AS r_score,
//!        rfm_score(frequency, 'ntile', 5, false, customer_id) OVER () AS f_score,
//!        rfm_score(monetary) OVER () AS m_score
//! FROM per_customer;
//! ```

use std::sync::{Arc, OnceLock};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int32Array};
use datafusion::arrow::compute::{SortOptions, cast, sort_to_indices};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::function::{PartitionEvaluatorArgs, WindowUDFFieldArgs};
use datafusion::logical_expr::{
    Documentation, PartitionEvaluator, Signature, TypeSignature, Volatility, WindowUDF,
    WindowUDFImpl,
};

use crate::CrmFunction;
use crate::kernels::scoring::{PackageBins, ntile_scores, value_quantile_scores};

/// Registers `rfm_score`.
pub fn functions() -> Vec<CrmFunction> {
    vec![CrmFunction::Window(WindowUDF::new_from_impl(
        RfmScore::new(),
    ))]
}

/// The `rfm_score` window function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct RfmScore {
    signature: Signature,
}

impl RfmScore {
    fn new() -> Self {
        use DataType::{Boolean, Float64, Int64, Utf8};
        let mut variants = vec![
            TypeSignature::Exact(vec![Float64]),
            TypeSignature::Exact(vec![Float64, Utf8]),
            TypeSignature::Exact(vec![Float64, Utf8, Int64]),
            TypeSignature::Exact(vec![Float64, Utf8, Int64, Boolean]),
        ];
        for tiebreak in [Int64, Utf8] {
            variants.push(TypeSignature::Exact(vec![
                Float64, Utf8, Int64, Boolean, tiebreak,
            ]));
        }
        RfmScore {
            signature: Signature::one_of(variants, Volatility::Immutable),
        }
    }
}

impl WindowUDFImpl for RfmScore {
    fn name(&self) -> &str {
        "rfm_score"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn partition_evaluator(
        &self,
        _args: PartitionEvaluatorArgs,
    ) -> Result<Box<dyn PartitionEvaluator>> {
        Ok(Box::new(ScoreEvaluator))
    }

    fn field(&self, field_args: WindowUDFFieldArgs) -> Result<FieldRef> {
        Ok(Arc::new(Field::new(
            field_args.name(),
            DataType::Int32,
            true,
        )))
    }

    fn documentation(&self) -> Option<&Documentation> {
        static DOC: OnceLock<Documentation> = OnceLock::new();
        Some(DOC.get_or_init(|| {
            crate::docs::builder(
                "The 1-n RFM score of each value within its window partition (crm-reference \
                 §1.2), for writing rfm() by hand. Schemes: 'value_quantile' (default; value \
                 quantiles, ties share a score: the R and M rule), 'ntile' (equal buckets by \
                 value then tiebreak: the F rule) and 'rfm_pkg' (the rfm R package's bins). \
                 reverse = true gives the smallest values the highest score (recency). NULL \
                 values score NULL.",
                "rfm_score(value [, scheme [, bins [, reverse [, tiebreak]]]]) OVER (...)",
            )
            .with_argument("value", "the measure to score (recency days, frequency, monetary)")
            .with_argument("scheme", "'value_quantile' (default), 'ntile' or 'rfm_pkg'")
            .with_argument("bins", "number of scores, default 5")
            .with_argument("reverse", "true to score small values highest (recency)")
            .with_argument("tiebreak", "orders equal values for 'ntile' (the customer id)")
            .with_sql_example(
                "SELECT customer_id,\n\
                 \x20      rfm_score(recency_days, 'value_quantile', 5, true) OVER () AS r_score,\n\
                 \x20      rfm_score(frequency, 'ntile', 5, false, customer_id) OVER () AS f_score,\n\
                 \x20      rfm_score(monetary) OVER () AS m_score\n\
                 FROM (SELECT customer_id, DATE '2026-01-01' - max(CAST(order_ts AS DATE)) AS recency_days,\n\
                 \x20            count(*) AS frequency, sum(net_amount) AS monetary\n\
                 \x20     FROM orders WHERE order_ts < DATE '2026-01-01' GROUP BY customer_id) AS c;",
            )
            .build()
        }))
    }
}

#[derive(Debug)]
struct ScoreEvaluator;

fn constant(values: &[ArrayRef], index: usize) -> Result<Option<ScalarValue>> {
    match values.get(index) {
        Some(array) if !array.is_empty() => {
            let value = ScalarValue::try_from_array(array, 0)?;
            Ok((!value.is_null()).then_some(value))
        }
        _ => Ok(None),
    }
}

impl PartitionEvaluator for ScoreEvaluator {
    fn evaluate_all(&mut self, values: &[ArrayRef], num_rows: usize) -> Result<ArrayRef> {
        let scheme = match constant(values, 1)? {
            Some(ScalarValue::Utf8(Some(s))) => s,
            _ => "value_quantile".to_string(),
        };
        let bins = match constant(values, 2)? {
            Some(ScalarValue::Int64(Some(n))) if (2..=20).contains(&n) => n as usize,
            None => 5,
            Some(other) => {
                return crate::crm_err!(
                    InvalidArgument,
                    "rfm_score: bins must be from 2 to 20, got {other}"
                );
            }
        };
        let reverse = matches!(constant(values, 3)?, Some(ScalarValue::Boolean(Some(true))));

        let input = cast(&values[0], &DataType::Float64)?;
        let input = input.as_primitive::<Float64Type>();
        // Score only the non-NULL rows; NULL rows keep a NULL score.
        let present: Vec<usize> = (0..num_rows).filter(|i| input.is_valid(*i)).collect();
        let population: Vec<f64> = present.iter().map(|i| input.value(*i)).collect();
        let scores = match scheme.as_str() {
            "value_quantile" => value_quantile_scores(&population, bins, reverse),
            "ntile" => {
                let tiebreak = match values.get(4) {
                    Some(keys) => {
                        let order = sort_to_indices(keys, Some(SortOptions::default()), None)?;
                        let mut rank = vec![0u32; num_rows];
                        for (position, row) in order.values().iter().enumerate() {
                            rank[*row as usize] = position as u32;
                        }
                        present.iter().map(|i| rank[*i]).collect()
                    }
                    None => (0..present.len() as u32).collect::<Vec<u32>>(),
                };
                ntile_scores(&population, &tiebreak, bins, reverse)
            }
            "rfm_pkg" => PackageBins::new(&population, bins, None).scores(&population, reverse),
            other => {
                return crate::crm_err!(
                    InvalidArgument,
                    "rfm_score: unknown scheme '{other}' (known: value_quantile, ntile, rfm_pkg)"
                );
            }
        };
        let mut out = vec![None; num_rows];
        for (row, score) in present.iter().zip(scores) {
            out[*row] = (score > 0).then_some(i32::from(score));
        }
        Ok(Arc::new(Int32Array::from(out)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Float64Array, Int64Array, StringArray};

    #[test]
    fn scores_skip_nulls_and_use_the_tiebreak() {
        let values: ArrayRef = Arc::new(Float64Array::from(vec![
            Some(1.0),
            None,
            Some(1.0),
            Some(5.0),
        ]));
        let scheme: ArrayRef = Arc::new(StringArray::from(vec!["ntile"; 4]));
        let bins: ArrayRef = Arc::new(Int64Array::from(vec![3; 4]));
        let reverse: ArrayRef =
            Arc::new(datafusion::arrow::array::BooleanArray::from(vec![false; 4]));
        let ids: ArrayRef = Arc::new(Int64Array::from(vec![9, 1, 2, 3]));
        let out = ScoreEvaluator
            .evaluate_all(&[values, scheme, bins, reverse, ids], 4)
            .unwrap();
        let out = out.as_primitive::<datafusion::arrow::datatypes::Int32Type>();
        assert!(out.is_null(1));
        // Equal values 1.0: id 2 before id 9.
        assert_eq!((out.value(2), out.value(0), out.value(3)), (1, 2, 3));
    }
}
