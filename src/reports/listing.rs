//! `segmint.reports`: every report with its schedule, period, what it needs from the customer
//! model, and whether it can run on this shop's data (with the reason when it cannot),
//! computed at each scan so a model refresh shows at once.

use std::sync::{Arc, Weak};

use datafusion::arrow::array::{ArrayRef, BooleanArray, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::streaming::StreamingTable;
use datafusion::execution::TaskContext;
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;

use super::definition::ReportDefinition;
use crate::engine::Engine;
use crate::error::Result;

/// The table's rows, computed at each scan.
#[derive(Debug)]
struct ReportListing {
    schema: SchemaRef,
    engine: Weak<Engine>,
    reports: Vec<ReportDefinition>,
}

impl ReportListing {
    fn batch(&self) -> datafusion::error::Result<RecordBatch> {
        let Some(engine) = self.engine.upgrade() else {
            return Ok(RecordBatch::new_empty(self.schema.clone()));
        };
        let reasons: Vec<Option<String>> = self
            .reports
            .iter()
            .map(|r| engine.unavailable(&r.needs))
            .collect();
        let text = |f: &dyn Fn(&ReportDefinition) -> Option<String>| -> ArrayRef {
            Arc::new(StringArray::from(
                self.reports.iter().map(f).collect::<Vec<_>>(),
            ))
        };
        Ok(RecordBatch::try_new(
            self.schema.clone(),
            vec![
                text(&|r| Some(r.name.clone())),
                text(&|r| Some(r.description.clone())),
                text(&|r| r.schedule_text.clone()),
                text(&|r| Some(r.period.to_string())),
                text(&|r| Some(r.needs.join(", "))),
                Arc::new(BooleanArray::from(
                    reasons.iter().map(Option::is_none).collect::<Vec<_>>(),
                )),
                Arc::new(StringArray::from(reasons)),
                text(&|r| Some(r.source.clone())),
            ],
        )?)
    }
}

impl PartitionStream for ReportListing {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let batch = self.batch();
        Box::pin(RecordBatchStreamAdapter::new(
            self.schema.clone(),
            futures::stream::once(async move { batch }),
        ))
    }
}

/// Registers (or replaces) `segmint.reports` for `reports`.
pub fn register(engine: &Arc<Engine>, reports: &[ReportDefinition]) -> Result<()> {
    let ctx = engine.session();
    let Some(schema) = crate::catalog::new_schema(&ctx, crate::catalog::system_tables::SCHEMA)?
    else {
        return Ok(());
    };
    let text = |name: &str| Field::new(name, DataType::Utf8, true);
    let table_schema = Arc::new(Schema::new(vec![
        text("name"),
        text("description"),
        text("schedule"),
        text("period"),
        text("needs"),
        Field::new("available", DataType::Boolean, false),
        text("reason"),
        text("source"),
    ]));
    let listing = Arc::new(ReportListing {
        schema: table_schema.clone(),
        engine: Arc::downgrade(engine),
        reports: reports.to_vec(),
    });
    let table = StreamingTable::try_new(table_schema, vec![listing])?;
    schema.deregister_table("reports")?;
    schema.register_table("reports".to_string(), Arc::new(table))?;
    Ok(())
}
