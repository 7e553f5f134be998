//! The hook through which the protocol server runs reports (`RUN REPORT`) without depending on
//! the reports module: the reports install themselves into the engine when they start
//! ([`super::Engine::set_report_runner`]).

use async_trait::async_trait;
use chrono::NaiveDate;

/// What one report run produced.
#[derive(Debug, Clone)]
pub struct ReportRun {
    /// The report.
    pub report: String,
    /// The last day reported on.
    pub as_of: NaiveDate,
    /// The period reported on (`month`).
    pub period: String,
    /// Rows written.
    pub rows: u64,
    /// The files written.
    pub files: Vec<String>,
    /// How long the run took.
    pub seconds: f64,
}

/// Why a report did not run.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ReportRunError {
    /// No report has that name.
    #[error("{0}")]
    NotFound(String),
    /// Reports have nowhere to write (`[reports] output_url` is not set).
    #[error("{0}")]
    NotConfigured(String),
    /// The report needs what the shop's model does not have (`needs events`).
    #[error("{0}")]
    Unavailable(String),
    /// The run failed (it is recorded in `reports.report_runs`).
    #[error("{0}")]
    Failed(String),
}

/// Runs reports by name.
#[async_trait]
pub trait ReportRunner: Send + Sync {
    /// Runs `name` for the period ending `as_of` (default: yesterday).
    async fn run_report(
        &self,
        name: &str,
        as_of: Option<NaiveDate>,
    ) -> Result<ReportRun, ReportRunError>;
}
