//! The reports as the engine's [`ReportRunner`]: what `RUN REPORT` calls over the wire.

use std::time::Instant;

use async_trait::async_trait;
use chrono::NaiveDate;

use super::{Reports, RunRequest, Trigger};
use crate::engine::report_runner::{ReportRun, ReportRunError, ReportRunner};

#[async_trait]
impl ReportRunner for Reports {
    async fn run_report(
        &self,
        name: &str,
        as_of: Option<NaiveDate>,
    ) -> Result<ReportRun, ReportRunError> {
        let report = self
            .get(name)
            .map_err(|e| ReportRunError::NotFound(e.to_string()))?;
        if let Some(reason) = self.unavailable(report) {
            return Err(ReportRunError::Unavailable(format!(
                "report {name} is unavailable on this shop's data: {reason}"
            )));
        }
        if self.output.is_none() {
            return Err(ReportRunError::NotConfigured(
                "[reports] output_url is not set: there is nowhere to write".into(),
            ));
        }
        let started = Instant::now();
        let request = RunRequest {
            as_of,
            period: None,
            trigger: Trigger::Manual,
        };
        let progress = |step: &super::Step| tracing::info!(report = name, %step, "report step");
        let summary = self
            .run(name, request, &progress)
            .await
            .map_err(|e| ReportRunError::Failed(e.to_string()))?;
        Ok(ReportRun {
            report: summary.record.name,
            as_of: summary.record.as_of,
            period: summary.record.period,
            rows: summary.record.rows,
            files: summary.files,
            seconds: started.elapsed().as_secs_f64(),
        })
    }
}
