//! The server side of SCRAM-SHA-256 (RFC 5802, RFC 7677) as PostgreSQL speaks it: pure
//! message handling, no I/O, so every step is unit-tested and fuzzed.
//!
//! Channel binding (`SCRAM-SHA-256-PLUS`) is not offered; a client that insists on it is
//! refused. Unknown users go through the same exchange with a made-up verifier whose salt
//! depends only on the name, so the messages do not tell whether the user exists.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::credential::{ScramVerifier, constant_time_eq, hmac_sha256, sha256};

/// Why an exchange failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScramError {
    /// A message does not follow the SCRAM grammar (SQLSTATE 08P01).
    #[error("malformed SCRAM message: {0}")]
    Malformed(&'static str),
    /// The proof is wrong: wrong password, or unknown user (SQLSTATE 28P01).
    #[error("password authentication failed")]
    WrongProof,
}

/// The server's answer to the client-first message, and what it must remember.
#[derive(Debug)]
pub struct ServerFirst {
    /// `r=...,s=...,i=...`, sent in `AuthenticationSASLContinue`.
    pub message: String,
    gs2_header: String,
    client_first_bare: String,
    nonce: String,
}

/// A SASLInitialResponse: the mechanism the client chose and its first message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitialResponse {
    /// The mechanism name, such as `SCRAM-SHA-256`.
    pub mechanism: String,
    /// The client-first message (empty when the client sent none).
    pub data: Vec<u8>,
}

/// Reads a SASLInitialResponse body (mechanism, NUL, length, data) without trusting its
/// length field. pgwire's own decoder panics on a body shorter than it says (found by the
/// `client_stream` fuzz target), so login reads the raw body with this instead.
pub fn parse_initial_response(body: &[u8]) -> Result<InitialResponse, ScramError> {
    let end = body
        .iter()
        .position(|&b| b == 0)
        .ok_or(ScramError::Malformed("mechanism is not NUL-terminated"))?;
    let mechanism = std::str::from_utf8(&body[..end])
        .map_err(|_| ScramError::Malformed("mechanism is not UTF-8"))?
        .to_string();
    let rest = &body[end + 1..];
    let (length, data) = rest
        .split_first_chunk::<4>()
        .ok_or(ScramError::Malformed("no length of the initial response"))?;
    let data = match i32::from_be_bytes(*length) {
        -1 => Vec::new(),
        n if usize::try_from(n).ok() == Some(data.len()) => data.to_vec(),
        _ => {
            return Err(ScramError::Malformed(
                "initial response length does not match",
            ));
        }
    };
    Ok(InitialResponse { mechanism, data })
}

/// Reads the client-first message and answers it with `verifier`'s salt and iterations.
pub fn server_first(
    client_first: &[u8],
    verifier: &ScramVerifier,
    server_nonce: &str,
) -> Result<ServerFirst, ScramError> {
    let text = std::str::from_utf8(client_first).map_err(|_| ScramError::Malformed("not UTF-8"))?;
    let mut parts = text.splitn(3, ',');
    let flag = parts.next().ok_or(ScramError::Malformed("no GS2 flag"))?;
    let authzid = parts.next().ok_or(ScramError::Malformed("no GS2 header"))?;
    let bare = parts
        .next()
        .ok_or(ScramError::Malformed("no client-first-bare"))?;
    match flag {
        "n" | "y" => {}
        f if f.starts_with("p=") => {
            return Err(ScramError::Malformed("channel binding is not offered"));
        }
        _ => return Err(ScramError::Malformed("bad GS2 channel-binding flag")),
    }
    if !authzid.is_empty() && !authzid.starts_with("a=") {
        return Err(ScramError::Malformed("bad authzid"));
    }
    let mut client_nonce = None;
    for (i, attribute) in bare.split(',').enumerate() {
        match (i, attribute.split_at_checked(2)) {
            (0, Some(("m=", _))) => {
                return Err(ScramError::Malformed(
                    "mandatory extensions are not supported",
                ));
            }
            (0, Some(("n=", _))) => {}
            (0, _) => {
                return Err(ScramError::Malformed(
                    "client-first-bare must start with n=",
                ));
            }
            (1, Some(("r=", nonce))) => client_nonce = Some(nonce),
            (1, _) => return Err(ScramError::Malformed("r= must follow n=")),
            _ => {}
        }
    }
    let client_nonce = client_nonce.ok_or(ScramError::Malformed("no client nonce"))?;
    if client_nonce.is_empty() || !client_nonce.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(ScramError::Malformed("bad client nonce"));
    }
    let nonce = format!("{client_nonce}{server_nonce}");
    let message = format!(
        "r={nonce},s={},i={}",
        BASE64.encode(&verifier.salt),
        verifier.iterations
    );
    Ok(ServerFirst {
        message,
        gs2_header: format!("{flag},{authzid},"),
        client_first_bare: bare.to_string(),
        nonce,
    })
}

