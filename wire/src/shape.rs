//! The shape each client message body must have before pgwire may decode it: every string
//! NUL-terminated, every count and length matched by the bytes that follow, and nothing left
//! over. pgwire's decoders read what a body claims, so a body that lies must be refused here.
//!
//! Bodies of `Query` and `CopyFail` (one string), the startup packet (name/value pairs) and the
//! empty-bodied messages are checked as they stream in; the extended-protocol messages
//! (`Parse`, `Bind`, `Describe`, `Close`, `Execute`) are kept until complete and then parsed.
//! `CopyData` and password messages are opaque bytes here; password messages are parsed by the
//! login code itself.

/// The code of an untyped (startup-phase) packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartupCode {
    /// `SSLRequest` (80877103).
    SslRequest,
    /// `GSSENCRequest` (80877104).
    GssEncRequest,
    /// `CancelRequest` (80877102).
    CancelRequest,
    /// A `StartupMessage`; the code is the protocol version.
    Startup,
}

impl From<u32> for StartupCode {
    fn from(code: u32) -> Self {
        match code {
            80877103 => StartupCode::SslRequest,
            80877104 => StartupCode::GssEncRequest,
            80877102 => StartupCode::CancelRequest,
            _ => StartupCode::Startup,
        }
    }
}

/// The check of one message body in progress.
#[derive(Debug, Clone)]
pub enum BodyCheck {
    /// Any bytes.
    None,
    /// Exactly one NUL-terminated string (`Query`, `CopyFail`).
    OneString {
        len: usize,
        seen: usize,
        ended: bool,
    },
    /// Pairs of NUL-terminated strings (a non-empty name, then a value) ended by an empty
    /// name, with nothing after it: a startup packet after its version.
    Parameters {
        at_name: bool,
        string_len: usize,
        ended: bool,
    },
    /// The whole body, parsed when complete.
    Kept { kind: u8, body: Vec<u8> },
}

impl BodyCheck {
    /// The check for a typed message of `kind` whose body is `len` bytes long.
    pub fn for_message(kind: u8, len: usize) -> Result<BodyCheck, String> {
        match kind {
            b'Q' | b'f' => {
                if len == 0 {
                    return Err(format!("{} message has no string", name(kind)));
                }
                Ok(BodyCheck::OneString {
                    len,
                    seen: 0,
                    ended: false,
                })
            }
            b'S' | b'H' | b'X' | b'c' => {
                if len != 0 {
                    return Err(format!("{} message must be empty", name(kind)));
                }
                Ok(BodyCheck::None)
            }
            b'P' | b'B' | b'C' | b'D' | b'E' => Ok(BodyCheck::Kept {
                kind,
                body: Vec::with_capacity(len.min(64 * 1024)),
            }),
            _ => Ok(BodyCheck::None),
        }
    }

    /// The check for an untyped packet with `code` and `len` bytes after the code.
    pub fn for_startup(code: StartupCode, len: usize) -> Result<BodyCheck, String> {
        match code {
            StartupCode::SslRequest | StartupCode::GssEncRequest if len != 0 => {
                Err("encryption request has a body".to_string())
            }
            StartupCode::SslRequest | StartupCode::GssEncRequest => Ok(BodyCheck::None),
            // A process id and a secret key of 4 to 256 bytes.
            StartupCode::CancelRequest if !(8..=260).contains(&len) => {
                Err(format!("cancel request of {} bytes", len + 8))
            }
            StartupCode::CancelRequest => Ok(BodyCheck::None),
            StartupCode::Startup if len == 0 => Err("startup packet has no parameters".into()),
            StartupCode::Startup => Ok(BodyCheck::Parameters {
                at_name: true,
                string_len: 0,
                ended: false,
            }),
        }
    }

    /// Follows the next bytes of the body.
    pub fn feed(&mut self, data: &[u8]) -> Result<(), String> {
        match self {
            BodyCheck::None => {}
            BodyCheck::OneString { len, seen, ended } => {
                if let Some(at) = data.iter().position(|&b| b == 0) {
                    if *seen + at + 1 != *len {
                        return Err("message has data after its string".to_string());
                    }
                    *ended = true;
                }
                *seen += data.len();
            }
            BodyCheck::Parameters {
                at_name,
                string_len,
                ended,
            } => {
                for &byte in data {
                    if *ended {
                        return Err("startup packet has data after its parameters".into());
                    }
                    if byte != 0 {
                        *string_len += 1;
                    } else if *at_name && *string_len == 0 {
                        *ended = true;
                    } else {
                        *at_name = !*at_name;
                        *string_len = 0;
                    }
                }
            }
            BodyCheck::Kept { body, .. } => body.extend_from_slice(data),
        }
        Ok(())
    }

    /// Checks the complete body.
    pub fn finish(&mut self) -> Result<(), String> {
        let check = std::mem::replace(self, BodyCheck::None);
        match check {
            BodyCheck::None => Ok(()),
            BodyCheck::OneString { ended: true, .. } => Ok(()),
            BodyCheck::OneString { .. } => Err("message string is not terminated".into()),
            BodyCheck::Parameters { ended: true, .. } => Ok(()),
            BodyCheck::Parameters { .. } => Err("startup packet is not terminated".into()),
            BodyCheck::Kept { kind, body } => {
                check_extended(kind, &body).map_err(|what| format!("{} message {what}", name(kind)))
            }
        }
    }
}

