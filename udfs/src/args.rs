//! Arguments of CRM functions: constant expressions folded to values, dates, durations, the
//! constant arguments of aggregate and window functions, timestamp columns, and the
//! `'key=value,key=value'` option strings that table functions take.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Date64Type, Schema, TimeUnit, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType,
};
use datafusion::catalog::Session;
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::error::Result;
use datafusion::logical_expr::{ColumnarValue, Expr};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Literal;

/// Days from 1970-01-01 to a calendar date (the Arrow `Date32` representation).
pub type Days = i32;

/// Evaluates a constant argument expression (a literal, `DATE '…'`, `current_date`, a cast...).
pub fn constant(
    function: &str,
    position: usize,
    expr: &Expr,
    session: &dyn Session,
) -> Result<ScalarValue> {
    if let Expr::Literal(value, _) = expr {
        return Ok(value.clone());
    }
    let schema = DFSchema::empty();
    let physical = session
        .create_physical_expr(expr.clone(), &schema)
        .map_err(|e| {
            crate::crm_error!(
                InvalidArgument,
                "{function}: argument {position} must be a constant: {e}"
            )
        })?;
    let batch = RecordBatch::try_new_with_options(
        std::sync::Arc::new(Schema::empty()),
        vec![],
        &datafusion::arrow::array::RecordBatchOptions::new().with_row_count(Some(1)),
    )?;
    match physical.evaluate(&batch)? {
        ColumnarValue::Scalar(value) => Ok(value),
        ColumnarValue::Array(array) => ScalarValue::try_from_array(&array, 0),
    }
}

/// A constant text argument (`NULL` is refused).
pub fn text(function: &str, position: usize, expr: &Expr, session: &dyn Session) -> Result<String> {
    match constant(function, position, expr, session)? {
        ScalarValue::Utf8(Some(s))
        | ScalarValue::LargeUtf8(Some(s))
        | ScalarValue::Utf8View(Some(s)) => Ok(s),
        other => crate::crm_err!(
            WrongType,
            "{function}: argument {position} must be a text constant, got {}",
            describe(&other)
        ),
    }
}

/// A constant date argument: a date, a timestamp (its UTC date) or `'YYYY-MM-DD'` text.
pub fn date(function: &str, position: usize, expr: &Expr, session: &dyn Session) -> Result<Days> {
    let value = constant(function, position, expr, session)?;
    scalar_to_days(&value).ok_or_else(|| {
        crate::crm_error!(
            InvalidArgument,
            "{function}: argument {position} must be a date such as DATE '2026-01-01', got {}",
            describe(&value)
        )
    })
}

fn describe(value: &ScalarValue) -> String {
    if value.is_null() {
        "NULL".to_string()
    } else {
        format!("{value} ({})", value.data_type())
    }
}

/// A date value in days, from a date, timestamp or ISO text scalar.
pub fn scalar_to_days(value: &ScalarValue) -> Option<Days> {
    match value {
        ScalarValue::Date32(Some(d)) => Some(*d),
        ScalarValue::Date64(Some(ms)) => Some(ms.div_euclid(86_400_000) as Days),
        ScalarValue::Utf8(Some(s))
        | ScalarValue::LargeUtf8(Some(s))
        | ScalarValue::Utf8View(Some(s)) => parse_date(s),
        ScalarValue::TimestampSecond(Some(v), _) => Some(v.div_euclid(86_400) as Days),
        ScalarValue::TimestampMillisecond(Some(v), _) => Some(v.div_euclid(86_400_000) as Days),
        ScalarValue::TimestampMicrosecond(Some(v), _) => Some(v.div_euclid(86_400_000_000) as Days),
        ScalarValue::TimestampNanosecond(Some(v), _) => {
            Some(v.div_euclid(86_400_000_000_000) as Days)
        }
        _ => None,
    }
}

/// Parses `YYYY-MM-DD` (a longer timestamp text is cut to its date).
pub fn parse_date(text: &str) -> Option<Days> {
    let date = text.trim().get(..10)?;
    let value = ScalarValue::Utf8(Some(date.to_string()))
        .cast_to(&DataType::Date32)
        .ok()?;
    match value {
        ScalarValue::Date32(Some(d)) => Some(d),
        _ => None,
    }
}

/// Formats days since the epoch as `YYYY-MM-DD`.
pub fn format_date(days: Days) -> String {
    ScalarValue::Date32(Some(days)).to_string()
}