impl ServerFirst {
    /// Checks the client-final message; on success returns the server-final message
    /// (`v=...`), which proves to the client that the server knows the verifier.
    pub fn verify(
        &self,
        client_final: &[u8],
        verifier: &ScramVerifier,
    ) -> Result<String, ScramError> {
        let text =
            std::str::from_utf8(client_final).map_err(|_| ScramError::Malformed("not UTF-8"))?;
        let (without_proof, proof) = text
            .rsplit_once(",p=")
            .ok_or(ScramError::Malformed("no proof"))?;
        let mut attributes = without_proof.split(',');
        let binding = attributes
            .next()
            .and_then(|a| a.strip_prefix("c="))
            .ok_or(ScramError::Malformed("c= must come first"))?;
        let nonce = attributes
            .next()
            .and_then(|a| a.strip_prefix("r="))
            .ok_or(ScramError::Malformed("r= must follow c="))?;
        if BASE64.decode(binding).ok().as_deref() != Some(self.gs2_header.as_bytes()) {
            return Err(ScramError::Malformed("channel binding data does not match"));
        }
        if nonce != self.nonce {
            return Err(ScramError::Malformed("nonce does not match"));
        }
        let proof = BASE64
            .decode(proof)
            .map_err(|_| ScramError::Malformed("proof is not base64"))?;
        if proof.len() != 32 {
            return Err(ScramError::Malformed("proof has the wrong length"));
        }
        let auth_message = format!(
            "{},{},{without_proof}",
            self.client_first_bare, self.message
        );
        let signature = hmac_sha256(&verifier.stored_key, auth_message.as_bytes());
        let client_key: Vec<u8> = proof.iter().zip(&signature).map(|(p, s)| p ^ s).collect();
        if !constant_time_eq(&sha256(&client_key), &verifier.stored_key) {
            return Err(ScramError::WrongProof);
        }
        let server_signature = hmac_sha256(&verifier.server_key, auth_message.as_bytes());
        Ok(format!("v={}", BASE64.encode(server_signature)))
    }
}

/// A verifier no password matches, with a salt that depends only on `user` and the server's
/// secret: asking twice for an unknown user gives the same salt, as for a real one.
pub fn mock_verifier(secret: &[u8], user: &str) -> ScramVerifier {
    let salt = hmac_sha256(secret, user.as_bytes());
    let keys = hmac_sha256(secret, format!("keys:{user}").as_bytes());
    ScramVerifier {
        iterations: crate::credential::SCRAM_ITERATIONS,
        salt: salt[..16].to_vec(),
        stored_key: keys.clone(),
        server_key: sha256(&keys),
    }
}

