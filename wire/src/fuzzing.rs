//! Fuzz harnesses: what the server does with a client's bytes before and during login, as
//! plain functions of `&[u8]`. The `wire/fuzz` targets call them under libFuzzer
//! (`scripts/fuzz.sh`); the unit tests below replay the saved corpus through them on every
//! `cargo test`, so an input that once crashed stays fixed.
//!
//! Each harness must return normally for every input; a panic is the bug.

use bytes::BytesMut;
use pgwire::messages::startup::PasswordMessageFamily;
use pgwire::messages::{
    DecodeContext, PgWireFrontendMessage, ProtocolVersion, SslNegotiationMetaMessage,
};

use crate::credential::{Credential, ScramVerifier};
use crate::frame::FrameTracker;
use crate::scram::{ServerFirst, parse_initial_response, server_first};

/// The message-size limit the harness uses (small, so the fuzzer reaches it).
const FUZZ_MAX_MESSAGE: usize = 4096;

/// The password every harness verifier was made from.
const FUZZ_PASSWORD: &str = "pencil";

/// A client's byte stream from connect to the end: the frame tracker and pgwire's decoder
/// follow it side by side, with the decoder's state moving as the server's would (SSL
/// request, startup, then typed messages), and password messages go through SCRAM.
///
/// The first input byte picks how the stream is cut into reads, so the harness also checks
/// that frames split at any point are followed the same way.
pub fn client_stream(data: &[u8]) {
    let Some((&cut, stream)) = data.split_first() else {
        return;
    };
    let read_size = usize::from(cut % 64) + 1;
    let mut tracker = FrameTracker::new(FUZZ_MAX_MESSAGE);
    let mut buffer = BytesMut::new();
    let mut login = LoginState::new();
    let mut context = DecodeContext::new(ProtocolVersion::default());
    for read in stream.chunks(read_size) {
        let mut read = read;
        while !read.is_empty() {
            // As `FrameGuard` does: hand on bytes up to the end of one frame at a time.
            let Ok(taken) = tracker.observe(read) else {
                // The server fails the read and closes the connection.
                return;
            };
            buffer.extend_from_slice(&read[..taken]);
            read = &read[taken..];
            loop {
                let message = match PgWireFrontendMessage::decode(&mut buffer, &context) {
                    Ok(Some(message)) => message,
                    Ok(None) => break,
                    // The server answers 08P01 and closes the connection.
                    Err(_) => return,
                };
                if let PgWireFrontendMessage::SslNegotiation(negotiation) = message {
                    // An SSL or GSS request is answered `N`; a startup packet was only
                    // peeked at and is decoded again, without the SSL check.
                    if matches!(negotiation, SslNegotiationMetaMessage::None) {
                        assert!(!buffer.is_empty(), "the peek consumed the packet");
                    }
                    context.awaiting_frontend_ssl = false;
                    continue;
                }
                // The buffer held one checked frame: decoding must take all of it, or the
                // rest would be read as the next message.
                assert!(
                    buffer.is_empty(),
                    "{} bytes left after {message:?}",
                    buffer.len()
                );
                // Whether the server keeps the connection after this message.
                let goes_on = match message {
                    PgWireFrontendMessage::Startup(_) => {
                        context.awaiting_frontend_startup = false;
                        true
                    }
                    PgWireFrontendMessage::CancelRequest(_) => false,
                    PgWireFrontendMessage::PasswordMessageFamily(password) => login.step(password),
                    _ => true,
                };
                if !goes_on {
                    return;
                }
            }
        }
    }
}

/// One SCRAM exchange with arbitrary client messages: the input up to the first NUL is the
/// client-first message, the rest the client-final message.
pub fn scram_exchange(data: &[u8]) {
    let (first, last) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &data[..0]),
    };
    let verifier = fuzz_verifier();
    if let Ok(server) = server_first(first, &verifier, "fuzznonce") {
        assert!(server.message.starts_with("r="), "{}", server.message);
        let _ = server.verify(last, &verifier);
    }
    // Stored credentials come from config files people edit by hand.
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Credential::parse("fuzz", text);
    }
}

/// A verifier for [`FUZZ_PASSWORD`] with a fixed salt and few iterations (fast to derive).
fn fuzz_verifier() -> ScramVerifier {
    ScramVerifier::derive(FUZZ_PASSWORD, b"fuzz-salt-16byte", 16)
}

/// Where the password exchange of [`client_stream`] stands.
struct LoginState {
    verifier: ScramVerifier,
    first: Option<ServerFirst>,
}

impl LoginState {
    fn new() -> Self {
        LoginState {
            verifier: fuzz_verifier(),
            first: None,
        }
    }

    /// Takes one password-family message as the server would in the middle of SCRAM;
    /// `false` when the server would end the connection.
    fn step(&mut self, message: PasswordMessageFamily) -> bool {
        match self.first.take() {
            None => {
                let PasswordMessageFamily::Raw(body) = message else {
                    return false;
                };
                let Ok(initial) = parse_initial_response(&body) else {
                    return false;
                };
                if initial.mechanism != "SCRAM-SHA-256" {
                    return false;
                }
                match server_first(&initial.data, &self.verifier, "fuzznonce") {
                    Ok(first) => {
                        self.first = Some(first);
                        true
                    }
                    Err(_) => false,
                }
            }
            Some(first) => {
                let Ok(response) = message.into_sasl_response() else {
                    return false;
                };
                // Success or failure, the exchange is over.
                let _ = first.verify(&response.data, &self.verifier);
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// Every file under `wire/fuzz/corpus/<target>` and `wire/fuzz/regressions/<target>`.
    fn saved_inputs(target: &str) -> Vec<Vec<u8>> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
        let mut inputs = Vec::new();
        for kind in ["corpus", "regressions"] {
            let Ok(entries) = std::fs::read_dir(root.join(kind).join(target)) else {
                continue;
            };
            for entry in entries.flatten() {
                if let Ok(bytes) = std::fs::read(entry.path()) {
                    inputs.push(bytes);
                }
            }
        }
        inputs
    }

    #[test]
    fn saved_client_streams_replay_cleanly() {
        let inputs = saved_inputs("client_stream");
        assert!(inputs.len() >= 5, "the seed corpus is missing");
        for input in inputs {
            client_stream(&input);
        }
    }

    #[test]
    fn saved_scram_exchanges_replay_cleanly() {
        let inputs = saved_inputs("scram_exchange");
        assert!(inputs.len() >= 3, "the seed corpus is missing");
        for input in inputs {
            scram_exchange(&input);
        }
    }
}
