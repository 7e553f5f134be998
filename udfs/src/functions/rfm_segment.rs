//! `rfm_segment(r, f, m [, preset])`: the named segment of a customer's RFM scores.
//!
//! Business meaning: turns three 1–5 scores into the label a CRM team acts on (champions,
//! at risk, hibernating...). Presets follow crm-reference §1.3: `rf_grid` (default; 10
//! segments on R and F only, a complete partition of the 25 cells, so `m` may be NULL),
//! `rfm_pkg` (the rfm R package's documented map, first match, `Others` when none) and
//! `putler` (11 segments on R and (F+M)/2, first match in the published order).
//!
//! NULL scores give NULL (except `m` under `rf_grid`); scores outside 1–5 give NULL; an
//! unknown preset is an error.

use std::sync::{Arc, OnceLock};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::common::utils::take_function_args;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};

use crate::CrmFunction;
use crate::args::scalar::{Kind, Param, coerce, param, signature};
use crate::kernels::segments::{PRESETS, segment};

/// Registers `rfm_segment`.
pub fn functions() -> Vec<CrmFunction> {
    vec![CrmFunction::Scalar(ScalarUDF::new_from_impl(
        RfmSegment::new(),
    ))]
}

/// The `rfm_segment` scalar function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct RfmSegment {
    signature: Signature,
}

/// Scores of any integer type (`NTILE` gives unsigned ones) are read as `Int64`.
const PARAMS: &[Param] = &[
    param("r_score", Kind::Integer),
    param("f_score", Kind::Integer),
    param("m_score", Kind::Integer),
    param("preset", Kind::Text),
];

impl RfmSegment {
    fn new() -> Self {
        RfmSegment {
            signature: signature(PARAMS, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for RfmSegment {
    fn name(&self) -> &str {
        "rfm_segment"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        coerce(self.name(), PARAMS, &[3, 4], arg_types)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let (r, f, m, preset) = match arrays.as_slice() {
            [r, f, m] => (r, f, m, None),
            [r, f, m, p] => (r, f, m, Some(p)),
            _ => {
                let [r, f, m] = take_function_args(self.name(), &arrays)?;
                (r, f, m, None)
            }
        };
        Ok(ColumnarValue::Array(segments(rows, r, f, m, preset)?))
    }

    fn documentation(&self) -> Option<&Documentation> {
        static DOC: OnceLock<Documentation> = OnceLock::new();
        Some(DOC.get_or_init(|| {
            crate::docs::builder(
                "The named RFM segment of 1-5 scores (crm-reference §1.3). Presets: 'rf_grid' \
                 (default: 10 segments on R and F, a complete partition, so m may be NULL), \
                 'rfm_pkg' (the rfm R package's map, first match, 'Others' when none) and \
                 'putler' (11 segments on R and (F+M)/2, first match in the published order). \
                 NULL or out-of-range scores give NULL.",
                "rfm_segment(r_score, f_score, m_score [, preset])",
            )
            .with_argument("r_score", "recency score 1-5 (5 = most recent)")
            .with_argument("f_score", "frequency score 1-5")
            .with_argument("m_score", "monetary score 1-5 (unused by rf_grid)")
            .with_argument("preset", "'rf_grid' (default), 'rfm_pkg' or 'putler'")
            .with_sql_example(
                "SELECT rfm_segment(5, 5, 3), rfm_segment(1, 1, 1, 'rfm_pkg');\n\
                 -- champions | Lost",
            )
            .build()
        }))
    }
}

fn score(array: &ArrayRef, row: usize) -> Option<u8> {
    let values = array.as_primitive::<Int64Type>();
    if values.is_null(row) {
        return None;
    }
    u8::try_from(values.value(row)).ok()
}

fn segments(
    rows: usize,
    r: &ArrayRef,
    f: &ArrayRef,
    m: &ArrayRef,
    preset: Option<&ArrayRef>,
) -> Result<ArrayRef> {
    let presets = preset.map(|p| p.as_string::<i32>());
    let mut out = StringBuilder::with_capacity(rows, rows * 12);
    for row in 0..rows {
        let name = match presets {
            None => "rf_grid",
            Some(p) if p.is_null(row) => {
                out.append_null();
                continue;
            }
            Some(p) => p.value(row),
        };
        if !PRESETS.contains(&name) {
            return crate::crm_err!(
                InvalidArgument,
                "rfm_segment: unknown preset '{name}' (known: {})",
                PRESETS.join(", ")
            );
        }
        // rf_grid ignores m, so a missing m does not hide the segment.
        let m_score = if name == "rf_grid" {
            Some(score(m, row).unwrap_or(1))
        } else {
            score(m, row)
        };
        match (score(r, row), score(f, row), m_score) {
            (Some(r), Some(f), Some(m)) => out.append_option(segment(name, r, f, m)),
            _ => out.append_null(),
        }
    }
    Ok(Arc::new(out.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::Int64Array;

    #[test]
    fn labels_by_preset() {
        let r: ArrayRef = Arc::new(Int64Array::from(vec![Some(5), Some(1), None, Some(9)]));
        let f: ArrayRef = Arc::new(Int64Array::from(vec![Some(5), Some(1), Some(1), Some(1)]));
        let m: ArrayRef = Arc::new(Int64Array::from(vec![None, Some(1), Some(1), Some(1)]));
        let out = segments(4, &r, &f, &m, None).unwrap();
        let out = out.as_string::<i32>();
        assert_eq!(out.value(0), "champions");
        assert_eq!(out.value(1), "hibernating");
        assert!(out.is_null(2));
        assert!(out.is_null(3));
    }
}