/// Typed arguments of scalar functions: parameter kinds, the planning-time type check and
/// per-row access at execution.
pub mod scalar;

/// Parsed `'key=value,key=value'` options, checked against the keys a function knows.
#[derive(Debug, Clone, Default)]
pub struct Options {
    function: String,
    values: BTreeMap<String, String>,
}

impl Options {
    /// Parses `text`; unknown keys and malformed pairs are planning errors naming the key.
    pub fn parse(function: &str, text: &str, known: &[&str]) -> Result<Options> {
        let mut values = BTreeMap::new();
        for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((key, value)) = pair.split_once('=') else {
                return crate::crm_err!(
                    InvalidArgument,
                    "{function}: option '{pair}' must look like key=value"
                );
            };
            let key = key.trim().to_ascii_lowercase();
            if !known.contains(&key.as_str()) {
                return crate::crm_err!(
                    InvalidArgument,
                    "{function}: unknown option '{key}' (known: {})",
                    known.join(", ")
                );
            }
            values.insert(key, value.trim().to_string());
        }
        Ok(Options {
            function: function.to_string(),
            values,
        })
    }

    /// The text value of `key`, if given.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    /// One of `choices` (the first is the default).
    pub fn choice(&self, key: &str, choices: &[&'static str]) -> Result<&'static str> {
        match self.get(key) {
            None => Ok(choices[0]),
            Some(value) => choices
                .iter()
                .find(|c| c.eq_ignore_ascii_case(value))
                .copied()
                .ok_or_else(|| {
                    crate::crm_error!(
                        InvalidArgument,
                        "{}: {key}={value} is not one of {}",
                        self.function,
                        choices.join(", ")
                    )
                }),
        }
    }

    /// A boolean (`true/false`, `yes/no`, `on/off`, `1/0`).
    pub fn flag(&self, key: &str, default: bool) -> Result<bool> {
        match self.get(key).map(str::to_ascii_lowercase).as_deref() {
            None => Ok(default),
            Some("true" | "yes" | "on" | "1") => Ok(true),
            Some("false" | "no" | "off" | "0") => Ok(false),
            Some(other) => crate::crm_err!(
                InvalidArgument,
                "{}: {key}={other} must be true or false",
                self.function
            ),
        }
    }

    /// A whole number in `min..=max`.
    pub fn integer(&self, key: &str, default: i64, min: i64, max: i64) -> Result<i64> {
        let Some(text) = self.get(key) else {
            return Ok(default);
        };
        match text.parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => crate::crm_err!(
                InvalidArgument,
                "{}: {key}={text} must be a whole number from {min} to {max}",
                self.function
            ),
        }
    }

    /// A positive number.
    pub fn number(&self, key: &str, default: f64) -> Result<f64> {
        let Some(text) = self.get(key) else {
            return Ok(default);
        };
        match text.parse::<f64>() {
            Ok(n) if n.is_finite() => Ok(n),
            _ => crate::crm_err!(
                InvalidArgument,
                "{}: {key}={text} must be a number",
                self.function
            ),
        }
    }

    /// An ascending list of numbers separated by `;`, `|` or spaces (e.g. `30;90;180`).
    pub fn cuts(&self, key: &str) -> Result<Option<Vec<f64>>> {
        let Some(text) = self.get(key) else {
            return Ok(None);
        };
        parse_cuts(text).map(Some).map_err(|message| {
            crate::crm_error!(InvalidArgument, "{}: {key}: {message}", self.function)
        })
    }
}

/// Parses an ascending list of cut points separated by `;`, `|`, `,` or spaces.
pub fn parse_cuts(text: &str) -> std::result::Result<Vec<f64>, String> {
    let cuts = parse_numbers(text)?;
    if cuts.is_empty() {
        return Err("give at least one cut point".to_string());
    }
    if cuts.windows(2).any(|w| w[0] >= w[1]) || cuts.iter().any(|c| !c.is_finite()) {
        return Err(format!(
            "cut points must be finite and strictly ascending: {text}"
        ));
    }
    Ok(cuts)
}

/// Parses a list of numbers separated by `;`, `|`, `,` or spaces, in any order.
pub fn parse_numbers(text: &str) -> std::result::Result<Vec<f64>, String> {
    text.split([';', '|', ',', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<f64>()
                .map_err(|_| format!("'{s}' is not a number"))
        })
        .collect()
}

