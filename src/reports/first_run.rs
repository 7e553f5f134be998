//! A demo's first start: the report outputs folder holds no runs yet, so every `reports.*`
//! table would answer 42P01 until the schedules fire (the 1st of next month for
//! `goal_attainment`). [`spawn_first_runs`] runs each report once, in the background, for the
//! demo's last complete month, so the tables answer within a minute or two of the start.
//!
//! Only `serve --demo` calls it, with the scheduler on (`[reports] scheduler = false` turns
//! both off): on a shop's own data the schedules (or `report run`) decide what runs when.

use std::sync::Arc;

use chrono::NaiveDate;

use super::{Period, Reports, RunRequest, Trigger};
use crate::error::SegmintError;

/// The report that runs first: the one the README's walkthrough queries.
const FIRST: &str = "goal_attainment";

/// The last day of the demo's last complete month: its history ends the day before
/// [`crate::demo::DEMO_AS_OF`] (2026-11-01), so October 2026, as of 2026-10-31.
pub fn demo_first_run_date() -> NaiveDate {
    NaiveDate::parse_from_str(crate::demo::DEMO_AS_OF, "%Y-%m-%d")
        .ok()
        .and_then(|day| day.pred_opt())
        .unwrap_or_default()
}

/// When no report has run yet, runs every report once for the month holding `as_of`, one
/// after another in a background task (`goal_attainment` first). A report the data cannot
/// serve (`needs events`) is skipped; a failed run is logged once (by the run itself) and
/// recorded in `reports.report_runs`, and the others go on. Needs a Tokio runtime; the task
/// ends with the process, or when every report has run.
pub fn spawn_first_runs(reports: Arc<Reports>, as_of: NaiveDate) {
    tokio::spawn(async move {
        let mut names: Vec<String> = reports.list().iter().map(|d| d.name.clone()).collect();
        if names.is_empty() || reports.output.is_none() {
            return;
        }
        for name in &names {
            match reports.runs(name).await {
                Ok(runs) if runs.is_empty() => {}
                Ok(_) => {
                    tracing::debug!(report = %name, "reports have run before: no first runs");
                    return;
                }
                Err(error) => {
                    tracing::warn!(%error, "could not read the run history: no first runs");
                    return;
                }
            }
        }
        if let Some(first) = names.iter().position(|n| n == FIRST) {
            let first = names.remove(first);
            names.insert(0, first);
        }
        tracing::info!(
            reports = names.len(),
            %as_of,
            "first start, no report has run: running each report once in the background \
             for the month ending {as_of}"
        );
        let (mut succeeded, mut failed, mut skipped) = (0usize, 0usize, 0usize);
        for name in &names {
            let request = RunRequest {
                as_of: Some(as_of),
                period: Some(Period::Month),
                trigger: Trigger::Manual,
            };
            match reports.run(name, request, &|_| {}).await {
                Ok(_) => succeeded += 1,
                Err(SegmintError::Unavailable { reason, .. }) => {
                    skipped += 1;
                    tracing::info!(report = %name, %reason, "first run skipped");
                }
                // `run` logged the failure and recorded it in reports.report_runs.
                Err(_) => failed += 1,
            }
        }
        tracing::info!(succeeded, failed, skipped, %as_of, "first report runs done");
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_first_runs_report_on_october_2026() {
        let as_of = demo_first_run_date();
        assert_eq!(as_of.to_string(), "2026-10-31");
        assert_eq!(
            Period::Month.window(as_of).start.to_string(),
            "2026-10-01",
            "the whole month"
        );
    }
}
