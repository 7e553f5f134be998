//! The server's Prometheus metrics: one registry per server, updated by sessions as statements
//! finish and read by the `/metrics` endpoint ([`super::http`]).

use std::sync::Arc;

use datafusion::execution::memory_pool::MemoryPool;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The label of a failed statement's counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SqlStateLabel {
    /// The statement's SQLSTATE, such as `42P01`.
    pub sqlstate: String,
}

/// Counters, gauges and the latency histogram of one server.
pub struct Metrics {
    registry: Registry,
    /// Statements finished (successfully or not).
    pub queries: Counter,
    /// Statements that failed, by SQLSTATE.
    pub errors: Family<SqlStateLabel, Counter>,
    /// Time from a statement's start to its last row sent.
    pub duration: Histogram,
    /// Rows sent to clients.
    pub rows: Counter,
    /// Bytes written to client sockets.
    pub bytes_sent: Counter,
    /// Client connections open now.
    pub active_connections: Gauge,
    /// Connections accepted since start.
    pub connections: Counter,
    /// Spill files written by sorts, joins and aggregations.
    pub spills: Counter,
    /// Bytes written to spill files.
    pub spilled_bytes: Counter,
    /// Failed logins.
    pub login_failures: Counter,
    /// Memory reserved by running queries, read from the engine's pool at each scrape.
    memory_in_use: Gauge,
    memory_pool: Arc<dyn MemoryPool>,
}

impl Metrics {
    /// Metrics whose memory gauge reads `memory_pool`.
    pub fn new(memory_pool: Arc<dyn MemoryPool>) -> Metrics {
        let mut metrics = Metrics {
            queries: Counter::default(),
            errors: Family::default(),
            // 1 ms to about 65 s.
            duration: Histogram::new(exponential_buckets(0.001, 2.0, 17)),
            rows: Counter::default(),
            bytes_sent: Counter::default(),
            active_connections: Gauge::default(),
            connections: Counter::default(),
            spills: Counter::default(),
            spilled_bytes: Counter::default(),
            login_failures: Counter::default(),
            memory_in_use: Gauge::default(),
            memory_pool,
            registry: Registry::with_prefix("segmint"),
        };
        let registry = &mut metrics.registry;
        registry.register("queries", "Statements finished", metrics.queries.clone());
        registry.register(
            "query_errors",
            "Statements failed, by SQLSTATE",
            metrics.errors.clone(),
        );
        registry.register(
            "query_duration_seconds",
            "Statement latency, from start to the last row sent",
            metrics.duration.clone(),
        );
        registry.register("rows_sent", "Rows sent to clients", metrics.rows.clone());
        registry.register(
            "bytes_sent",
            "Bytes written to client connections",
            metrics.bytes_sent.clone(),
        );
        registry.register(
            "active_connections",
            "Client connections open now",
            metrics.active_connections.clone(),
        );
        registry.register(
            "connections",
            "Client connections accepted",
            metrics.connections.clone(),
        );
        registry.register(
            "spills",
            "Spill files written by sorts, joins and aggregations",
            metrics.spills.clone(),
        );
        registry.register(
            "spilled_bytes",
            "Bytes written to spill files",
            metrics.spilled_bytes.clone(),
        );
        registry.register(
            "login_failures",
            "Failed login attempts",
            metrics.login_failures.clone(),
        );
        registry.register(
            "memory_in_use_bytes",
            "Memory reserved by running queries",
            metrics.memory_in_use.clone(),
        );
        metrics
    }

    /// Counts a finished statement.
    pub fn record_statement(&self, seconds: f64, rows: u64, sqlstate: Option<&str>) {
        self.queries.inc();
        self.duration.observe(seconds);
        self.rows.inc_by(rows);
        if let Some(sqlstate) = sqlstate {
            self.errors
                .get_or_create(&SqlStateLabel {
                    sqlstate: sqlstate.to_string(),
                })
                .inc();
        }
    }

    /// The metrics in Prometheus' text format.
    pub fn render(&self) -> String {
        let reserved = i64::try_from(self.memory_pool.reserved()).unwrap_or(i64::MAX);
        self.memory_in_use.set(reserved);
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        text
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("queries", &self.queries.get())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::execution::memory_pool::UnboundedMemoryPool;

    #[test]
    fn renders_counters_errors_and_the_histogram() {
        let metrics = Metrics::new(Arc::new(UnboundedMemoryPool::default()));
        metrics.record_statement(0.004, 3, None);
        metrics.record_statement(0.5, 0, Some("42P01"));
        metrics.bytes_sent.inc_by(100);
        let text = metrics.render();
        assert!(text.contains("segmint_queries_total 2"), "{text}");
        assert!(
            text.contains("segmint_query_errors_total{sqlstate=\"42P01\"} 1"),
            "{text}"
        );
        assert!(text.contains("segmint_rows_sent_total 3"), "{text}");
        assert!(
            text.contains("segmint_query_duration_seconds_count 2"),
            "{text}"
        );
        assert!(text.contains("segmint_bytes_sent_total 100"), "{text}");
        assert!(text.contains("segmint_memory_in_use_bytes 0"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
