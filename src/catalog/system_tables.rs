//! The `segmint` schema: live views of the catalog for administrators and BI tools.
//!
//! - `segmint.datasets`: every served table, where it comes from, its file count and the
//!   last listing (or why it is not served);
//! - `segmint.object_store_requests`: requests sent to each store since start, which shows
//!   the listing and footer caches at work.
//!
//! Each scan takes a fresh snapshot.

use std::sync::{Arc, Weak};

use datafusion::arrow::array::{ArrayRef, StringArray, TimestampMicrosecondArray, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::TableProvider;
use datafusion::catalog::streaming::StreamingTable;
use datafusion::execution::TaskContext;
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use datafusion::prelude::SessionContext;

use super::Catalog;
use crate::error::Result;

/// The schema's name.
pub const SCHEMA: &str = "segmint";

/// Computes a table's columns from the catalog.
pub type Snapshot = fn(&Catalog) -> Vec<ArrayRef>;

/// One table whose rows are computed from the catalog at each scan.
#[derive(Debug)]
struct SnapshotTable {
    schema: SchemaRef,
    catalog: Weak<Catalog>,
    snapshot: Snapshot,
}

impl PartitionStream for SnapshotTable {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let batch = match self.catalog.upgrade() {
            Some(catalog) => RecordBatch::try_new(self.schema.clone(), (self.snapshot)(&catalog)),
            None => Ok(RecordBatch::new_empty(self.schema.clone())),
        };
        Box::pin(RecordBatchStreamAdapter::new(
            self.schema.clone(),
            futures::stream::once(async move { batch.map_err(Into::into) }),
        ))
    }
}

/// Creates the `segmint` schema and its tables in `ctx`'s default catalog.
pub fn register(ctx: &SessionContext, catalog: &Arc<Catalog>) -> Result<()> {
    let Some(schema) = super::new_schema(ctx, SCHEMA)? else {
        return Ok(());
    };
    let text = |name: &str| Field::new(name, DataType::Utf8, true);
    let count = |name: &str| Field::new(name, DataType::UInt64, false);
    let tables: [(&str, Vec<Field>, Snapshot); 2] = [
        (
            "datasets",
            vec![
                text("name"),
                text("origin"),
                text("url"),
                count("columns"),
                text("partition_columns"),
                count("files"),
                Field::new(
                    "listed_at",
                    DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
                    true,
                ),
                text("error"),
            ],
            datasets,
        ),
        (
            "object_store_requests",
            vec![
                text("store"),
                count("list"),
                count("get"),
                count("head"),
                count("put"),
                count("delete"),
                count("copy"),
            ],
            requests,
        ),
    ];
    for (name, fields, snapshot) in tables {
        schema.register_table(name.to_string(), snapshot_table(catalog, fields, snapshot)?)?;
    }
    Ok(())
}

/// A table of `fields` whose rows `snapshot` computes from the catalog at each scan.
pub fn snapshot_table(
    catalog: &Arc<Catalog>,
    fields: Vec<Field>,
    snapshot: Snapshot,
) -> Result<Arc<dyn TableProvider>> {
    let table_schema = Arc::new(Schema::new(fields));
    let stream = Arc::new(SnapshotTable {
        schema: table_schema.clone(),
        catalog: Arc::downgrade(catalog),
        snapshot,
    });
    Ok(Arc::new(StreamingTable::try_new(
        table_schema,
        vec![stream],
    )?))
}

fn datasets(catalog: &Catalog) -> Vec<ArrayRef> {
    let rows = catalog.datasets();
    let text = |f: &dyn Fn(&super::DatasetStatus) -> Option<String>| -> ArrayRef {
        Arc::new(StringArray::from(rows.iter().map(f).collect::<Vec<_>>()))
    };
    vec![
        text(&|d| Some(d.name.clone())),
        text(&|d| Some(d.origin.as_str().to_string())),
        text(&|d| Some(d.url.clone())),
        Arc::new(UInt64Array::from_iter_values(
            rows.iter().map(|d| d.columns as u64),
        )),
        text(&|d| Some(d.partition_columns.join(","))),
        Arc::new(UInt64Array::from_iter_values(
            rows.iter().map(|d| d.files as u64),
        )),
        Arc::new(
            TimestampMicrosecondArray::from(
                rows.iter()
                    .map(|d| d.listed_at.map(|t| t.timestamp_micros()))
                    .collect::<Vec<_>>(),
            )
            .with_timezone("+00:00"),
        ),
        text(&|d| d.error.clone()),
    ]
}

fn requests(catalog: &Catalog) -> Vec<ArrayRef> {
    let rows = catalog.request_counts();
    let column = |f: fn(&super::RequestSnapshot) -> u64| -> ArrayRef {
        Arc::new(UInt64Array::from_iter_values(
            rows.iter().map(|(_, c)| f(c)),
        ))
    };
    vec![
        Arc::new(StringArray::from_iter_values(rows.iter().map(|(s, _)| s))),
        column(|c| c.list),
        column(|c| c.get),
        column(|c| c.head),
        column(|c| c.put),
        column(|c| c.delete),
        column(|c| c.copy),
    ]
}
