//! `segmint.model` (the contract, and which columns this shop provides) and
//! `segmint.entities` (where each entity comes from and whether it is valid), replaced each
//! time the model is built.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BooleanArray, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;

use super::{Model, SCHEMA as MODEL_SCHEMA, contract};
use crate::error::Result;

/// The schema both tables live in.
const SCHEMA: &str = "segmint";

/// Registers (or replaces) `segmint.model` and `segmint.entities` for `model`.
pub fn register(ctx: &SessionContext, model: &Model) -> Result<()> {
    let Some(schema) = crate::catalog::new_schema(ctx, SCHEMA)? else {
        return Ok(());
    };
    let text = |name: &str| Field::new(name, DataType::Utf8, true);
    let flag = |name: &str| Field::new(name, DataType::Boolean, false);

    let mut rows: [Vec<Option<String>>; 6] = Default::default();
    let mut required = Vec::new();
    let mut provided = Vec::new();
    for entity in contract::ENTITIES {
        let status = model.entity(entity.name);
        for column in entity.columns {
            rows[0].push(Some(entity.name.to_string()));
            rows[1].push(Some(column.name.to_string()));
            rows[2].push(Some(column.kind.accepted().to_string()));
            rows[3].push(Some(column.meaning.to_string()));
            rows[4].push(match column.missing {
                _ if column.required => None,
                contract::Missing::Null => Some("NULL".to_string()),
                contract::Missing::Expression(sql) => Some(sql.to_string()),
            });
            rows[5].push(
                status
                    .and_then(|s| s.types.get(column.name))
                    .map(super::sql_type_name),
            );
            required.push(column.required);
            provided.push(status.is_some_and(|s| s.provided.contains(column.name)));
        }
    }
    let [entity, column, accepted, meaning, missing, served] =
        rows.map(|r| Arc::new(StringArray::from(r)) as ArrayRef);
    let contract_schema = Arc::new(Schema::new(vec![
        text("entity"),
        text("column_name"),
        text("accepted_types"),
        flag("required"),
        text("meaning"),
        text("when_missing"),
        flag("provided"),
        text("served_type"),
    ]));
    let batch = RecordBatch::try_new(
        contract_schema.clone(),
        vec![
            entity,
            column,
            accepted,
            Arc::new(BooleanArray::from(required)),
            meaning,
            missing,
            Arc::new(BooleanArray::from(provided)),
            served,
        ],
    )?;
    replace(
        &schema,
        "model",
        MemTable::try_new(contract_schema, vec![vec![batch]])?,
    )?;

    let statuses = model.entities();
    let entities_schema = Arc::new(Schema::new(vec![
        text("entity"),
        text("view"),
        text("source"),
        text("status"),
        text("error"),
    ]));
    let column = |f: &dyn Fn(&super::EntityStatus) -> Option<String>| -> ArrayRef {
        Arc::new(StringArray::from(
            statuses.iter().map(f).collect::<Vec<_>>(),
        ))
    };
    let batch = RecordBatch::try_new(
        entities_schema.clone(),
        vec![
            column(&|s| Some(s.entity.name.to_string())),
            column(&|s| Some(format!("{MODEL_SCHEMA}.{}", s.entity.name))),
            column(&|s| Some(s.source.to_string())),
            column(&|s| Some(s.state().to_string())),
            column(&|s| s.error.clone()),
        ],
    )?;
    replace(
        &schema,
        "entities",
        MemTable::try_new(entities_schema, vec![vec![batch]])?,
    )?;
    Ok(())
}

fn replace(
    schema: &Arc<dyn datafusion::catalog::SchemaProvider>,
    name: &str,
    table: MemTable,
) -> Result<()> {
    schema.deregister_table(name)?;
    schema.register_table(name.to_string(), Arc::new(table))?;
    Ok(())
}
