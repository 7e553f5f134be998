//! `segmint_as_of()`: the session's analysis date.
//!
//! Business meaning: CRM measures (recency, lifecycle stage, age) are computed "as of" a date.
//! Reports pin it once per session, `SET segmint.as_of = '2026-01-01'`, and every query uses
//! `segmint_as_of()` instead of repeating the literal, so re-running a report for another date
//! is one `SET`. With `segmint.as_of` empty (the default) it is today's date in UTC.
//!
//! The value comes from [`FunctionOptions::as_of`](crate::FunctionOptions) (`[functions]` in
//! `segmint.toml`, or `SET`). Text that is not a `YYYY-MM-DD` date is an error at execution
//! naming the setting. The function is stable: one value per query.

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};

use crate::args::{Days, parse_date};
use crate::{CrmFunction, FunctionOptions};

const NAME: &str = "segmint_as_of";

/// Registers `segmint_as_of`.
pub fn functions() -> Vec<CrmFunction> {
    vec![CrmFunction::Scalar(ScalarUDF::new_from_impl(
        SegmintAsOf::new(),
    ))]
}

/// The `segmint_as_of` scalar function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct SegmintAsOf {
    signature: Signature,
}

impl SegmintAsOf {
    fn new() -> Self {
        SegmintAsOf {
            signature: Signature::nullary(Volatility::Stable),
        }
    }
}

impl ScalarUDFImpl for SegmintAsOf {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Date32)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let options = FunctionOptions::from_config(&args.config_options);
        let days = as_of_days(&options.as_of, today_utc())?;
        Ok(ColumnarValue::Scalar(ScalarValue::Date32(Some(days))))
    }

    fn documentation(&self) -> Option<&Documentation> {
        static DOC: OnceLock<Documentation> = OnceLock::new();
        Some(DOC.get_or_init(|| {
            crate::docs::builder(
                "The session's analysis date: segmint.as_of (SET segmint.as_of = '2026-01-01', \
                 or [functions] as_of in segmint.toml), or today's date in UTC when it is empty. \
                 Pass it to the CRM functions so a report is re-run for another date with one \
                 SET. Text that is not a YYYY-MM-DD date is an error.",
                "segmint_as_of()",
            )
            .with_sql_example(
                "SET segmint.as_of = '2026-01-01';\n\
                 SELECT segmint_as_of();  -- 2026-01-01\n\
                 SELECT customer_id, lifecycle_stage(min(order_ts), max(order_ts), count(*), \
                 segmint_as_of())\nFROM orders GROUP BY customer_id;",
            )
            .build()
        }))
    }
}

/// Today's date in UTC, in days since 1970-01-01.
fn today_utc() -> Days {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    (seconds / 86_400) as Days
}

/// The analysis date from the `segmint.as_of` text (`today` when empty).
fn as_of_days(setting: &str, today: Days) -> Result<Days> {
    let text = setting.trim();
    if text.is_empty() {
        return Ok(today);
    }
    match parse_date(text) {
        Some(days) if text.len() == 10 => Ok(days),
        _ => crate::crm_err!(
            InvalidArgument,
            "{NAME}: segmint.as_of = '{setting}' is not a date; use YYYY-MM-DD (e.g. SET \
             segmint.as_of = '2026-01-01') or '' for today"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::format_date;
    use proptest::prelude::*;

    #[test]
    fn setting_empty_or_invalid() {
        assert_eq!(
            format_date(as_of_days("2026-01-01", 0).unwrap()),
            "2026-01-01"
        );
        assert_eq!(
            format_date(as_of_days(" 1998-07-01 ", 0).unwrap()),
            "1998-07-01"
        );
        assert_eq!(as_of_days("", 42).unwrap(), 42);
        for bad in ["tomorrow", "2026-13-01", "2026-01-01 10:00", "01/02/2026"] {
            let message = as_of_days(bad, 0).unwrap_err().to_string();
            assert!(
                message.contains("segmint_as_of: segmint.as_of"),
                "{message}"
            );
        }
    }

    #[test]
    fn today_is_after_2025() {
        assert!(today_utc() > parse_date("2025-01-01").unwrap());
    }

    proptest! {
        #[test]
        fn formatted_dates_round_trip(days in 0i32..2_900_000) {
            prop_assert_eq!(as_of_days(&format_date(days), 0).unwrap(), days);
        }
    }
}
