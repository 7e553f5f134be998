//! `window_funnel(window, ts, step1_cond, step2_cond, ...)`: how many ordered steps of a funnel
//! a customer reached within a time window (like ClickHouse `windowFunnel`, default mode).
//!
//! Business meaning: funnel conversion (browse → add to cart → order) becomes one `GROUP BY`
//! over events: each customer gets the deepest step reached, and `count(*) ... GROUP BY level`
//! gives the funnel. A chain starts at an event matching step 1; step `k` counts when an event
//! matching step `k` occurs at or after the event that reached step `k-1` and no later than
//! `window` after the chain's step-1 event. The result is the highest level over all chains,
//! 0 when no event matches step 1. Events at the same instant count as "at or after" each
//! other, and an event matching several conditions can serve several consecutive steps.
//!
//! `window` is a constant: an `INTERVAL` of days, hours, minutes or seconds (a day counts as
//! 86,400 seconds; months and years are refused) or a whole number of seconds. `ts` is a
//! timestamp or a date (text is cast to a timestamp); rows with a NULL `ts` are ignored.
//! Conditions are booleans, NULL counting as false; 1 to 32 steps. Returns a BIGINT.
//!
//! The kernel is [`crate::kernels::funnel`]; the partial-aggregation state is the events that
//! match any step, as a list of timestamps (nanoseconds) and a list of step bitmasks.

use std::sync::{Arc, OnceLock};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Array, ListArray, UInt32Array};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Int64Type, UInt32Type};
use datafusion::common::ScalarValue;
use datafusion::common::utils::SingleRowListArrayBuilder;
use datafusion::error::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Documentation, Signature, Volatility,
};

use crate::CrmFunction;
use crate::args::{duration_nanos, is_duration_type, timestamp_argument_type, timestamp_nanos};
use crate::kernels::funnel::{MAX_STEPS, funnel_level};

const NAME: &str = "window_funnel";

/// Registers `window_funnel`.
pub fn functions() -> Vec<CrmFunction> {
    vec![CrmFunction::Aggregate(AggregateUDF::new_from_impl(
        WindowFunnel::new(),
    ))]
}

/// The `window_funnel` aggregate function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct WindowFunnel {
    signature: Signature,
}

