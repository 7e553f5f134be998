//! Streams query results to the client batch by batch: each Arrow batch is encoded into
//! PostgreSQL data rows (type mapping and encoding from `arrow-pg`) as it arrives, so a result
//! is never held whole in memory. A statement timeout is checked between batches.

use std::sync::Arc;

use datafusion::arrow::datatypes::Schema;
use datafusion::execution::SendableRecordBatchStream;
use futures::{StreamExt, stream};
use pgwire::api::portal::Format;
use pgwire::api::results::{FieldInfo, QueryResponse};
use pgwire::error::PgWireResult;
use pgwire::types::format::FormatOptions;
use tokio::time::Instant;

use super::sqlstate::{QUERY_CANCELED, to_pg_error, user_error};

/// PostgreSQL field descriptions for an Arrow schema in the requested formats.
pub fn pg_fields(
    schema: &Schema,
    format: &Format,
    options: Arc<FormatOptions>,
) -> PgWireResult<Vec<FieldInfo>> {
    arrow_pg::datatypes::arrow_schema_to_pg_fields(schema, format, Some(options))
}

/// A query response that encodes `batches` lazily, failing with 57014 past `deadline`.
pub fn streaming_response(
    batches: SendableRecordBatchStream,
    fields: Arc<Vec<FieldInfo>>,
    deadline: Option<Instant>,
) -> QueryResponse {
    let batches = stream::unfold(Some(batches), move |state| async move {
        let mut batches = state?;
        let next = match deadline {
            Some(deadline) => match tokio::time::timeout_at(deadline, batches.next()).await {
                Ok(next) => next,
                Err(_) => {
                    let error = user_error(
                        QUERY_CANCELED,
                        "canceling statement due to statement timeout",
                    );
                    return Some((Err(error), None));
                }
            },
            None => batches.next().await,
        };
        next.map(|batch| (batch.map_err(to_pg_error), Some(batches)))
    });
    let row_fields = fields.clone();
    let rows = batches.flat_map(move |batch| match batch {
        Ok(batch) => stream::iter(arrow_pg::datatypes::encode_recordbatch(
            row_fields.clone(),
            batch,
        ))
        .left_stream(),
        Err(error) => stream::once(async move { Err(error) }).right_stream(),
    });
    QueryResponse::new(fields, rows)
}
