//! The operators' HTTP endpoint, on its own port (`[server] metrics_listen`), apart from the
//! PostgreSQL port:
//!
//! - `GET /metrics`: Prometheus metrics (OpenMetrics text);
//! - `GET /health`: `200 ok` when the engine answers `SELECT 1` within five seconds, else
//!   `503`.
//!
//! At most 16 connections are served at once, and each must send its headers within ten
//! seconds, so the port cannot be used to exhaust the process.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::metrics::Metrics;
use crate::engine::Engine;
use crate::error::{Result, SegmintError};

/// How long the health check's query may take.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(5);
/// Scrapers served at once; more wait for a slot.
const MAX_CONNECTIONS: usize = 16;
/// How long a client may take to send its request headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// A bound metrics endpoint.
pub struct MetricsEndpoint {
    listener: TcpListener,
    metrics: Arc<Metrics>,
    engine: Arc<Engine>,
}

impl MetricsEndpoint {
    /// Binds `addr`.
    pub async fn bind(
        addr: SocketAddr,
        metrics: Arc<Metrics>,
        engine: Arc<Engine>,
    ) -> Result<MetricsEndpoint> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| SegmintError::io(format!("binding the metrics endpoint {addr}"), e))?;
        Ok(MetricsEndpoint {
            listener,
            metrics,
            engine,
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.listener
            .local_addr()
            .map_err(|e| SegmintError::io("reading the metrics endpoint address", e))
    }

    /// Answers requests until the task is dropped.
    pub async fn serve(self) {
        let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        loop {
            let Ok(slot) = slots.clone().acquire_owned().await else {
                return;
            };
            let (socket, _) = match self.listener.accept().await {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, say: wait rather than spin.
                    tracing::warn!(%error, "metrics endpoint: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let metrics = self.metrics.clone();
            let engine = self.engine.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request| {
                    let (metrics, engine) = (metrics.clone(), engine.clone());
                    async move { Ok::<_, Infallible>(answer(request, &metrics, &engine).await) }
                });
                let served = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADER_TIMEOUT)
                    .serve_connection(TokioIo::new(socket), service)
                    .await;
                if let Err(error) = served {
                    tracing::debug!(%error, "metrics endpoint: connection error");
                }
                drop(slot);
            });
        }
    }
}

/// Routes one request.
async fn answer(
    request: Request<Incoming>,
    metrics: &Metrics,
    engine: &Engine,
) -> Response<Full<Bytes>> {
    match (request.method(), request.uri().path()) {
        (&Method::GET, "/metrics") => reply(
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            metrics.render(),
        ),
        (&Method::GET, "/health") => match health(engine).await {
            Ok(()) => reply(StatusCode::OK, "text/plain", "ok\n".into()),
            Err(reason) => reply(
                StatusCode::SERVICE_UNAVAILABLE,
                "text/plain",
                format!("unhealthy: {reason}\n"),
            ),
        },
        _ => reply(StatusCode::NOT_FOUND, "text/plain", "not found\n".into()),
    }
}

/// Runs `SELECT 1` in a fresh session.
async fn health(engine: &Engine) -> std::result::Result<(), String> {
    let check = async {
        engine
            .session()
            .sql("SELECT 1")
            .await?
            .collect()
            .await
            .map(|_| ())
    };
    match tokio::time::timeout(HEALTH_TIMEOUT, check).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err(format!("no answer within {HEALTH_TIMEOUT:?}")),
    }
}

fn reply(status: StatusCode, content_type: &str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(value) = content_type.parse() {
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, value);
    }
    response
}
