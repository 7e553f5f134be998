//! `COPY (query) TO STDOUT` and `COPY table TO STDOUT`: what psql's `\copy ... TO 'file.csv'`
//! and the drivers' copy APIs send to export a segment. Rows stream out batch by batch in
//! PostgreSQL's text, CSV or binary COPY format; `COPY ... FROM` and server-side files are
//! refused (Segmint serves datasets read-only and never touches the server's disk for a client).

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use datafusion::arrow::array::RecordBatch;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::sql::sqlparser::ast::{
    CopyLegacyCsvOption, CopyLegacyOption, CopyOption, CopySource, CopyTarget, Query, Statement,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;
use futures::{StreamExt, stream};
use pgwire::api::results::{CopyCsvOptions, CopyEncoder, CopyResponse, CopyTextOptions, FieldInfo};
use pgwire::error::PgWireResult;
use pgwire::messages::copy::CopyData;

use super::row_encode;
use super::sqlstate::{
    FEATURE_NOT_SUPPORTED, INVALID_PARAMETER_VALUE, READ_ONLY_SQL_TRANSACTION, SYNTAX_ERROR,
    error_sqlstate, to_pg_error, user_error,
};
use crate::observe::QueryRecord;

/// The output format of a `COPY ... TO STDOUT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyFormat {
    /// Tab-separated text with `\N` for NULL (the default).
    Text,
    /// Comma-separated values.
    Csv,
    /// PostgreSQL's binary COPY format.
    Binary,
}

/// A parsed `COPY ... TO STDOUT`.
#[derive(Debug, Clone)]
pub struct CopyOut {
    /// The rows to export.
    pub query: Box<Query>,
    /// The format.
    pub format: CopyFormat,
    /// Whether a header line with the column names comes first (text and CSV).
    pub header: bool,
    /// The field delimiter, when not the format's default.
    pub delimiter: Option<char>,
    /// The NULL string, when not the format's default.
    pub null: Option<String>,
    /// The CSV quote character.
    pub quote: Option<char>,
    /// The CSV escape character.
    pub escape: Option<char>,
}

/// The `COPY` of `statement`, if it is one: `Ok` for an export to STDOUT, an error with the
/// right SQLSTATE for what Segmint does not do.
pub fn parse(statement: &Statement) -> Option<PgWireResult<CopyOut>> {
    let Statement::Copy {
        source,
        to,
        target,
        options,
        legacy_options,
        ..
    } = statement
    else {
        return None;
    };
    Some(parse_copy(source, *to, target, options, legacy_options))
}

