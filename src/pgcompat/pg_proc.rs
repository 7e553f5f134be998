//! Makes the CRM functions visible to catalog queries, so psql's `\df` and the function
//! browsers of BI tools list them like PostgreSQL lists user functions.
//!
//! `datafusion-pg-catalog` ships `pg_catalog.pg_proc` as PostgreSQL's own built-in functions
//! (all in namespace `pg_catalog`). We overlay that schema with a `pg_proc` that also holds one
//! row per Segmint function in `public`, and add the `pg_function_is_visible`,
//! `pg_get_function_result` and `pg_get_function_arguments` helpers `\df` calls.
//!
//! Functions made with `CREATE FUNCTION` are listed too, as they are when the catalog is read
//! (`prolang` sql, `prosrc` their body, which `\df+` shows as the Source code).

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Int16Array, Int32Array, RecordBatch, StringArray, new_null_array,
};
use datafusion::arrow::datatypes::{DataType, Int32Type};
use datafusion::catalog::{SchemaProvider, Session, TableProvider};
use datafusion::common::{ScalarValue, exec_err};
use datafusion::datasource::MemTable;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, Expr, Signature, TableType, TypeSignature, Volatility, create_udf,
};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;

use crate::engine::sql_functions::{SqlFunction, SqlFunctions};

/// First oid given to Segmint functions (above PostgreSQL's and the dynamic catalog range).
const FIRST_FUNCTION_OID: i32 = 900_000;

/// `pg_language` oids.
const INTERNAL_LANGUAGE: i32 = 12;
const SQL_LANGUAGE: i32 = 14;

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
    /// `prolang`: internal for built-in functions, sql for `CREATE FUNCTION` ones.
    language: i32,
    /// `provolatile`: `i`, `s` or `v`.
    volatility: &'static str,
    /// `prosrc`: the name of a built-in function, the body of a SQL function.
    source: String,
}

/// The `pg_proc` row of a `CREATE FUNCTION` function.
fn sql_function_entry(oid: i32, function: &SqlFunction) -> FunctionEntry {
    let arguments = function
        .arguments()
        .iter()
        .map(|a| match &a.name {
            Some(name) => format!("{name} {}", pg_type_name(&a.data_type)),
            None => pg_type_name(&a.data_type),
        })
        .collect::<Vec<_>>()
        .join(", ");
    FunctionEntry {
        oid,
        name: function.name().to_string(),
        kind: "f",
        result: pg_type_name(function.return_type()),
        arguments,
        nargs: function.arguments().len() as i16,
        description: None,
        language: SQL_LANGUAGE,
        volatility: match function.volatility() {
            Volatility::Immutable => "i",
            Volatility::Stable => "s",
            Volatility::Volatile => "v",
        },
        source: function.source().to_string(),
    }
}

fn sql_function_entries(functions: &SqlFunctions) -> Vec<FunctionEntry> {
    functions
        .list()
        .iter()
        .map(|(oid, function)| sql_function_entry(*oid, function))
        .collect()
}

/// Finds the row of an oid: a built-in function's, else a SQL function's as it is now.
#[derive(Debug, Clone)]
struct Lookup {
    built_in: Arc<HashMap<i32, FunctionEntry>>,
    sql: Arc<SqlFunctions>,
}

impl Lookup {
    fn get<T>(&self, oid: i32, field: impl Fn(&FunctionEntry) -> T) -> Option<T> {
        match self.built_in.get(&oid) {
            Some(entry) => Some(field(entry)),
            None => self
                .sql
                .by_oid(oid)
                .map(|function| field(&sql_function_entry(oid, &function))),
        }
    }
}

