//! Catalog tables reshaped to what PostgreSQL clients read: the bundled `pg_catalog` keeps
//! some columns as text where PostgreSQL has OIDs or integer vectors, and lacks the `xmin`
//! system column.
//!
//! - `pg_type`'s function columns (`typinput`, `typreceive`...) become `regproc` OIDs, which
//!   drivers compare with `'array_in'::regproc` (pgjdbc's type info, Npgsql's type loading);
//! - the `int2vector` / `oidvector` columns of `pg_constraint` and `pg_index` become integer
//!   arrays, so `= ANY(conkey)` and `unnest(conkey)` work (SQLAlchemy, Metabase, pgjdbc);
//! - the tables DataGrip reads get `xmin`, and `pg_class` gets `reloptions`.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Int32Array, Int32Builder, ListBuilder, RecordBatch, StringArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Int32Type, Schema, SchemaRef};
use datafusion::catalog::view::ViewTable;
use datafusion::catalog::{SchemaProvider, TableProvider};
use datafusion::common::{Column, DataFusionError, ScalarValue};
use datafusion::datasource::{MemTable, provider_as_source};
use datafusion::error::Result;
use datafusion::logical_expr::{LogicalPlanBuilder, col, lit};
use datafusion::prelude::SessionContext;

/// `pg_type`'s columns that name functions (`regproc`).
const REGPROC_COLUMNS: &[&str] = &[
    "typinput",
    "typoutput",
    "typreceive",
    "typsend",
    "typmodin",
    "typmodout",
    "typanalyze",
    "typsubscript",
];

/// Columns PostgreSQL stores as `int2vector` / `oidvector` / `smallint[]`.
const INT_VECTORS: &[(&str, &[&str])] = &[
    (
        "pg_constraint",
        &[
            "conkey",
            "confkey",
            "conpfeqop",
            "conppeqop",
            "conffeqop",
            "conexclop",
        ],
    ),
    (
        "pg_index",
        &["indkey", "indcollation", "indclass", "indoption"],
    ),
];

/// Catalog tables given PostgreSQL's `xmin` system column (DataGrip reads it as a row
/// version to refresh its cache incrementally).
const WITH_XMIN: &[&str] = &[
    "pg_class",
    "pg_namespace",
    "pg_type",
    "pg_attribute",
    "pg_constraint",
    "pg_proc",
    "pg_tablespace",
    "pg_index",
    "pg_database",
    "pg_trigger",
    "pg_description",
];

/// `pg_type` with its function columns as `regproc` OIDs looked up in `pg_proc`.
pub async fn pg_type_with_regproc_oids(
    ctx: &SessionContext,
    pg_catalog: &Arc<dyn SchemaProvider>,
    pg_proc: &[RecordBatch],
    pg_proc_schema: &SchemaRef,
) -> Result<Arc<dyn TableProvider>> {
    let pg_type = pg_catalog
        .table("pg_type")
        .await?
        .ok_or_else(|| DataFusionError::Plan("pg_catalog.pg_type not found".into()))?;
    let names = pg_proc_schema.index_of("proname")?;
    let oids = pg_proc_schema.index_of("oid")?;
    let mut by_name: HashMap<String, i32> = HashMap::new();
    for batch in pg_proc {
        let name = cast(batch.column(names), &DataType::Utf8)?;
        let oid = cast(batch.column(oids), &DataType::Int32)?;
        let (name, oid) = (name.as_string::<i32>(), oid.as_primitive::<Int32Type>());
        for row in 0..batch.num_rows() {
            if name.is_valid(row) && oid.is_valid(row) {
                by_name
                    .entry(name.value(row).to_string())
                    .or_insert(oid.value(row));
            }
        }
    }
    let regproc = Field::new("", DataType::Int32, true).with_metadata(HashMap::from([(
        super::types::OID_ALIAS_KEY.to_string(),
        "regproc".to_string(),
    )]));
    retype_text_columns(ctx, pg_type, REGPROC_COLUMNS, &regproc, |text| {
        let oids: Int32Array = text
            .iter()
            .map(|name| {
                let name = name?;
                let name = name.rsplit('.').next().unwrap_or(name);
                Some(by_name.get(name).copied().unwrap_or(0))
            })
            .collect();
        Arc::new(oids)
    })
    .await
}

/// Adds the integer-vector columns, `xmin` and `reloptions` to the catalog tables, on top of
/// the tables already in `overrides`.
pub async fn add_system_columns(
    ctx: &SessionContext,
    pg_catalog: &Arc<dyn SchemaProvider>,
    overrides: &mut HashMap<String, Arc<dyn TableProvider>>,
) -> Result<()> {
    let item = Arc::new(Field::new("item", DataType::Int32, true));
    let int_list = Field::new("", DataType::List(item), true);
    for (name, columns) in INT_VECTORS {
        if let Some(table) = current(pg_catalog, overrides, name).await? {
            let table = retype_text_columns(ctx, table, columns, &int_list, int_vector).await?;
            overrides.insert(name.to_string(), table);
        }
    }
    for name in WITH_XMIN {
        if let Some(table) = current(pg_catalog, overrides, name).await? {
            overrides.insert(name.to_string(), with_xmin(name, table)?);
        }
    }
    Ok(())
}