fn parse_copy(
    source: &CopySource,
    to: bool,
    target: &CopyTarget,
    options: &[CopyOption],
    legacy_options: &[CopyLegacyOption],
) -> PgWireResult<CopyOut> {
    if !to {
        return Err(user_error(
            READ_ONLY_SQL_TRANSACTION,
            "cannot execute COPY FROM: Segmint serves datasets read-only",
        ));
    }
    if !matches!(target, CopyTarget::Stdout) {
        return Err(user_error(
            FEATURE_NOT_SUPPORTED,
            "COPY TO a server file or program is not supported; use COPY ... TO STDOUT \
             (psql: \\copy ... TO 'file.csv' CSV HEADER)",
        ));
    }
    let query = match source {
        CopySource::Query(query) => query.clone(),
        CopySource::Table {
            table_name,
            columns,
        } => {
            let list = if columns.is_empty() {
                "*".to_string()
            } else {
                columns
                    .iter()
                    .map(|c| c.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            table_query(&format!("SELECT {list} FROM {table_name}"))?
        }
    };
    let mut copy = CopyOut {
        query,
        format: CopyFormat::Text,
        header: false,
        delimiter: None,
        null: None,
        quote: None,
        escape: None,
    };
    for option in options {
        match option {
            CopyOption::Format(name) => {
                copy.format = match name.value.to_ascii_lowercase().as_str() {
                    "text" => CopyFormat::Text,
                    "csv" => CopyFormat::Csv,
                    "binary" => CopyFormat::Binary,
                    other => {
                        return Err(user_error(
                            INVALID_PARAMETER_VALUE,
                            format!("COPY format \"{other}\" not recognized"),
                        ));
                    }
                }
            }
            CopyOption::Header(on) => copy.header = *on,
            CopyOption::Delimiter(c) => copy.delimiter = Some(*c),
            CopyOption::Null(s) => copy.null = Some(s.clone()),
            CopyOption::Quote(c) => copy.quote = Some(*c),
            CopyOption::Escape(c) => copy.escape = Some(*c),
            CopyOption::Encoding(e)
                if e.eq_ignore_ascii_case("utf8") || e.eq_ignore_ascii_case("utf-8") => {}
            other => return Err(unsupported_option(other)),
        }
    }
    for option in legacy_options {
        match option {
            CopyLegacyOption::Binary => copy.format = CopyFormat::Binary,
            CopyLegacyOption::Delimiter(c) => copy.delimiter = Some(*c),
            CopyLegacyOption::Null(s) => copy.null = Some(s.clone()),
            CopyLegacyOption::Header => copy.header = true,
            CopyLegacyOption::Csv(csv_options) => {
                copy.format = CopyFormat::Csv;
                for csv_option in csv_options {
                    match csv_option {
                        CopyLegacyCsvOption::Header => copy.header = true,
                        CopyLegacyCsvOption::Quote(c) => copy.quote = Some(*c),
                        CopyLegacyCsvOption::Escape(c) => copy.escape = Some(*c),
                        other => return Err(unsupported_option(other)),
                    }
                }
            }
            other => return Err(unsupported_option(other)),
        }
    }
    if copy.header && copy.format == CopyFormat::Binary {
        return Err(user_error(
            FEATURE_NOT_SUPPORTED,
            "cannot specify HEADER in BINARY mode",
        ));
    }
    Ok(copy)
}

fn unsupported_option(option: &dyn std::fmt::Display) -> pgwire::error::PgWireError {
    user_error(
        FEATURE_NOT_SUPPORTED,
        format!("COPY option {option} is not supported"),
    )
}

fn table_query(sql: &str) -> PgWireResult<Box<Query>> {
    let statement = Parser::new(&PostgreSqlDialect {})
        .try_with_sql(sql)
        .and_then(|mut parser| parser.parse_statement())
        .map_err(|e| user_error(SYNTAX_ERROR, e.to_string()))?;
    match statement {
        Statement::Query(query) => Ok(query),
        _ => Err(user_error(SYNTAX_ERROR, "COPY needs a table or a query")),
    }
}

impl CopyOut {
    /// The pgwire format code: 0 for text and CSV, 1 for binary.
    pub fn format_code(&self) -> i8 {
        match self.format {
            CopyFormat::Binary => 1,
            _ => 0,
        }
    }

    fn encoder(&self, fields: Arc<Vec<FieldInfo>>) -> CopyEncoder {
        match self.format {
            CopyFormat::Text => {
                let mut options = CopyTextOptions::default();
                if let Some(d) = self.delimiter {
                    options.delimiter = d.to_string().into();
                }
                if let Some(n) = &self.null {
                    options.null_string = n.as_str().into();
                }
                CopyEncoder::new_text(fields, options)
            }
            CopyFormat::Csv => {
                let mut options = CopyCsvOptions::default();
                if let Some(d) = self.delimiter {
                    options.delimiter = d.to_string().into();
                }
                if let Some(n) = &self.null {
                    options.null_string = n.as_str().into();
                }
                if let Some(q) = self.quote {
                    options.quote = q.to_string().into();
                    if self.escape.is_none() {
                        options.escape = q.to_string().into();
                    }
                }
                if let Some(e) = self.escape {
                    options.escape = e.to_string().into();
                }
                CopyEncoder::new_csv(fields, options)
            }
            CopyFormat::Binary => CopyEncoder::new_binary(fields),
        }
    }

    /// The layout of the batch-at-a-time encoder, when it can write this COPY (text or CSV
    /// with one-byte separators).
    fn layout(&self) -> Option<row_encode::CopyLayout> {
        let byte = |c: char| u8::try_from(c).ok().filter(u8::is_ascii);
        match self.format {
            CopyFormat::Text => Some(row_encode::CopyLayout::Text {
                delimiter: byte(self.delimiter.unwrap_or('\t'))?,
                null: self
                    .null
                    .clone()
                    .unwrap_or_else(|| "\\N".into())
                    .into_bytes(),
            }),
            CopyFormat::Csv => {
                let quote = byte(self.quote.unwrap_or('"'))?;
                Some(row_encode::CopyLayout::Csv {
                    delimiter: byte(self.delimiter.unwrap_or(','))?,
                    null: self.null.clone().unwrap_or_default().into_bytes(),
                    quote,
                    escape: match self.escape {
                        Some(escape) => byte(escape)?,
                        None => quote,
                    },
                })
            }
            CopyFormat::Binary => None,
        }
    }

    /// The header line (column names), encoded like a row of text values.
    fn header_line(&self, fields: &Arc<Vec<FieldInfo>>) -> PgWireResult<Bytes> {
        let text_fields: Arc<Vec<FieldInfo>> = Arc::new(
            fields
                .iter()
                .map(|f| {
                    FieldInfo::new(
                        f.name().to_string(),
                        None,
                        None,
                        pgwire::api::Type::TEXT,
                        pgwire::api::results::FieldFormat::Text,
                    )
                })
                .collect(),
        );
        let mut encoder = self.encoder(text_fields.clone());
        for field in text_fields.iter() {
            encoder.encode_field(&Some(field.name()))?;
        }
        Ok(encoder.take_copy().data)
    }

    /// A copy-out response streaming `batches`: one `CopyData` per row, the header (if any)
    /// carried by the first so the `COPY n` tag counts data rows only.
    pub fn response(
        &self,
        batches: SendableRecordBatchStream,
        fields: Arc<Vec<FieldInfo>>,
        record: Option<QueryRecord>,
    ) -> PgWireResult<CopyResponse> {
        let header = if self.header {
            Some(self.header_line(&fields)?)
        } else {
            None
        };
        // The header rides on the first row; an empty result sends it alone at the end.
        let header = Arc::new(std::sync::Mutex::new(header));
        let unsent = header.clone();
        let columns = fields.len();
        let mut encoder = self.encoder(fields.clone());
        let layout = self.layout();
        let schema = batches.schema();
        let mut record = record.map(|mut record| {
            record.await_stream();
            record
        });
        let rows = batches
            .flat_map(move |batch| {
                let encoded: Vec<PgWireResult<CopyData>> = match batch {
                    Ok(batch) => {
                        let mut header = header.lock().unwrap_or_else(|p| p.into_inner());
                        let fast = layout
                            .as_ref()
                            .and_then(|layout| row_encode::copy_lines(&batch, &fields, layout));
                        match fast {
                            Some(lines) => with_header(lines, &mut header),
                            None => {
                                encode_batch(&batch, &schema, &fields, &mut encoder, &mut header)
                            }
                        }
                    }
                    Err(error) => vec![Err(to_pg_error(error))],
                };
                // The record (and so the log line) ends with the stream.
                if let Some(record) = record.as_mut() {
                    record.stream_started();
                    match encoded.iter().find_map(|row| row.as_ref().err()) {
                        Some(error) => record.fail(&error_sqlstate(error)),
                        None => record.add_rows(encoded.len() as u64),
                    }
                }
                stream::iter(encoded)
            })
            .chain(stream::iter(std::iter::from_fn(move || {
                let line = unsent.lock().unwrap_or_else(|p| p.into_inner()).take()?;
                Some(Ok(CopyData::new(line)))
            })));
        Ok(CopyResponse::new(self.format_code(), columns, rows))
    }
}

/// COPY data of encoded lines, the header (if still unsent) joined to the first.
fn with_header(lines: Vec<Bytes>, header: &mut Option<Bytes>) -> Vec<PgWireResult<CopyData>> {
    lines
        .into_iter()
        .map(|line| {
            Ok(CopyData::new(match header.take() {
                Some(first) => {
                    let mut joined = BytesMut::with_capacity(first.len() + line.len());
                    joined.extend_from_slice(&first);
                    joined.extend_from_slice(&line);
                    joined.freeze()
                }
                None => line,
            }))
        })
        .collect()
}

fn encode_batch(
    batch: &RecordBatch,
    schema: &datafusion::arrow::datatypes::SchemaRef,
    fields: &Arc<Vec<FieldInfo>>,
    encoder: &mut CopyEncoder,
    header: &mut Option<Bytes>,
) -> Vec<PgWireResult<CopyData>> {
    let mut out = Vec::with_capacity(batch.num_rows());
    for row in 0..batch.num_rows() {
        for (column, array) in batch.columns().iter().enumerate() {
            if let Err(error) = arrow_pg::encoder::encode_value(
                encoder,
                array,
                row,
                schema.field(column),
                &fields[column],
            ) {
                out.push(Err(error));
                return out;
            }
        }
        let data = encoder.take_copy();
        match header.take() {
            Some(line) => {
                let mut joined = BytesMut::with_capacity(line.len() + data.data.len());
                joined.extend_from_slice(&line);
                joined.extend_from_slice(&data.data);
                out.push(Ok(CopyData::new(joined.freeze())));
            }
            None => out.push(Ok(data)),
        }
    }
    out
}
