//! Runs every `tests/slt/*.slt` file through the pgwire endpoint, once with the simple query
//! protocol and once with the extended protocol, so each file proves the engine and the wire.

use std::path::PathBuf;

use async_trait::async_trait;
use sqllogictest::{AsyncDB, DBOutput, DefaultColumnType, Runner};
use tokio_postgres::{Client, SimpleQueryMessage};

use crate::support::{self, pg_text::PgText};

/// Which protocol the engine speaks.
#[derive(Debug, Clone, Copy)]
pub enum Protocol {
    Simple,
    Extended,
}

struct PgEngine {
    client: Client,
    protocol: Protocol,
}

fn text_or_empty(value: Option<&str>) -> String {
    match value {
        None => "NULL".to_string(),
        Some("") => "(empty)".to_string(),
        Some(text) => text.to_string(),
    }
}

/// A client error shown with the server's message, so `statement error <regex>` can match it.
#[derive(Debug)]
struct DbError(tokio_postgres::Error);

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.as_db_error() {
            Some(db) => write!(f, "{}: {}", db.code().code(), db.message()),
            None => write!(f, "{}", self.0),
        }
    }
}

impl std::error::Error for DbError {}

impl From<tokio_postgres::Error> for DbError {
    fn from(error: tokio_postgres::Error) -> Self {
        DbError(error)
    }
}

#[async_trait]
impl AsyncDB for PgEngine {
    type Error = DbError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, Self::Error> {
        match self.protocol {
            Protocol::Simple => {
                let mut columns = None;
                let mut rows = Vec::new();
                let mut affected = 0;
                for message in self.client.simple_query(sql).await? {
                    match message {
                        SimpleQueryMessage::RowDescription(description) => {
                            columns = Some(description.len());
                        }
                        SimpleQueryMessage::Row(row) => {
                            columns = Some(row.len());
                            rows.push((0..row.len()).map(|i| text_or_empty(row.get(i))).collect());
                        }
                        SimpleQueryMessage::CommandComplete(n) => affected = n,
                        _ => {}
                    }
                }
                Ok(match columns {
                    Some(n) => DBOutput::Rows {
                        types: vec![DefaultColumnType::Any; n],
                        rows,
                    },
                    None => DBOutput::StatementComplete(affected),
                })
            }
            Protocol::Extended => {
                let statement = self.client.prepare(sql).await?;
                if statement.columns().is_empty() {
                    let affected = self.client.execute(&statement, &[]).await?;
                    return Ok(DBOutput::StatementComplete(affected));
                }
                let rows = self.client.query(&statement, &[]).await?;
                let rows = rows
                    .iter()
                    .map(|row| {
                        (0..row.len())
                            .map(|i| {
                                row.try_get::<_, Option<PgText>>(i)
                                    .map(|v| text_or_empty(v.as_ref().map(|t| t.0.as_str())))
                            })
                            .collect::<Result<Vec<_>, _>>()
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(DBOutput::Rows {
                    types: vec![DefaultColumnType::Any; statement.columns().len()],
                    rows,
                })
            }
        }
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        // `skipif segmint-extended` marks what the binary result path cannot carry yet.
        match self.protocol {
            Protocol::Simple => "segmint",
            Protocol::Extended => "segmint-extended",
        }
    }

    fn error_sql_state(error: &Self::Error) -> Option<String> {
        error.0.code().map(|code| code.code().to_string())
    }
}

fn slt_files(folder: &str) -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(folder);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/slt exists")
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "slt"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .slt files in {}", dir.display());
    files
}

/// Runs every `.slt` file of `folder` against `server` with `protocol`.
pub async fn run_all(protocol: Protocol, folder: &str, server: &support::TestServer) {
    let mut failures = Vec::new();
    for file in slt_files(folder) {
        let conn_str = server.conn_str("slt");
        let mut runner = Runner::new(move || {
            let conn_str = conn_str.clone();
            async move {
                Ok(PgEngine {
                    client: support::connect_to(&conn_str).await,
                    protocol,
                })
            }
        });
        runner.with_column_validator(|_, _| true);
        // Files mark in-process-only blocks (such as CREATE VIEW) with `onlyif datafusion`.
        if let Err(error) = runner.run_file_async(&file).await {
            failures.push(format!("{} ({protocol:?}): {error}", file.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "slt failures:\n{}",
        failures.join("\n\n")
    );
}

#[tokio::test]
async fn slt_files_pass_with_the_simple_protocol() {
    run_all(Protocol::Simple, "tests/slt", support::demo_server()).await;
}

#[tokio::test]
async fn slt_files_pass_with_the_extended_protocol() {
    run_all(Protocol::Extended, "tests/slt", support::demo_server()).await;
}

#[tokio::test]
async fn function_slt_files_pass_with_the_simple_protocol() {
    run_all(Protocol::Simple, "udfs/slt", support::fixture_server()).await;
}

#[tokio::test]
async fn function_slt_files_pass_with_the_extended_protocol() {
    run_all(Protocol::Extended, "udfs/slt", support::fixture_server()).await;
}
