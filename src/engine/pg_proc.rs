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
    let mut entries = Vec::new();
    let mut push =
        |name: &str, kind: &'static str, signature: Option<&Signature>, result: Option<String>| {
            let (arguments, nargs, _) =
                signature
                    .map(describe_signature)
                    .unwrap_or(("any".into(), -1, None));
            entries.push(FunctionEntry {
                oid: FIRST_FUNCTION_OID + entries.len() as i32,
                name: name.to_string(),
                kind,
                result: result.unwrap_or_else(|| "any".to_string()),
                arguments,
                nargs: nargs.max(0),
            });
        };
    for udf in segmint_udfs::scalar_functions() {
        let (_, _, exact) = describe_signature(udf.signature());
        let result = exact
            .and_then(|types| udf.return_type(&types).ok())
            .map(|t| pg_type_name(&t));
        push(udf.name(), "f", Some(udf.signature()), result);
    }
    for udaf in segmint_udfs::aggregate_functions() {
        let (_, _, exact) = describe_signature(udaf.signature());
        let result = exact
            .and_then(|types| udaf.return_type(&types).ok())
            .map(|t| pg_type_name(&t));
        push(udaf.name(), "a", Some(udaf.signature()), result);
    }
    for udwf in segmint_udfs::window_functions() {
        push(udwf.name(), "w", Some(udwf.signature()), None);
    }
    for table_function in segmint_udfs::table_functions() {
        push(
            table_function.name,
            "f",
            None,
            Some("SETOF record".to_string()),
        );
    }
    entries
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
    let pg_proc: Arc<dyn TableProvider> = Arc::new(MemTable::try_new(schema, vec![batches])?);
    let overlay = OverlaySchema {
        inner: pg_catalog,
        overrides: HashMap::from([("pg_proc".to_string(), pg_proc)]),
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
    ctx.register_udf(lookup("pg_get_function_result", |e| e.result.clone()));
    ctx.register_udf(lookup("pg_get_function_arguments", |e| e.arguments.clone()));
    ctx.register_udf(lookup("pg_get_function_identity_arguments", |e| {
        e.arguments.clone()
    }));
    Ok(())
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
