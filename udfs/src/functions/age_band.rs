//! `age_band(birth_date, as_of [, bands])`: a customer's age group on an analysis date.
//! Documented once, in `DOC` (FUNCTIONS.md is generated from it).

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, StringBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::error::Result;

use crate::CrmFunction;
use crate::args::scalar::{Columns, Kind, Param, param};
use crate::args::{Days, format_date};
use crate::scalar_spec::{Doc, Kernel, ScalarSpec};

const NAME: &str = "age_band";

const PARAMS: &[Param] = &[
    param("birth_date", Kind::Date),
    param("as_of", Kind::Date),
    param("bands", Kind::Cuts),
];

/// The default band edges (crm-reference §3.3).
pub const DEFAULT_BANDS: [u32; 5] = [18, 25, 35, 45, 55];

/// Registers `age_band`.
pub fn functions() -> Vec<CrmFunction> {
    vec![
        ScalarSpec::new(NAME, PARAMS, DataType::Utf8, Kernel::Arrays(bands), DOC)
            .arities(&[2, 3])
            .into_function(),
    ]
}

const DOC: Doc = Doc {
    description: "The age group of a customer on an analysis date (crm-reference §3.3). The \
                 basic demographic tag, used to split campaigns and reports by age. Age is in \
                 whole years and goes up on the birthday (as PostgreSQL's age() counts it; \
                 29 February birthdays count from 1 March in other years). Bands are \
                 lower-inclusive, upper-exclusive: the default [18, 25, 35, 45, 55] gives '<18', \
                 '18-24', '25-34', '35-44', '45-54', '55+'. A NULL date gives NULL, NULL bands \
                 the default; a birth date after as_of, or malformed bands, is an error at \
                 execution.",
    syntax: "age_band(birth_date, as_of [, bands])",
    arguments: &[
        ("birth_date", "date (or timestamp) of birth"),
        ("as_of", "the analysis date (e.g. segmint_as_of())"),
        (
            "bands",
            "strictly ascending whole-number band edges from 0 to 1000 (years): an array \
                 [18, 30, 50] or text '18;30;50' (default [18, 25, 35, 45, 55])",
        ),
    ],
    example: "SELECT age_band(DATE '1990-05-20', DATE '2026-01-01'),\n       \
                 age_band(DATE '2001-01-15', DATE '2026-01-01', [20, 30, 40]);\n\
                 -- 35-44 | 20-29",
};

