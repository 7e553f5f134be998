//! The PostgreSQL session variables of one connection (what `SET` / `SHOW` / `RESET` change
//! and read, with PostgreSQL's names, defaults and validation), and the `ParameterStatus`
//! messages that report changes to the client.
//!
//! Settings of the engine itself (`datafusion.*`) and of the CRM functions (`segmint.*`) are
//! not handled here: they go to DataFusion, which keeps them per session.

use crate::sqlstate::{CANT_CHANGE_RUNTIME_PARAM, INVALID_PARAMETER_VALUE, UNDEFINED_OBJECT};
use std::collections::BTreeMap;

use futures::{Sink, SinkExt};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::startup::ParameterStatus;

/// One PostgreSQL session variable: its canonical name, default and whether the server
/// reports changes to the client with `ParameterStatus` (as PostgreSQL does for these).
struct VariableSpec {
    name: &'static str,
    default: &'static str,
    reported: bool,
    read_only: bool,
    description: &'static str,
}

const fn var(
    name: &'static str,
    default: &'static str,
    reported: bool,
    read_only: bool,
    description: &'static str,
) -> VariableSpec {
    VariableSpec {
        name,
        default,
        reported,
        read_only,
        description,
    }
}

const VARIABLES: &[VariableSpec] = &[
    var(
        "application_name",
        "",
        true,
        false,
        "Name of the client application.",
    ),
    var(
        "bytea_output",
        "hex",
        false,
        false,
        "Output format of bytea values.",
    ),
    var(
        "client_encoding",
        "UTF8",
        true,
        false,
        "Client character set encoding.",
    ),
    var(
        "client_min_messages",
        "notice",
        false,
        false,
        "Lowest message level sent to the client.",
    ),
    var(
        "DateStyle",
        "ISO, MDY",
        true,
        false,
        "Display format for date and time values.",
    ),
    var(
        "default_transaction_isolation",
        "read committed",
        false,
        false,
        "Isolation level of new transactions.",
    ),
    var(
        "default_transaction_read_only",
        "on",
        false,
        false,
        "New transactions are read-only.",
    ),
    var(
        "extra_float_digits",
        "1",
        false,
        false,
        "Extra digits shown for floating-point values.",
    ),
    var(
        "idle_in_transaction_session_timeout",
        "0",
        false,
        false,
        "Timeout for idle sessions inside a transaction.",
    ),
    var(
        "integer_datetimes",
        "on",
        true,
        true,
        "Datetimes are integer based.",
    ),
    var(
        "IntervalStyle",
        "postgres",
        true,
        false,
        "Display format for interval values.",
    ),
    var(
        "is_superuser",
        "off",
        true,
        true,
        "The current user is a superuser.",
    ),
    var("lc_messages", "C", false, false, "Language of messages."),
    var(
        "lc_monetary",
        "C",
        false,
        false,
        "Locale for monetary amounts.",
    ),
    var("lc_numeric", "C", false, false, "Locale for numbers."),
    var("lc_time", "C", false, false, "Locale for dates and times."),
    var(
        "lock_timeout",
        "0",
        false,
        false,
        "Maximum wait for a lock.",
    ),
    var(
        "max_identifier_length",
        "63",
        false,
        true,
        "Maximum identifier length.",
    ),
    var(
        "search_path",
        "\"$user\", public",
        false,
        false,
        "Schema search order for unqualified names.",
    ),
    var(
        "server_encoding",
        "UTF8",
        true,
        true,
        "Server character set encoding.",
    ),
    var(
        "server_version",
        crate::pgcompat::PG_COMPAT_VERSION,
        true,
        true,
        "PostgreSQL version Segmint is compatible with.",
    ),
    var(
        "server_version_num",
        "150000",
        false,
        true,
        "PostgreSQL version as an integer.",
    ),
    var(
        "standard_conforming_strings",
        "on",
        true,
        true,
        "Backslashes in ordinary string literals are literal.",
    ),
    var(
        "statement_timeout",
        "0",
        false,
        false,
        "Maximum duration of a statement (0 = none).",
    ),
    var(
        "TimeZone",
        "UTC",
        true,
        false,
        "Time zone for displaying and interpreting timestamps.",
    ),
    var(
        "transaction_isolation",
        "read committed",
        false,
        false,
        "Isolation level of the current transaction.",
    ),
    var(
        "transaction_read_only",
        "on",
        false,
        false,
        "The current transaction is read-only.",
    ),
];

fn spec(name: &str) -> Option<&'static VariableSpec> {
    VARIABLES.iter().find(|v| v.name.eq_ignore_ascii_case(name))
}

