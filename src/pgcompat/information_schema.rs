//! `information_schema.columns` as PostgreSQL shows it: SQL type names (`bigint`,
//! `timestamp with time zone`, `ARRAY`), `udt_name` (`int8`, `_text`), 1-based
//! `ordinal_position`, numeric precision and scale. DataFusion's own table reports Arrow type
//! names and 0-based positions, which Power BI, Grafana, Metabase, Npgsql and psycopg users
//! read. The table is computed from the live catalog at each scan, so saved segments appear
//! as soon as they are created. Queries reach it through the SQL rewrite of
//! `information_schema.columns` in the server.

use std::fmt;
use std::sync::Arc;

use super::types::Type;
use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, Int32Builder, RecordBatch, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{CatalogProviderList, Session, TableProvider};
use datafusion::datasource::MemTable;
use datafusion::error::Result;
use datafusion::logical_expr::{Expr, TableType};
use datafusion::physical_plan::ExecutionPlan;

/// The name the table is registered under in `pg_catalog` (the rewrite's target).
pub const TABLE_NAME: &str = "_segmint_information_schema_columns";

/// The prefix of the `pg_catalog` tables that `information_schema.<name>` is rewritten to.
pub const REWRITE_PREFIX: &str = "_segmint_information_schema_";

/// The `information_schema` views PostgreSQL has that DataFusion lacks, served from
/// `pg_catalog` under [`REWRITE_PREFIX`]: key and constraint views (empty: Parquet datasets
/// declare no keys, so BI tools find none rather than failing) and `character_sets`.
pub const EXTRA_VIEWS: &[&str] = &[
    "columns",
    "table_constraints",
    "key_column_usage",
    "referential_constraints",
    "constraint_column_usage",
    "check_constraints",
    "character_sets",
];

/// The extra views (all but `columns`) and `pg_catalog.pg_user`, as `(pg_catalog name, table)`.
pub fn extra_tables(database: &str) -> Result<Vec<(String, Arc<dyn TableProvider>)>> {
    let text = |names: &[&str]| -> Vec<Field> {
        names
            .iter()
            .map(|n| Field::new(*n, DataType::Utf8, true))
            .collect()
    };
    let empty = |mut fields: Vec<Field>, ints: &[&str]| -> Result<Arc<dyn TableProvider>> {
        for name in ints {
            fields.push(Field::new(*name, DataType::Int32, true));
        }
        let schema = Arc::new(Schema::new(fields));
        Ok(Arc::new(MemTable::try_new(schema, vec![vec![]])?) as Arc<dyn TableProvider>)
    };
    let constraint = ["constraint_catalog", "constraint_schema", "constraint_name"];
    let table = ["table_catalog", "table_schema", "table_name"];
    let mut tables = vec![
        (
            "table_constraints",
            empty(
                text(
                    &[
                        &constraint[..],
                        &table[..],
                        &[
                            "constraint_type",
                            "is_deferrable",
                            "initially_deferred",
                            "enforced",
                            "nulls_distinct",
                        ],
                    ]
                    .concat(),
                ),
                &[],
            )?,
        ),
        (
            "key_column_usage",
            empty(
                text(&[&constraint[..], &table[..], &["column_name"]].concat()),
                &["ordinal_position", "position_in_unique_constraint"],
            )?,
        ),
        (
            "referential_constraints",
            empty(
                text(
                    &[
                        &constraint[..],
                        &[
                            "unique_constraint_catalog",
                            "unique_constraint_schema",
                            "unique_constraint_name",
                            "match_option",
                            "update_rule",
                            "delete_rule",
                        ],
                    ]
                    .concat(),
                ),
                &[],
            )?,
        ),
        (
            "constraint_column_usage",
            empty(
                text(&[&table[..], &["column_name"], &constraint[..]].concat()),
                &[],
            )?,
        ),
        (
            "check_constraints",
            empty(text(&[&constraint[..], &["check_clause"]].concat()), &[])?,
        ),
    ];
    let charset_fields = text(&[
        "character_set_catalog",
        "character_set_schema",
        "character_set_name",
        "character_repertoire",
        "form_of_use",
        "default_collate_catalog",
        "default_collate_schema",
        "default_collate_name",
    ]);
    let charset_schema = Arc::new(Schema::new(charset_fields));
    let row: Vec<Option<&str>> = vec![
        None,
        None,
        Some("UTF8"),
        Some("UCS"),
        Some("UTF8"),
        Some(database),
        Some("pg_catalog"),
        Some("C"),
    ];
    let columns: Vec<ArrayRef> = row
        .into_iter()
        .map(|v| Arc::new(datafusion::arrow::array::StringArray::from(vec![v])) as ArrayRef)
        .collect();
    let batch = RecordBatch::try_new(charset_schema.clone(), columns)?;
    tables.push((
        "character_sets",
        Arc::new(MemTable::try_new(charset_schema, vec![vec![batch]])?) as Arc<dyn TableProvider>,
    ));
    let mut out: Vec<(String, Arc<dyn TableProvider>)> = tables
        .into_iter()
        .map(|(name, t)| (format!("{REWRITE_PREFIX}{name}"), t))
        .collect();
    // pg_user lists login roles; Segmint has none in its catalog yet (see pg_roles).
    let mut user_fields = text(&["usename"]);
    user_fields.push(Field::new("usesysid", DataType::Int32, true));
    for flag in ["usecreatedb", "usesuper", "userepl", "usebypassrls"] {
        user_fields.push(Field::new(flag, DataType::Boolean, true));
    }
    user_fields.extend(text(&["passwd", "valuntil"]));
    user_fields.push(Field::new(
        "useconfig",
        DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
        true,
    ));
    out.push(("pg_user".to_string(), empty(user_fields, &[])?));
    Ok(out)
}

