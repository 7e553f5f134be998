//! One client connection, from TLS negotiation to the last message, with the limits a shared
//! server needs: a deadline for logging in, an idle-session timeout, a cap on the size of each
//! message (checked from its header, before its body is buffered), and containment of a panic
//! inside one statement to that statement.
//!
//! pgwire decodes and dispatches the messages; this loop replaces its `process_socket` so those
//! limits apply. Like PostgreSQL, it writes a message's answer to the socket once the message
//! is done (or whenever 64 KiB are waiting), and the answers to the extended protocol's
//! `Parse`, `Bind`, `Describe`, `Execute` and `Close` only with the `Sync` or `Flush` after
//! them: one write per round trip instead of one per message.

use std::io;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::{FutureExt, SinkExt, StreamExt};
use pgwire::api::{ClientInfo, ErrorHandler, PgWireConnectionState, PgWireServerHandlers};
use pgwire::error::{ErrorInfo, PgWireError};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use pgwire::tokio::TlsAcceptor;
use pgwire::tokio::server::{negotiate_tls, process_error, process_message};
use prometheus_client::metrics::counter::Counter;
use segmint_wire::frame::FrameGuard;
use tokio::io::{AsyncRead, AsyncWrite, BufWriter, ReadBuf};
use tokio::net::TcpStream;
use tokio_util::codec::{Framed, FramedParts};

use super::auth::{PROTOCOL_VIOLATION, fatal};
use super::sqlstate::INTERNAL_ERROR;

/// The largest message a client may send (a query text, a Bind with its parameters).
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;
/// Time a client has to finish logging in.
pub const LOGIN_TIMEOUT: Duration = Duration::from_secs(60);
/// `57P05`: the session sat idle for longer than `idle_session_timeout`.
pub use crate::sqlstate::IDLE_SESSION_TIMEOUT;

/// Limits of one connection.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Close the session after this long without a message (between statements).
    pub idle_timeout: Option<Duration>,
    /// The largest message accepted.
    pub max_message_bytes: usize,
}

