//! The run history: one row per run (successful or not) in `reports.report_runs`. Each run
//! adds its own small Parquet file under `<output_url>/report_runs/`, so concurrent runs (the
//! scheduler and `segmint report run`) never overwrite each other's rows.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use datafusion::arrow::array::{
    Array, ArrayRef, Date32Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};

use super::{RUNS_TABLE, Trigger, sinks};
use crate::catalog::REPORTS;
use crate::engine::Engine;
use crate::error::Result;

/// One row of `reports.report_runs`.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    /// The report.
    pub name: String,
    /// The last day reported on.
    pub as_of: NaiveDate,
    /// The period reported on (`month`).
    pub period: String,
    /// Manual, or the scheduled time it ran for.
    pub trigger: Trigger,
    /// When the run started.
    pub started: DateTime<Utc>,
    /// When it finished.
    pub finished: DateTime<Utc>,
    /// Rows written (0 when it failed).
    pub rows: u64,
    /// `succeeded` or `failed`.
    pub status: String,
    /// Why it failed.
    pub error: Option<String>,
}

fn timestamp() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into()))
}

fn days(date: NaiveDate) -> i32 {
    date.signed_duration_since(NaiveDate::default()).num_days() as i32
}

impl RunRecord {
    /// When the scheduler meant it to run, for scheduled runs.
    pub fn scheduled_for(&self) -> Option<DateTime<Utc>> {
        match self.trigger {
            Trigger::Manual => None,
            Trigger::Schedule(at) => Some(at),
        }
    }

    fn batch(&self) -> Result<RecordBatch> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("name", DataType::Utf8, false),
            Field::new("as_of", DataType::Date32, false),
            Field::new("period", DataType::Utf8, false),
            Field::new("trigger", DataType::Utf8, false),
            Field::new("scheduled_for", timestamp(), true),
            Field::new("started", timestamp(), false),
            Field::new("finished", timestamp(), false),
            Field::new("rows", DataType::Int64, false),
            Field::new("status", DataType::Utf8, false),
            Field::new("error", DataType::Utf8, true),
        ]));
        let text = |value: Option<&str>| -> ArrayRef { Arc::new(StringArray::from(vec![value])) };
        let time = |value: Option<DateTime<Utc>>| -> ArrayRef {
            Arc::new(
                TimestampMicrosecondArray::from(vec![value.map(|t| t.timestamp_micros())])
                    .with_timezone("+00:00"),
            )
        };
        let trigger = match self.trigger {
            Trigger::Manual => "manual",
            Trigger::Schedule(_) => "schedule",
        };
        Ok(RecordBatch::try_new(
            schema,
            vec![
                text(Some(&self.name)),
                Arc::new(Date32Array::from(vec![days(self.as_of)])),
                text(Some(&self.period)),
                text(Some(trigger)),
                time(self.scheduled_for()),
                time(Some(self.started)),
                time(Some(self.finished)),
                Arc::new(Int64Array::from(vec![
                    i64::try_from(self.rows).unwrap_or(i64::MAX),
                ])),
                text(Some(&self.status)),
                text(self.error.as_deref()),
            ],
        )?)
    }
}

/// Adds `record` to the history.
pub async fn append(engine: &Engine, output: &str, record: &RunRecord) -> Result<()> {
    let url = format!(
        "{output}{RUNS_TABLE}/{}-{}.parquet",
        record.started.format("%Y%m%dT%H%M%S%6fZ"),
        record.name
    );
    let data = sinks::parquet(&[record.batch()?])?;
    sinks::put(engine.catalog().stores(), &url, data).await
}

/// The recorded runs of `name`, oldest first (none when nothing ran yet).
pub async fn read(engine: &Engine, output: &str, name: &str) -> Result<Vec<RunRecord>> {
    let table = format!("{REPORTS}.{RUNS_TABLE}");
    let ctx = engine.session();
    // The table is listed again so runs written by other processes are seen.
    let _ = engine.catalog().refresh(&ctx, Some(&table)).await;
    if engine.catalog().unavailable(&table).is_some() || !ctx.table_exist(table.as_str())? {
        tracing::debug!(%output, "no report runs recorded yet");
        return Ok(vec![]);
    }
    let sql = format!(
        "SELECT name, as_of, period, trigger, scheduled_for, started, finished, rows, status, error \
         FROM {table} WHERE name = '{}' ORDER BY started",
        name.replace('\'', "''")
    );
    let batches = ctx.sql(&sql).await?.collect().await?;
    let mut records = Vec::new();
    for batch in batches {
        // Parquet text may come back as a view type: read every text column as plain UTF-8.
        let text = |i: usize| {
            cast(batch.column(i), &DataType::Utf8)
                .ok()
                .and_then(|a| a.as_any().downcast_ref::<StringArray>().cloned())
        };
        let time = |i: usize| {
            batch
                .column(i)
                .as_any()
                .downcast_ref::<TimestampMicrosecondArray>()
                .cloned()
        };
        let (Some(names), Some(periods), Some(triggers), Some(statuses), Some(errors)) =
            (text(0), text(2), text(3), text(8), text(9))
        else {
            continue;
        };
        let (Some(scheduled), Some(started), Some(finished)) = (time(4), time(5), time(6)) else {
            continue;
        };
        let (Some(as_ofs), Some(rows)) = (
            batch.column(1).as_any().downcast_ref::<Date32Array>(),
            batch.column(7).as_any().downcast_ref::<Int64Array>(),
        ) else {
            continue;
        };
        let at = |array: &TimestampMicrosecondArray, row: usize| {
            (!array.is_null(row))
                .then(|| DateTime::from_timestamp_micros(array.value(row)))
                .flatten()
        };
        for row in 0..batch.num_rows() {
            let trigger = match (triggers.value(row), at(&scheduled, row)) {
                ("schedule", Some(time)) => Trigger::Schedule(time),
                _ => Trigger::Manual,
            };
            records.push(RunRecord {
                name: names.value(row).to_string(),
                as_of: as_ofs.value_as_date(row).unwrap_or_default(),
                period: periods.value(row).to_string(),
                trigger,
                started: at(&started, row).unwrap_or_default(),
                finished: at(&finished, row).unwrap_or_default(),
                rows: u64::try_from(rows.value(row)).unwrap_or(0),
                status: statuses.value(row).to_string(),
                error: (!errors.is_null(row)).then(|| errors.value(row).to_string()),
            });
        }
    }
    Ok(records)
}