/// The calendar date (year, month, day) of days since 1970-01-01 (proleptic Gregorian; Howard
/// Hinnant's `civil_from_days`).
pub fn civil_from_days(days: Days) -> (i64, u32, u32) {
    let z = i64::from(days) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Whole years from `birth` to `as_of` (`as_of >= birth`): up by one on each birthday.
pub fn age_years(birth: Days, as_of: Days) -> i64 {
    let (by, bm, bd) = civil_from_days(birth);
    let (ay, am, ad) = civil_from_days(as_of);
    ay - by - i64::from((am, ad) < (bm, bd))
}

/// The label of `age` for ascending `edges`: `'<e0'`, `'ei-(e(i+1)-1)'`, `'ek+'`.
pub fn band_label(age: i64, edges: &[u32]) -> String {
    match edges.iter().position(|e| age < i64::from(*e)) {
        Some(0) => format!("<{}", edges[0]),
        Some(i) => format!("{}-{}", edges[i - 1], edges[i] - 1),
        None => format!("{}+", edges.last().copied().unwrap_or(0)),
    }
}

/// Band edges of one row: the row's own (checked whole, non-negative, ascending) or the default.
fn row_edges(columns: &Columns, row: usize) -> Result<Vec<u32>> {
    let Some(cuts) = columns.cuts(NAME, "bands", 2, row)? else {
        return Ok(DEFAULT_BANDS.to_vec());
    };
    cuts.iter()
        .map(|c| {
            if c.fract() == 0.0 && (0.0..=1000.0).contains(c) {
                Ok(*c as u32)
            } else {
                crate::crm_err!(
                    InvalidArgument,
                    "{NAME}: bands must be whole numbers of years from 0 to 1000, got {c}"
                )
            }
        })
        .collect()
}

fn bands(rows: usize, columns: &Columns) -> Result<ArrayRef> {
    let mut out = StringBuilder::with_capacity(rows, rows * 5);
    let constant_edges = if columns.is_constant(2) && rows > 0 {
        Some(row_edges(columns, 0)?)
    } else {
        None
    };
    for row in 0..rows {
        let edges = match &constant_edges {
            Some(edges) => edges.clone(),
            None => row_edges(columns, row)?,
        };
        let (Some(birth), Some(as_of)) = (columns.date(0, row), columns.date(1, row)) else {
            out.append_null();
            continue;
        };
        if birth > as_of {
            return crate::crm_err!(
                Data,
                "{NAME}: birth_date {} is after as_of {}",
                format_date(birth),
                format_date(as_of)
            );
        }
        out.append_value(band_label(age_years(birth, as_of), &edges));
    }
    Ok(Arc::new(out.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::parse_date;
    use datafusion::arrow::array::{Array, AsArray, Date32Array, StringArray};
    use proptest::prelude::*;

    fn day(text: &str) -> Days {
        parse_date(text).unwrap()
    }

    #[test]
    fn civil_dates_match_arrow() {
        for text in [
            "1970-01-01",
            "2000-02-29",
            "1960-12-31",
            "2026-03-01",
            "1899-12-31",
        ] {
            let (y, m, d) = civil_from_days(day(text));
            assert_eq!(format!("{y:04}-{m:02}-{d:02}"), text);
        }
    }

    #[test]
    fn age_goes_up_on_the_birthday() {
        assert_eq!(age_years(day("1990-05-20"), day("2026-05-19")), 35);
        assert_eq!(age_years(day("1990-05-20"), day("2026-05-20")), 36);
        assert_eq!(age_years(day("2000-02-29"), day("2001-02-28")), 0);
        assert_eq!(age_years(day("2000-02-29"), day("2001-03-01")), 1);
        assert_eq!(age_years(day("2000-02-29"), day("2004-02-29")), 4);
        assert_eq!(age_years(day("2026-01-01"), day("2026-01-01")), 0);
    }

    #[test]
    fn labels_are_lower_inclusive() {
        let edges = DEFAULT_BANDS;
        let labels: Vec<String> = [0, 17, 18, 24, 25, 54, 55, 90]
            .iter()
            .map(|a| band_label(*a, &edges))
            .collect();
        assert_eq!(
            labels,
            [
                "<18", "<18", "18-24", "18-24", "25-34", "45-54", "55+", "55+"
            ]
        );
    }

    fn run(birth: Vec<Option<i32>>, bands: Option<ArrayRef>) -> Result<Vec<Option<String>>> {
        let rows = birth.len();
        let mut arrays: Vec<ArrayRef> = vec![
            Arc::new(Date32Array::from(birth)),
            Arc::new(Date32Array::from(vec![Some(day("2026-01-01")); rows])),
        ];
        arrays.extend(bands);
        let out = bands_of(rows, arrays)?;
        let out = out.as_string::<i32>();
        Ok((0..rows)
            .map(|i| out.is_valid(i).then(|| out.value(i).to_string()))
            .collect())
    }

    fn bands_of(rows: usize, arrays: Vec<ArrayRef>) -> Result<ArrayRef> {
        bands(rows, &Columns::from_arrays(arrays))
    }

    #[test]
    fn bands_from_text_arrays_and_default() {
        let births = vec![Some(day("2001-01-15")), Some(day("1960-12-31")), None];
        assert_eq!(
            run(births.clone(), None).unwrap(),
            vec![Some("18-24".into()), Some("55+".into()), None]
        );
        let text: ArrayRef = Arc::new(StringArray::from(vec![
            Some("20;30;40"),
            None,
            Some("20;30;40"),
        ]));
        assert_eq!(
            run(births, Some(text)).unwrap(),
            vec![Some("20-29".into()), Some("55+".into()), None]
        );
        let bad: ArrayRef = Arc::new(StringArray::from(vec![Some("18.5;30")]));
        assert!(run(vec![Some(0)], Some(bad)).is_err());
        let negative: ArrayRef = Arc::new(StringArray::from(vec![Some("-5;10")]));
        assert!(run(vec![Some(0)], Some(negative)).is_err());
    }

    #[test]
    fn birth_after_as_of_is_an_error() {
        let message = run(vec![Some(day("2026-01-02"))], None)
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("age_band: birth_date 2026-01-02 is after as_of 2026-01-01"),
            "{message}"
        );
    }

    proptest! {
        #[test]
        fn age_rises_by_one_exactly_on_birthdays(birth in -30000i32..20000, span in 0i32..40000) {
            let as_of = birth + span;
            let today = age_years(birth, as_of);
            let tomorrow = age_years(birth, as_of + 1);
            prop_assert!(today >= 0);
            prop_assert!(tomorrow == today || tomorrow == today + 1);
            if tomorrow == today + 1 {
                let (_, bm, bd) = civil_from_days(birth);
                let (_, m, d) = civil_from_days(as_of + 1);
                let leap_day_in_march = (bm, bd) == (2, 29) && (m, d) == (3, 1);
                prop_assert!((m, d) == (bm, bd) || leap_day_in_march);
            }
        }

        #[test]
        fn civil_from_days_round_trips(days in -200000i32..200000) {
            let (y, m, d) = civil_from_days(days);
            let text = format!("{y:04}-{m:02}-{d:02}");
            if (1000..=9999).contains(&y) {
                prop_assert_eq!(parse_date(&text), Some(days));
            }
        }
    }
}
