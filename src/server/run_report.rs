//! `RUN REPORT name [AS OF 'YYYY-MM-DD']`: administrators run a report over the wire, as
//! `segmint report run` does. The answer is one row describing the run; its output is then
//! queryable as `reports.<name>` and recorded in `reports.report_runs`.

use chrono::NaiveDate;
use pgwire::error::PgWireResult;

use super::sqlstate::{INVALID_DATETIME_FORMAT, SYNTAX_ERROR, UNDEFINED_OBJECT, user_error};
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

/// Reads `RUN REPORT name [AS OF [DATE] 'YYYY-MM-DD']`; `None` for any other statement.
pub fn parse(sql: &str) -> PgWireResult<Option<RunReport>> {
    let text = sql.trim().trim_end_matches(';').trim();
    let words: Vec<&str> = text.split_whitespace().collect();
    let is = |i: usize, word: &str| words.get(i).is_some_and(|w| w.eq_ignore_ascii_case(word));
    if !(is(0, "run") && is(1, "report")) {
        return Ok(None);
    }
    let usage = || {
        user_error(
            SYNTAX_ERROR,
            "expected RUN REPORT name [AS OF 'YYYY-MM-DD']",
        )
    };
    let name = words.get(2).ok_or_else(usage)?;
    let name = match name.strip_prefix('"').and_then(|n| n.strip_suffix('"')) {
        Some(quoted) => quoted.to_string(),
        None => name.to_ascii_lowercase(),
    };
    let date = match words.len() {
        3 => None,
        5 if is(3, "as") && is(4, "of") => return Err(usage()),
        6 if is(3, "as") && is(4, "of") => Some(words[5]),
        7 if is(3, "as") && is(4, "of") && is(5, "date") => Some(words[6]),
        _ => return Err(usage()),
    };
    let as_of = date
        .map(|d| {
            let d = d.trim_matches('\'');
            NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| {
                user_error(
                    INVALID_DATETIME_FORMAT,
                    format!("invalid date '{d}': expected YYYY-MM-DD"),
                )
            })
        })
        .transpose()?;
    Ok(Some(RunReport { name, as_of }))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_name_and_the_date() {
        assert_eq!(parse("SELECT 1").expect("other"), None);
        let plain = parse("run report goal_attainment;")
            .expect("ok")
            .expect("some");
        assert_eq!(plain.name, "goal_attainment");
        assert_eq!(plain.as_of, None);
        let dated = parse("RUN REPORT Goal_Attainment AS OF DATE '2026-10-31'")
            .expect("ok")
            .expect("some");
        assert_eq!(dated.name, "goal_attainment");
        assert_eq!(dated.as_of, NaiveDate::from_ymd_opt(2026, 10, 31));
        assert!(parse("RUN REPORT").is_err());
        assert!(parse("RUN REPORT x AS OF").is_err());
        assert!(parse("RUN REPORT x AS OF 'yesterday'").is_err());
    }
}