/// Serves one accepted socket until the client leaves or a limit ends the session.
pub async fn serve<H: PgWireServerHandlers>(
    socket: TcpStream,
    tls: Option<TlsAcceptor>,
    handlers: H,
    limits: ConnectionLimits,
    bytes_sent: Counter,
) -> io::Result<()> {
    let login_deadline = tokio::time::sleep(LOGIN_TIMEOUT);
    tokio::pin!(login_deadline);
    let negotiated = tokio::select! {
        _ = &mut login_deadline => return Ok(()),
        negotiated = negotiate_tls(socket, tls) => negotiated?,
    };
    // A client that asked for TLS directly when none is configured gets nothing.
    let Some(mut socket) = negotiated else {
        return Ok(());
    };
    // Bytes that arrived in the clear behind an SSLRequest must not pass as encrypted
    // (PostgreSQL's CVE-2021-23214): pgwire would hand them on after the handshake.
    if socket.is_secure() && !socket.read_buffer().is_empty() {
        tracing::warn!(peer = %socket.socket_addr(), "unencrypted data after the SSL request");
        let error = fatal(
            PROTOCOL_VIOLATION,
            "received unencrypted data after SSL request",
        );
        let _ = send_fatal(&mut socket, error).await;
        return Ok(());
    }
    let parts = socket.into_parts();
    // Bytes read ahead while negotiating go back through the guard, checked like the rest.
    let hold = Arc::new(AtomicBool::new(false));
    let counted = CountWrites {
        inner: HoldFlushes {
            inner: BufWriter::with_capacity(WRITE_BUFFER_BYTES, parts.io),
            hold: hold.clone(),
        },
        bytes: bytes_sent,
    };
    let guarded = FrameGuard::new(counted, parts.read_buf, limits.max_message_bytes);
    let mut new_parts = FramedParts::new(guarded, parts.codec);
    new_parts.write_buf = parts.write_buf;
    let mut socket = Framed::from_parts(new_parts);

    let startup = handlers.startup_handler();
    let simple = handlers.simple_query_handler();
    let extended = handlers.extended_query_handler();
    let copy = handlers.copy_handler();
    let cancel = handlers.cancel_handler();
    let errors = handlers.error_handler();
    loop {
        let logging_in = matches!(
            socket.state(),
            PgWireConnectionState::AwaitingStartup
                | PgWireConnectionState::AuthenticationInProgress
        );
        let message = if logging_in {
            tokio::select! {
                _ = &mut login_deadline => {
                    let _ = send_fatal(&mut socket, fatal(crate::sqlstate::CONNECTION_FAILURE, "login took too long")).await;
                    return Ok(());
                }
                message = socket.next() => message,
            }
        } else if let (Some(idle), PgWireConnectionState::ReadyForQuery) =
            (limits.idle_timeout, socket.state())
        {
            tokio::select! {
                _ = tokio::time::sleep(idle) => {
                    tracing::info!(peer = %socket.socket_addr(), "closing idle session");
                    let error = fatal(
                        IDLE_SESSION_TIMEOUT,
                        "terminating connection due to idle-session timeout",
                    );
                    let _ = send_fatal(&mut socket, error).await;
                    return Ok(());
                }
                message = socket.next() => message,
            }
        } else {
            socket.next().await
        };
        let message = match message {
            None => return Ok(()),
            Some(Ok(PgWireFrontendMessage::Terminate(_))) => return Ok(()),
            Some(Ok(message)) => message,
            Some(Err(error)) => {
                tracing::warn!(peer = %socket.socket_addr(), %error, "closing connection: bad message");
                let reason = match &error {
                    PgWireError::IoError(e) if e.kind() == io::ErrorKind::InvalidData => {
                        e.to_string()
                    }
                    other => format!("invalid message: {other}"),
                };
                let _ = send_fatal(&mut socket, fatal(PROTOCOL_VIOLATION, reason)).await;
                return Ok(());
            }
        };
        // A cancel request is the whole of its connection.
        let last = matches!(message, PgWireFrontendMessage::CancelRequest(_));
        let is_extended = match socket.state() {
            PgWireConnectionState::CopyInProgress(extended) => extended,
            _ => message.is_extended_query(),
        };
        // A message's answer is written in one go when it is done; answers to these wait for
        // the Sync (or Flush) that follows them. Logging in answers message by message.
        let awaits_sync = matches!(
            message,
            PgWireFrontendMessage::Parse(_)
                | PgWireFrontendMessage::Bind(_)
                | PgWireFrontendMessage::Describe(_)
                | PgWireFrontendMessage::Execute(_)
                | PgWireFrontendMessage::Close(_)
        );
        hold.store(!logging_in, Ordering::Relaxed);
        let outcome = AssertUnwindSafe(process_message(
            message,
            &mut socket,
            startup.clone(),
            simple.clone(),
            extended.clone(),
            copy.clone(),
            cancel.clone(),
        ))
        .catch_unwind()
        .await;
        hold.store(false, Ordering::Relaxed);
        if !awaits_sync && !matches!(outcome, Ok(Err(_)) | Err(_)) {
            socket.flush().await?;
        }
        let mut error = match outcome {
            Ok(Ok(())) if last => return Ok(()),
            Ok(Ok(())) => continue,
            Ok(Err(error)) => error,
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".to_string());
                tracing::error!(peer = %socket.socket_addr(), panic = %what, "statement panicked; the session goes on");
                PgWireError::UserError(Box::new(ErrorInfo::new(
                    "ERROR".to_string(),
                    INTERNAL_ERROR.to_string(),
                    format!("internal error while running the statement: {what}"),
                )))
            }
        };
        errors.on_error(&socket, &mut error);
        process_error(&mut socket, error, is_extended).await?;
    }
}

/// Sends a FATAL error and flushes it; the caller then drops the connection.
async fn send_fatal<S>(
    socket: &mut Framed<
        S,
        impl tokio_util::codec::Encoder<PgWireBackendMessage, Error = io::Error>,
    >,
    error: PgWireError,
) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let info: ErrorInfo = error.into();
    socket
        .send(PgWireBackendMessage::ErrorResponse(info.into()))
        .await
}

/// Bytes buffered before they are written to the socket.
const WRITE_BUFFER_BYTES: usize = 64 * 1024;

/// A buffered socket whose flushes are skipped while `hold` is set: the loop sets it while
/// answering extended-protocol messages, whose answers go out with the next Sync or Flush. The
/// buffer writes through once full, so a large result never waits in memory.
struct HoldFlushes<T> {
    inner: BufWriter<T>,
    hold: Arc<AtomicBool>,
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncRead for HoldFlushes<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for HoldFlushes<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.hold.load(Ordering::Relaxed) {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Counts the bytes written to the client (the `bytes_sent` metric).
struct CountWrites<T> {
    inner: T,
    bytes: Counter,
}

impl<T: AsyncRead + Unpin> AsyncRead for CountWrites<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for CountWrites<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let written = Pin::new(&mut this.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &written {
            this.bytes.inc_by(*n as u64);
        }
        written
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
