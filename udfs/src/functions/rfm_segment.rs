//! `rfm_segment(r_score, f_score, m_score [, preset])`: the named segment of RFM scores.
//! Documented once, in `DOC` (FUNCTIONS.md is generated from it).

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, StringBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::error::Result;

use crate::CrmFunction;
use crate::args::scalar::{Columns, Kind, Param, param};
use crate::kernels::segments::{PRESETS, segment};
use crate::scalar_spec::{Doc, Kernel, ScalarSpec};

/// Registers `rfm_segment`.
pub fn functions() -> Vec<CrmFunction> {
    vec![
        ScalarSpec::new(
            "rfm_segment",
            PARAMS,
            DataType::Utf8,
            Kernel::Arrays(segments),
            DOC,
        )
        .arities(&[3, 4])
        .into_function(),
    ]
}

/// Scores of any integer type (`NTILE` gives unsigned ones) are read as `Int64`.
const PARAMS: &[Param] = &[
    param("r_score", Kind::Integer),
    param("f_score", Kind::Integer),
    param("m_score", Kind::Integer),
    param("preset", Kind::Text),
];

const DOC: Doc = Doc {
    description: "The named RFM segment of 1-5 scores (crm-reference §1.3): turns three \
                  scores into the label a CRM team acts on. Presets: 'rf_grid' (default: 10 \
                  segments on R and F, a complete partition of the 25 cells, so m may be NULL), \
                  'rfm_pkg' (the rfm R package's map, first match, 'Others' when none) and \
                  'putler' (11 segments on R and (F+M)/2, first match in the published order). \
                  NULL or out-of-range scores give NULL; an unknown preset is an error.",
    syntax: "rfm_segment(r_score, f_score, m_score [, preset])",
    arguments: &[
        ("r_score", "recency score 1-5 (5 = most recent)"),
        ("f_score", "frequency score 1-5"),
        ("m_score", "monetary score 1-5 (unused by rf_grid)"),
        ("preset", "'rf_grid' (default), 'rfm_pkg' or 'putler'"),
    ],
    example: "SELECT rfm_segment(5, 5, 3), rfm_segment(1, 1, 1, 'rfm_pkg');\n\
              -- champions | Lost",
};

fn score(columns: &Columns, i: usize, row: usize) -> Option<u8> {
    u8::try_from(columns.int(i, row)?).ok()
}

fn segments(rows: usize, columns: &Columns) -> Result<ArrayRef> {
    let mut out = StringBuilder::with_capacity(rows, rows * 12);
    for row in 0..rows {
        let name = if columns.has(3) {
            match columns.text(3, row) {
                Some(name) => name,
                None => {
                    out.append_null();
                    continue;
                }
            }
        } else {
            "rf_grid"
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
            Some(score(columns, 2, row).unwrap_or(1))
        } else {
            score(columns, 2, row)
        };
        match (score(columns, 0, row), score(columns, 1, row), m_score) {
            (Some(r), Some(f), Some(m)) => out.append_option(segment(name, r, f, m)),
            _ => out.append_null(),
        }
    }
    Ok(Arc::new(out.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, AsArray, Int64Array};

    #[test]
    fn labels_by_preset() {
        let r: ArrayRef = Arc::new(Int64Array::from(vec![Some(5), Some(1), None, Some(9)]));
        let f: ArrayRef = Arc::new(Int64Array::from(vec![Some(5), Some(1), Some(1), Some(1)]));
        let m: ArrayRef = Arc::new(Int64Array::from(vec![None, Some(1), Some(1), Some(1)]));
        let out = segments(4, &Columns::from_arrays(vec![r, f, m])).unwrap();
        let out = out.as_string::<i32>();
        assert_eq!(out.value(0), "champions");
        assert_eq!(out.value(1), "hibernating");
        assert!(out.is_null(2));
        assert!(out.is_null(3));
    }
}
