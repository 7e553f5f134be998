//! One structured log line per statement (target `segmint::query`): user, duration, rows,
//! SQLSTATE, spilled bytes and the statement text with its secrets redacted. The same record
//! updates the Prometheus metrics.
//!
//! A [`QueryRecord`] is made when a statement starts and travels with its result stream, so
//! the line is written when the stream ends (its last row encoded, or the statement failed),
//! not when the first batch was planned. (The extended protocol's `Execute` encodes the rows
//! before pgwire sends them; the simple protocol streams them.)

use std::sync::Arc;
use std::time::Instant;

use datafusion::physical_plan::ExecutionPlan;
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};

use super::metrics::Metrics;

/// The longest statement text written to the log; longer ones are cut.
const MAX_LOGGED_SQL: usize = 4096;

/// SQLSTATE of a statement that panicked.
const INTERNAL_ERROR: &str = "XX000";

/// What the log shows instead of a secret.
const REDACTED: &str = "'***'";

/// A statement in progress; writes its log line and metrics when dropped.
pub struct QueryRecord {
    metrics: Arc<Metrics>,
    user: Arc<str>,
    /// The statement as sent; redacted only when its log line is written.
    sql: Arc<str>,
    started: Instant,
    rows: u64,
    sqlstate: Option<String>,
    plan: Option<Arc<dyn ExecutionPlan>>,
    /// Handed to a result stream that has not been polled yet.
    awaiting_stream: bool,
}

impl QueryRecord {
    /// Starts the record of `sql`, run by `user`.
    pub fn start(metrics: Arc<Metrics>, user: Arc<str>, sql: Arc<str>) -> QueryRecord {
        QueryRecord {
            metrics,
            user,
            sql,
            started: Instant::now(),
            rows: 0,
            sqlstate: None,
            plan: None,
            awaiting_stream: false,
        }
    }

    /// Hands the record to a result stream: if the stream is dropped before it is polled
    /// (an earlier statement of the same query string failed), the statement never ran and
    /// gets no log line.
    pub fn await_stream(&mut self) {
        self.awaiting_stream = true;
    }

    /// The result stream has started.
    pub fn stream_started(&mut self) {
        self.awaiting_stream = false;
    }

    /// Counts rows sent.
    pub fn add_rows(&mut self, rows: u64) {
        self.rows += rows;
    }

    /// Marks the statement failed with `sqlstate`.
    pub fn fail(&mut self, sqlstate: &str) {
        self.sqlstate = Some(sqlstate.to_string());
    }

    /// The physical plan being run, read for spill metrics when the statement ends.
    pub fn set_plan(&mut self, plan: Arc<dyn ExecutionPlan>) {
        self.plan = Some(plan);
    }
}

impl Drop for QueryRecord {
    fn drop(&mut self) {
        if self.awaiting_stream {
            tracing::debug!(target: "segmint::query", "statement not run");
            return;
        }
        if std::thread::panicking() {
            // Contained by the connection loop, which answers XX000.
            self.fail(INTERNAL_ERROR);
        }
        let elapsed = self.started.elapsed();
        let (spills, spilled_bytes) = self.plan.as_ref().map(spill_totals).unwrap_or((0, 0));
        self.metrics.spills.inc_by(spills);
        self.metrics.spilled_bytes.inc_by(spilled_bytes);
        self.metrics
            .record_statement(elapsed.as_secs_f64(), self.rows, self.sqlstate.as_deref());
        // Tokenizing for redaction costs; skip it when the line would be filtered out.
        if !tracing::enabled!(target: "segmint::query", tracing::Level::INFO) {
            return;
        }
        let sqlstate = self.sqlstate.as_deref().unwrap_or("00000");
        let duration_ms = elapsed.as_secs_f64() * 1000.0;
        let query = redact(&self.sql);
        // A query that ran on the cluster names its Ballista job (absent otherwise).
        let job_id = self
            .plan
            .as_ref()
            .and_then(crate::engine::distributed::job_id);
        tracing::info!(
            target: "segmint::query",
            user = %self.user,
            duration_ms,
            rows = self.rows,
            sqlstate,
            spilled_bytes,
            job_id = job_id.as_deref(),
            query = %query,
            "statement"
        );
    }
}

/// Spill files and bytes of every operator of `plan`.
fn spill_totals(plan: &Arc<dyn ExecutionPlan>) -> (u64, u64) {
    let (mut spills, mut bytes) = plan
        .metrics()
        .map(|m| {
            (
                m.spill_count().unwrap_or(0) as u64,
                m.spilled_bytes().unwrap_or(0) as u64,
            )
        })
        .unwrap_or((0, 0));
    for child in plan.children() {
        let (s, b) = spill_totals(child);
        spills += s;
        bytes += b;
    }
    (spills, bytes)
}

