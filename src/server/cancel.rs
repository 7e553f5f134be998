//! Query cancellation: a PostgreSQL `CancelRequest` (psql's Ctrl-C, JDBC's
//! `Statement.cancel()`, psycopg's `cancel()`) stops the target connection's running query with
//! SQLSTATE 57014, and the connection stays usable.
//!
//! pgwire cancels a query only while its handler is still planning; once rows stream, the
//! stream itself must stop. Each session registers a [`QueryCancel`] under its process id and
//! secret key; the [`CancelHandler`] passes the request to pgwire and to that session, whose
//! result stream ends with the 57014 error at its next batch.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use async_trait::async_trait;
use pgwire::api::ConnectionManager;
use pgwire::messages::cancel::CancelRequest;
use pgwire::messages::startup::SecretKey;
use tokio::sync::Notify;

/// The cancel switch of one session's current query.
#[derive(Default)]
pub struct QueryCancel {
    current: Mutex<Arc<Notify>>,
}

impl QueryCancel {
    /// A fresh signal for a query that starts now (a cancel of an earlier query does not
    /// reach it).
    pub fn begin(&self) -> Arc<Notify> {
        let signal = Arc::new(Notify::new());
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = signal.clone();
        signal
    }

    /// Cancels the current query (or the next batch it waits for).
    pub fn cancel(&self) {
        self.current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .notify_one();
    }
}

/// A registered session: its secret key and its cancel switch.
type Registered = (Vec<u8>, Weak<QueryCancel>);

/// The sessions that can be cancelled, by process id.
#[derive(Default)]
pub struct CancelRegistry {
    sessions: Mutex<HashMap<i32, Registered>>,
}

fn secret_bytes(key: &SecretKey) -> Vec<u8> {
    match key {
        SecretKey::I32(n) => n.to_be_bytes().to_vec(),
        SecretKey::Bytes(bytes) => bytes.to_vec(),
    }
}

impl CancelRegistry {
    /// Registers a session's cancel switch under its process id and secret key.
    pub fn register(&self, pid: i32, key: &SecretKey, cancel: &Arc<QueryCancel>) {
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        sessions.retain(|_, (_, session)| session.strong_count() > 0);
        sessions.insert(pid, (secret_bytes(key), Arc::downgrade(cancel)));
    }

    fn cancel(&self, pid: i32, key: &SecretKey) {
        let sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((secret, session)) = sessions.get(&pid)
            && *secret == secret_bytes(key)
            && let Some(session) = session.upgrade()
        {
            tracing::info!(pid, "cancelling the running query");
            session.cancel();
        }
    }
}

/// Answers `CancelRequest`s for every connection of the server.
pub struct CancelHandler {
    connections: Arc<ConnectionManager>,
    registry: Arc<CancelRegistry>,
}

impl CancelHandler {
    /// A handler for the server's connections and sessions.
    pub fn new(connections: Arc<ConnectionManager>, registry: Arc<CancelRegistry>) -> Self {
        CancelHandler {
            connections,
            registry,
        }
    }
}

#[async_trait]
impl pgwire::api::cancel::CancelHandler for CancelHandler {
    async fn on_cancel_request(&self, request: CancelRequest) {
        self.connections
            .cancel(request.pid, &request.secret_key)
            .await;
        self.registry.cancel(request.pid, &request.secret_key);
    }
}