fn pg_type_name(data_type: &DataType) -> String {
    super::types::pg_type(data_type)
        .map(|t| t.name().to_string())
        .unwrap_or_else(|| "any".to_string())
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
                language: INTERNAL_LANGUAGE,
                volatility: "i",
                source: function.name().to_string(),
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

/// Installs the overlay and helper functions into `ctx` (whose pg_catalog is already set up);
/// `sql` are the `CREATE FUNCTION` functions, listed as they are when the catalog is read.
/// `pg_indexes` is the catalog's indexes.
pub async fn install(
    ctx: &SessionContext,
    database: &str,
    sql: Arc<SqlFunctions>,
    pg_indexes: Arc<dyn TableProvider>,
) -> Result<()> {
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
    let pg_type =
        super::catalog_tables::pg_type_with_regproc_oids(ctx, &pg_catalog, &batches, &schema)
            .await?;
    let pg_proc: Arc<dyn TableProvider> = Arc::new(ProcTable {
        schema,
        built_in: batches,
        sql: sql.clone(),
        namespace: public_oid,
    });
    let mut overrides: HashMap<String, Arc<dyn TableProvider>> = HashMap::from([
        ("pg_proc".to_string(), pg_proc),
        ("pg_type".to_string(), pg_type),
        ("pg_indexes".to_string(), pg_indexes),
        (
            super::information_schema::TABLE_NAME.to_string(),
            Arc::new(super::information_schema::PgColumns::new(
                ctx.state().catalog_list().clone(),
            )) as Arc<dyn TableProvider>,
        ),
    ]);
    overrides.extend(super::information_schema::extra_tables(database)?);
    super::catalog_tables::add_system_columns(ctx, &pg_catalog, &mut overrides).await?;
    let overlay = OverlaySchema {
        inner: pg_catalog,
        overrides,
    };
    catalog.register_schema("pg_catalog", Arc::new(overlay))?;

    let by_oid = Lookup {
        built_in: Arc::new(entries.into_iter().map(|e| (e.oid, e)).collect()),
        sql,
    };
    // Every function Segmint lists is in a schema on the search path.
    ctx.register_udf(super::pg_functions::constant(
        "pg_function_is_visible",
        vec![DataType::Int32],
        ScalarValue::Boolean(Some(true)),
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
                    .map(|oid| oid.and_then(|oid| by_oid.get(oid, field)))
                    .collect();
                Ok(ColumnarValue::Array(Arc::new(texts) as ArrayRef))
            }),
        )
    };
    ctx.register_udf(obj_description(by_oid.clone()));
    ctx.register_udf(lookup("pg_get_function_result", |e| e.result.clone()));
    // psql's `\\df+` shows this as the Source code: nothing for Segmint's built-in functions,
    // the body of SQL functions.
    ctx.register_udf(lookup("pg_get_function_sqlbody", |e| {
        if e.language == SQL_LANGUAGE {
            e.source.clone()
        } else {
            String::new()
        }
    }));
    ctx.register_udf(lookup("pg_get_function_arguments", |e| e.arguments.clone()));
    ctx.register_udf(lookup("pg_get_function_identity_arguments", |e| {
        e.arguments.clone()
    }));
    Ok(())
}

/// `obj_description(oid [, catalog])`: the documentation of Segmint functions (psql's `\\df+`
/// Description column); NULL for every other object, as PostgreSQL gives for undocumented ones.
fn obj_description(by_oid: Lookup) -> datafusion::logical_expr::ScalarUDF {
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
                .map(|oid| oid.and_then(|oid| by_oid.get(oid, |e| e.description.clone()).flatten()))
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
                "provolatile" => Some(text(|e| e.volatility.to_string())),
                "proparallel" => Some(text(|_| "s".to_string())),
                "prosrc" => Some(text(|e| e.source.clone())),
                "proargtypes" => Some(text(|_| String::new())),
                "pronargs" => Some(Arc::new(
                    entries.iter().map(|e| e.nargs).collect::<Int16Array>(),
                )),
                "prolang" => Some(int(|e| e.language)),
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

/// `pg_proc`: PostgreSQL's and Segmint's functions, and the SQL functions as they are now.
#[derive(Debug)]
struct ProcTable {
    schema: datafusion::arrow::datatypes::SchemaRef,
    built_in: Vec<RecordBatch>,
    sql: Arc<SqlFunctions>,
    namespace: i32,
}

#[async_trait]
impl TableProvider for ProcTable {
    fn schema(&self) -> datafusion::arrow::datatypes::SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let mut batches = self.built_in.clone();
        let entries = sql_function_entries(&self.sql);
        if !entries.is_empty() {
            batches.push(entries_batch(&self.schema, &entries, self.namespace)?);
        }
        MemTable::try_new(self.schema.clone(), vec![batches])?
            .scan(state, projection, filters, limit)
            .await
    }
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
