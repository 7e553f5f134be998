//! The application error type: one enum for everything outside the query engine, each variant
//! carrying the context a user needs to fix the problem (which file, which dataset, which URL).

use std::path::PathBuf;

/// Errors raised while configuring, cataloguing, generating data or serving.
#[derive(Debug, thiserror::Error)]
pub enum SegmintError {
    /// The config file could not be read.
    #[error("cannot read config file {path}: {source}")]
    ConfigRead {
        /// The file that was asked for.
        path: PathBuf,
        /// The I/O failure.
        source: std::io::Error,
    },
    /// The config file is not valid TOML or has unknown or mistyped keys.
    #[error("invalid config file {path}: {message}")]
    ConfigParse {
        /// The file that failed to parse.
        path: PathBuf,
        /// What serde/toml reported, with the line and key.
        message: String,
    },
    /// The configuration parsed, but a value is not acceptable.
    #[error("invalid configuration: {0}")]
    ConfigInvalid(String),
    /// A dataset could not be registered.
    #[error("dataset '{name}' ({url}): {message}")]
    Dataset {
        /// The dataset name (the SQL table name).
        name: String,
        /// The dataset URL as configured (never contains secrets: credentials live in stores).
        url: String,
        /// What went wrong.
        message: String,
    },
    /// An object store could not be built for a URL.
    #[error("object store for '{url}': {message}")]
    ObjectStore {
        /// The store's base URL.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// A report definition is invalid, or a run of it failed.
    #[error("report {report}: {message}")]
    Report {
        /// The report name, or the file it comes from.
        report: String,
        /// What went wrong.
        message: String,
    },
    /// Something configured cannot run on this shop's data (a report needing `events`).
    #[error("{what} is unavailable on this shop's data: {reason}")]
    Unavailable {
        /// What was asked for (`report browse_funnel`).
        what: String,
        /// Why (`needs events`).
        reason: String,
    },
    /// A cluster process (scheduler, executor) could not start or stopped.
    #[error("cluster: {0}")]
    Cluster(String),
    /// The demo-data generator failed.
    #[error("demo data generation failed: {0}")]
    Demo(String),
    /// A query failed inside the engine.
    #[error(transparent)]
    DataFusion(#[from] datafusion::error::DataFusionError),
    /// Arrow failed while formatting results.
    #[error(transparent)]
    Arrow(#[from] datafusion::arrow::error::ArrowError),
    /// An I/O failure with the path or address it concerns.
    #[error("{context}: {source}")]
    Io {
        /// What was being done (`binding 127.0.0.1:5433`, `creating /tmp/x`).
        context: String,
        /// The I/O failure.
        source: std::io::Error,
    },
}

impl SegmintError {
    /// Wraps an I/O error with what was being done when it happened.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        SegmintError::Io {
            context: context.into(),
            source,
        }
    }
}

/// Result alias for application code.
pub type Result<T, E = SegmintError> = std::result::Result<T, E>;

/// The first line of an error message (object store errors carry response bodies).
pub fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or(text).to_string()
}