/// A variable change the server must report to the client with `ParameterStatus`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParameterChange {
    /// The canonical name (`TimeZone`, `DateStyle`...).
    pub name: String,
    /// The new value.
    pub value: String,
}

/// Errors of session commands, each with its SQLSTATE.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// `42704`: no such variable.
    #[error("unrecognized configuration parameter \"{0}\"")]
    UnknownVariable(String),
    /// `55P02`: the variable cannot be changed.
    #[error("parameter \"{0}\" cannot be changed")]
    ReadOnly(String),
    /// `22023`: the value is not acceptable.
    #[error("invalid value for parameter \"{name}\": \"{value}\"")]
    InvalidValue {
        /// The variable.
        name: String,
        /// The rejected value.
        value: String,
    },
}

impl SessionError {
    /// The SQLSTATE PostgreSQL uses for this error.
    pub fn sqlstate(&self) -> &'static str {
        match self {
            SessionError::UnknownVariable(_) => UNDEFINED_OBJECT,
            SessionError::ReadOnly(_) => CANT_CHANGE_RUNTIME_PARAM,
            SessionError::InvalidValue { .. } => INVALID_PARAMETER_VALUE,
        }
    }
}

/// The PostgreSQL session variables of one connection.
#[derive(Debug, Clone, Default)]
pub struct SessionVariables {
    /// Values set in this session, by lowercase name; absent means the default.
    values: BTreeMap<String, String>,
}

impl SessionVariables {
    /// The current value of `name`, if it is a known variable.
    pub fn get(&self, name: &str) -> Option<String> {
        let key = name.to_ascii_lowercase();
        if let Some(value) = self.values.get(&key) {
            return Some(value.clone());
        }
        spec(name).map(|s| s.default.to_string())
    }

    /// A fingerprint of the values set in this session: results cached under one
    /// fingerprint are only reused by sessions with the same settings.
    pub fn fingerprint(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.values.hash(&mut hasher);
        hasher.finish()
    }

    /// Sets a variable, returning the change to report (if the variable is reported).
    pub fn set(
        &mut self,
        name: &str,
        value: &str,
    ) -> Result<Option<ParameterChange>, SessionError> {
        let Some(spec) = spec(name) else {
            // PostgreSQL accepts any dotted name as a custom placeholder variable.
            if name.contains('.') {
                self.values
                    .insert(name.to_ascii_lowercase(), value.to_string());
                return Ok(None);
            }
            return Err(SessionError::UnknownVariable(name.to_string()));
        };
        if spec.read_only {
            return Err(SessionError::ReadOnly(spec.name.to_string()));
        }
        let value = normalize(spec.name, value)?;
        self.values
            .insert(spec.name.to_ascii_lowercase(), value.clone());
        Ok(spec.reported.then(|| ParameterChange {
            name: spec.name.to_string(),
            value,
        }))
    }

    /// Resets one variable to its default.
    pub fn reset(&mut self, name: &str) -> Result<Option<ParameterChange>, SessionError> {
        let spec = spec(name).ok_or_else(|| SessionError::UnknownVariable(name.to_string()))?;
        self.values.remove(&spec.name.to_ascii_lowercase());
        Ok(spec.reported.then(|| ParameterChange {
            name: spec.name.to_string(),
            value: spec.default.to_string(),
        }))
    }

    /// Resets every variable, returning the reported ones that changed.
    pub fn reset_all(&mut self) -> Vec<ParameterChange> {
        let changed: Vec<ParameterChange> = VARIABLES
            .iter()
            .filter(|s| s.reported && self.values.contains_key(&s.name.to_ascii_lowercase()))
            .map(|s| ParameterChange {
                name: s.name.to_string(),
                value: s.default.to_string(),
            })
            .collect();
        self.values.clear();
        changed
    }

    /// All known variables with their current values and descriptions (`SHOW ALL`).
    pub fn all(&self) -> Vec<(String, String, String)> {
        VARIABLES
            .iter()
            .map(|s| {
                let value = self.get(s.name).unwrap_or_default();
                (s.name.to_string(), value, s.description.to_string())
            })
            .collect()
    }

    /// The statement timeout, if one is set.
    pub fn statement_timeout(&self) -> Option<std::time::Duration> {
        let value = self.get("statement_timeout")?;
        parse_duration_ms(&value)
            .filter(|ms| *ms > 0)
            .map(std::time::Duration::from_millis)
    }
}

