//! `pg_catalog.pg_indexes`: the customer indexes (`CREATE INDEX`, `[[indexes]]`), one row
//! each, as PostgreSQL lists its own (psql's `\di` and BI tools' index views read it).

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, StringArray};
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::catalog::TableProvider;

use crate::catalog::system_tables::snapshot_table;
use crate::catalog::{Catalog, DEFAULT_SCHEMA};
use crate::error::Result;

/// The table, computed from the catalog at each scan.
pub fn table(catalog: &Arc<Catalog>) -> Result<Arc<dyn TableProvider>> {
    let text = |name: &str| Field::new(name, DataType::Utf8, true);
    snapshot_table(
        catalog,
        vec![
            text("schemaname"),
            text("tablename"),
            text("indexname"),
            text("tablespace"),
            text("indexdef"),
        ],
        rows,
    )
}

fn rows(catalog: &Catalog) -> Vec<ArrayRef> {
    let indexes = catalog.indexes().all();
    let column = |f: &dyn Fn(&crate::catalog::indexes::IndexDefinition) -> Option<String>| {
        Arc::new(StringArray::from(
            indexes
                .iter()
                .map(|h| f(h.definition()))
                .collect::<Vec<_>>(),
        )) as ArrayRef
    };
    vec![
        column(&|_| Some(DEFAULT_SCHEMA.to_string())),
        column(&|d| Some(d.dataset.clone())),
        column(&|d| Some(d.name.clone())),
        column(&|_| None),
        column(&|d| Some(d.indexdef())),
    ]
}
