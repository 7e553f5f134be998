//! Stored passwords: SCRAM-SHA-256 verifiers and MD5 hashes in PostgreSQL's own formats, made
//! by `segmint passwd` and checked at login.
//!
//! A SCRAM verifier (`SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`) keeps only
//! hashes of the salted password: someone who reads the config can neither learn the password
//! nor log in with what they read. MD5 hashes (`md5` + hex of md5(password ‖ user)) are kept for
//! old clients only; they are password-equivalent, so prefer SCRAM.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ring::{digest, hmac, pbkdf2};

/// PBKDF2 iterations for new verifiers (PostgreSQL's default).
pub const SCRAM_ITERATIONS: u32 = 4096;

const SCRAM_PREFIX: &str = "SCRAM-SHA-256$";
const SALT_LEN: usize = 16;

/// A user's stored password.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// A SCRAM-SHA-256 verifier.
    Scram(ScramVerifier),
    /// `md5` followed by 32 hex digits of md5(password ‖ user name).
    Md5(String),
}

/// The parts of a SCRAM-SHA-256 verifier.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramVerifier {
    /// PBKDF2 iterations.
    pub iterations: u32,
    /// The salt.
    pub salt: Vec<u8>,
    /// H(ClientKey): checks the client's proof.
    pub stored_key: Vec<u8>,
    /// HMAC(SaltedPassword, "Server Key"): signs the server's final message.
    pub server_key: Vec<u8>,
}

/// Never shows hashes: they are still worth guarding.
impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::Scram(_) => f.write_str("Credential::Scram(..)"),
            Credential::Md5(_) => f.write_str("Credential::Md5(..)"),
        }
    }
}

impl Credential {
    /// Reads a stored password; plain text is refused, so it never sits in a config file.
    pub fn parse(user: &str, text: &str) -> Result<Credential, String> {
        let text = text.trim();
        if let Some(rest) = text.strip_prefix(SCRAM_PREFIX) {
            return ScramVerifier::parse(rest)
                .map(Credential::Scram)
                .ok_or_else(|| format!("user '{user}': malformed SCRAM-SHA-256 verifier"));
        }
        if let Some(hex) = text.strip_prefix("md5")
            && hex.len() == 32
            && hex.chars().all(|c| c.is_ascii_hexdigit())
        {
            return Ok(Credential::Md5(text.to_ascii_lowercase()));
        }
        Err(format!(
            "user '{user}': password must be a SCRAM-SHA-256 verifier or an md5 hash, never \
             plain text; make one with `segmint passwd {user}`"
        ))
    }

    /// A new SCRAM-SHA-256 verifier for `password` with a random salt.
    pub fn new_scram(password: &str) -> Credential {
        let salt: [u8; SALT_LEN] = rand::random();
        Credential::Scram(ScramVerifier::derive(password, &salt, SCRAM_ITERATIONS))
    }

    /// The MD5 hash PostgreSQL stores for `user`'s `password`.
    pub fn new_md5(user: &str, password: &str) -> Credential {
        Credential::Md5(format!(
            "md5{}",
            md5_hex(&[password.as_bytes(), user.as_bytes()])
        ))
    }

    /// The text written in the config file.
    pub fn to_config_string(&self) -> String {
        match self {
            Credential::Scram(v) => format!(
                "{SCRAM_PREFIX}{}:{}${}:{}",
                v.iterations,
                BASE64.encode(&v.salt),
                BASE64.encode(&v.stored_key),
                BASE64.encode(&v.server_key)
            ),
            Credential::Md5(hash) => hash.clone(),
        }
    }
}

impl ScramVerifier {
    /// Derives the verifier of `password` (normalised with SASLprep, as clients do).
    pub fn derive(password: &str, salt: &[u8], iterations: u32) -> ScramVerifier {
        let salted = salted_password(password, salt, iterations);
        let client_key = hmac_sha256(&salted, b"Client Key");
        ScramVerifier {
            iterations,
            salt: salt.to_vec(),
            stored_key: sha256(&client_key),
            server_key: hmac_sha256(&salted, b"Server Key"),
        }
    }