/// `sql` with the values of secret-looking settings and options replaced by `'***'`, and
/// credentials removed from URLs (user info, and signature or token query parameters). A
/// statement that does not tokenize is not logged.
pub fn redact(sql: &str) -> String {
    let tokens = Tokenizer::new(&PostgreSqlDialect {}, sql)
        .with_unescape(false)
        .tokenize();
    let Ok(tokens) = tokens else {
        return format!("[statement of {} bytes that does not tokenize]", sql.len());
    };
    let mut out = String::with_capacity(sql.len().min(MAX_LOGGED_SQL));
    let mut state = Secret::No;
    for token in tokens {
        let literal = string_literal(&token);
        let text = match (&token, state) {
            (Token::Whitespace(_), _) => token.to_string(),
            (Token::Eq, Secret::Named) => {
                state = Secret::Assigned;
                token.to_string()
            }
            (Token::Word(word), Secret::Named) if word.value.eq_ignore_ascii_case("to") => {
                state = Secret::Assigned;
                token.to_string()
            }
            (Token::Comma, Secret::Keyed) => token.to_string(),
            (Token::SingleQuotedString(_), Secret::Keyed | Secret::Assigned)
            | (Token::EscapedStringLiteral(_), Secret::Keyed | Secret::Assigned)
            | (Token::DollarQuotedString(_), Secret::Keyed | Secret::Assigned)
            | (Token::Number(..), Secret::Keyed | Secret::Assigned)
            | (Token::Word(_), Secret::Assigned) => {
                // A value that itself looks like a key name may be one (a list that lost
                // its pairing): keep hiding until a value that does not.
                state = match literal {
                    Some(value) if names_secret(value) => Secret::Keyed,
                    _ => Secret::No,
                };
                REDACTED.to_string()
            }
            (Token::SingleQuotedString(value), _) if value.contains("://") => {
                state = Secret::No;
                format!("'{}'", strip_url_credentials(value))
            }
            (Token::EscapedStringLiteral(value), _) if value.contains("://") => {
                state = Secret::No;
                format!("E'{}'", strip_url_credentials(value))
            }
            (_, _) if literal.is_some_and(names_secret) => {
                state = Secret::Keyed;
                token.to_string()
            }
            (Token::Word(word), _) if names_secret(&word.value) => {
                state = Secret::Named;
                token.to_string()
            }
            _ => {
                state = Secret::No;
                token.to_string()
            }
        };
        out.push_str(&text);
        if out.len() > MAX_LOGGED_SQL {
            let mut end = MAX_LOGGED_SQL;
            while !out.is_char_boundary(end) {
                end -= 1;
            }
            out.truncate(end);
            out.push_str("...");
            break;
        }
    }
    out
}

/// Where the redaction of a statement stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Secret {
    /// Nothing to hide next.
    No,
    /// After a string naming a secret (`OPTIONS ('...secret...' 'value')`): the next value.
    Keyed,
    /// After a word naming a secret (`password`): a value once `=` or `TO` follows.
    Named,
    /// After `password =`: the next value.
    Assigned,
}

/// The text of a string literal token.
fn string_literal(token: &Token) -> Option<&str> {
    match token {
        Token::SingleQuotedString(s)
        | Token::EscapedStringLiteral(s)
        | Token::NationalStringLiteral(s)
        | Token::UnicodeStringLiteral(s) => Some(s),
        Token::DollarQuotedString(d) => Some(&d.value),
        _ => None,
    }
}

/// Whether a setting, option or URL parameter name holds a secret.
fn names_secret(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    [
        "secret",
        "password",
        "passwd",
        "token",
        "credential",
        "private_key",
        "access_key",
        "api_key",
        "apikey",
        "sas_key",
        "account_key",
        "connection_string",
        "signature",
    ]
    .iter()
    .any(|part| name.contains(part))
        || name == "sig"
}

/// Every URL in `text` without its user info (`scheme://***@host/...`) and with the values
/// of secret query parameters (`X-Amz-Signature`, `sig`, `token`...) hidden.
fn strip_url_credentials(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c.is_whitespace() || c == '\'')
            .unwrap_or(tail.len());
        let url = &tail[..end];
        let (location, query) = url.split_at(url.find(['?', '#']).unwrap_or(url.len()));
        // User info may hold `/` (AWS secret keys do): cut at the last `@` before the query.
        match location.rfind('@') {
            Some(at) => {
                out.push_str("***@");
                out.push_str(&location[at + 1..]);
            }
            None => out.push_str(location),
        }
        for (i, part) in query.split('&').enumerate() {
            if i > 0 {
                out.push('&');
            }
            match part.split_once('=') {
                Some((key, _)) if names_secret(key.trim_start_matches(['?', '#'])) => {
                    out.push_str(key);
                    out.push_str("=***");
                }
                _ => out.push_str(part),
            }
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_in_options_settings_and_urls_are_redacted() {
        let sql = "CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION 's3://b/t/' \
                   OPTIONS ('aws.access_key_id' 'AKIA123', 'aws.secret_access_key' 'hunter2', \
                   'aws.region' 'eu-west-1')";
        let logged = redact(sql);
        assert!(!logged.contains("hunter2"), "{logged}");
        assert!(!logged.contains("AKIA123"), "{logged}");
        assert!(logged.contains("'eu-west-1'"), "{logged}");
        assert!(logged.contains("'s3://b/t/'"), "{logged}");

        let logged = redact("SET my.password = 'letmein'");
        assert!(!logged.contains("letmein"), "{logged}");
        let logged = redact("SELECT * FROM 'https://bob:pw123@example.com/x.parquet'");
        assert!(!logged.contains("pw123"), "{logged}");
        assert!(
            logged.contains("https://***@example.com/x.parquet"),
            "{logged}"
        );
    }

    #[test]
    fn ordinary_statements_are_logged_as_written() {
        let sql = "SELECT customer_id, 'east' AS region FROM orders WHERE amount > 10";
        assert_eq!(redact(sql), sql);
        let quoted = "SELECT 'it''s', \"a\"\"b\" FROM t";
        assert_eq!(redact(quoted), quoted);
        assert!(redact("SELECT 'open").contains("does not tokenize"));
        let long = format!("SELECT '{}'", "x".repeat(10_000));
        assert!(redact(&long).len() <= MAX_LOGGED_SQL + 3);
    }
}
