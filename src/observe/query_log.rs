//! One structured log line per statement (target `segmint::query`): user, duration, rows,
//! SQLSTATE, spilled bytes and the statement text with its secrets redacted. The same record
//! updates the Prometheus metrics.
//!
//! A [`QueryRecord`] is made when a statement starts and travels with its result stream, so
//! the line is written when the last row has been sent (or the statement failed), not when
//! the first batch was planned.

use std::sync::Arc;
use std::time::Instant;

use datafusion::physical_plan::ExecutionPlan;
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};

use super::metrics::Metrics;

/// The longest statement text written to the log; longer ones are cut.
const MAX_LOGGED_SQL: usize = 4096;

/// What the log shows instead of a secret.
const REDACTED: &str = "'***'";

/// A statement in progress; writes its log line and metrics when dropped.
pub struct QueryRecord {
    metrics: Arc<Metrics>,
    user: Arc<str>,
    text: String,
    started: Instant,
    rows: u64,
    sqlstate: Option<String>,
    plan: Option<Arc<dyn ExecutionPlan>>,
}

impl QueryRecord {
    /// Starts the record of `sql`, run by `user`.
    pub fn start(metrics: Arc<Metrics>, user: Arc<str>, sql: &str) -> QueryRecord {
        QueryRecord {
            metrics,
            user,
            text: redact(sql),
            started: Instant::now(),
            rows: 0,
            sqlstate: None,
            plan: None,
        }
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
        let elapsed = self.started.elapsed();
        let (spills, spilled_bytes) = self.plan.as_ref().map(spill_totals).unwrap_or((0, 0));
        self.metrics.spills.inc_by(spills);
        self.metrics.spilled_bytes.inc_by(spilled_bytes);
        self.metrics
            .record_statement(elapsed.as_secs_f64(), self.rows, self.sqlstate.as_deref());
        let sqlstate = self.sqlstate.as_deref().unwrap_or("00000");
        tracing::info!(
            target: "segmint::query",
            user = %self.user,
            duration_ms = elapsed.as_secs_f64() * 1000.0,
            rows = self.rows,
            sqlstate,
            spilled_bytes,
            query = %self.text,
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

/// `sql` with the values of secret-looking settings and options replaced by `'***'`, and the
/// credentials inside URLs removed. A statement that does not tokenize is not logged.
pub fn redact(sql: &str) -> String {
    let Ok(tokens) = Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize() else {
        return format!("[statement of {} bytes that does not tokenize]", sql.len());
    };
    let mut out = String::with_capacity(sql.len().min(MAX_LOGGED_SQL));
    let mut after_secret_name = false;
    for token in tokens {
        let text = match &token {
            Token::SingleQuotedString(_)
            | Token::EscapedStringLiteral(_)
            | Token::DollarQuotedString(_)
                if after_secret_name =>
            {
                after_secret_name = false;
                REDACTED.to_string()
            }
            Token::SingleQuotedString(s) if names_secret(s) => {
                after_secret_name = true;
                token.to_string()
            }
            Token::SingleQuotedString(s) | Token::EscapedStringLiteral(s) if s.contains("://") => {
                after_secret_name = false;
                format!("'{}'", strip_url_credentials(s).replace('\'', "''"))
            }
            Token::Word(word) if names_secret(&word.value) => {
                after_secret_name = true;
                token.to_string()
            }
            Token::Whitespace(_) | Token::Eq | Token::Comma | Token::Period => token.to_string(),
            // `SET x.password TO '...'`
            Token::Word(word) if after_secret_name && word.value.eq_ignore_ascii_case("to") => {
                token.to_string()
            }
            _ => {
                after_secret_name = false;
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

/// Whether a setting or option name holds a secret (`aws.secret_access_key`, `password`...).
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
        "sas_key",
        "account_key",
    ]
    .iter()
    .any(|part| name.contains(part))
}

/// `scheme://user:pass@host/...` without `user:pass@`.
fn strip_url_credentials(text: &str) -> String {
    let Some(scheme_end) = text.find("://") else {
        return text.to_string();
    };
    let rest = &text[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{}://***@{}", &text[..scheme_end], &rest[at + 1..]),
        None => text.to_string(),
    }
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
        assert!(redact("SELECT 'open").contains("does not tokenize"));
        let long = format!("SELECT '{}'", "x".repeat(10_000));
        assert!(redact(&long).len() <= MAX_LOGGED_SQL + 3);
    }
}
