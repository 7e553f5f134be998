//! Streams query results to the client batch by batch: each Arrow batch is encoded into
//! PostgreSQL data rows as it arrives (common types by `row_encode`, the rest by `arrow-pg`,
//! which also maps the types), so a result is never held whole in memory. A statement timeout is checked between batches.

use std::sync::Arc;

use datafusion::arrow::datatypes::Schema;
use datafusion::execution::SendableRecordBatchStream;
use futures::{StreamExt, stream};
use pgwire::api::portal::Format;
use pgwire::api::results::{FieldInfo, QueryResponse};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::data::DataRow;
use pgwire::types::format::FormatOptions;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::row_encode;
use super::sqlstate::{
    PROGRAM_LIMIT_EXCEEDED, QUERY_CANCELED, error_sqlstate, to_pg_error, user_error,
};
use crate::observe::QueryRecord;

/// PostgreSQL field descriptions for an Arrow schema in the requested formats.
pub fn pg_fields(
    schema: &Schema,
    format: &Format,
    options: Arc<FormatOptions>,
) -> PgWireResult<Vec<FieldInfo>> {
    arrow_pg::datatypes::arrow_schema_to_pg_fields(schema, format, Some(options))
}

/// A query response that encodes `batches` lazily, failing with 57014 past `deadline` or
/// when `cancel` is signalled (a client's CancelRequest). `record` counts the rows and any
/// error, and writes the statement's log line when the stream ends.
pub fn streaming_response(
    batches: SendableRecordBatchStream,
    fields: Arc<Vec<FieldInfo>>,
    deadline: Option<Instant>,
    cancel: Arc<Notify>,
    max_rows: u64,
    record: Option<QueryRecord>,
) -> QueryResponse {
    let record = record.map(|mut record| {
        record.await_stream();
        record
    });
    let row_fields = fields.clone();
    let encoded = stream::unfold(Some((batches, 0u64, record)), move |state| {
        let cancel = cancel.clone();
        let fields = row_fields.clone();
        async move {
            let (mut batches, sent, mut record) = state?;
            if let Some(record) = record.as_mut() {
                record.stream_started();
            }
            let mut fail = |error: PgWireError| {
                if let Some(record) = record.as_mut() {
                    record.fail(&error_sqlstate(&error));
                }
                Some((Err(error), None))
            };
            let timeout = async {
                match deadline {
                    Some(deadline) => tokio::time::sleep_until(deadline).await,
                    None => std::future::pending().await,
                }
            };
            let next = tokio::select! {
                next = batches.next() => next,
                _ = timeout => {
                    let error = user_error(
                        QUERY_CANCELED,
                        "canceling statement due to statement timeout",
                    );
                    return fail(error);
                }
                _ = cancel.notified() => {
                    let error = user_error(QUERY_CANCELED, "canceling statement due to user request");
                    return fail(error);
                }
            };
            let batch = match next?.map_err(to_pg_error) {
                Ok(batch) => batch,
                Err(error) => return fail(error),
            };
            let sent = sent + batch.num_rows() as u64;
            if max_rows > 0 && sent > max_rows {
                let error = user_error(
                    PROGRAM_LIMIT_EXCEEDED,
                    format!(
                        "the result has more than {max_rows} rows (server.max_result_rows): \
                         add a LIMIT or aggregate further"
                    ),
                );
                return fail(error);
            }
            // Encoded here, so an encoding error is the statement's error in its record.
            // Common column types take the batch-at-a-time encoder, the rest arrow-pg's.
            let rows: Vec<DataRow> = match row_encode::data_rows(&batch, &fields) {
                Some(rows) => rows,
                None => match arrow_pg::datatypes::encode_recordbatch(fields, batch).collect() {
                    Ok(rows) => rows,
                    Err(error) => return fail(error),
                },
            };
            if let Some(record) = record.as_mut() {
                record.add_rows(rows.len() as u64);
            }
            Some((Ok(rows), Some((batches, sent, record))))
        }
    });
    let rows = encoded.flat_map(|rows| match rows {
        Ok(rows) => stream::iter(rows.into_iter().map(Ok)).left_stream(),
        Err(error) => stream::once(async move { Err(error) }).right_stream(),
    });
    QueryResponse::new(fields, rows)
}
