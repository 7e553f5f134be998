//! The client a simple-protocol query string is answered through: the connection, with the
//! session's transaction block in charge of the status every `ReadyForQuery` reports.
//!
//! pgwire derives that status from the responses of a query string (`BEGIN` → `T`, an error
//! → `E`, `COMMIT` → `I`), which cannot express PostgreSQL's `ROLLBACK TO SAVEPOINT` out of a
//! failed block (`E` → `T`). This wrapper passes everything through, tells the block about
//! every error sent, and writes the block's status into `ReadyForQuery`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};

use futures::Sink;
use pgwire::api::{ClientInfo, ClientPortalStore, PgWireConnectionState, SessionExtensions};
use pgwire::messages::response::{ReadyForQuery, TransactionStatus};
use pgwire::messages::startup::SecretKey;
use pgwire::messages::{PgWireBackendMessage, ProtocolVersion};
use pgwire::tokio::tokio_rustls::rustls::pki_types::CertificateDer;

use super::transaction::Block;

/// `inner`, reporting `block`'s status.
pub struct BlockStatusClient<'a, C> {
    inner: &'a mut C,
    block: &'a Mutex<Block>,
}

impl<'a, C> BlockStatusClient<'a, C> {
    /// Wraps the connection of one query string.
    pub fn new(inner: &'a mut C, block: &'a Mutex<Block>) -> Self {
        BlockStatusClient { inner, block }
    }

    fn with_block<T>(&self, f: impl FnOnce(&mut Block) -> T) -> T {
        let mut block = self
            .block
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut block)
    }
}

impl<C: ClientInfo> ClientInfo for BlockStatusClient<'_, C> {
    fn socket_addr(&self) -> SocketAddr {
        self.inner.socket_addr()
    }

    fn is_secure(&self) -> bool {
        self.inner.is_secure()
    }

    fn protocol_version(&self) -> ProtocolVersion {
        self.inner.protocol_version()
    }

    fn set_protocol_version(&mut self, version: ProtocolVersion) {
        self.inner.set_protocol_version(version)
    }

    fn pid_and_secret_key(&self) -> (i32, SecretKey) {
        self.inner.pid_and_secret_key()
    }

    fn set_pid_and_secret_key(&mut self, pid: i32, secret_key: SecretKey) {
        self.inner.set_pid_and_secret_key(pid, secret_key)
    }

    fn state(&self) -> PgWireConnectionState {
        self.inner.state()
    }

    fn set_state(&mut self, new_state: PgWireConnectionState) {
        self.inner.set_state(new_state)
    }

    fn transaction_status(&self) -> TransactionStatus {
        self.inner.transaction_status()
    }

    fn set_transaction_status(&mut self, _derived: TransactionStatus) {
        let status = self.with_block(|block| block.status());
        self.inner.set_transaction_status(status)
    }

    fn metadata(&self) -> &HashMap<String, String> {
        self.inner.metadata()
    }

    fn metadata_mut(&mut self) -> &mut HashMap<String, String> {
        self.inner.metadata_mut()
    }

    fn session_extensions(&self) -> &SessionExtensions {
        self.inner.session_extensions()
    }

    fn sni_server_name(&self) -> Option<&str> {
        self.inner.sni_server_name()
    }

    fn client_certificates<'b>(&self) -> Option<&[CertificateDer<'b>]> {
        self.inner.client_certificates()
    }
}

impl<C: ClientPortalStore> ClientPortalStore for BlockStatusClient<'_, C> {
    type PortalStore = C::PortalStore;

    fn portal_store(&self) -> &Self::PortalStore {
        self.inner.portal_store()
    }
}

impl<C: Sink<PgWireBackendMessage> + Unpin> Sink<PgWireBackendMessage>
    for BlockStatusClient<'_, C>
{
    type Error = C::Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut *self.get_mut().inner).poll_ready(cx)
    }

    fn start_send(self: Pin<&mut Self>, item: PgWireBackendMessage) -> Result<(), Self::Error> {
        let this = self.get_mut();
        let item = match item {
            PgWireBackendMessage::ErrorResponse(error) => {
                this.with_block(Block::fail);
                PgWireBackendMessage::ErrorResponse(error)
            }
            PgWireBackendMessage::ReadyForQuery(_) => PgWireBackendMessage::ReadyForQuery(
                ReadyForQuery::new(this.with_block(|block| block.status())),
            ),
            other => other,
        };
        Pin::new(&mut *this.inner).start_send(item)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut *self.get_mut().inner).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut *self.get_mut().inner).poll_close(cx)
    }
}
