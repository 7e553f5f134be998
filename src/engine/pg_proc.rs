//! Makes the CRM functions visible to catalog queries, so psql's `\df` and the function
//! browsers of BI tools list them like PostgreSQL lists user functions.
//!
//! `datafusion-pg-catalog` ships `pg_catalog.pg_proc` as PostgreSQL's own built-in functions
//! (all in namespace `pg_catalog`). We overlay that schema with a `pg_proc` that also holds one
//! row per Segmint function in `public`, and add the `pg_function_is_visible`,
//! `pg_get_function_result` and `pg_get_function_arguments` helpers `\df` calls.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int16Array, Int32Array, RecordBatch, StringArray,
    new_null_array,
};
use datafusion::arrow::datatypes::{DataType, Int32Type};
use datafusion::catalog::{SchemaProvider, TableProvider};
use datafusion::common::{ScalarValue, exec_err};
use datafusion::datasource::MemTable;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{ColumnarValue, Signature, TypeSignature, Volatility, create_udf};
use datafusion::prelude::SessionContext;

/// First oid given to Segmint functions (above PostgreSQL's and the dynamic catalog range).
const FIRST_FUNCTION_OID: i32 = 900_000;

/// One row of `pg_proc` for a Segmint function.
#[derive(Debug, Clone)]
struct FunctionEntry {
    oid: i32,
    name: String,
    kind: &'static str,
    result: String,
    arguments: String,
    nargs: i16,
    description: Option<String>,
}

fn pg_type_name(data_type: &DataType) -> String {
    arrow_pg::datatypes::into_pg_type(data_type)
        .map(|t| t.name().to_string())
        .unwrap_or_else(|_| "any".to_string())
}

fn describe_signature(signature: &Signature) -> (String, i16, Option<Vec<DataType>>) {
    match &signature.type_signature {
        TypeSignature::Exact(types) => (
            types
                .iter()
                .map(pg_type_name)
                .collect::<Vec<_>>()
                .join(", "),
            types.len() as i16,
            Some(types.clone()),
        ),
        TypeSignature::Nullary => (String::new(), 0, Some(vec![])),
        TypeSignature::OneOf(options) => options
            .first()
            .map(|first| describe_signature(&Signature::new(first.clone(), Volatility::Immutable)))
            .unwrap_or((String::new(), 0, None)),
        TypeSignature::Any(n) => (vec!["any"; *n].join(", "), *n as i16, None),
        _ => ("any".to_string(), -1, None),
    }
}

