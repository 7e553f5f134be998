//! Login: the startup phase of each connection. Checks TLS when it is required, then proves the
//! user with the configured method (trust, MD5 or SCRAM-SHA-256), then starts the session with
//! the user's role.
//!
//! Every failed login gets the same answer, `28P01 password authentication failed for user
//! "..."`, whether the user exists or not (unknown users go through a mock exchange), after a
//! wait that grows with recent failures from the same address ([`throttle`]).

pub use segmint_wire::scram;
pub mod throttle;

use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use futures::{Sink, SinkExt};
use pgwire::api::auth::{
    DefaultServerParameterProvider, ServerParameterProvider, StartupHandler, protocol_negotiation,
    save_startup_parameters_to_metadata,
};
use pgwire::api::{
    ClientInfo, ConnectionManager, METADATA_USER, PgWireConnectionState, PidSecretKeyGenerator,
    RandomPidSecretKeyGenerator,
};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::response::{ReadyForQuery, TransactionStatus};
use pgwire::messages::startup::{
    Authentication, BackendKeyData, ParameterStatus, PasswordMessageFamily, SecretKey,
};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use prometheus_client::metrics::counter::Counter;

use super::variables::{ParameterChange, report_changes};
use crate::access::credential::{Credential, ScramVerifier, md5_hex};
use crate::access::{Access, Role};
use crate::config::AuthMethod;
use scram::{ScramError, ServerFirst};
use throttle::LoginThrottle;

/// `28000`: the login is refused for another reason (TLS required, no user name).
pub use crate::sqlstate::INVALID_AUTHORIZATION;
/// `28P01`: wrong password (or unknown user: the answer is the same).
pub use crate::sqlstate::INVALID_PASSWORD;
/// `08P01`: the client broke the protocol.
pub use crate::sqlstate::PROTOCOL_VIOLATION;

const SCRAM_SHA_256: &str = "SCRAM-SHA-256";

/// Login settings and state shared by all connections.
pub struct LoginPolicy {
    access: Arc<Access>,
    require_tls: bool,
    throttle: LoginThrottle,
    /// Makes the salts of unknown users stable within one server run.
    mock_secret: [u8; 32],
    pids: RandomPidSecretKeyGenerator,
    /// Counts failed logins.
    failures: Counter,
}

impl LoginPolicy {
    /// The policy for `access`, refusing clients without TLS when `require_tls`; failed
    /// logins are counted in `failures`.
    pub fn new(access: Arc<Access>, require_tls: bool, failures: Counter) -> Self {
        LoginPolicy {
            access,
            require_tls,
            failures,
            throttle: LoginThrottle::default(),
            mock_secret: rand::random(),
            pids: RandomPidSecretKeyGenerator::default(),
        }
    }
}

/// A user who has just logged in, and what the session they start needs of the connection.
pub struct LoggedIn<'a> {
    /// The user name.
    pub user: &'a str,
    /// The user's role.
    pub role: Role,
    /// The client's address.
    pub peer: std::net::SocketAddr,
    /// The backend process id cancel requests name.
    pub pid: i32,
    /// The secret key cancel requests carry.
    pub secret: &'a SecretKey,
    /// The startup parameters (`application_name`, `options`, ...).
    pub startup: &'a std::collections::HashMap<String, String>,
}

/// What a successful login starts: the connection's session. The login knows nothing else of
/// it; the parameters it returns are reported to the client before `ReadyForQuery`.
pub trait SessionStart: Send + Sync {
    /// Starts the session of a user who logged in.
    fn start(&self, login: LoggedIn<'_>) -> PgWireResult<Vec<ParameterChange>>;
}

/// Where one connection's login stands.
enum Pending {
    /// Waiting for the startup message.
    Start,
    /// MD5 challenge sent; `expected` is `None` for an unknown user.
    Md5 {
        user: String,
        expected: Option<String>,
    },
    /// SASL mechanisms offered.
    ScramStart {
        user: String,
        verifier: ScramVerifier,
        known: bool,
    },
    /// Server-first sent.
    ScramFinal {
        user: String,
        verifier: ScramVerifier,
        known: bool,
        first: Box<ServerFirst>,
    },
    /// Finished or failed: nothing more is accepted.
    Done,
}

/// The startup handler of one connection.
pub struct Login {
    policy: Arc<LoginPolicy>,
    session: Arc<dyn SessionStart>,
    connections: Arc<ConnectionManager>,
    pending: Mutex<Pending>,
}

impl Login {
    /// A handler for a new connection that starts `session` once its user has logged in.
    pub fn new(
        policy: Arc<LoginPolicy>,
        session: Arc<dyn SessionStart>,
        connections: Arc<ConnectionManager>,
    ) -> Self {
        Login {
            policy,
            session,
            connections,
            pending: Mutex::new(Pending::Start),
        }
    }

