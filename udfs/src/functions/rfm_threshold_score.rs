//! `rfm_threshold_score(value, cuts, reverse)`: an RFM score from fixed, business-chosen
//! thresholds.
//! Documented once, in `DOC` (FUNCTIONS.md is generated from it).

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int32Builder};
use datafusion::arrow::datatypes::DataType;
use datafusion::error::Result;

use crate::CrmFunction;
use crate::args::scalar::{Columns, Kind, Param, param};
use crate::kernels::scoring::threshold_score;
use crate::scalar_spec::{Doc, Kernel, ScalarSpec};

const NAME: &str = "rfm_threshold_score";

const PARAMS: &[Param] = &[
    param("value", Kind::Number),
    param("cuts", Kind::Cuts),
    param("reverse", Kind::Boolean),
];

/// At most this many cut points (scores must fit the kernel's `u8`).
const MAX_CUTS: usize = 254;

/// Registers `rfm_threshold_score`.
pub fn functions() -> Vec<CrmFunction> {
    vec![
        ScalarSpec::new(NAME, PARAMS, DataType::Int32, Kernel::Arrays(scores), DOC)
            .strict()
            .into_function(),
    ]
}

const DOC: Doc = Doc {
    description: "An RFM score from fixed, business-chosen cut points (crm-reference §1.2 C). \
                 Many teams score R, F and M against fixed cut points ('ordered within 10 \
                 days', '3+ orders', 'spent 200+') rather than population quantiles, so scores \
                 stay stable from month to month. The score is 1 + the number of cut points <= \
                 value, so scores run from 1 to len(cuts) + 1; with reverse = true (recency, \
                 where fewer days is better) it is len(cuts) + 1 minus that count. cuts is text \
                 like '10;30;90' (separated by ';', '|', ',' or spaces) or an array of numbers, \
                 strictly ascending. Any NULL argument, or a NaN value, gives NULL. Cuts that \
                 are empty, not numbers, not strictly ascending, contain NULL or are more than \
                 254 are an error at execution.",
    syntax: "rfm_threshold_score(value, cuts, reverse)",
    arguments: &[
        (
            "value",
            "the raw measure (recency days, order count, spend)",
        ),
        (
            "cuts",
            "ascending cut points: text '10;30;90' or an array such as [10, 30, 90] or \
                 make_array(10, 30, 90)",
        ),
        ("reverse", "true when smaller values are better (recency)"),
    ],
    example: "SELECT rfm_threshold_score(45, '10;30;90', true),\n       \
                 rfm_threshold_score(4, [2, 3, 6], false);\n\
                 -- 2 | 3",
};

fn scores(rows: usize, columns: &Columns) -> Result<ArrayRef> {
    let mut out = Int32Builder::with_capacity(rows);
    // Constant cuts (the usual case) are parsed once.
    let constant_cuts = if columns.is_constant(1) && rows > 0 {
        Some(checked_cuts(columns, 0)?)
    } else {
        None
    };
    for row in 0..rows {
        let cuts = match &constant_cuts {
            Some(cuts) => cuts.clone(),
            None => checked_cuts(columns, row)?,
        };
        let (Some(value), Some(cuts), Some(reverse)) =
            (columns.number(0, row), cuts, columns.boolean(2, row))
        else {
            out.append_null();
            continue;
        };
        if value.is_nan() {
            out.append_null();
            continue;
        }
        out.append_value(i32::from(threshold_score(value, &cuts, reverse)));
    }
    Ok(Arc::new(out.finish()))
}

fn checked_cuts(columns: &Columns, row: usize) -> Result<Option<Arc<[f64]>>> {
    let Some(cuts) = columns.cuts(NAME, "cuts", 1, row)? else {
        return Ok(None);
    };
    if cuts.len() > MAX_CUTS {
        return crate::crm_err!(
            InvalidArgument,
            "{NAME}: cuts: at most {MAX_CUTS} cut points, got {}",
            cuts.len()
        );
    }
    Ok(Some(cuts.into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{
        Array, AsArray, BooleanArray, Float64Array, ListArray, StringArray,
    };
    use datafusion::arrow::datatypes::{Float64Type, Int32Type};
    use proptest::prelude::*;

    fn run(
        values: Vec<Option<f64>>,
        cuts: ArrayRef,
        reverse: Vec<Option<bool>>,
    ) -> Result<Vec<Option<i32>>> {
        let rows = values.len();
        let columns = Columns::from_arrays(vec![
            Arc::new(Float64Array::from(values)),
            cuts,
            Arc::new(BooleanArray::from(reverse)),
        ]);
        let out = scores(rows, &columns)?;
        let out = out.as_primitive::<Int32Type>();
        Ok((0..rows)
            .map(|i| out.is_valid(i).then(|| out.value(i)))
            .collect())
    }

    fn text(cuts: &[Option<&str>]) -> ArrayRef {
        Arc::new(StringArray::from(cuts.to_vec()))
    }

    #[test]
    fn text_and_array_cuts_score_alike() {
        let values = vec![
            Some(5.0),
            Some(10.0),
            Some(45.0),
            Some(90.0),
            None,
            Some(f64::NAN),
        ];
        let text_cuts = text(&[Some("10;30;90"); 6]);
        let list_cuts: ArrayRef = Arc::new(ListArray::from_iter_primitive::<Float64Type, _, _>(
            vec![Some(vec![Some(10.0), Some(30.0), Some(90.0)]); 6],
        ));
        let forward = vec![Some(false); 6];
        let expected = vec![Some(1), Some(2), Some(3), Some(4), None, None];
        assert_eq!(
            run(values.clone(), text_cuts.clone(), forward.clone()).unwrap(),
            expected
        );
        assert_eq!(run(values.clone(), list_cuts, forward).unwrap(), expected);
        let reversed = run(values, text_cuts, vec![Some(true); 6]).unwrap();
        assert_eq!(
            reversed,
            vec![Some(4), Some(3), Some(2), Some(1), None, None]
        );
    }

    #[test]
    fn nulls_and_bad_cuts() {
        assert_eq!(
            run(
                vec![Some(1.0), Some(1.0)],
                text(&[None, Some("2")]),
                vec![Some(true), None]
            )
            .unwrap(),
            vec![None, None]
        );
        for bad in ["", "30;10", "a;b", "10;10"] {
            let message = run(vec![Some(1.0)], text(&[Some(bad)]), vec![Some(false)])
                .unwrap_err()
                .to_string();
            assert!(message.contains("rfm_threshold_score: cuts"), "{message}");
        }
        let many = (1..=300)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(";");
        assert!(run(vec![Some(1.0)], text(&[Some(&many)]), vec![Some(false)]).is_err());
    }

    proptest! {
        #[test]
        fn scores_are_in_range_and_reverse_mirrors(
            value in -100.0f64..500.0,
            mut cuts in proptest::collection::btree_set(0i32..400, 1..8),
        ) {
            let cuts: Vec<f64> = std::mem::take(&mut cuts).into_iter().map(f64::from).collect();
            let joined = cuts.iter().map(f64::to_string).collect::<Vec<_>>().join(";");
            let n = cuts.len() as i32 + 1;
            let score = |reverse| {
                run(vec![Some(value)], text(&[Some(&joined)]), vec![Some(reverse)]).unwrap()[0]
            };
            let (forward, backward) = (score(false).unwrap(), score(true).unwrap());
            prop_assert!((1..=n).contains(&forward));
            prop_assert_eq!(forward + backward, n + 1);
        }
    }
}