fn function_entries() -> Vec<FunctionEntry> {
    use segmint_udfs::CrmFunction;
    segmint_udfs::all_functions()
        .iter()
        .enumerate()
        .map(|(i, function)| {
            let (kind, signature, result) = match function {
                CrmFunction::Scalar(f) => (
                    "f",
                    Some(f.signature()),
                    result_of(f.signature(), |t| f.return_type(t)),
                ),
                CrmFunction::Aggregate(f) => (
                    "a",
                    Some(f.signature()),
                    result_of(f.signature(), |t| f.return_type(t)),
                ),
                CrmFunction::Window(f) => ("w", Some(f.signature()), None),
                CrmFunction::Table(_) => ("f", None, Some("SETOF record".to_string())),
            };
            let (mut arguments, mut nargs, _) =
                signature
                    .map(describe_signature)
                    .unwrap_or(("any".into(), -1, None));
            let documentation = function.documentation();
            // Signatures checked in code (not by exact types) are shown by their documented names.
            if let Some(names) = documentation
                .and_then(|d| d.arguments.as_ref())
                .filter(|_| arguments == "any")
            {
                arguments = names
                    .iter()
                    .map(|(name, _)| name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ");
                nargs = names.len() as i16;
            }
            FunctionEntry {
                oid: FIRST_FUNCTION_OID + i as i32,
                name: function.name().to_string(),
                kind,
                result: result.unwrap_or_else(|| "any".to_string()),
                arguments,
                nargs: nargs.max(0),
                description: documentation.map(|d| d.description.clone()),
            }
        })
        .collect()
}

fn result_of(
    signature: &Signature,
    return_type: impl Fn(&[DataType]) -> Result<DataType>,
) -> Option<String> {
    let (_, _, exact) = describe_signature(signature);
    exact
        .and_then(|types| return_type(&types).ok())
        .map(|t| pg_type_name(&t))
}

/// Installs the overlay and helper functions into `ctx` (whose pg_catalog is already set up).
pub async fn install(ctx: &SessionContext, database: &str) -> Result<()> {
    let catalog = ctx
        .catalog(database)
        .ok_or_else(|| DataFusionError::Plan(format!("catalog {database} not found")))?;
    let Some(pg_catalog) = catalog.schema("pg_catalog") else {
        return exec_err!("pg_catalog is not installed");
    };
    let public_oid = namespace_oid(ctx, crate::engine::DEFAULT_SCHEMA).await?;
    let entries = function_entries();

    let original = pg_catalog
        .table("pg_proc")
        .await?
        .ok_or_else(|| DataFusionError::Plan("pg_catalog.pg_proc not found".into()))?;
    let mut batches = ctx.read_table(original.clone())?.collect().await?;
    let schema = original.schema();
    if !entries.is_empty() {
        batches.push(entries_batch(&schema, &entries, public_oid)?);
    }
    let (schema, batches) = with_acl_arrays(schema, batches)?;
    let pg_type = regproc_oids(ctx, &pg_catalog, &batches, &schema).await?;
    let pg_proc: Arc<dyn TableProvider> = Arc::new(MemTable::try_new(schema, vec![batches])?);
    let mut overrides: HashMap<String, Arc<dyn TableProvider>> = HashMap::from([
        ("pg_proc".to_string(), pg_proc),
        ("pg_type".to_string(), pg_type),
        (
            super::information_schema::TABLE_NAME.to_string(),
            Arc::new(super::information_schema::PgColumns::new(
                ctx.state().catalog_list().clone(),
            )) as Arc<dyn TableProvider>,
        ),
    ]);
    overrides.extend(super::information_schema::extra_tables(database)?);
    for (name, columns) in INT_VECTORS {
        let base = match overrides.get(*name) {
            Some(table) => Some(table.clone()),
            None => pg_catalog.table(name).await?,
        };
        if let Some(base) = base {
            overrides.insert(name.to_string(), int_vectors(ctx, base, columns).await?);
        }
    }
    for name in WITH_XMIN {
        let base = match overrides.get(*name) {
            Some(table) => Some(table.clone()),
            None => pg_catalog.table(name).await?,
        };
        if let Some(base) = base {
            overrides.insert(name.to_string(), with_xmin(name, base)?);
        }
    }
    let overlay = OverlaySchema {
        inner: pg_catalog,
        overrides,
    };
    catalog.register_schema("pg_catalog", Arc::new(overlay))?;

    let by_oid: Arc<HashMap<i32, FunctionEntry>> =
        Arc::new(entries.into_iter().map(|e| (e.oid, e)).collect());
    ctx.register_udf(create_udf(
        "pg_function_is_visible",
        vec![DataType::Int32],
        DataType::Boolean,
        Volatility::Stable,
        Arc::new(|args: &[ColumnarValue]| {
            Ok(match &args[0] {
                ColumnarValue::Array(a) => ColumnarValue::Array(Arc::new(
                    (0..a.len())
                        .map(|i| a.is_valid(i).then_some(true))
                        .collect::<BooleanArray>(),
                )),
                ColumnarValue::Scalar(s) => {
                    ColumnarValue::Scalar(ScalarValue::Boolean((!s.is_null()).then_some(true)))
                }
            })
        }),
    ));
    let lookup = |name: &str, field: fn(&FunctionEntry) -> String| {
        let by_oid = by_oid.clone();
        create_udf(
            name,
            vec![DataType::Int32],
            DataType::Utf8,
            Volatility::Stable,
            Arc::new(move |args: &[ColumnarValue]| {
                let oids = args[0].to_array(1)?;
                let oids = oids.as_primitive::<Int32Type>();
                let texts: StringArray = oids
                    .iter()
                    .map(|oid| oid.and_then(|oid| by_oid.get(&oid)).map(field))
                    .collect();
                Ok(ColumnarValue::Array(Arc::new(texts) as ArrayRef))
            }),
        )
    };
    ctx.register_udf(obj_description(by_oid.clone()));
    ctx.register_udf(lookup("pg_get_function_result", |e| e.result.clone()));
    // Segmint functions are built in, not SQL-bodied: psql's `\\df+` shows no body.
    ctx.register_udf(lookup("pg_get_function_sqlbody", |_| String::new()));
    ctx.register_udf(lookup("pg_get_function_arguments", |e| e.arguments.clone()));
    ctx.register_udf(lookup("pg_get_function_identity_arguments", |e| {
        e.arguments.clone()
    }));
    Ok(())
}

/// `obj_description(oid [, catalog])`: the documentation of Segmint functions (psql's `\\df+`
/// Description column); NULL for every other object, as PostgreSQL gives for undocumented ones.
fn obj_description(
    by_oid: Arc<HashMap<i32, FunctionEntry>>,
) -> datafusion::logical_expr::ScalarUDF {
    use datafusion::logical_expr::{ScalarUDF, SimpleScalarUDF, TypeSignature};
    let signature = Signature::one_of(
        vec![
            TypeSignature::Exact(vec![DataType::Int32]),
            TypeSignature::Exact(vec![DataType::Int32, DataType::Utf8]),
        ],
        Volatility::Stable,
    );
    ScalarUDF::from(SimpleScalarUDF::new_with_signature(
        "obj_description",
        signature,
        DataType::Utf8,
        Arc::new(move |args: &[ColumnarValue]| {
            let oids = args[0].to_array(1)?;
            let oids = oids.as_primitive::<Int32Type>();
            let texts: StringArray = oids
                .iter()
                .map(|oid| {
                    oid.and_then(|oid| by_oid.get(&oid))
                        .and_then(|e| e.description.clone())
                })
                .collect();
            Ok(ColumnarValue::Array(Arc::new(texts) as ArrayRef))
        }),
    ))
}

async fn namespace_oid(ctx: &SessionContext, name: &str) -> Result<i32> {
    let batches = ctx
        .sql(&format!(
            "SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = '{name}'"
        ))
        .await?
        .collect()
        .await?;
    batches
        .iter()
        .find(|b| b.num_rows() > 0)
        .and_then(|b| {
            b.column(0)
                .as_primitive_opt::<Int32Type>()
                .map(|a| a.value(0))
        })
        .ok_or_else(|| DataFusionError::Plan(format!("namespace {name} has no oid")))
}

/// `proacl` as PostgreSQL types it (`aclitem[]`, here text[]; NULL means default privileges),
/// so psql's `\\df+` can call `array_to_string(p.proacl, ...)` on it.
fn with_acl_arrays(
    schema: datafusion::arrow::datatypes::SchemaRef,
    batches: Vec<RecordBatch>,
) -> Result<(datafusion::arrow::datatypes::SchemaRef, Vec<RecordBatch>)> {
    use datafusion::arrow::datatypes::{Field, Schema};
    let Ok(index) = schema.index_of("proacl") else {
        return Ok((schema, batches));
    };
    let list = DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true)));
    let mut fields: Vec<_> = schema.fields().iter().cloned().collect();
    fields[index] = Arc::new(Field::new("proacl", list.clone(), true));
    let schema = Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()));
    let batches = batches
        .into_iter()
        .map(|batch| {
            let mut columns = batch.columns().to_vec();
            columns[index] = new_null_array(&list, batch.num_rows());
            RecordBatch::try_new(schema.clone(), columns)
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok((schema, batches))
}

/// Builds `pg_proc` rows in the static table's schema: known columns filled, the rest null
/// (or their type's default where the column is not nullable).
fn entries_batch(
    schema: &datafusion::arrow::datatypes::SchemaRef,
    entries: &[FunctionEntry],
    namespace: i32,
) -> Result<RecordBatch> {
    let n = entries.len();
    let text = |f: fn(&FunctionEntry) -> String| -> ArrayRef {
        Arc::new(entries.iter().map(|e| Some(f(e))).collect::<StringArray>())
    };
    let int = |f: fn(&FunctionEntry) -> i32| -> ArrayRef {
        Arc::new(entries.iter().map(f).collect::<Int32Array>())
    };
    let columns = schema
        .fields()
        .iter()
        .map(|field| -> Result<ArrayRef> {
            let known: Option<ArrayRef> = match field.name().as_str() {
                "oid" => Some(int(|e| e.oid)),
                "proname" => Some(text(|e| e.name.clone())),
                "pronamespace" => Some(Arc::new(Int32Array::from(vec![namespace; n]))),
                "prokind" => Some(text(|e| e.kind.to_string())),
                "provolatile" => Some(text(|_| "i".to_string())),
                "proparallel" => Some(text(|_| "s".to_string())),
                "prosrc" => Some(text(|e| e.name.clone())),
                "proargtypes" => Some(text(|_| String::new())),
                "pronargs" => Some(Arc::new(
                    entries.iter().map(|e| e.nargs).collect::<Int16Array>(),
                )),
                "prolang" => Some(Arc::new(Int32Array::from(vec![12; n]))),
                _ => None,
            };
            match known {
                Some(array) if array.data_type() == field.data_type() => Ok(array),
                Some(array) => Ok(datafusion::arrow::compute::cast(&array, field.data_type())?),
                None if field.is_nullable() => Ok(new_null_array(field.data_type(), n)),
                None => ScalarValue::new_default(field.data_type())?.to_array_of_size(n),
            }
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// A schema that serves some tables from `overrides` and the rest from `inner`.
#[derive(Debug)]
struct OverlaySchema {
    inner: Arc<dyn SchemaProvider>,
    overrides: HashMap<String, Arc<dyn TableProvider>>,
}

#[async_trait]
impl SchemaProvider for OverlaySchema {
    fn table_names(&self) -> Vec<String> {
        self.inner.table_names()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        match self.overrides.get(name) {
            Some(table) => Ok(Some(table.clone())),
            None => self.inner.table(name).await,
        }
    }

    fn table_exist(&self, name: &str) -> bool {
        self.overrides.contains_key(name) || self.inner.table_exist(name)
    }
}

/// `pg_type` with its function columns (`typinput`, `typreceive`...) as `regproc` OIDs, as
/// PostgreSQL has them: drivers compare them with `'array_in'::regproc` (pgjdbc's type info,
/// Npgsql's type loading). The bundled table stores function names there.
async fn regproc_oids(
    ctx: &SessionContext,
    pg_catalog: &Arc<dyn SchemaProvider>,
    pg_proc: &[RecordBatch],
    pg_proc_schema: &datafusion::arrow::datatypes::SchemaRef,
) -> Result<Arc<dyn TableProvider>> {
    use datafusion::arrow::array::{Array, AsArray, Int32Array};
    use datafusion::arrow::datatypes::{Field, Schema};
    let original = pg_catalog
        .table("pg_type")
        .await?
        .ok_or_else(|| DataFusionError::Plan("pg_catalog.pg_type not found".into()))?;
    let names = pg_proc_schema.index_of("proname")?;
    let oids = pg_proc_schema.index_of("oid")?;
    let mut by_name: HashMap<String, i32> = HashMap::new();
    for batch in pg_proc {
        let name = datafusion::arrow::compute::cast(batch.column(names), &DataType::Utf8)?;
        let oid = datafusion::arrow::compute::cast(batch.column(oids), &DataType::Int32)?;
        let (name, oid) = (name.as_string::<i32>(), oid.as_primitive::<Int32Type>());
        for row in 0..batch.num_rows() {
            if name.is_valid(row) && oid.is_valid(row) {
                by_name
                    .entry(name.value(row).to_string())
                    .or_insert(oid.value(row));
            }
        }
    }
    let batches = ctx.read_table(original.clone())?.collect().await?;
    let schema = original.schema();
    let columns = [
        "typinput",
        "typoutput",
        "typreceive",
        "typsend",
        "typmodin",
        "typmodout",
        "typanalyze",
        "typsubscript",
    ];
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| {
            if columns.contains(&f.name().as_str()) && f.data_type() != &DataType::Int32 {
                Field::new(f.name(), DataType::Int32, true).with_metadata(HashMap::from([(
                    arrow_pg::datatypes::PG_OID_ALIAS_KEY.to_string(),
                    "regproc".to_string(),
                )]))
            } else {
                f.as_ref().clone()
            }
        })
        .collect();
    let new_schema = Arc::new(Schema::new(fields));
    let mut converted = Vec::with_capacity(batches.len());
    for batch in batches {
        let mut arrays = Vec::with_capacity(batch.num_columns());
        for (i, field) in schema.fields().iter().enumerate() {
            let column = batch.column(i);
            if new_schema.field(i).data_type() == field.data_type() {
                arrays.push(column.clone());
                continue;
            }
            let text = datafusion::arrow::compute::cast(column, &DataType::Utf8)?;
            let text = text.as_string::<i32>();
            let mapped: Int32Array = (0..text.len())
                .map(|row| {
                    if text.is_null(row) {
                        return None;
                    }
                    let name = text.value(row);
                    let name = name.rsplit('.').next().unwrap_or(name);
                    Some(by_name.get(name).copied().unwrap_or(0))
                })
                .collect();
            arrays.push(Arc::new(mapped) as _);
        }
        converted.push(RecordBatch::try_new(new_schema.clone(), arrays)?);
    }
    Ok(Arc::new(MemTable::try_new(new_schema, vec![converted])?))
}

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

/// `table` with an `xmin` column (and `pg_class` with `reloptions`): every catalog row was written by the same transaction,
/// so it is the constant 1. A view, so dynamic tables (`pg_class`) stay current.
fn with_xmin(name: &str, table: Arc<dyn TableProvider>) -> Result<Arc<dyn TableProvider>> {
    use datafusion::catalog::view::ViewTable;
    use datafusion::datasource::provider_as_source;
    use datafusion::logical_expr::{LogicalPlanBuilder, col, lit};
    if table.schema().field_with_name("xmin").is_ok() {
        return Ok(table);
    }
    let scan = LogicalPlanBuilder::scan(name, provider_as_source(table.clone()), None)?;
    let mut columns: Vec<_> = table
        .schema()
        .fields()
        .iter()
        .map(|f| col(datafusion::common::Column::new(Some(name), f.name())))
        .collect();
    columns.push(lit(1i32).alias("xmin"));
    // Parquet datasets have no storage options.
    if name == "pg_class" && table.schema().field_with_name("reloptions").is_err() {
        let none = ScalarValue::try_from(DataType::List(Arc::new(
            datafusion::arrow::datatypes::Field::new("item", DataType::Utf8, true),
        )))?;
        columns.push(lit(none).alias("reloptions"));
    }
    let plan = scan.project(columns)?.build()?;
    Ok(Arc::new(ViewTable::new(plan, None)))
}

/// Catalog columns that PostgreSQL stores as `int2vector` / `oidvector` / `smallint[]`,
/// which the bundled tables hold as text: served as integer arrays, so `= ANY(conkey)` and
/// `unnest(conkey)` (SQLAlchemy, Metabase, DataGrip, pgjdbc) work.
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

async fn int_vectors(
    ctx: &SessionContext,
    table: Arc<dyn TableProvider>,
    columns: &[&str],
) -> Result<Arc<dyn TableProvider>> {
    use datafusion::arrow::array::{Array, AsArray, Int32Builder, ListBuilder};
    use datafusion::arrow::datatypes::{Field, Schema};
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
    let list = DataType::List(Arc::new(Field::new("item", DataType::Int32, true)));
    let new_schema = Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| {
                if is_text(f) {
                    Field::new(f.name(), list.clone(), true)
                } else {
                    f.as_ref().clone()
                }
            })
            .collect::<Vec<_>>(),
    ));
    let batches = ctx.read_table(table)?.collect().await?;
    let mut converted = Vec::with_capacity(batches.len());
    for batch in batches {
        let mut arrays = Vec::with_capacity(batch.num_columns());
        for (i, field) in schema.fields().iter().enumerate() {
            if !is_text(field) {
                arrays.push(batch.column(i).clone());
                continue;
            }
            let text = datafusion::arrow::compute::cast(batch.column(i), &DataType::Utf8)?;
            let text = text.as_string::<i32>();
            let mut builder = ListBuilder::new(Int32Builder::new());
            for row in 0..text.len() {
                if text.is_null(row) {
                    builder.append_null();
                    continue;
                }
                for part in text
                    .value(row)
                    .split(|c: char| c.is_whitespace() || matches!(c, ',' | '{' | '}' | '[' | ']'))
                    .filter(|p| !p.is_empty())
                {
                    builder.values().append_option(part.parse::<i32>().ok());
                }
                builder.append(true);
            }
            arrays.push(Arc::new(builder.finish()) as _);
        }
        converted.push(RecordBatch::try_new(new_schema.clone(), arrays)?);
    }
    Ok(Arc::new(MemTable::try_new(new_schema, vec![converted])?))
}
