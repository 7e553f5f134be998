//! Scheduled goal-breakdown reports: SQL files from `sql/reports/` run through the engine for
//! one `as_of` date, written to object storage as Parquet, CSV and an HTML page, and served
//! back as `reports.<name>` (one row set per `as_of`) with a `reports.report_runs` history.
//!
//! A run computes everything in memory first (the query, the charts' queries, the encoded
//! files), then stages every file under a temporary name, and only when all are staged moves
//! them into place, the Parquet file last (see [`sinks`]). A run that fails before that leaves
//! the previous output of that `as_of` as it was.
//!
//! Reports use the engine, never the server: `segmint report run` runs them without one, and
//! `segmint serve` runs them on their schedules ([`scheduler`]).

mod definition;
pub mod first_run;
mod history;
mod html;
mod listing;
mod period;
mod run_session;
mod runner;
pub mod scheduler;
mod sinks;
mod template;

pub use definition::{OutputKind, RUNS_TABLE, ReportDefinition};
pub use history::RunRecord;
pub use period::{Period, Window};

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, NaiveDate, Utc};
use datafusion::arrow::array::{ArrayRef, Date32Array, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::prelude::SessionContext;
use run_session::RunSession;
use url::Url;

use crate::catalog::{REPORTS, resolve_url, with_slash};
use crate::config::ReportsConfig;
use crate::engine::Engine;
use crate::error::first_line;
use crate::error::{Result, SegmintError};

/// How a run was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// `segmint report run` (or any caller of [`Reports::run`]).
    Manual,
    /// The scheduler, for the given fire time.
    Schedule(DateTime<Utc>),
}

/// What to run.
#[derive(Debug, Clone, Copy)]
pub struct RunRequest {
    /// The last day reported on (a UTC calendar day); default: yesterday.
    pub as_of: Option<NaiveDate>,
    /// Overrides the report's period.
    pub period: Option<Period>,
    /// Who asked.
    pub trigger: Trigger,
}

/// A step of a run, for progress display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Computing the customer segments as of a date (once per run).
    Segments(NaiveDate),
    /// Planning and running the report query.
    Query,
    /// Running a chart's own query.
    Chart(String),
    /// Writing one output file.
    Write(String),
    /// Recording the run in `report_runs`.
    Record,
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Step::Segments(at) => write!(f, "computing customer segments as of {at}"),
            Step::Query => f.write_str("running the report query"),
            Step::Chart(title) => write!(f, "running the query of chart '{title}'"),
            Step::Write(url) => write!(f, "writing {url}"),
            Step::Record => f.write_str("recording the run in reports.report_runs"),
        }
    }
}

/// What a successful run produced.
#[derive(Debug, Clone)]
pub struct RunSummary {
    /// The history row written for it.
    pub record: RunRecord,
    /// The files written.
    pub files: Vec<String>,
}

/// Segment breakdowns and the model column each needs.
const BREAKDOWN_NEEDS: &[(&str, &str)] = &[
    ("channel", "orders.channel"),
    ("region", "customers.region"),
];

/// The report definitions and where their runs go.
pub struct Reports {
    engine: Arc<Engine>,
    definitions: Vec<ReportDefinition>,
    output: Option<String>,
    /// One run at a time: runs share the machine with interactive queries.
    running: tokio::sync::Mutex<()>,
}

impl Reports {
    /// Loads the definitions and serves the outputs of past runs as `reports.*` tables.
    pub async fn open(config: &ReportsConfig, engine: Arc<Engine>) -> Result<Reports> {
        let definitions = definition::load_all(&engine.assets().reports)?;
        listing::register(&engine, &definitions)?;
        let output = match &config.output_url {
            Some(url) => Some(with_slash(&resolve_url(url)?)),
            None => None,
        };
        if let Some(output) = &output {
            let mut names: Vec<String> = definitions.iter().map(|d| d.name.clone()).collect();
            names.push(RUNS_TABLE.to_string());
            engine
                .catalog()
                .serve_reports(&engine.session(), output, &names)
                .await?;
        }
        Ok(Reports {
            engine,
            definitions,
            output,
            running: tokio::sync::Mutex::new(()),
        })
    }