/// The PostgreSQL-typed `information_schema.columns`.
pub struct PgColumns {
    catalogs: Arc<dyn CatalogProviderList>,
    schema: SchemaRef,
}

impl fmt::Debug for PgColumns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PgColumns")
    }
}

impl PgColumns {
    /// The table over `catalogs` (shared by every session).
    pub fn new(catalogs: Arc<dyn CatalogProviderList>) -> Self {
        let text = |name: &str| Field::new(name, DataType::Utf8, true);
        let int = |name: &str| Field::new(name, DataType::Int32, true);
        let schema = Arc::new(Schema::new(vec![
            text("table_catalog"),
            text("table_schema"),
            text("table_name"),
            text("column_name"),
            int("ordinal_position"),
            text("column_default"),
            text("is_nullable"),
            text("data_type"),
            int("character_maximum_length"),
            int("character_octet_length"),
            int("numeric_precision"),
            int("numeric_precision_radix"),
            int("numeric_scale"),
            int("datetime_precision"),
            text("interval_type"),
            text("udt_catalog"),
            text("udt_schema"),
            text("udt_name"),
            text("dtd_identifier"),
            text("is_identity"),
            text("is_generated"),
            text("is_updatable"),
        ]));
        PgColumns { catalogs, schema }
    }

    async fn batch(&self) -> Result<RecordBatch> {
        let mut cols: Vec<Builder> = self
            .schema
            .fields()
            .iter()
            .map(|f| Builder::new(f.data_type()))
            .collect();
        for catalog_name in self.catalogs.catalog_names() {
            let Some(catalog) = self.catalogs.catalog(&catalog_name) else {
                continue;
            };
            for schema_name in catalog.schema_names() {
                let Some(schema) = catalog.schema(&schema_name) else {
                    continue;
                };
                let mut tables = schema.table_names();
                tables.sort();
                for table_name in tables {
                    let Ok(Some(table)) = schema.table(&table_name).await else {
                        continue;
                    };
                    for (i, field) in table.schema().fields().iter().enumerate() {
                        let t = describe(field.data_type());
                        let position = i as i32 + 1;
                        let values: [Value; 22] = [
                            Value::Text(Some(catalog_name.clone())),
                            Value::Text(Some(schema_name.clone())),
                            Value::Text(Some(table_name.clone())),
                            Value::Text(Some(field.name().clone())),
                            Value::Int(Some(position)),
                            Value::Text(None),
                            Value::Text(Some(
                                if field.is_nullable() { "YES" } else { "NO" }.into(),
                            )),
                            Value::Text(Some(t.data_type)),
                            Value::Int(None),
                            Value::Int(t.octet_length),
                            Value::Int(t.precision),
                            Value::Int(t.radix),
                            Value::Int(t.scale),
                            Value::Int(t.datetime_precision),
                            Value::Text(None),
                            Value::Text(Some(catalog_name.clone())),
                            Value::Text(Some("pg_catalog".into())),
                            Value::Text(Some(t.udt_name)),
                            Value::Text(Some(position.to_string())),
                            Value::Text(Some("NO".into())),
                            Value::Text(Some("NEVER".into())),
                            Value::Text(Some("NO".into())),
                        ];
                        for (builder, value) in cols.iter_mut().zip(values) {
                            builder.push(value);
                        }
                    }
                }
            }
        }
        let arrays: Vec<ArrayRef> = cols.into_iter().map(Builder::finish).collect();
        Ok(RecordBatch::try_new(self.schema.clone(), arrays)?)
    }
}

enum Value {
    Text(Option<String>),
    Int(Option<i32>),
}