    fn take(&self) -> Pending {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        std::mem::replace(&mut *pending, Pending::Done)
    }

    fn set(&self, next: Pending) {
        *self.pending.lock().unwrap_or_else(|e| e.into_inner()) = next;
    }

    /// Answers the startup message: refuse, challenge, or (trust) log in.
    async fn on_startup_message<C>(&self, client: &mut C, user: String) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if user.is_empty() {
            return Err(fatal(
                INVALID_AUTHORIZATION,
                "no PostgreSQL user name specified in startup packet",
            ));
        }
        if self.policy.require_tls && !client.is_secure() {
            tracing::warn!(peer = %client.socket_addr(), %user, "login refused: TLS required");
            return Err(fatal(
                INVALID_AUTHORIZATION,
                "this server accepts TLS connections only: connect with sslmode=require",
            ));
        }
        let access = &self.policy.access;
        let credential = access.user(&user).and_then(|u| u.credential.clone());
        match (access.method(), credential) {
            (AuthMethod::Trust, _) => {
                if access.role_of(&user).is_none() {
                    return Err(fatal(
                        INVALID_AUTHORIZATION,
                        format!("role \"{user}\" does not exist"),
                    ));
                }
                self.log_in(client, user).await
            }
            // Under md5, md5-hashed users (and unknown users, who then fail) get a challenge.
            (AuthMethod::Md5, credential @ (Some(Credential::Md5(_)) | None)) => {
                let salt: [u8; 4] = rand::random();
                let expected = match credential {
                    Some(Credential::Md5(stored)) => Some(md5_response(&stored, &salt)),
                    _ => None,
                };
                self.set(Pending::Md5 { user, expected });
                send(client, Authentication::MD5Password(salt.to_vec())).await
            }
            // SCRAM users; unknown users and md5-only users under SCRAM go through a mock
            // exchange that fails.
            (_, credential) => {
                let (verifier, known) = match credential {
                    Some(Credential::Scram(verifier)) => (verifier, true),
                    _ => (scram::mock_verifier(&self.policy.mock_secret, &user), false),
                };
                self.set(Pending::ScramStart {
                    user,
                    verifier,
                    known,
                });
                send(
                    client,
                    Authentication::SASL(vec![SCRAM_SHA_256.to_string()]),
                )
                .await
            }
        }
    }

    /// Answers a password, SASL initial response or SASL response.
    async fn on_password<C>(
        &self,
        client: &mut C,
        message: PasswordMessageFamily,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match self.take() {
            Pending::Md5 { user, expected } => {
                let given = message.into_password().map_err(|_| malformed())?.password;
                match expected {
                    Some(expected)
                        if crate::access::credential::constant_time_eq(
                            given.as_bytes(),
                            expected.as_bytes(),
                        ) =>
                    {
                        self.log_in(client, user).await
                    }
                    _ => Err(self.failed(client, &user).await),
                }
            }
            Pending::ScramStart {
                user,
                verifier,
                known,
            } => {
                // pgwire's `into_sasl_initial_response` panics on a short body; read it here.
                let initial = match message {
                    PasswordMessageFamily::Raw(body) => {
                        scram::parse_initial_response(&body).map_err(|_| malformed())?
                    }
                    _ => return Err(malformed()),
                };
                if initial.mechanism != SCRAM_SHA_256 {
                    return Err(fatal(
                        PROTOCOL_VIOLATION,
                        format!(
                            "SASL mechanism {} is not offered (only {SCRAM_SHA_256})",
                            initial.mechanism
                        ),
                    ));
                }
                let first = match scram::server_first(&initial.data, &verifier, &scram::new_nonce())
                {
                    Ok(first) => first,
                    Err(error) => return Err(self.scram_failed(client, &user, error).await),
                };
                let reply = Bytes::from(first.message.clone().into_bytes());
                self.set(Pending::ScramFinal {
                    user,
                    verifier,
                    known,
                    first: Box::new(first),
                });
                send(client, Authentication::SASLContinue(reply)).await
            }
            Pending::ScramFinal {
                user,
                verifier,
                known,
                first,
            } => {
                let response = message.into_sasl_response().map_err(|_| malformed())?;
                match first.verify(&response.data, &verifier) {
                    Ok(server_final) if known => {
                        send(
                            client,
                            Authentication::SASLFinal(Bytes::from(server_final.into_bytes())),
                        )
                        .await?;
                        self.log_in(client, user).await
                    }
                    Ok(_) => Err(self.failed(client, &user).await),
                    Err(error) => Err(self.scram_failed(client, &user, error).await),
                }
            }
            Pending::Start | Pending::Done => {
                Err(fatal(PROTOCOL_VIOLATION, "unexpected password message"))
            }
        }
    }

