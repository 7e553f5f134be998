//! Frame boundaries of the client's byte stream, followed as the bytes arrive, so that pgwire's
//! decoder only ever sees well-formed frames, one at a time:
//!
//! - a message whose header announces more than the limit (or less than its own length field)
//!   fails the read before its body is buffered: a client cannot make the server hold a
//!   gigabyte;
//! - a message whose body does not have its type's shape (see [`crate::shape`]) fails the read
//!   before its last byte reaches the decoder. pgwire's decoders trust the lengths and counts
//!   inside a body, and read past its end (panicking, or eating the next message) when they
//!   lie; the `client_stream` fuzz target found this;
//! - each read hands the decoder bytes of one frame only, so a decoder can never read into the
//!   message after it.
//!
//! A failed read ends the connection with SQLSTATE 08P01.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::shape::{BodyCheck, StartupCode};

/// PostgreSQL's limit on a startup packet (`MAX_STARTUP_PACKET_LENGTH`).
pub const MAX_STARTUP_BYTES: usize = 10_000;

/// An [`AsyncRead`] over the client's stream that checks every frame with a
/// [`FrameTracker`] and ends each read at a frame boundary.
pub struct FrameGuard<T> {
    inner: T,
    tracker: FrameTracker,
    /// Bytes read from `inner` but not handed out yet (they belong to later frames).
    pending: BytesMut,
}

impl<T> FrameGuard<T> {
    /// Wraps `inner`, whose stream has already delivered `seen` (bytes read ahead while
    /// negotiating TLS); those are handed out first, checked like the rest.
    pub fn new(inner: T, seen: BytesMut, max_message_bytes: usize) -> Self {
        FrameGuard {
            inner,
            tracker: FrameTracker::new(max_message_bytes),
            pending: seen,
        }
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
    /// The check of the body in progress.
    check: BodyCheck,
    failed: Option<String>,
}

impl FrameTracker {
    /// A tracker at the start of a connection.
    pub fn new(max: usize) -> Self {
        FrameTracker {
            max,
            untyped: true,
            header: [0; 8],
            header_len: 0,
            body_left: 0,
            check: BodyCheck::None,
            failed: None,
        }
    }

    /// Follows `data` up to the end of the frame in progress: returns how many bytes it took
    /// (all of `data`, or fewer when a frame ends inside it), or why the stream is invalid.
    pub fn observe(&mut self, data: &[u8]) -> Result<usize, String> {
        if let Some(reason) = &self.failed {
            return Err(reason.clone());
        }
        match self.step(data) {
            Ok(taken) => Ok(taken),
            Err(reason) => {
                self.failed = Some(reason.clone());
                Err(reason)
            }
        }
    }

    /// Follows all of `data`, across any number of frames.
    pub fn observe_all(&mut self, mut data: &[u8]) -> Result<(), String> {
        while !data.is_empty() {
            let taken = self.observe(data)?;
            data = &data[taken..];
        }
        Ok(())
    }

    fn step(&mut self, data: &[u8]) -> Result<usize, String> {
        let mut taken = 0;
        while taken < data.len() {
            let rest = &data[taken..];
            if self.body_left > 0 {
                let n = self.body_left.min(rest.len());
                self.check.feed(&rest[..n])?;
                self.body_left -= n;
                taken += n;
                if self.body_left == 0 {
                    self.check.finish()?;
                    return Ok(taken);
                }
                continue;
            }
            let need = if self.untyped { 8 } else { 5 };
            let n = (need - self.header_len).min(rest.len());
            self.header[self.header_len..self.header_len + n].copy_from_slice(&rest[..n]);
            self.header_len += n;
            taken += n;
            if self.header_len < need {
                break;
            }
            self.start_frame()?;
            if self.body_left == 0 {
                self.check.finish()?;
                return Ok(taken);
            }
        }
        Ok(taken)
    }