enum Builder {
    Text(StringBuilder),
    Int(Int32Builder),
}

impl Builder {
    fn new(data_type: &DataType) -> Builder {
        match data_type {
            DataType::Int32 => Builder::Int(Int32Builder::new()),
            _ => Builder::Text(StringBuilder::new()),
        }
    }

    fn push(&mut self, value: Value) {
        match (self, value) {
            (Builder::Text(b), Value::Text(v)) => b.append_option(v),
            (Builder::Int(b), Value::Int(v)) => b.append_option(v),
            (Builder::Text(b), Value::Int(v)) => b.append_option(v.map(|v| v.to_string())),
            (Builder::Int(b), Value::Text(_)) => b.append_null(),
        }
    }

    fn finish(self) -> ArrayRef {
        match self {
            Builder::Text(mut b) => Arc::new(b.finish()),
            Builder::Int(mut b) => Arc::new(b.finish()),
        }
    }
}

/// How `information_schema` describes one column type.
struct ColumnType {
    data_type: String,
    udt_name: String,
    precision: Option<i32>,
    radix: Option<i32>,
    scale: Option<i32>,
    datetime_precision: Option<i32>,
    octet_length: Option<i32>,
}

fn describe(data_type: &DataType) -> ColumnType {
    let pg = super::types::pg_type(data_type).unwrap_or(Type::TEXT);
    let udt_name = pg.name().to_string();
    let sql_name = match pg {
        Type::INT2 => "smallint",
        Type::INT4 => "integer",
        Type::INT8 => "bigint",
        Type::FLOAT4 => "real",
        Type::FLOAT8 => "double precision",
        Type::NUMERIC => "numeric",
        Type::BOOL => "boolean",
        Type::TEXT => "text",
        Type::VARCHAR => "character varying",
        Type::BPCHAR => "character",
        Type::DATE => "date",
        Type::TIME => "time without time zone",
        Type::TIMESTAMP => "timestamp without time zone",
        Type::TIMESTAMPTZ => "timestamp with time zone",
        Type::INTERVAL => "interval",
        Type::BYTEA => "bytea",
        Type::UUID => "uuid",
        Type::JSON => "json",
        Type::JSONB => "jsonb",
        Type::OID => "oid",
        Type::NAME => "name",
        Type::CHAR => "\"char\"",
        ref t if t.name().starts_with('_') => "ARRAY",
        _ => "USER-DEFINED",
    }
    .to_string();
    let (precision, radix, scale) = match data_type {
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => (Some(16), Some(2), Some(0)),
        DataType::Int32 | DataType::UInt16 => (Some(32), Some(2), Some(0)),
        DataType::Int64 | DataType::UInt32 => (Some(64), Some(2), Some(0)),
        DataType::Float16 | DataType::Float32 => (Some(24), Some(2), None),
        DataType::Float64 => (Some(53), Some(2), None),
        DataType::Decimal128(p, s) | DataType::Decimal256(p, s) => {
            (Some(*p as i32), Some(10), Some(*s as i32))
        }
        _ => (None, None, None),
    };
    let datetime_precision = match data_type {
        DataType::Date32 | DataType::Date64 => Some(0),
        DataType::Timestamp(_, _) | DataType::Time32(_) | DataType::Time64(_) => Some(6),
        DataType::Interval(_) => Some(6),
        _ => None,
    };
    let octet_length = matches!(pg, Type::TEXT | Type::VARCHAR).then_some(1_073_741_824);
    ColumnType {
        data_type: sql_name,
        udt_name,
        precision,
        radix,
        scale,
        datetime_precision,
        octet_length,
    }
}

#[async_trait]
impl TableProvider for PgColumns {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let batch = self.batch().await?;
        MemTable::try_new(self.schema.clone(), vec![vec![batch]])?
            .scan(state, projection, filters, limit)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::TimeUnit;

    #[test]
    fn arrow_types_are_described_with_postgres_names() {
        let ts = describe(&DataType::Timestamp(
            TimeUnit::Microsecond,
            Some("UTC".into()),
        ));
        assert_eq!(
            (ts.data_type.as_str(), ts.udt_name.as_str()),
            ("timestamp with time zone", "timestamptz")
        );
        let money = describe(&DataType::Decimal128(12, 2));
        assert_eq!(
            (money.data_type.as_str(), money.precision, money.scale),
            ("numeric", Some(12), Some(2))
        );
        let tags = describe(&DataType::List(Arc::new(Field::new(
            "item",
            DataType::Utf8,
            true,
        ))));
        assert_eq!(
            (tags.data_type.as_str(), tags.udt_name.as_str()),
            ("ARRAY", "_text")
        );
        assert_eq!(describe(&DataType::Utf8View).data_type, "text");
    }
}