    async fn scram_failed<C: ClientInfo>(
        &self,
        client: &C,
        user: &str,
        error: ScramError,
    ) -> PgWireError {
        match error {
            ScramError::WrongProof => self.failed(client, user).await,
            ScramError::Malformed(_) => {
                let wait = self.policy.throttle.failed(client.socket_addr().ip());
                tokio::time::sleep(wait).await;
                fatal(PROTOCOL_VIOLATION, error.to_string())
            }
        }
    }

    /// Waits as the throttle says, then gives the one answer every failed login gets.
    async fn failed<C: ClientInfo>(&self, client: &C, user: &str) -> PgWireError {
        let peer = client.socket_addr();
        let wait = self.policy.throttle.failed(peer.ip());
        self.policy.failures.inc();
        tracing::warn!(%peer, %user, wait_ms = wait.as_millis() as u64, "password authentication failed");
        tokio::time::sleep(wait).await;
        fatal(
            INVALID_PASSWORD,
            format!("password authentication failed for user \"{user}\""),
        )
    }

    /// Sends `AuthenticationOk`, starts the session with the user's role, and reports ready.
    async fn log_in<C>(&self, client: &mut C, user: String) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let role: Role = self.policy.access.role_of(&user).ok_or_else(|| {
            fatal(
                INVALID_AUTHORIZATION,
                format!("role \"{user}\" does not exist"),
            )
        })?;
        self.policy.throttle.succeeded(client.socket_addr().ip());
        let (pid, secret) = self.policy.pids.generate(client);
        client.set_pid_and_secret_key(pid, secret.clone());
        let (handle, guard) = self.connections.register(pid, secret.clone());
        client.session_extensions().insert(handle);
        client.session_extensions().insert(guard);
        client
            .feed(PgWireBackendMessage::Authentication(Authentication::Ok))
            .await?;
        if let Some(parameters) =
            DefaultServerParameterProvider::default().server_parameters(client)
        {
            for (name, value) in parameters {
                client
                    .feed(PgWireBackendMessage::ParameterStatus(ParameterStatus::new(
                        name, value,
                    )))
                    .await?;
            }
        }
        client
            .feed(PgWireBackendMessage::BackendKeyData(BackendKeyData::new(
                pid,
                secret.clone(),
            )))
            .await?;
        let startup = client.metadata().clone();
        let changes = self.session.start(LoggedIn {
            user: &user,
            role,
            peer: client.socket_addr(),
            pid,
            secret: &secret,
            startup: &startup,
        })?;
        report_changes(client, changes).await?;
        client
            .send(PgWireBackendMessage::ReadyForQuery(ReadyForQuery::new(
                TransactionStatus::Idle,
            )))
            .await?;
        client.set_state(PgWireConnectionState::ReadyForQuery);
        Ok(())
    }
}

#[async_trait]
impl StartupHandler for Login {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match message {
            PgWireFrontendMessage::Startup(startup) => {
                if !matches!(self.take(), Pending::Start) {
                    return Err(fatal(PROTOCOL_VIOLATION, "a second startup message"));
                }
                protocol_negotiation(client, &startup).await?;
                save_startup_parameters_to_metadata(client, &startup);
                client.set_state(PgWireConnectionState::AuthenticationInProgress);
                let user = client
                    .metadata()
                    .get(METADATA_USER)
                    .cloned()
                    .unwrap_or_default();
                self.on_startup_message(client, user).await
            }
            PgWireFrontendMessage::PasswordMessageFamily(message) => {
                self.on_password(client, message).await
            }
            _ => Err(fatal(
                PROTOCOL_VIOLATION,
                "expected a startup or password message",
            )),
        }
    }
}

/// The response an MD5 client sends: `md5` + md5(stored hash without `md5` ‖ salt).
fn md5_response(stored: &str, salt: &[u8; 4]) -> String {
    let inner = stored.strip_prefix("md5").unwrap_or(stored);
    format!("md5{}", md5_hex(&[inner.as_bytes(), salt]))
}

fn malformed() -> PgWireError {
    fatal(PROTOCOL_VIOLATION, "malformed authentication message")
}

/// A FATAL error: the connection closes after it.
pub fn fatal(code: &str, message: impl Into<String>) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "FATAL".to_string(),
        code.to_string(),
        message.into(),
    )))
}

async fn send<C>(client: &mut C, message: Authentication) -> PgWireResult<()>
where
    C: Sink<PgWireBackendMessage> + Unpin + Send,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    client
        .send(PgWireBackendMessage::Authentication(message))
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_response_is_what_libpq_sends() {
        // libpq: "md5" + md5(md5(password + user) + salt)
        let stored = Credential::new_md5("alice", "secret").to_config_string();
        let salt = [1u8, 2, 3, 4];
        let inner = md5_hex(&[b"secretalice"]);
        assert_eq!(
            md5_response(&stored, &salt),
            format!("md5{}", md5_hex(&[inner.as_bytes(), &salt]))
        );
    }
}
