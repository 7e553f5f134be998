//! `sessionize(ts, gap) OVER (PARTITION BY customer_id ORDER BY ts)`: the session number of each
//! event, 1, 2, ... within the partition.
//!
//! Business meaning: splits a customer's clickstream into visits with an inactivity timeout
//! (the usual web-analytics 30 minutes): a new session starts when the time since the previous
//! event exceeds `gap`. Sessions then give visit counts, session length and
//! conversion per visit with plain `GROUP BY customer_id, session`.
//!
//! Rows are taken in the window's `ORDER BY` order, which should be `ts`: a timestamp earlier
//! than the previous one does not start a session. Rows with a NULL `ts` keep the current
//! session number (the first session when they come first) and do not move the clock. An
//! exact gap of `gap` stays in the session. `gap` is a constant: an `INTERVAL` of days, hours,
//! minutes or seconds (a day counts as 86,400 seconds; months and years are refused) or a whole
//! number of seconds. Returns a BIGINT, never NULL.
//!
//! The kernel is [`crate::kernels::sessions`].

use std::sync::{Arc, OnceLock};

use datafusion::arrow::array::{ArrayRef, Int64Array};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::error::Result;
use datafusion::logical_expr::function::{PartitionEvaluatorArgs, WindowUDFFieldArgs};
use datafusion::logical_expr::{
    Documentation, PartitionEvaluator, Signature, Volatility, WindowUDF, WindowUDFImpl,
};

use crate::CrmFunction;
use crate::args::{duration_nanos, is_duration_type, timestamp_argument_type, timestamp_nanos};
use crate::kernels::sessions::session_numbers;

const NAME: &str = "sessionize";

/// Registers `sessionize`.
pub fn functions() -> Vec<CrmFunction> {
    vec![CrmFunction::Window(WindowUDF::new_from_impl(
        Sessionize::new(),
    ))]
}

/// The `sessionize` window function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Sessionize {
    signature: Signature,
}

impl Sessionize {
    fn new() -> Self {
        Sessionize {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

/// The argument types after coercion, or why the call is wrong.
fn coerce(arg_types: &[DataType]) -> Result<Vec<DataType>> {
    let [ts, gap] = arg_types else {
        return crate::crm_err!(
            WrongArity,
            "{NAME}: expected 2 arguments (ts, gap), got {}",
            arg_types.len()
        );
    };
    let Some(ts) = timestamp_argument_type(ts) else {
        return crate::crm_err!(
            WrongType,
            "{NAME}: ts must be a timestamp or a date, got type {ts}"
        );
    };
    if !is_duration_type(gap) {
        return crate::crm_err!(
            WrongType,
            "{NAME}: gap must be an INTERVAL such as INTERVAL '30 minutes' or a whole number of \
             seconds, got type {gap}"
        );
    }
    let gap = if gap.is_integer() || gap.is_null() {
        DataType::Int64
    } else {
        gap.clone()
    };
    Ok(vec![ts, gap])
}

impl WindowUDFImpl for Sessionize {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        coerce(arg_types)
    }

    fn partition_evaluator(
        &self,
        args: PartitionEvaluatorArgs,
    ) -> Result<Box<dyn PartitionEvaluator>> {
        let Some(gap) = args.input_exprs().get(1) else {
            return crate::crm_err!(WrongArity, "{NAME}: expected 2 arguments (ts, gap)");
        };
        let gap = crate::args::physical_constant(NAME, 2, gap)?;
        let gap = duration_nanos(NAME, "gap", &gap)?;
        Ok(Box::new(SessionEvaluator { gap }))
    }

    fn field(&self, field_args: WindowUDFFieldArgs) -> Result<FieldRef> {
        Ok(Arc::new(Field::new(
            field_args.name(),
            DataType::Int64,
            false,
        )))
    }

    fn documentation(&self) -> Option<&Documentation> {
        static DOC: OnceLock<Documentation> = OnceLock::new();
        Some(DOC.get_or_init(|| {
            crate::docs::builder(
                "The session number (1, 2, ...) of each event within its window partition, \
                 usually a customer: rows are taken in the window's ORDER BY order (order by \
                 ts) and a new session starts when the time since the previous event exceeds \
                 the gap, an inactivity timeout. Rows with a NULL ts keep the current session \
                 number; a timestamp earlier than the previous one does not start a session.",
                "sessionize(ts, gap) OVER (PARTITION BY customer_id ORDER BY ts)",
            )
            .with_argument(
                "ts",
                "the event time: a timestamp or a date (text is cast to a timestamp)",
            )
            .with_argument(
                "gap",
                "constant inactivity timeout: an INTERVAL of days/hours/minutes/seconds (a day = \
                 86400 s; no months or years) or a whole number of seconds",
            )
            .with_sql_example(
                "SELECT customer_id, event_ts,\n       \
                 sessionize(event_ts, INTERVAL '30 minutes')\n         \
                 OVER (PARTITION BY customer_id ORDER BY event_ts) AS session\n\
                 FROM events;",
            )
            .build()
        }))
    }
}

/// Numbers the sessions of one partition.
#[derive(Debug)]
struct SessionEvaluator {
    gap: i64,
}

impl PartitionEvaluator for SessionEvaluator {
    fn evaluate_all(&mut self, values: &[ArrayRef], num_rows: usize) -> Result<ArrayRef> {
        let Some(ts) = values.first() else {
            return crate::crm_err!(Internal, "{NAME}: expected the ts column");
        };
        let timestamps = timestamp_nanos(NAME, ts)?;
        if timestamps.len() != num_rows {
            return crate::crm_err!(
                Internal,
                "{NAME}: expected {num_rows} timestamps, got {}",
                timestamps.len()
            );
        }
        Ok(Arc::new(Int64Array::from(session_numbers(
            &timestamps,
            self.gap,
        ))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{AsArray, TimestampSecondArray};
    use datafusion::arrow::datatypes::{Int64Type, IntervalUnit, TimeUnit};

    #[test]
    fn numbers_sessions_of_a_partition() {
        let mut evaluator = SessionEvaluator {
            gap: 30 * 60 * 1_000_000_000,
        };
        let ts: ArrayRef = Arc::new(TimestampSecondArray::from(vec![
            Some(0),
            Some(600),
            None,
            Some(600 + 1801),
            Some(600 + 1801 + 1800),
        ]));
        let out = evaluator.evaluate_all(&[ts], 5).unwrap();
        assert_eq!(
            out.as_primitive::<Int64Type>().values().to_vec(),
            vec![1, 1, 1, 2, 2]
        );
    }

    #[test]
    fn coercion_rules() {
        let ts = DataType::Timestamp(TimeUnit::Second, None);
        let interval = DataType::Interval(IntervalUnit::MonthDayNano);
        assert_eq!(
            coerce(&[ts.clone(), interval.clone()]).unwrap(),
            vec![ts.clone(), interval.clone()]
        );
        assert_eq!(
            coerce(&[DataType::Date32, DataType::Int32]).unwrap(),
            vec![DataType::Date32, DataType::Int64]
        );
        assert!(coerce(std::slice::from_ref(&ts)).is_err());
        assert!(coerce(&[ts.clone(), DataType::Float64]).is_err());
        assert!(coerce(&[DataType::Boolean, interval]).is_err());
    }
}