    /// Reads a complete header: checks the length and picks the body check.
    fn start_frame(&mut self) -> Result<(), String> {
        self.header_len = 0;
        let at = if self.untyped { 0 } else { 1 };
        let mut length = [0u8; 4];
        length.copy_from_slice(&self.header[at..at + 4]);
        let length = u32::from_be_bytes(length) as usize;
        let (minimum, maximum) = if self.untyped {
            (8, MAX_STARTUP_BYTES)
        } else {
            (4, self.max)
        };
        if length < minimum {
            return Err(format!("invalid message length {length}"));
        }
        if length > maximum {
            return Err(format!(
                "message of {length} bytes is longer than the {maximum} allowed"
            ));
        }
        if self.untyped {
            let mut code = [0u8; 4];
            code.copy_from_slice(&self.header[4..8]);
            let code = StartupCode::from(u32::from_be_bytes(code));
            // The length counts itself and the code.
            self.body_left = length - 8;
            self.check = BodyCheck::for_startup(code, self.body_left)?;
            self.untyped = matches!(code, StartupCode::SslRequest | StartupCode::GssEncRequest);
        } else {
            self.body_left = length - 4;
            self.check = BodyCheck::for_message(self.header[0], self.body_left)?;
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
        let this = &mut *self;
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        if this.pending.is_empty() {
            let mut chunk = [0u8; 8192];
            let mut read = ReadBuf::new(&mut chunk);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut read))?;
            if read.filled().is_empty() {
                return Poll::Ready(Ok(()));
            }
            this.pending.extend_from_slice(read.filled());
        }
        let offered = this.pending.len().min(buf.remaining());
        let taken = this
            .tracker
            .observe(&this.pending[..offered])
            .map_err(|reason| io::Error::new(io::ErrorKind::InvalidData, reason))?;
        buf.put_slice(&this.pending[..taken]);
        this.pending.advance(taken);
        Poll::Ready(Ok(()))
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

    /// A startup packet of `len` bytes (9, or 12 and more): one parameter with an empty value.
    fn startup(len: u32) -> Vec<u8> {
        let mut bytes = len.to_be_bytes().to_vec();
        bytes.extend(196608u32.to_be_bytes());
        if len > 9 {
            bytes.resize(len as usize - 3, b'x');
            bytes.extend(b"\0\0");
        }
        bytes.push(0);
        bytes
    }

    #[test]
    fn follows_startup_then_typed_messages_split_anywhere() {
        let mut stream = startup(16);
        stream.extend(b"Q\x00\x00\x00\x0bSELECT\0");
        stream.extend(b"X\x00\x00\x00\x04");
        for split in 0..stream.len() {
            let mut tracker = FrameTracker::new(100);
            tracker.observe_all(&stream[..split]).expect("valid head");
            tracker.observe_all(&stream[split..]).expect("valid tail");
            assert_eq!(tracker.body_left, 0);
            assert_eq!(tracker.header_len, 0);
        }
    }

    #[test]
    fn each_observation_ends_at_a_frame_boundary() {
        let mut stream = startup(16);
        stream.extend(b"Q\x00\x00\x00\x0bSELECT\0");
        stream.extend(b"S\x00\x00\x00\x04");
        let mut tracker = FrameTracker::new(100);
        assert_eq!(tracker.observe(&stream), Ok(16));
        assert_eq!(tracker.observe(&stream[16..]), Ok(12));
        assert_eq!(tracker.observe(&stream[28..30]), Ok(2));
        assert_eq!(tracker.observe(&stream[30..]), Ok(3));
    }

    #[test]
    fn a_body_that_lies_fails_before_its_last_byte_is_handed_on() {
        let mut tracker = FrameTracker::new(100);
        tracker.observe_all(&startup(9)).expect("startup");
        // Parse claiming 0xffff parameter types with none following.
        let parse = b"P\x00\x00\x00\x0as\0q\0\xff\xff";
        assert_eq!(tracker.observe(&parse[..10]), Ok(10));
        let error = tracker.observe(&parse[10..]).expect_err("lying body");
        assert!(error.contains("Parse message"), "{error}");
    }

    #[test]
    fn an_oversized_header_fails_before_its_body_arrives() {
        let mut tracker = FrameTracker::new(1000);
        tracker.observe_all(&startup(9)).expect("startup");
        let error = tracker
            .observe_all(b"Q\x7f\xff\xff\xff")
            .expect_err("too large");
        assert!(error.contains("longer than"), "{error}");
        assert!(tracker.observe_all(b"more").is_err(), "stays failed");
        assert!(
            FrameTracker::new(1000)
                .observe_all(b"\x00\x00\x00\x02abcd")
                .is_err()
        );
        let mut short = FrameTracker::new(1000);
        short.observe_all(&startup(9)).expect("startup");
        assert!(short.observe_all(b"Q\x00\x00\x00\x03").is_err());
    }

    #[test]
    fn ssl_request_is_followed_by_an_untyped_startup() {
        let mut stream = 8u32.to_be_bytes().to_vec();
        stream.extend(80877103u32.to_be_bytes());
        stream.extend(startup(12));
        stream.extend(b"Q\x00\x00\x00\x05\0");
        FrameTracker::new(100).observe_all(&stream).expect("valid");
    }
}