    fn parse(rest: &str) -> Option<ScramVerifier> {
        let (params, keys) = rest.split_once('$')?;
        let (iterations, salt) = params.split_once(':')?;
        let (stored, server) = keys.split_once(':')?;
        let verifier = ScramVerifier {
            iterations: iterations.parse().ok().filter(|i| *i >= 1)?,
            salt: BASE64.decode(salt).ok().filter(|s| !s.is_empty())?,
            stored_key: BASE64.decode(stored).ok()?,
            server_key: BASE64.decode(server).ok()?,
        };
        (verifier.stored_key.len() == 32 && verifier.server_key.len() == 32).then_some(verifier)
    }
}

/// `Hi(Normalize(password), salt, i)` of RFC 5802: PBKDF2-HMAC-SHA-256.
pub fn salted_password(password: &str, salt: &[u8], iterations: u32) -> [u8; 32] {
    // Like PostgreSQL: a password SASLprep rejects is used as it is.
    let normalized = stringprep::saslprep(password)
        .map(|p| p.into_owned())
        .unwrap_or_else(|_| password.to_string());
    let mut out = [0u8; 32];
    let iterations = std::num::NonZeroU32::new(iterations).unwrap_or(std::num::NonZeroU32::MIN);
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        iterations,
        salt,
        normalized.as_bytes(),
        &mut out,
    );
    out
}

/// HMAC-SHA-256 of `message` under `key`.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    hmac::sign(&key, message).as_ref().to_vec()
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> Vec<u8> {
    digest::digest(&digest::SHA256, data).as_ref().to_vec()
}

/// Lower-case hex of the MD5 of the concatenated parts.
pub fn md5_hex(parts: &[&[u8]]) -> String {
    let mut context = md5::Context::new();
    for part in parts {
        context.consume(part);
    }
    format!("{:x}", context.finalize())
}

/// Compares secrets in time independent of where they first differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Stored by PostgreSQL 15 for `CREATE ROLE alice PASSWORD 'secret'`
    /// (`SELECT rolpassword FROM pg_authid`).
    const POSTGRES_VERIFIER: &str = "SCRAM-SHA-256$4096:EtAPxkflXoVRzE7PoO6KAQ==$\
        AA25EqiFIZyuxArIl9hnS8miiKu15gj1qUgDTbgyEAg=:tzedSyFaOaP9M57RD3W8OXie1WSGJdFUe/9u1rQuuUM=";

    #[test]
    fn scram_verifier_matches_postgresql_and_round_trips() {
        let salt = BASE64.decode("EtAPxkflXoVRzE7PoO6KAQ==").expect("base64");
        let made = Credential::Scram(ScramVerifier::derive("secret", &salt, 4096));
        assert_eq!(made.to_config_string(), POSTGRES_VERIFIER);
        assert_eq!(
            Credential::parse("alice", POSTGRES_VERIFIER).expect("parses"),
            made
        );
    }

    #[test]
    fn md5_hash_matches_postgresql() {
        // PostgreSQL 15: SELECT 'md5' || md5('secret' || 'alice')
        assert_eq!(
            Credential::new_md5("alice", "secret").to_config_string(),
            "md54a0a68b43b6cd5cf266fa02f196e2371"
        );
    }

    #[test]
    fn plain_text_and_malformed_verifiers_are_refused() {
        assert!(Credential::parse("bob", "hunter2").is_err());
        assert!(Credential::parse("bob", "SCRAM-SHA-256$4096:abc").is_err());
        assert!(Credential::parse("bob", "md5xyz").is_err());
        let error = Credential::parse("bob", "hunter2").expect_err("plain text");
        assert!(!error.contains("hunter2"), "{error}");
    }

    #[test]
    fn new_verifiers_use_fresh_salts() {
        assert_ne!(
            Credential::new_scram("same").to_config_string(),
            Credential::new_scram("same").to_config_string()
        );
    }
}