/// A fresh server nonce.
pub fn new_nonce() -> String {
    BASE64.encode(rand::random::<[u8; 18]>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credential::salted_password;

    /// The client's side, as libpq computes it.
    fn client_final(first: &ServerFirst, password: &str, verifier: &ScramVerifier) -> String {
        let without_proof = format!("c=biws,r={}", first.nonce);
        let auth_message = format!(
            "{},{},{without_proof}",
            first.client_first_bare, first.message
        );
        let salted = salted_password(password, &verifier.salt, verifier.iterations);
        let client_key = hmac_sha256(&salted, b"Client Key");
        let signature = hmac_sha256(&sha256(&client_key), auth_message.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&signature)
            .map(|(k, s)| k ^ s)
            .collect();
        format!("{without_proof},p={}", BASE64.encode(proof))
    }

    #[test]
    fn right_password_passes_and_the_server_proves_itself() {
        let verifier = ScramVerifier::derive("pencil", b"0123456789abcdef", 4096);
        let first = server_first(b"n,,n=,r=rOprNGfwEbeRWgbNEkqO", &verifier, "srv").expect("first");
        assert!(first.message.starts_with("r=rOprNGfwEbeRWgbNEkqOsrv,s="));
        let reply = first
            .verify(
                client_final(&first, "pencil", &verifier).as_bytes(),
                &verifier,
            )
            .expect("right password");
        let salted = salted_password("pencil", &verifier.salt, 4096);
        let server_key = hmac_sha256(&salted, b"Server Key");
        let auth_message = format!(
            "{},{},c=biws,r={}",
            first.client_first_bare, first.message, first.nonce
        );
        let expected = BASE64.encode(hmac_sha256(&server_key, auth_message.as_bytes()));
        assert_eq!(reply, format!("v={expected}"));
    }

    #[test]
    fn wrong_password_and_unknown_user_fail_alike() {
        let verifier = ScramVerifier::derive("pencil", b"0123456789abcdef", 4096);
        let first = server_first(b"n,,n=,r=abc", &verifier, "srv").expect("first");
        let wrong = first.verify(
            client_final(&first, "crayon", &verifier).as_bytes(),
            &verifier,
        );
        assert_eq!(wrong, Err(ScramError::WrongProof));

        let mock = mock_verifier(b"server secret", "ghost");
        assert_eq!(mock.salt, mock_verifier(b"server secret", "ghost").salt);
        assert_ne!(mock.salt, mock_verifier(b"server secret", "other").salt);
        let first = server_first(b"n,,n=,r=abc", &mock, "srv").expect("first");
        let attempt = first.verify(client_final(&first, "anything", &mock).as_bytes(), &mock);
        assert_eq!(attempt, Err(ScramError::WrongProof));
    }

    #[test]
    fn initial_responses_are_read_without_trusting_their_length() {
        let mut body = b"SCRAM-SHA-256\0".to_vec();
        body.extend(11i32.to_be_bytes());
        body.extend(b"n,,n=,r=abc");
        let parsed = parse_initial_response(&body).expect("valid");
        assert_eq!(parsed.mechanism, "SCRAM-SHA-256");
        assert_eq!(parsed.data, b"n,,n=,r=abc");
        let mut none = b"SCRAM-SHA-256\0".to_vec();
        none.extend((-1i32).to_be_bytes());
        assert!(
            parse_initial_response(&none)
                .expect("no data")
                .data
                .is_empty()
        );
        for bad in [
            &b"md500000000"[..],
            b"SCRAM-SHA-256\0\0\0",
            b"SCRAM-SHA-256\0\x7f\xff\xff\xffabc",
            b"SCRAM-SHA-256\0\xff\xff\xff\xfeabc",
            b"\xff\0\0\0\0\0",
        ] {
            assert!(parse_initial_response(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn malformed_messages_are_refused() {
        let verifier = ScramVerifier::derive("pencil", b"0123456789abcdef", 4096);
        for bad in [
            &b""[..],
            b"n,,",
            b"x,,n=,r=abc",
            b"p=tls-server-end-point,,n=,r=abc",
            b"n,,m=ext,n=,r=abc",
            b"n,,n=,r=",
            b"n,,r=abc",
            b"\xff\xfe",
        ] {
            assert!(server_first(bad, &verifier, "s").is_err(), "{bad:?}");
        }
        let first = server_first(b"n,,n=,r=abc", &verifier, "srv").expect("first");
        for bad in [
            "c=biws,r=abcsrv",
            "c=biws,r=other,p=AAAA",
            "c=eSws,r=abcsrv,p=AAAA",
            "r=abcsrv,c=biws,p=AAAA",
            "c=biws,r=abcsrv,p=!!",
            "c=biws,r=abcsrv,p=AAAA",
        ] {
            assert!(
                matches!(
                    first.verify(bad.as_bytes(), &verifier),
                    Err(ScramError::Malformed(_))
                ),
                "{bad}"
            );
        }
    }
}
