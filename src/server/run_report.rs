//! `RUN REPORT name [AS OF 'YYYY-MM-DD']`: administrators run a report over the wire, as
//! `segmint report run` does. The answer is one row describing the run; its output is then
//! queryable as `reports.<name>` and recorded in `reports.report_runs`.

use chrono::NaiveDate;
use pgwire::error::PgWireResult;

use super::sqlstate::{UNDEFINED_OBJECT, user_error};
use crate::engine::Engine;
use crate::engine::report_runner::{ReportRun, ReportRunError};

/// `38000`: the report query failed.
use crate::sqlstate::EXTERNAL_ROUTINE_EXCEPTION;
/// `55000`: reports are not set up (`[reports] output_url`).
use crate::sqlstate::OBJECT_NOT_IN_PREREQUISITE_STATE;

/// The columns of the answer.
pub const COLUMNS: [&str; 6] = ["report", "as_of", "period", "rows", "files", "seconds"];

/// A parsed `RUN REPORT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunReport {
    /// The report name.
    pub name: String,
    /// The last day reported on; default yesterday.
    pub as_of: Option<NaiveDate>,
}

/// Runs the report through the engine's report runner; one text row per run.
pub async fn run(engine: &Engine, request: &RunReport) -> PgWireResult<Vec<String>> {
    let runner = engine.report_runner().ok_or_else(|| {
        user_error(
            OBJECT_NOT_IN_PREREQUISITE_STATE,
            "reports are not running in this server",
        )
    })?;
    let run: ReportRun = runner
        .run_report(&request.name, request.as_of)
        .await
        .map_err(|error| {
            let code = match &error {
                ReportRunError::NotFound(_) => UNDEFINED_OBJECT,
                ReportRunError::NotConfigured(_) | ReportRunError::Unavailable(_) => {
                    OBJECT_NOT_IN_PREREQUISITE_STATE
                }
                ReportRunError::Failed(_) => EXTERNAL_ROUTINE_EXCEPTION,
            };
            user_error(code, error.to_string())
        })?;
    Ok(vec![
        run.report,
        run.as_of.to_string(),
        run.period,
        run.rows.to_string(),
        run.files.join(" "),
        format!("{:.3}", run.seconds),
    ])
}