/// The protocol's name of a message type.
fn name(kind: u8) -> &'static str {
    match kind {
        b'Q' => "Query",
        b'f' => "CopyFail",
        b'S' => "Sync",
        b'H' => "Flush",
        b'X' => "Terminate",
        b'c' => "CopyDone",
        b'P' => "Parse",
        b'B' => "Bind",
        b'C' => "Close",
        b'D' => "Describe",
        b'E' => "Execute",
        _ => "client",
    }
}

/// Parses a complete extended-protocol body.
fn check_extended(kind: u8, body: &[u8]) -> Result<(), &'static str> {
    let mut cursor = Cursor(body);
    match kind {
        b'P' => {
            cursor.string()?;
            cursor.string()?;
            let types = cursor.u16()?;
            cursor.skip(usize::from(types) * 4)?;
        }
        b'B' => {
            cursor.string()?;
            cursor.string()?;
            let formats = cursor.u16()?;
            cursor.skip(usize::from(formats) * 2)?;
            for _ in 0..cursor.u16()? {
                match cursor.i32()? {
                    -1 => {}
                    len => cursor.skip(usize::try_from(len).map_err(|_| "has a bad length")?)?,
                }
            }
            let results = cursor.u16()?;
            cursor.skip(usize::from(results) * 2)?;
        }
        b'C' | b'D' => {
            // A statement or a portal.
            if !matches!(cursor.0.first(), Some(b'S' | b'P')) {
                return Err("has a target other than S or P");
            }
            cursor.skip(1)?;
            cursor.string()?;
        }
        b'E' => {
            cursor.string()?;
            cursor.i32()?;
        }
        _ => {}
    }
    if cursor.0.is_empty() {
        Ok(())
    } else {
        Err("is longer than its contents")
    }
}

/// Reads a body front to back.
struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn skip(&mut self, n: usize) -> Result<(), &'static str> {
        if n > self.0.len() {
            return Err("is shorter than its contents");
        }
        self.0 = &self.0[n..];
        Ok(())
    }

    fn string(&mut self) -> Result<(), &'static str> {
        let end = self
            .0
            .iter()
            .position(|&b| b == 0)
            .ok_or("has an unterminated string")?;
        self.0 = &self.0[end + 1..];
        Ok(())
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], &'static str> {
        let (bytes, rest) = self
            .0
            .split_first_chunk::<N>()
            .ok_or("is shorter than its contents")?;
        self.0 = rest;
        Ok(*bytes)
    }

    fn u16(&mut self) -> Result<u16, &'static str> {
        self.array().map(u16::from_be_bytes)
    }

    fn i32(&mut self) -> Result<i32, &'static str> {
        self.array().map(i32::from_be_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(kind: u8, body: &[u8]) -> Result<(), String> {
        let mut check = BodyCheck::for_message(kind, body.len())?;
        for byte in body.chunks(1) {
            check.feed(byte)?;
        }
        check.finish()
    }

    #[test]
    fn well_formed_bodies_pass() {
        check(b'Q', b"SELECT 1\0").expect("query");
        check(b'S', b"").expect("sync");
        check(b'P', b"s1\0SELECT $1\0\x00\x01\x00\x00\x00\x17").expect("parse");
        let mut bind = b"\0s1\0\x00\x01\x00\x01\x00\x02".to_vec();
        bind.extend(b"\x00\x00\x00\x04\x00\x00\x00\x07\xff\xff\xff\xff\x00\x00");
        check(b'B', &bind).expect("bind");
        check(b'D', b"P\0").expect("describe");
        check(b'E', b"\0\x00\x00\x00\x00").expect("execute");
        check(b'd', b"anything").expect("copy data");
    }

    #[test]
    fn bodies_that_lie_are_refused() {
        for (kind, body) in [
            (b'Q', &b"SELECT 1"[..]),
            (b'Q', b"SELECT 1\0Q"),
            (b'Q', b""),
            (b'S', b"x"),
            (b'P', b"s1\0SELECT\0\xff\xff"),
            (b'P', b"s1\0SELECT"),
            (b'P', b"s1\0SELECT\0\x00\x00extra"),
            (b'B', b"\0s1\0\x00\x00\x00\x01\x7f\xff\xff\xff"),
            (b'B', b"\0s1\0\x00\x00\x00\x01\xff\xff\xff\xfe\x00\x00"),
            (b'D', b""),
            (b'D', b"X\0"),
            (b'C', b"p\0"),
            (b'E', b"\0\x00\x00"),
        ] {
            assert!(check(kind, body).is_err(), "{} {body:?}", kind as char);
        }
    }

    #[test]
    fn startup_packets_end_with_an_empty_string() {
        let mut ok = BodyCheck::for_startup(StartupCode::Startup, 10).expect("startup");
        ok.feed(b"user\0bob\0\0").expect("feed");
        ok.finish().expect("terminated");
        let mut open = BodyCheck::for_startup(StartupCode::Startup, 8).expect("startup");
        open.feed(b"user\0bob").expect("feed");
        assert!(open.finish().is_err());
        // pgwire stops at the first empty name: anything after it would be read as a message.
        let mut trailing = BodyCheck::for_startup(StartupCode::Startup, 12).expect("startup");
        assert!(trailing.feed(b"user\0bob\0\0\0\0").is_err());
        assert!(BodyCheck::for_startup(StartupCode::SslRequest, 1).is_err());
        assert!(BodyCheck::for_startup(StartupCode::CancelRequest, 2).is_err());
    }
}
