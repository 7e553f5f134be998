//! `rfm_class8(recency, frequency, monetary, mean_r, mean_f, mean_m)`: the Chinese 8-class RFM
//! customer type (RFM 八大客户类型).
//! Documented once, in `DOC` (FUNCTIONS.md is generated from it).

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, StringBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::error::Result;

use crate::CrmFunction;
use crate::args::scalar::{Columns, Kind, Param, param};
use crate::kernels::segments::class8_raw;
use crate::scalar_spec::{Doc, Kernel, ScalarSpec};

const NAME: &str = "rfm_class8";

const PARAMS: &[Param] = &[
    param("recency", Kind::Number),
    param("frequency", Kind::Number),
    param("monetary", Kind::Number),
    param("mean_r", Kind::Number),
    param("mean_f", Kind::Number),
    param("mean_m", Kind::Number),
];

/// Registers `rfm_class8`.
pub fn functions() -> Vec<CrmFunction> {
    vec![
        ScalarSpec::new(NAME, PARAMS, DataType::Utf8, Kernel::Arrays(classes), DOC)
            .strict()
            .into_function(),
    ]
}

const DOC: Doc = Doc {
    description: "The Chinese 8-class RFM customer type (RFM 八大客户类型, crm-reference §1.3) of raw \
                 measures against comparison values, usually the population means. The classic \
                 Chinese CRM split of customers into eight types from three high/low flags: R \
                 is high when recency < mean_r (a recent purchase), F when frequency > mean_f, M \
                 when monetary > mean_m; ties count as low. High/high/high is 重要价值客户 \
                 (important value), low/low/low 一般挽留客户 (general win-back). Any NULL or NaN \
                 argument gives NULL; a negative recency or frequency is an error; monetary may \
                 be negative (net of refunds).",
    syntax: "rfm_class8(recency, frequency, monetary, mean_r, mean_f, mean_m)",
    arguments: &[
        ("recency", "days since the customer's last order"),
        ("frequency", "number of orders"),
        ("monetary", "spend (sum or average order value)"),
        (
            "mean_r",
            "comparison value for recency, e.g. avg(recency) OVER ()",
        ),
        ("mean_f", "comparison value for frequency"),
        ("mean_m", "comparison value for monetary"),
    ],
    example: "SELECT customer_id, rfm_class8(recency_days, frequency, monetary,\n       \
                 avg(recency_days) OVER (), avg(frequency) OVER (), avg(monetary) OVER ())\n\
                 FROM rfm('orders', DATE '2026-01-01');\n\
                 SELECT rfm_class8(10, 5, 500, 30, 3, 200);  -- 重要价值客户",
};

fn classes(rows: usize, columns: &Columns) -> Result<ArrayRef> {
    let mut out = StringBuilder::with_capacity(rows, rows * 18);
    for row in 0..rows {
        let mut values = [0.0; 6];
        let mut missing = false;
        for (i, value) in values.iter_mut().enumerate() {
            match columns.number(i, row) {
                Some(v) if !v.is_nan() => *value = v,
                _ => missing = true,
            }
        }
        if missing {
            out.append_null();
            continue;
        }
        let [recency, frequency, monetary, mean_r, mean_f, mean_m] = values;
        if recency < 0.0 {
            return crate::crm_err!(
                InvalidArgument,
                "{NAME}: recency (days since the last order) must not be negative, got {recency}"
            );
        }
        if frequency < 0.0 {
            return crate::crm_err!(
                InvalidArgument,
                "{NAME}: frequency must not be negative, got {frequency}"
            );
        }
        out.append_value(class8_raw(
            recency,
            frequency,
            monetary,
            [mean_r, mean_f, mean_m],
        ));
    }
    Ok(Arc::new(out.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, AsArray, Float64Array};
    use proptest::prelude::*;

    fn run(rows: Vec<[Option<f64>; 6]>) -> Result<Vec<Option<String>>> {
        let n = rows.len();
        let arrays: Vec<ArrayRef> = (0..6)
            .map(|i| {
                Arc::new(Float64Array::from(
                    rows.iter().map(|r| r[i]).collect::<Vec<_>>(),
                )) as ArrayRef
            })
            .collect();
        let out = classes(n, &Columns::from_arrays(arrays))?;
        let out = out.as_string::<i32>();
        Ok((0..n)
            .map(|i| out.is_valid(i).then(|| out.value(i).to_string()))
            .collect())
    }

    fn row(values: [f64; 6]) -> [Option<f64>; 6] {
        values.map(Some)
    }

    #[test]
    fn eight_classes_ties_low_nulls_null() {
        let means = [30.0, 3.0, 200.0];
        let with = |r: f64, f: f64, m: f64| row([r, f, m, means[0], means[1], means[2]]);
        let got = run(vec![
            with(10.0, 5.0, 500.0),
            with(30.0, 3.0, 200.0),
            with(10.0, 1.0, 500.0),
            with(90.0, 9.0, -5.0),
            [None, Some(1.0), Some(1.0), Some(1.0), Some(1.0), Some(1.0)],
            with(f64::NAN, 1.0, 1.0),
        ])
        .unwrap();
        let expected = [
            Some("重要价值客户"),
            Some("一般挽留客户"),
            Some("重要发展客户"),
            Some("一般保持客户"),
            None,
            None,
        ];
        assert_eq!(got, expected.map(|s| s.map(String::from)));
    }

    #[test]
    fn negative_counts_are_errors() {
        assert!(run(vec![row([-1.0, 1.0, 1.0, 1.0, 1.0, 1.0])]).is_err());
        let message = run(vec![row([1.0, -1.0, 1.0, 1.0, 1.0, 1.0])])
            .unwrap_err()
            .to_string();
        assert!(message.contains("rfm_class8: frequency"), "{message}");
    }

    proptest! {
        #[test]
        fn more_spend_never_lowers_the_m_flag(
            r in 0.0f64..400.0, f in 0.0f64..20.0, m in -50.0f64..1000.0, extra in 0.0f64..500.0,
            mr in 0.0f64..400.0, mf in 0.0f64..20.0, mm in 0.0f64..1000.0,
        ) {
            let rows = vec![row([r, f, m, mr, mf, mm]), row([r, f, m + extra, mr, mf, mm])];
            let got = run(rows).unwrap();
            let (a, b) = (got[0].clone().unwrap(), got[1].clone().unwrap());
            // 重要 (important) means M is high; it can only be gained by spending more.
            prop_assert!(!(a.starts_with("重要") && b.starts_with("一般")));
            // R and F do not move.
            prop_assert_eq!(a.chars().nth(2), b.chars().nth(2));
        }
    }
}