/// The value of a constant argument of an aggregate or window function, read from its
/// physical expression when the accumulator or evaluator is created (`position` counts from 1).
pub fn physical_constant(
    function: &str,
    position: usize,
    expr: &Arc<dyn PhysicalExpr>,
) -> Result<ScalarValue> {
    match expr.downcast_ref::<Literal>() {
        Some(literal) => Ok(literal.value().clone()),
        None => crate::crm_err!(
            InvalidArgument,
            "{function}: argument {position} must be a constant, got {expr}"
        ),
    }
}

const NANOS_PER_SECOND: i64 = 1_000_000_000;
const NANOS_PER_DAY: i64 = 86_400 * NANOS_PER_SECOND;

/// Whether `data_type` can be a duration argument ([`duration_nanos`]): an interval, a
/// duration or an integer (seconds).
pub fn is_duration_type(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Interval(_) | DataType::Duration(_) | DataType::Null
    ) || data_type.is_integer()
}

/// A constant duration in nanoseconds: an `INTERVAL` of days, hours, minutes and seconds (a day
/// is 86,400 seconds), a duration, or a whole number of seconds. Months and years are refused
/// (their length varies), as are negative and NULL values.
pub fn duration_nanos(function: &str, name: &str, value: &ScalarValue) -> Result<i64> {
    let fixed = || {
        crate::crm_error!(
            InvalidArgument,
            "{function}: {name} must be a fixed length (days, hours, minutes, seconds); months \
             and years vary in length, got {value}"
        )
    };
    let nanos: Option<i128> = match value {
        ScalarValue::IntervalMonthDayNano(Some(v)) => {
            if v.months != 0 {
                return Err(fixed());
            }
            Some(v.days as i128 * NANOS_PER_DAY as i128 + v.nanoseconds as i128)
        }
        ScalarValue::IntervalDayTime(Some(v)) => {
            Some(v.days as i128 * NANOS_PER_DAY as i128 + v.milliseconds as i128 * 1_000_000)
        }
        ScalarValue::IntervalYearMonth(Some(0)) => Some(0),
        ScalarValue::IntervalYearMonth(Some(_)) => return Err(fixed()),
        ScalarValue::DurationSecond(Some(v)) => Some(*v as i128 * NANOS_PER_SECOND as i128),
        ScalarValue::DurationMillisecond(Some(v)) => Some(*v as i128 * 1_000_000),
        ScalarValue::DurationMicrosecond(Some(v)) => Some(*v as i128 * 1_000),
        ScalarValue::DurationNanosecond(Some(v)) => Some(*v as i128),
        other if !other.is_null() && other.data_type().is_integer() => {
            match other.cast_to(&DataType::Int64) {
                Ok(ScalarValue::Int64(Some(seconds))) => {
                    Some(seconds as i128 * NANOS_PER_SECOND as i128)
                }
                _ => None,
            }
        }
        _ => None,
    };
    match nanos {
        Some(n) if n < 0 => crate::crm_err!(
            InvalidArgument,
            "{function}: {name} must not be negative, got {value}"
        ),
        Some(n) => Ok(i64::try_from(n).unwrap_or(i64::MAX)),
        None => crate::crm_err!(
            InvalidArgument,
            "{function}: {name} must be an INTERVAL such as INTERVAL '1 day' or a whole number \
             of seconds, got {}",
            describe(value)
        ),
    }
}

/// The type a timestamp argument is coerced to: timestamps and dates are kept, text and NULL
/// become `TIMESTAMP`; anything else is `None`.
pub fn timestamp_argument_type(data_type: &DataType) -> Option<DataType> {
    match data_type {
        DataType::Timestamp(_, _) | DataType::Date32 | DataType::Date64 => Some(data_type.clone()),
        DataType::Null | DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            Some(DataType::Timestamp(TimeUnit::Nanosecond, None))
        }
        _ => None,
    }
}