/// The table as served so far: an override, else the bundled one.
async fn current(
    pg_catalog: &Arc<dyn SchemaProvider>,
    overrides: &HashMap<String, Arc<dyn TableProvider>>,
    name: &str,
) -> Result<Option<Arc<dyn TableProvider>>> {
    match overrides.get(name) {
        Some(table) => Ok(Some(table.clone())),
        None => pg_catalog.table(name).await,
    }
}

/// `table` with its text columns named in `columns` converted by `convert` to the type of
/// `to` (keeping each column's name).
async fn retype_text_columns(
    ctx: &SessionContext,
    table: Arc<dyn TableProvider>,
    columns: &[&str],
    to: &Field,
    convert: impl Fn(&StringArray) -> ArrayRef,
) -> Result<Arc<dyn TableProvider>> {
    let schema = table.schema();
    let is_text = |f: &Field| {
        columns.contains(&f.name().as_str())
            && matches!(
                f.data_type(),
                DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8
            )
    };
    if !schema.fields().iter().any(|f| is_text(f)) {
        return Ok(table);
    }
    let retyped = Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| match is_text(f) {
                true => to.clone().with_name(f.name()),
                false => f.as_ref().clone(),
            })
            .collect::<Vec<_>>(),
    ));
    let mut batches = Vec::new();
    for batch in ctx.read_table(table)?.collect().await? {
        let mut arrays = Vec::with_capacity(batch.num_columns());
        for (i, field) in schema.fields().iter().enumerate() {
            if is_text(field) {
                let text = cast(batch.column(i), &DataType::Utf8)?;
                arrays.push(convert(text.as_string::<i32>()));
            } else {
                arrays.push(batch.column(i).clone());
            }
        }
        batches.push(RecordBatch::try_new(retyped.clone(), arrays)?);
    }
    Ok(Arc::new(MemTable::try_new(retyped, vec![batches])?))
}

/// Integer vectors in their text forms (`'1 3'`, `'{1,3}'`, `'[1, 3]'`) as integer arrays.
fn int_vector(text: &StringArray) -> ArrayRef {
    let mut lists = ListBuilder::new(Int32Builder::new());
    for value in text.iter() {
        let Some(value) = value else {
            lists.append_null();
            continue;
        };
        let parts = value
            .split(|c: char| c.is_whitespace() || matches!(c, ',' | '{' | '}' | '[' | ']'))
            .filter(|p| !p.is_empty());
        for part in parts {
            lists.values().append_option(part.parse::<i32>().ok());
        }
        lists.append(true);
    }
    Arc::new(lists.finish())
}

/// `table` with an `xmin` column (and `pg_class` with `reloptions`): every catalog row was
/// written by the same transaction, so `xmin` is the constant 1, and Parquet datasets have no
/// storage options. A view, so dynamic tables (`pg_class`) stay current.
fn with_xmin(name: &str, table: Arc<dyn TableProvider>) -> Result<Arc<dyn TableProvider>> {
    let schema = table.schema();
    if schema.field_with_name("xmin").is_ok() {
        return Ok(table);
    }
    let scan = LogicalPlanBuilder::scan(name, provider_as_source(table.clone()), None)?;
    let mut columns: Vec<_> = schema
        .fields()
        .iter()
        .map(|f| col(Column::new(Some(name), f.name())))
        .collect();
    columns.push(lit(1i32).alias("xmin"));
    if name == "pg_class" && schema.field_with_name("reloptions").is_err() {
        let item = Arc::new(Field::new("item", DataType::Utf8, true));
        columns.push(lit(ScalarValue::try_from(DataType::List(item))?).alias("reloptions"));
    }
    let plan = scan.project(columns)?.build()?;
    Ok(Arc::new(ViewTable::new(plan, None)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_vectors_parse_in_every_text_form() {
        let text = StringArray::from(vec![Some("1 3"), Some("{2,4}"), Some("[5]"), None]);
        let lists = int_vector(&text);
        let lists = lists.as_list::<i32>();
        let values =
            |i: usize| -> Vec<i32> { lists.value(i).as_primitive::<Int32Type>().values().to_vec() };
        assert_eq!(
            (values(0), values(1), values(2)),
            (vec![1, 3], vec![2, 4], vec![5])
        );
        assert!(lists.is_null(3));
    }
}
