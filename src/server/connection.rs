//! One client connection, from TLS negotiation to the last message, with the limits a shared
//! server needs: a deadline for logging in, an idle-session timeout, a cap on the size of each
//! message (checked from its header, before its body is buffered), and containment of a panic
//! inside one statement to that statement.
//!
//! pgwire decodes and dispatches the messages; this loop replaces its `process_socket` so those
//! limits apply.

use std::io;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::{FutureExt, SinkExt, StreamExt};
use pgwire::api::{ClientInfo, ErrorHandler, PgWireConnectionState, PgWireServerHandlers};
use pgwire::error::{ErrorInfo, PgWireError};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use pgwire::tokio::TlsAcceptor;
use pgwire::tokio::server::{negotiate_tls, process_error, process_message};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_util::codec::{Framed, FramedParts};

use super::auth::{PROTOCOL_VIOLATION, fatal};
use super::sqlstate::INTERNAL_ERROR;

/// The largest message a client may send (a query text, a Bind with its parameters).
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;
/// Time a client has to finish logging in.
pub const LOGIN_TIMEOUT: Duration = Duration::from_secs(60);
/// `57P05`: the session sat idle for longer than `idle_session_timeout`.
pub const IDLE_SESSION_TIMEOUT: &str = "57P05";

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
) -> io::Result<()> {
    let login_deadline = tokio::time::sleep(LOGIN_TIMEOUT);
    tokio::pin!(login_deadline);
    let negotiated = tokio::select! {
        _ = &mut login_deadline => return Ok(()),
        negotiated = negotiate_tls(socket, tls) => negotiated?,
    };
    // A client that asked for TLS directly when none is configured gets nothing.
    let Some(socket) = negotiated else {
        return Ok(());
    };
    let parts = socket.into_parts();
    let guarded = FrameGuard::new(parts.io, &parts.read_buf, limits.max_message_bytes);
    let mut new_parts = FramedParts::new(guarded, parts.codec);
    new_parts.read_buf = parts.read_buf;
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
                    let _ = send_fatal(&mut socket, fatal("08006", "login took too long")).await;
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
        let is_extended = match socket.state() {
            PgWireConnectionState::CopyInProgress(extended) => extended,
            _ => message.is_extended_query(),
        };
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
        let mut error = match outcome {
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

/// Reads the frame headers of the client's byte stream as they arrive and fails the read as
/// soon as a header announces a message longer than the limit (or shorter than its own
/// length field), so a client cannot make the server buffer a gigabyte.
pub struct FrameGuard<T> {
    inner: T,
    tracker: FrameTracker,
}

impl<T> FrameGuard<T> {
    /// Wraps `inner`, whose stream has already delivered `seen` (bytes read ahead while
    /// negotiating TLS).
    pub fn new(inner: T, seen: &[u8], max_message_bytes: usize) -> Self {
        let mut tracker = FrameTracker::new(max_message_bytes);
        // Bytes already read are checked when the codec decodes them; a bad length there is
        // reported through the tracker's next read.
        let _ = tracker.observe(seen);
        FrameGuard { inner, tracker }
    }
}

/// The frame-boundary state machine behind [`FrameGuard`].
#[derive(Debug, Clone)]
pub struct FrameTracker {
    max: usize,
    /// The next message has no type byte (startup phase).
    untyped: bool,
    header: [u8; 8],
    header_len: usize,
    body_left: usize,
    failed: Option<String>,
}

/// Protocol codes of untyped requests after which another untyped message follows.
const SSL_REQUEST: u32 = 80877103;
const GSSENC_REQUEST: u32 = 80877104;

impl FrameTracker {
    /// A tracker at the start of a connection.
    pub fn new(max: usize) -> Self {
        FrameTracker {
            max,
            untyped: true,
            header: [0; 8],
            header_len: 0,
            body_left: 0,
            failed: None,
        }
    }

    /// Follows `data`; returns why the stream is invalid, if it is.
    pub fn observe(&mut self, mut data: &[u8]) -> Result<(), String> {
        if let Some(reason) = &self.failed {
            return Err(reason.clone());
        }
        while !data.is_empty() {
            if self.body_left > 0 {
                let n = self.body_left.min(data.len());
                self.body_left -= n;
                data = &data[n..];
                continue;
            }
            let need = if self.untyped { 8 } else { 5 };
            let n = (need - self.header_len).min(data.len());
            self.header[self.header_len..self.header_len + n].copy_from_slice(&data[..n]);
            self.header_len += n;
            data = &data[n..];
            if self.header_len < need {
                break;
            }
            let at = if self.untyped { 0 } else { 1 };
            let mut length = [0u8; 4];
            length.copy_from_slice(&self.header[at..at + 4]);
            let length = u32::from_be_bytes(length) as usize;
            let minimum = if self.untyped { 8 } else { 4 };
            if length < minimum || length > self.max {
                let reason = if length < minimum {
                    format!("invalid message length {length}")
                } else {
                    format!(
                        "message of {length} bytes is longer than the {} allowed",
                        self.max
                    )
                };
                self.failed = Some(reason.clone());
                return Err(reason);
            }
            // The body left after the part of the header that counts toward the length.
            self.body_left = length - if self.untyped { 8 } else { 4 };
            if self.untyped {
                let mut code = [0u8; 4];
                code.copy_from_slice(&self.header[4..8]);
                let code = u32::from_be_bytes(code);
                self.untyped = matches!(code, SSL_REQUEST | GSSENC_REQUEST);
            }
            self.header_len = 0;
        }
        Ok(())
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for FrameGuard<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let fresh = &buf.filled()[before..];
                match this.tracker.observe(fresh) {
                    Ok(()) => Poll::Ready(Ok(())),
                    Err(reason) => {
                        Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, reason)))
                    }
                }
            }
            other => other,
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for FrameGuard<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn startup(len: u32) -> Vec<u8> {
        let mut bytes = len.to_be_bytes().to_vec();
        bytes.extend(196608u32.to_be_bytes());
        bytes.resize(len as usize, 0);
        bytes
    }

    #[test]
    fn follows_startup_then_typed_messages_split_anywhere() {
        let mut stream = startup(16);
        stream.extend(b"Q\x00\x00\x00\x0aSELECT");
        stream.extend(b"X\x00\x00\x00\x04");
        for split in 0..stream.len() {
            let mut tracker = FrameTracker::new(100);
            tracker.observe(&stream[..split]).expect("valid head");
            tracker.observe(&stream[split..]).expect("valid tail");
            assert_eq!(tracker.body_left, 0);
            assert_eq!(tracker.header_len, 0);
        }
    }

    #[test]
    fn an_oversized_header_fails_before_its_body_arrives() {
        let mut tracker = FrameTracker::new(1000);
        tracker.observe(&startup(8)).expect("startup");
        let error = tracker
            .observe(b"Q\x7f\xff\xff\xff")
            .expect_err("too large");
        assert!(error.contains("longer than"), "{error}");
        assert!(tracker.observe(b"more").is_err(), "stays failed");
        assert!(
            FrameTracker::new(1000)
                .observe(b"\x00\x00\x00\x02abcd")
                .is_err()
        );
        let mut short = FrameTracker::new(1000);
        short.observe(&startup(8)).expect("startup");
        assert!(short.observe(b"Q\x00\x00\x00\x03").is_err());
    }

    #[test]
    fn ssl_request_is_followed_by_an_untyped_startup() {
        let mut stream = 8u32.to_be_bytes().to_vec();
        stream.extend(SSL_REQUEST.to_be_bytes());
        stream.extend(startup(12));
        stream.extend(b"Q\x00\x00\x00\x05x");
        FrameTracker::new(100).observe(&stream).expect("valid");
    }
}