/// A timestamp or date column as nanoseconds since the epoch (UTC for zoned timestamps, a date
/// at midnight); NULL stays `None`. Values beyond the nanosecond range saturate.
pub fn timestamp_nanos(function: &str, array: &ArrayRef) -> Result<Vec<Option<i64>>> {
    fn scaled<T: datafusion::arrow::datatypes::ArrowPrimitiveType>(
        array: &ArrayRef,
        factor: i64,
        to_i64: impl Fn(T::Native) -> i64,
    ) -> Vec<Option<i64>> {
        array
            .as_primitive::<T>()
            .iter()
            .map(|v| v.map(|v| to_i64(v).saturating_mul(factor)))
            .collect()
    }
    Ok(match array.data_type() {
        DataType::Timestamp(TimeUnit::Second, _) => {
            scaled::<TimestampSecondType>(array, NANOS_PER_SECOND, |v| v)
        }
        DataType::Timestamp(TimeUnit::Millisecond, _) => {
            scaled::<TimestampMillisecondType>(array, 1_000_000, |v| v)
        }
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            scaled::<TimestampMicrosecondType>(array, 1_000, |v| v)
        }
        DataType::Timestamp(TimeUnit::Nanosecond, _) => {
            scaled::<TimestampNanosecondType>(array, 1, |v| v)
        }
        DataType::Date32 => scaled::<Date32Type>(array, NANOS_PER_DAY, i64::from),
        DataType::Date64 => scaled::<Date64Type>(array, 1_000_000, |v| v),
        DataType::Null => vec![None; array.len()],
        other => {
            return crate::crm_err!(
                WrongType,
                "{function}: expected a timestamp or a date, got {other}"
            );
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_parse_and_validate() {
        let options = Options::parse("rfm", "scheme=ntile, bins = 4", &["scheme", "bins"]).unwrap();
        assert_eq!(
            options.choice("scheme", &["qcut", "ntile"]).unwrap(),
            "ntile"
        );
        assert_eq!(options.integer("bins", 5, 2, 10).unwrap(), 4);
        assert!(Options::parse("rfm", "colour=red", &["scheme"]).is_err());
        assert!(Options::parse("rfm", "scheme", &["scheme"]).is_err());
        assert!(options.choice("scheme", &["qcut"]).is_err());
    }

    #[test]
    fn cuts_must_ascend() {
        assert_eq!(
            parse_cuts("30;90|180 365").unwrap(),
            vec![30.0, 90.0, 180.0, 365.0]
        );
        assert!(parse_cuts("90;30").is_err());
        assert!(parse_cuts("a").is_err());
        assert!(parse_cuts("").is_err());
    }

    #[test]
    fn dates_round_trip() {
        let d = parse_date("1998-07-01").unwrap();
        assert_eq!(format_date(d), "1998-07-01");
        assert_eq!(parse_date("1998-07-01 10:00:00"), Some(d));
        assert_eq!(parse_date("nope"), None);
    }

    #[test]
    fn durations_in_nanoseconds() {
        use datafusion::arrow::datatypes::IntervalMonthDayNano;
        let day = ScalarValue::IntervalMonthDayNano(Some(IntervalMonthDayNano::new(0, 1, 0)));
        assert_eq!(duration_nanos("f", "window", &day).unwrap(), NANOS_PER_DAY);
        assert_eq!(
            duration_nanos("f", "window", &ScalarValue::Int64(Some(90))).unwrap(),
            90 * NANOS_PER_SECOND
        );
        let month = ScalarValue::IntervalMonthDayNano(Some(IntervalMonthDayNano::new(1, 0, 0)));
        assert!(duration_nanos("f", "window", &month).is_err());
        assert!(duration_nanos("f", "window", &ScalarValue::Int64(Some(-1))).is_err());
        assert!(duration_nanos("f", "window", &ScalarValue::Int64(None)).is_err());
        assert!(duration_nanos("f", "window", &ScalarValue::from("1 day")).is_err());
    }

    #[test]
    fn timestamps_in_nanoseconds() {
        use datafusion::arrow::array::{Date32Array, TimestampSecondArray};
        let seconds: ArrayRef = Arc::new(TimestampSecondArray::from(vec![Some(2), None]));
        assert_eq!(
            timestamp_nanos("f", &seconds).unwrap(),
            vec![Some(2 * NANOS_PER_SECOND), None]
        );
        let days: ArrayRef = Arc::new(Date32Array::from(vec![1]));
        assert_eq!(
            timestamp_nanos("f", &days).unwrap(),
            vec![Some(NANOS_PER_DAY)]
        );
        let text: ArrayRef = Arc::new(datafusion::arrow::array::StringArray::from(vec!["x"]));
        assert!(timestamp_nanos("f", &text).is_err());
    }
}
