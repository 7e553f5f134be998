//! The scheduler inside `segmint serve`: every report with a `schedule` runs at each fire time
//! of its cron expression, read in the report's time zone, for `as_of` = the last complete UTC
//! day before the fire time. Runs go one at a time; a failure is logged and recorded in
//! `reports.report_runs`, and the schedule carries on. Fire times that pass while a run goes on
//! collapse into one run, right after it. Local times that a daylight-saving change skips do
//! not fire, and those it repeats fire twice (as the `cron` crate reads them): prefer UTC or a
//! zone without daylight saving for schedules near 02:00.
//!
//! **Missed runs** (the server was down at a fire time): with `missed_runs = "latest"` (the
//! default) each report whose last scheduled run is older than its most recent fire time runs
//! once at start, for that fire time; older missed runs are not replayed, because each run
//! reports on the period of its own `as_of` and a backlog of them would only delay today's.
//! `segmint report run NAME --as-of DATE` backfills any date. A report that has never run on
//! a schedule has missed nothing. `missed_runs = "skip"` waits for the next fire time.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::{Reports, RunRequest, Trigger};
use crate::config::MissedRuns;

/// Starts one task per scheduled report. Needs a Tokio runtime; the tasks end with the
/// process.
pub fn start(reports: Arc<Reports>, missed: MissedRuns) {
    for report in reports.list() {
        let Some(schedule) = report.schedule.clone() else {
            continue;
        };
        let name = report.name.clone();
        let timezone = report.timezone;
        let reports = reports.clone();
        tracing::info!(
            report = %name,
            schedule = report.schedule_text.as_deref().unwrap_or(""),
            %timezone,
            "report scheduled"
        );
        tokio::spawn(async move {
            if missed == MissedRuns::Latest {
                catch_up(&reports, &name, &schedule, timezone).await;
            }
            let mut last = Utc::now();
            loop {
                let now = Utc::now();
                // Fire times that passed while the last run went on: the latest runs now.
                if let Some(passed) = latest_fire_time(&schedule, timezone, last, now) {
                    last = passed;
                    run_scheduled(&reports, &name, passed).await;
                    continue;
                }
                let Some(next) = schedule.after(&now.with_timezone(&timezone)).next() else {
                    tracing::info!(report = %name, "schedule has no more fire times");
                    break;
                };
                let next = next.with_timezone(&Utc);
                let wait = (next - Utc::now()).to_std().unwrap_or_default();
                tokio::time::sleep(wait).await;
                last = next;
                run_scheduled(&reports, &name, next).await;
            }
        });
    }
}

/// Runs the most recent missed fire time, if the last scheduled run is older than it.
async fn catch_up(
    reports: &Reports,
    name: &str,
    schedule: &cron::Schedule,
    timezone: chrono_tz::Tz,
) {
    let runs = match reports.runs(name).await {
        Ok(runs) => runs,
        Err(error) => {
            tracing::warn!(report = %name, %error, "could not read the run history");
            return;
        }
    };
    let Some(last) = runs.iter().filter_map(|r| r.scheduled_for()).max() else {
        return;
    };
    if let Some(missed) = latest_fire_time(schedule, timezone, last, Utc::now()) {
        tracing::info!(report = %name, %missed, "running the latest missed scheduled run");
        run_scheduled(reports, name, missed).await;
    }
}

/// The last fire time after `last` and no later than `now`.
fn latest_fire_time(
    schedule: &cron::Schedule,
    timezone: chrono_tz::Tz,
    last: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    schedule
        .after(&last.with_timezone(&timezone))
        .take_while(|t| t.with_timezone(&Utc) <= now)
        .last()
        .map(|t| t.with_timezone(&Utc))
}

async fn run_scheduled(reports: &Reports, name: &str, at: DateTime<Utc>) {
    let request = RunRequest {
        as_of: Some(super::last_complete_day(at)),
        period: None,
        trigger: Trigger::Schedule(at),
    };
    // Success and failure are both logged and recorded by `run`.
    let _ = reports.run(name, request, &|_| {}).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reports::definition::parse_schedule;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("time")
            .with_timezone(&Utc)
    }

    #[test]
    fn only_the_latest_missed_fire_time_runs() {
        let daily = parse_schedule("0 6 * * *").expect("cron");
        let tz = chrono_tz::Asia::Shanghai;
        // Last ran at 06:00 Shanghai on the 20th; the server came back on the 23rd at 12:00.
        let missed = latest_fire_time(
            &daily,
            tz,
            at("2026-11-19T22:00:00Z"),
            at("2026-11-23T04:00:00Z"),
        );
        assert_eq!(missed, Some(at("2026-11-22T22:00:00Z")));
        // Nothing missed when the last run is the latest fire time.
        let none = latest_fire_time(
            &daily,
            tz,
            at("2026-11-22T22:00:00Z"),
            at("2026-11-23T04:00:00Z"),
        );
        assert_eq!(none, None);
    }
}
