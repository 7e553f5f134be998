//! What the server tells its operators: a structured log line per statement
//! ([`query_log`]), Prometheus metrics ([`metrics`]) and an HTTP endpoint serving them with a
//! health check ([`http`]).

pub mod http;
pub mod metrics;
pub mod query_log;

pub use metrics::Metrics;
pub use query_log::QueryRecord;