    /// Every report, sorted by name.
    pub fn list(&self) -> &[ReportDefinition] {
        &self.definitions
    }

    /// The report called `name`.
    pub fn get(&self, name: &str) -> Result<&ReportDefinition> {
        self.definitions
            .iter()
            .find(|d| d.name == name)
            .ok_or_else(|| SegmintError::Report {
                report: name.to_string(),
                message: format!(
                    "no such report; the reports are: {}",
                    self.definitions
                        .iter()
                        .map(|d| d.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })
    }

    /// Drops the rows of segment breakdowns the shop has no data for (`segment_kind =
    /// 'channel'` without `orders.channel`, `'region'` without `customers.region`), so a
    /// missing column drops its breakdown instead of reporting one NULL segment.
    fn without_missing_breakdowns(&self, batches: Vec<RecordBatch>) -> Result<Vec<RecordBatch>> {
        let dropped: Vec<&str> = BREAKDOWN_NEEDS
            .iter()
            .filter(|(_, need)| self.engine.unavailable(&[need.to_string()]).is_some())
            .map(|(kind, _)| *kind)
            .collect();
        if dropped.is_empty() {
            return Ok(batches);
        }
        let mut kept = Vec::with_capacity(batches.len());
        for batch in batches {
            let Ok(index) = batch.schema().index_of("segment_kind") else {
                kept.push(batch);
                continue;
            };
            let kinds = datafusion::arrow::compute::cast(batch.column(index), &DataType::Utf8)?;
            let kinds = kinds
                .as_any()
                .downcast_ref::<datafusion::arrow::array::StringArray>()
                .ok_or_else(|| SegmintError::Report {
                    report: "segment breakdowns".into(),
                    message: "segment_kind is not text".into(),
                })?;
            let keep: datafusion::arrow::array::BooleanArray = kinds
                .iter()
                .map(|k| Some(!k.is_some_and(|k| dropped.contains(&k))))
                .collect();
            kept.push(datafusion::arrow::compute::filter_record_batch(
                &batch, &keep,
            )?);
        }
        Ok(kept)
    }

    /// Why `report` cannot run on this shop's model (`needs events`), if it cannot.
    pub fn unavailable(&self, report: &ReportDefinition) -> Option<String> {
        self.engine.unavailable(&report.needs)
    }

    /// The engine the reports run on.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// Runs one report and records it in the history, reporting each step to `progress`.
    /// A failed run is recorded too, and leaves earlier outputs untouched.
    pub async fn run(
        &self,
        name: &str,
        request: RunRequest,
        progress: &(dyn Fn(&Step) + Sync),
    ) -> Result<RunSummary> {
        let report = self.get(name)?.clone();
        if let Some(reason) = self.unavailable(&report) {
            return Err(SegmintError::Unavailable {
                what: format!("report {name}"),
                reason,
            });
        }
        let Some(output) = self.output.clone() else {
            return Err(SegmintError::Report {
                report: name.to_string(),
                message: "[reports] output_url is not set: there is nowhere to write".into(),
            });
        };
        let _one_at_a_time = self.running.lock().await;
        let as_of = request
            .as_of
            .unwrap_or_else(|| last_complete_day(Utc::now()));
        let period = request.period.unwrap_or(report.period);
        let started = Utc::now();
        let clock = Instant::now();
        tracing::info!(report = %name, %as_of, %period, "report run started");
        let produced = self
            .produce(&report, &output, as_of, period, progress)
            .await;
        let (status, rows, files, error) = match &produced {
            Ok((rows, files)) => ("succeeded", *rows, files.clone(), None),
            Err(error) => ("failed", 0, vec![], Some(error.to_string())),
        };
        let record = RunRecord {
            name: name.to_string(),
            as_of,
            period: period.to_string(),
            trigger: request.trigger,
            started,
            finished: Utc::now(),
            rows,
            status: status.to_string(),
            error,
        };
        progress(&Step::Record);
        let recorded = history::append(&self.engine, &output, &record).await;
        let ctx = self.engine.session();
        for table in [name, RUNS_TABLE] {
            let table = format!("{REPORTS}.{table}");
            if let Err(error) = self.engine.catalog().refresh(&ctx, Some(&table)).await {
                tracing::warn!(%table, %error, "could not list the report table again");
            }
        }
        match produced {
            Ok(_) => {
                recorded?;
                tracing::info!(
                    report = %name, %as_of, rows,
                    seconds = clock.elapsed().as_secs_f64(),
                    "report run succeeded"
                );
                Ok(RunSummary { record, files })
            }
            Err(error) => {
                if let Err(history_error) = recorded {
                    tracing::error!(report = %name, error = %history_error, "run not recorded");
                }
                tracing::error!(report = %name, %as_of, %error, "report run failed");
                Err(error)
            }
        }
    }

    /// Runs the query and the charts, encodes every output, then writes them: Parquet last.
    /// The run's scratch files, if any, are removed whatever the outcome.
    async fn produce(
        &self,
        report: &ReportDefinition,
        output: &str,
        as_of: NaiveDate,
        period: Period,
        progress: &(dyn Fn(&Step) + Sync),
    ) -> Result<(u64, Vec<String>)> {
        let context = template::Context {
            window: period.window(as_of),
            period,
            params: &report.params,
            goals: self.engine.goal_tree(),
        };
        // On a cluster that reads the output location, the run's tables go there too, so the
        // queries joining them run on the cluster.
        let scratch = self
            .engine
            .cluster()
            .filter(|cluster| cluster.executors_read(output))
            .map(|_| run_session::Scratch::under(self.engine.clone(), output));
        let session = RunSession::new(&self.engine.session(), scratch);
        let produced = self
            .produce_in(&session, report, output, as_of, context, progress)
            .await;
        session.clean_up().await;
        produced
    }

    /// [`Reports::produce`] in the run's session.
    async fn produce_in(
        &self,
        session: &RunSession,
        report: &ReportDefinition,
        output: &str,
        as_of: NaiveDate,
        context: template::Context<'_>,
        progress: &(dyn Fn(&Step) + Sync),
    ) -> Result<(u64, Vec<String>)> {
        let fail = |message: String| SegmintError::Report {
            report: report.name.clone(),
            message,
        };
        let period = context.period;
        let mut templates: Vec<&str> = vec![&report.sql];
        if report.writes(OutputKind::Html) {
            templates.extend(report.charts.iter().filter_map(|c| c.sql.as_deref()));
        }
        if report.sql.contains("{metric_actuals}") {
            templates.extend(
                self.engine
                    .goal_tree()
                    .metrics
                    .iter()
                    .map(|m| m.sql.as_str()),
            );
        }
        let mut segments = Vec::new();
        for template in templates {
            for used in template::segments_used(template, &context.window) {
                if !segments.contains(&used) {
                    segments.push(used);
                }
            }
        }
        for (table, at) in segments {
            progress(&Step::Segments(at));
            let rows = query(
                session.ctx(),
                &template::segments_query(&self.engine.assets().segments.text, at),
            )
            .await
            .map_err(|e| fail(format!("segments: {}", first_line(&e))))?;
            session.keep(table, rows).await?;
        }
        let sql = context.render(&report.sql).map_err(&fail)?;
        progress(&Step::Query);
        let batches = query(session.ctx(), &sql)
            .await
            .map_err(|e| fail(first_line(&e)))?;
        let batches = self.without_missing_breakdowns(batches)?;
        let batches = with_as_of(&batches, as_of)?;
        let rows: u64 = batches.iter().map(|b| b.num_rows() as u64).sum();

        let base = format!("{output}{}/{}", report.name, as_of.format("%Y-%m-%d"));
        let mut files: Vec<(String, bytes::Bytes)> = Vec::new();
        if report.writes(OutputKind::Csv) {
            files.push((format!("{base}.csv"), sinks::csv(&batches)?));
        }
        if report.writes(OutputKind::Html) {
            let mut charts = Vec::with_capacity(report.charts.len());
            for chart in &report.charts {
                let rows = match &chart.sql {
                    Some(chart_sql) => {
                        progress(&Step::Chart(chart.title.clone()));
                        let sql = context.render(chart_sql).map_err(&fail)?;
                        query(session.ctx(), &sql).await.map_err(|e| {
                            fail(format!("chart '{}': {}", chart.title, first_line(&e)))
                        })?
                    }
                    None => batches.clone(),
                };
                charts.push((chart, rows));
            }
            let page =
                html::page(report, &context.window, period, &batches, &charts).map_err(&fail)?;
            files.push((format!("{base}.html"), bytes::Bytes::from(page)));
        }
        files.push((format!("{base}.parquet"), sinks::parquet(&batches)?));

        let stores = self.engine.catalog().stores();
        let staged = sinks::stage(stores, files, &|url| {
            progress(&Step::Write(url.to_string()))
        })
        .await?;
        sinks::publish(stores, staged)
            .await
            .map(|written| (rows, written))
    }

    /// The runs recorded for `name`, oldest first.
    pub async fn runs(&self, name: &str) -> Result<Vec<RunRecord>> {
        match &self.output {
            Some(output) => history::read(&self.engine, output, name).await,
            None => Ok(vec![]),
        }
    }
}

/// Runs `sql` and collects its rows: at least one (possibly empty) batch, so the schema is
/// known even when no row comes back.
async fn query(ctx: &SessionContext, sql: &str) -> std::result::Result<Vec<RecordBatch>, String> {
    let frame = ctx.sql(sql).await.map_err(|e| e.to_string())?;
    let schema = Arc::new(frame.schema().as_arrow().clone());
    let mut batches = frame.collect().await.map_err(|e| e.to_string())?;
    if batches.is_empty() {
        batches.push(RecordBatch::new_empty(schema));
    }
    Ok(batches)
}

/// The last complete UTC calendar day before `now`. Report dates are UTC days, as the data's
/// timestamps are (a report's time zone only says when its schedule fires).
pub fn last_complete_day(now: DateTime<Utc>) -> NaiveDate {
    let today = now.date_naive();
    today.pred_opt().unwrap_or(today)
}

/// Prepends an `as_of` DATE column to every batch.
fn with_as_of(batches: &[RecordBatch], as_of: NaiveDate) -> Result<Vec<RecordBatch>> {
    let days = as_of.signed_duration_since(NaiveDate::default()).num_days() as i32;
    batches
        .iter()
        .map(|batch| {
            let schema = batch.schema();
            let mut fields = vec![Arc::new(Field::new("as_of", DataType::Date32, false))];
            let mut columns: Vec<ArrayRef> =
                vec![Arc::new(Date32Array::from(vec![days; batch.num_rows()]))];
            for (field, column) in schema.fields().iter().zip(batch.columns()) {
                if field.name() == "as_of" {
                    continue;
                }
                fields.push(field.clone());
                columns.push(column.clone());
            }
            Ok(RecordBatch::try_new(
                Arc::new(Schema::new(fields)),
                columns,
            )?)
        })
        .collect()
}

/// Parses an output URL for the store lookup.
fn parse_url(url: &str) -> Result<Url> {
    Url::parse(url).map_err(|e| SegmintError::ObjectStore {
        url: url.to_string(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_complete_day_is_a_utc_day() {
        // 06:00 in Shanghai on the 23rd is 22:00 UTC on the 22nd: the 21st is complete.
        let fire = DateTime::parse_from_rfc3339("2026-11-22T22:00:00Z")
            .expect("time")
            .with_timezone(&Utc);
        assert_eq!(last_complete_day(fire).to_string(), "2026-11-21");
    }
}
