//! The PostgreSQL wire-protocol server: binds first (so callers and tests can read the real
//! address of `127.0.0.1:0`), then accepts connections until shutdown, each served by its own
//! handler set with its own session.

pub mod auth;
mod authorize;
mod block_status;
mod cancel;
pub mod connection;
mod copy;
mod cursors;
mod ddl;
mod encode;
mod execution;
mod functions;
mod handler;
mod plan_cache;
mod planner;
mod prepared;
mod row_encode;
mod run_report;
mod session;
mod settings;
pub mod sqlstate;
mod statement;
mod table_args;
pub mod tls;
mod transaction;
mod variables;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use pgwire::api::ConnectionManager;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::access::Access;
use crate::config::Config;
use crate::engine::Engine;
use crate::error::{Result, SegmintError};
use crate::observe::Metrics;
use crate::observe::http::MetricsEndpoint;
use auth::LoginPolicy;
use handler::{ConnectionHandlers, TooManyConnections};
use pgwire::tokio::TlsAcceptor;

/// How long open sessions get to finish after shutdown is requested.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A bound, not yet serving, wire-protocol server.
pub struct Server {
    listener: TcpListener,
    engine: Arc<Engine>,
    max_connections: usize,
    login: Arc<LoginPolicy>,
    tls: Option<TlsAcceptor>,
    metrics: Arc<Metrics>,
    metrics_endpoint: Option<MetricsEndpoint>,
}

impl Server {
    /// Checks users, roles and the TLS certificate, then binds the listener (and the metrics
    /// endpoint, when configured). A certificate that does not load is an error: the server
    /// never falls back to plain text.
    pub async fn bind(config: &Config, engine: Arc<Engine>) -> Result<Server> {
        let access = Arc::new(Access::from_config(config)?);
        let tls = match (&config.server.tls_cert, &config.server.tls_key) {
            (Some(cert), Some(key)) => Some(tls::acceptor(cert, key)?),
            _ => None,
        };
        let addr: SocketAddr = config.listen_addr()?;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| SegmintError::io(format!("binding {addr}"), e))?;
        tracing::info!(
            auth = ?access.method(),
            tls = tls.is_some(),
            require_tls = config.server.require_tls,
            "login policy"
        );
        let metrics = Arc::new(Metrics::new(engine.memory_pool()));
        let metrics_endpoint = match config.metrics_addr()? {
            Some(addr) => Some(MetricsEndpoint::bind(addr, metrics.clone(), engine.clone()).await?),
            None => None,
        };
        let login = LoginPolicy::new(
            access,
            config.server.require_tls,
            metrics.login_failures.clone(),
        );
        Ok(Server {
            listener,
            engine,
            max_connections: config.server.max_connections,
            login: Arc::new(login),
            tls,
            metrics,
            metrics_endpoint,
        })
    }

    /// The address of the metrics endpoint, when one is configured.
    pub fn metrics_addr(&self) -> Result<Option<SocketAddr>> {
        self.metrics_endpoint
            .as_ref()
            .map(MetricsEndpoint::local_addr)
            .transpose()
    }

    /// The address actually bound (the real port when 0 was asked for).
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.listener
            .local_addr()
            .map_err(|e| SegmintError::io("reading the listener address", e))
    }

    /// Serves connections until `shutdown` completes, then gives open sessions a short grace
    /// period before closing them.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) -> Result<()> {
        let sql_parser = Arc::new(crate::pgcompat::sql_parser::SqlParser::new());
        let connections = Arc::new(ConnectionManager::new());
        let cancels = Arc::new(cancel::CancelRegistry::default());
        let slots = Arc::new(Semaphore::new(self.max_connections));
        let limits = connection::ConnectionLimits {
            idle_timeout: self.engine.limits().idle_session_timeout,
            max_message_bytes: connection::MAX_MESSAGE_BYTES,
        };
        let mut sessions = JoinSet::new();
        let endpoint = self
            .metrics_endpoint
            .map(|endpoint| tokio::spawn(endpoint.serve()));
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
                accepted = self.listener.accept() => {
                    let (socket, peer) = match accepted {
                        Ok(accepted) => accepted,
                        Err(error) => {
                            tracing::warn!(%error, "accept failed");
                            continue;
                        }
                    };
                    let _ = socket.set_nodelay(true);
                    self.metrics.connections.inc();
                    let sent = self.metrics.bytes_sent.clone();
                    match slots.clone().try_acquire_owned() {
                        Ok(permit) => {
                            let handlers = Arc::new(ConnectionHandlers::new(
                                self.engine.clone(),
                                sql_parser.clone(),
                                self.login.clone(),
                                connections.clone(),
                                cancels.clone(),
                                self.metrics.clone(),
                            ));
                            let tls = self.tls.clone();
                            let active = ActiveConnection::new(&self.metrics);
                            sessions.spawn(async move {
                                if let Err(error) = connection::serve(socket, tls, handlers, limits, sent).await {
                                    tracing::debug!(%peer, %error, "connection ended with error");
                                }
                                drop(permit);
                                drop(active);
                                tracing::debug!(%peer, "connection closed");
                            });
                        }
                        Err(_) => {
                            tracing::warn!(%peer, "rejecting connection: max_connections reached");
                            let tls = self.tls.clone();
                            sessions.spawn(async move {
                                let _ = connection::serve(socket, tls, Arc::new(TooManyConnections), limits, sent).await;
                            });
                        }
                    }
                }
            }
        }
        tracing::info!(open = sessions.len(), "shutting down");
        let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
            while sessions.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::info!(open = sessions.len(), "closing sessions still open");
            sessions.shutdown().await;
        }
        if let Some(endpoint) = endpoint {
            endpoint.abort();
        }
        Ok(())
    }
}

/// Counts a connection in `segmint_active_connections` until dropped, however the
/// connection's task ends (returned, panicked or aborted at shutdown).
struct ActiveConnection(prometheus_client::metrics::gauge::Gauge);

impl ActiveConnection {
    fn new(metrics: &Metrics) -> Self {
        metrics.active_connections.inc();
        ActiveConnection(metrics.active_connections.clone())
    }
}

impl Drop for ActiveConnection {
    fn drop(&mut self) {
        self.0.dec();
    }
}