impl WindowFunnel {
    fn new() -> Self {
        WindowFunnel {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

/// The argument types after coercion, or why the call is wrong.
fn coerce(arg_types: &[DataType]) -> Result<Vec<DataType>> {
    let steps = arg_types.len().saturating_sub(2);
    if !(1..=MAX_STEPS).contains(&steps) {
        return crate::crm_err!(
            WrongArity,
            "{NAME}: expected a window, a timestamp and 1 to {MAX_STEPS} step conditions, got {} \
             arguments",
            arg_types.len()
        );
    }
    let window = &arg_types[0];
    if !is_duration_type(window) {
        return crate::crm_err!(
            WrongType,
            "{NAME}: window must be an INTERVAL such as INTERVAL '1 day' or a whole number of \
             seconds, got type {window}"
        );
    }
    let window = if window.is_integer() || window.is_null() {
        DataType::Int64
    } else {
        window.clone()
    };
    let Some(ts) = timestamp_argument_type(&arg_types[1]) else {
        return crate::crm_err!(
            WrongType,
            "{NAME}: ts must be a timestamp or a date, got type {}",
            arg_types[1]
        );
    };
    let mut types = vec![window, ts];
    for (i, condition) in arg_types[2..].iter().enumerate() {
        if !matches!(condition, DataType::Boolean | DataType::Null) {
            return crate::crm_err!(
                WrongType,
                "{NAME}: step condition {} must be a boolean, got type {condition}",
                i + 1
            );
        }
        types.push(DataType::Boolean);
    }
    Ok(types)
}

impl AggregateUDFImpl for WindowFunnel {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        coerce(arg_types)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }

    fn accumulator(&self, acc_args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let steps = acc_args.exprs.len().saturating_sub(2);
        if !(1..=MAX_STEPS).contains(&steps) {
            return crate::crm_err!(
                WrongArity,
                "{NAME}: expected 1 to {MAX_STEPS} step conditions, got {steps}"
            );
        }
        let window = crate::args::physical_constant(NAME, 1, &acc_args.exprs[0])?;
        let window = duration_nanos(NAME, "window", &window)?;
        Ok(Box::new(FunnelAccumulator {
            window,
            steps,
            events: vec![],
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![
            Arc::new(Field::new(
                format_state_name(args.name, "timestamps"),
                DataType::new_list(DataType::Int64, true),
                true,
            )),
            Arc::new(Field::new(
                format_state_name(args.name, "steps"),
                DataType::new_list(DataType::UInt32, true),
                true,
            )),
        ])
    }

    fn documentation(&self) -> Option<&Documentation> {
        static DOC: OnceLock<Documentation> = OnceLock::new();
        Some(DOC.get_or_init(|| {
            crate::docs::builder(
                "How many ordered steps of a funnel the group (usually a customer) reached \
                 within a time window, like ClickHouse windowFunnel: a chain starts at an event \
                 matching step 1, and step k counts when an event matching step k happens at or \
                 after the event that reached step k-1 and within the window of the chain's \
                 step-1 event. Returns the highest level over all chains, 0 when no event \
                 matches step 1. Rows with a NULL ts are ignored; a NULL condition is false.",
                "window_funnel(window, ts, step1_cond [, step2_cond, ...])",
            )
            .with_argument(
                "window",
                "constant: an INTERVAL of days/hours/minutes/seconds (a day = 86400 s; no \
                 months or years) or a whole number of seconds",
            )
            .with_argument(
                "ts",
                "the event time: a timestamp or a date (text is cast to a timestamp)",
            )
            .with_argument(
                "step1_cond, step2_cond, ...",
                "1 to 32 boolean conditions, one per funnel step, in funnel order",
            )
            .with_sql_example(
                "SELECT level, count(*) AS customers FROM (\n  \
                 SELECT customer_id, window_funnel(INTERVAL '1 day', event_ts,\n    \
                 event_type = 'browse', event_type = 'add_to_cart', event_type = 'order') AS level\n  \
                 FROM events GROUP BY customer_id\n\
                 ) GROUP BY level ORDER BY level;",
            )
            .build()
        }))
    }
}

/// The events of one group that match at least one step.
#[derive(Debug)]
struct FunnelAccumulator {
    window: i64,
    steps: usize,
    events: Vec<(i64, u32)>,
}

impl Accumulator for FunnelAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        if values.len() != self.steps + 2 {
            return crate::crm_err!(
                Internal,
                "{NAME}: expected {} arguments, got {}",
                self.steps + 2,
                values.len()
            );
        }
        let timestamps = timestamp_nanos(NAME, &values[1])?;
        let conditions = values[2..]
            .iter()
            .map(|c| match c.data_type() {
                DataType::Boolean => Ok(Some(c.as_boolean())),
                DataType::Null => Ok(None),
                other => crate::crm_err!(
                    WrongType,
                    "{NAME}: step conditions must be booleans, got {other}"
                ),
            })
            .collect::<Result<Vec<_>>>()?;
        for (row, ts) in timestamps.iter().enumerate() {
            let Some(ts) = ts else { continue };
            let mut mask = 0u32;
            for (step, condition) in conditions.iter().enumerate() {
                if let Some(c) = condition
                    && c.is_valid(row)
                    && c.value(row)
                {
                    mask |= 1 << step;
                }
            }
            if mask != 0 {
                self.events.push((*ts, mask));
            }
        }
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let level = funnel_level(&mut self.events, self.window, self.steps);
        Ok(ScalarValue::Int64(Some(level as i64)))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.events.capacity() * std::mem::size_of::<(i64, u32)>()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let timestamps = Int64Array::from_iter_values(self.events.iter().map(|(t, _)| *t));
        let masks = UInt32Array::from_iter_values(self.events.iter().map(|(_, m)| *m));
        Ok(vec![
            SingleRowListArrayBuilder::new(Arc::new(timestamps)).build_list_scalar(),
            SingleRowListArrayBuilder::new(Arc::new(masks)).build_list_scalar(),
        ])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let [timestamps, masks] = states else {
            return crate::crm_err!(
                Internal,
                "{NAME}: expected a timestamps list and a steps list"
            );
        };
        let timestamps: &ListArray = timestamps.as_list::<i32>();
        let masks: &ListArray = masks.as_list::<i32>();
        for row in 0..timestamps.len() {
            if timestamps.is_null(row) || masks.is_null(row) {
                continue;
            }
            let ts = timestamps.value(row);
            let ts = ts.as_primitive::<Int64Type>();
            let mask = masks.value(row);
            let mask = mask.as_primitive::<UInt32Type>();
            for (t, m) in ts.iter().zip(mask.iter()) {
                if let (Some(t), Some(m)) = (t, m)
                    && m != 0
                {
                    self.events.push((t, m));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{BooleanArray, TimestampSecondArray};
    use datafusion::arrow::datatypes::{IntervalUnit, TimeUnit};
    use proptest::prelude::*;

    fn accumulator(window: i64, steps: usize) -> FunnelAccumulator {
        FunnelAccumulator {
            window,
            steps,
            events: vec![],
        }
    }

    /// One batch: seconds and, per row, which of three steps it matches (`None` = NULL).
    fn batch(rows: &[(Option<i64>, [Option<bool>; 3])]) -> Vec<ArrayRef> {
        let mut values: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(vec![0; rows.len()])),
            Arc::new(TimestampSecondArray::from(
                rows.iter().map(|(t, _)| *t).collect::<Vec<_>>(),
            )),
        ];
        for step in 0..3 {
            values.push(Arc::new(BooleanArray::from(
                rows.iter().map(|(_, c)| c[step]).collect::<Vec<_>>(),
            )));
        }
        values
    }

    fn level(acc: &mut FunnelAccumulator) -> i64 {
        match acc.evaluate().unwrap() {
            ScalarValue::Int64(Some(l)) => l,
            other => panic!("unexpected {other}"),
        }
    }

    const NS: i64 = 1_000_000_000;

    #[test]
    fn counts_steps_and_ignores_nulls() {
        let mut acc = accumulator(60 * NS, 3);
        acc.update_batch(&batch(&[
            (Some(0), [Some(true), Some(false), None]),
            (None, [Some(false), Some(true), None]),
            (Some(30), [None, Some(true), Some(false)]),
            (Some(90), [Some(false), Some(false), Some(true)]),
        ]))
        .unwrap();
        assert_eq!(level(&mut acc), 2);
        assert_eq!(level(&mut accumulator(NS, 3)), 0);
    }

    #[test]
    fn coercion_rules() {
        let ts = DataType::Timestamp(TimeUnit::Microsecond, None);
        let interval = DataType::Interval(IntervalUnit::MonthDayNano);
        assert_eq!(
            coerce(&[interval.clone(), ts.clone(), DataType::Boolean]).unwrap(),
            vec![interval.clone(), ts.clone(), DataType::Boolean]
        );
        assert_eq!(
            coerce(&[DataType::Int32, DataType::Date32, DataType::Null]).unwrap(),
            vec![DataType::Int64, DataType::Date32, DataType::Boolean]
        );
        assert!(coerce(&[interval.clone(), ts.clone()]).is_err());
        assert!(coerce(&[interval.clone(), ts.clone(), DataType::Int64]).is_err());
        assert!(coerce(&[DataType::Float64, ts.clone(), DataType::Boolean]).is_err());
        assert!(coerce(&[interval.clone(), DataType::Int64, DataType::Boolean]).is_err());
        let mut many = vec![interval, ts];
        many.extend(vec![DataType::Boolean; 33]);
        assert!(coerce(&many).is_err());
    }

    proptest! {
        /// Splitting the rows over two partial accumulators and merging their states gives
        /// the same level as one accumulator over every row.
        #[test]
        fn state_merges_across_partitions(
            rows in proptest::collection::vec(
                (proptest::option::of(0i64..100), proptest::array::uniform3(proptest::option::of(any::<bool>()))),
                0..40,
            ),
            split in 0usize..40,
            window in 0i64..50,
        ) {
            let split = split.min(rows.len());
            let mut whole = accumulator(window * NS, 3);
            whole.update_batch(&batch(&rows)).unwrap();
            let mut left = accumulator(window * NS, 3);
            let mut right = accumulator(window * NS, 3);
            left.update_batch(&batch(&rows[..split])).unwrap();
            right.update_batch(&batch(&rows[split..])).unwrap();
            let states: Vec<ArrayRef> = left
                .state()
                .unwrap()
                .into_iter()
                .zip(right.state().unwrap())
                .map(|(l, r)| ScalarValue::iter_to_array(vec![l, r]).unwrap())
                .collect();
            let mut merged = accumulator(window * NS, 3);
            merged.merge_batch(&states).unwrap();
            prop_assert_eq!(level(&mut merged), level(&mut whole));
        }
    }
}