/// Validates and normalizes a value the way PostgreSQL displays it.
fn normalize(name: &str, value: &str) -> Result<String, SessionError> {
    let invalid = || SessionError::InvalidValue {
        name: name.to_string(),
        value: value.to_string(),
    };
    match name {
        "TimeZone" => {
            let upper = value.to_ascii_uppercase();
            if upper == "UTC" || upper == "GMT" || upper == "Z" {
                Ok("UTC".to_string())
            } else if value.parse::<chrono_tz_like::Offset>().is_ok()
                || chrono_tz_like::is_iana_name(value)
            {
                Ok(value.to_string())
            } else {
                Err(invalid())
            }
        }
        "statement_timeout" | "lock_timeout" | "idle_in_transaction_session_timeout" => {
            parse_duration_ms(value).ok_or_else(invalid)?;
            Ok(value.to_string())
        }
        "extra_float_digits" => match value.parse::<i8>() {
            Ok(digits) if (-15..=3).contains(&digits) => Ok(value.to_string()),
            _ => Err(invalid()),
        },
        "client_encoding" => {
            let upper = value.to_ascii_uppercase().replace('-', "");
            if upper == "UTF8" || upper == "UNICODE" {
                Ok("UTF8".to_string())
            } else {
                Err(invalid())
            }
        }
        _ => Ok(value.to_string()),
    }
}

/// Minimal time-zone validation: fixed offsets (`+08:00`) and IANA-looking names
/// (`Asia/Shanghai`). DataFusion resolves the zone itself when it is used.
mod chrono_tz_like {
    /// A fixed UTC offset such as `+08:00` or `-05`.
    pub struct Offset;

    impl std::str::FromStr for Offset {
        type Err = ();
        fn from_str(s: &str) -> Result<Self, ()> {
            let rest = s
                .strip_prefix('+')
                .or_else(|| s.strip_prefix('-'))
                .ok_or(())?;
            let mut parts = rest.split(':');
            let hours: u32 = parts.next().ok_or(())?.parse().map_err(|_| ())?;
            let minutes: u32 = parts.next().unwrap_or("0").parse().map_err(|_| ())?;
            (hours <= 15 && minutes < 60 && parts.next().is_none())
                .then_some(Offset)
                .ok_or(())
        }
    }

    /// `Area/Location` names made of letters, digits, `_`, `-`, `+` and `/`.
    pub fn is_iana_name(s: &str) -> bool {
        s.contains('/')
            && s.split('/').all(|part| {
                !part.is_empty()
                    && part
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+'))
            })
    }
}

/// Parses `5000`, `5000ms`, `5s`, `2min`, `1h` into milliseconds.
fn parse_duration_ms(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let factor = match unit.trim() {
        "" | "ms" => 1,
        "s" => 1_000,
        "min" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    number.checked_mul(factor)
}

/// Reports changed parameters to the client (`ParameterStatus`), as PostgreSQL does.
pub async fn report_changes<C>(client: &mut C, changes: Vec<ParameterChange>) -> PgWireResult<()>
where
    C: Sink<PgWireBackendMessage> + Unpin + Send,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    for change in changes {
        client
            .feed(PgWireBackendMessage::ParameterStatus(ParameterStatus::new(
                change.name,
                change.value,
            )))
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_set_show_reset() {
        let mut vars = SessionVariables::default();
        assert_eq!(vars.get("timezone").as_deref(), Some("UTC"));
        let change = vars.set("timezone", "Asia/Shanghai").expect("valid");
        assert_eq!(
            change,
            Some(ParameterChange {
                name: "TimeZone".into(),
                value: "Asia/Shanghai".into()
            })
        );
        assert_eq!(vars.get("TimeZone").as_deref(), Some("Asia/Shanghai"));
        vars.reset("TimeZone").expect("known");
        assert_eq!(vars.get("TimeZone").as_deref(), Some("UTC"));
        assert!(matches!(
            vars.set("no_such_var", "1"),
            Err(SessionError::UnknownVariable(_))
        ));
        assert!(matches!(
            vars.set("server_version", "9"),
            Err(SessionError::ReadOnly(_))
        ));
        assert!(vars.set("extra_float_digits", "12").is_err());
        assert!(vars.set("myapp.custom", "x").is_ok());
    }

    #[test]
    fn statement_timeout_parses_units() {
        let mut vars = SessionVariables::default();
        assert_eq!(vars.statement_timeout(), None);
        vars.set("statement_timeout", "5s").expect("valid");
        assert_eq!(
            vars.statement_timeout(),
            Some(std::time::Duration::from_secs(5))
        );
        assert!(vars.set("statement_timeout", "soon").is_err());
    }
}
