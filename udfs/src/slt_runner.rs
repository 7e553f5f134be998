//! Runs `udfs/slt/*.slt` in-process against a DataFusion session with every CRM function and
//! the fixture tables of `udfs/slt/data/`: the fast loop for data engineers. The integration
//! suite runs the same files again through the PostgreSQL wire protocol, so values are printed
//! here the way PostgreSQL prints them (`t`/`f`, `{a,b}` arrays, `(a,b)` records).

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Float32Type, Float64Type};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::error::DataFusionError;
use datafusion::prelude::{CsvReadOptions, SessionConfig, SessionContext};
use sqllogictest::{AsyncDB, DBOutput, DefaultColumnType, Runner};

/// The folder of the function `.slt` files.
pub fn slt_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("slt")
}

/// A session with every CRM function and the fixture tables registered.
pub async fn fixture_context() -> SessionContext {
    let ctx = SessionContext::new_with_config(crate::with_function_options(
        SessionConfig::new().with_target_partitions(2),
    ));
    crate::register_all(&ctx).expect("register functions");
    let data = slt_dir().join("data");
    for entry in std::fs::read_dir(&data).expect("udfs/slt/data exists") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "csv") {
            let name = path.file_stem().and_then(|s| s.to_str()).expect("name");
            ctx.register_csv(
                name,
                path.to_str().expect("utf-8 path"),
                CsvReadOptions::new(),
            )
            .await
            .expect("register fixture");
        }
    }
    // The shipped tag rules read the server's customer model (`model.<entity>`); here the
    // fixture tables already have the model's columns.
    ctx.sql("CREATE SCHEMA model")
        .await
        .expect("create schema model");
    for entity in ["customers", "orders", "order_items"] {
        ctx.sql(&format!(
            "CREATE VIEW model.{entity} AS SELECT * FROM public.{entity}"
        ))
        .await
        .expect("model view");
    }
    ctx
}

struct InProcess {
    ctx: SessionContext,
}

#[async_trait]
impl AsyncDB for InProcess {
    type Error = DataFusionError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, DataFusionError> {
        let frame = self.ctx.sql(sql).await?;
        let columns = frame.schema().fields().len();
        let batches = frame.collect().await?;
        let mut rows = Vec::new();
        for batch in &batches {
            rows.extend(pg_rows(batch)?);
        }
        Ok(DBOutput::Rows {
            types: vec![DefaultColumnType::Any; columns],
            rows,
        })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "datafusion"
    }
}

fn pg_rows(batch: &RecordBatch) -> Result<Vec<Vec<String>>, DataFusionError> {
    let mut rows = vec![Vec::with_capacity(batch.num_columns()); batch.num_rows()];
    for column in batch.columns() {
        for (row, out) in rows.iter_mut().enumerate() {
            out.push(pg_text(column, row)?);
        }
    }
    Ok(rows)
}

/// One value as PostgreSQL's text format shows it (`NULL` and `(empty)` as sqllogictest
/// expects them).
fn pg_text(array: &ArrayRef, row: usize) -> Result<String, DataFusionError> {
    if array.is_null(row) {
        return Ok("NULL".to_string());
    }
    let text = value_text(array, row)?;
    Ok(if text.is_empty() {
        "(empty)".to_string()
    } else {
        text
    })
}

/// A float as PostgreSQL's `float8out` prints it (for the magnitudes tests use).
fn pg_float(value: f64) -> String {
    if value.is_nan() {
        "NaN".into()
    } else if value.is_infinite() {
        if value > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        }
    } else {
        value.to_string()
    }
}

fn value_text(array: &ArrayRef, row: usize) -> Result<String, DataFusionError> {
    Ok(match array.data_type() {
        DataType::Boolean => {
            if array.as_boolean().value(row) {
                "t".into()
            } else {
                "f".into()
            }
        }
        // PostgreSQL prints the shortest text that reads back the same: `1`, not `1.0`.
        DataType::Float64 => pg_float(array.as_primitive::<Float64Type>().value(row)),
        DataType::Float32 => pg_float(f64::from(array.as_primitive::<Float32Type>().value(row))),
        DataType::List(_) => {
            let list = array.as_list::<i32>().value(row);
            let items = (0..list.len())
                .map(|i| {
                    if list.is_null(i) {
                        Ok("NULL".to_string())
                    } else {
                        value_text(&list, i).map(|t| quote_array_item(&t))
                    }
                })
                .collect::<Result<Vec<_>, DataFusionError>>()?;
            format!("{{{}}}", items.join(","))
        }
        DataType::Struct(_) => {
            let record = array.as_struct();
            let items = record
                .columns()
                .iter()
                .map(|c| {
                    if c.is_null(row) {
                        Ok(String::new())
                    } else {
                        value_text(c, row).map(|t| quote_record_item(&t))
                    }
                })
                .collect::<Result<Vec<_>, DataFusionError>>()?;
            format!("({})", items.join(","))
        }
        DataType::Timestamp(_, _) => {
            let options = FormatOptions::default()
                .with_timestamp_format(Some("%Y-%m-%d %H:%M:%S%.f"))
                .with_timestamp_tz_format(Some("%Y-%m-%d %H:%M:%S%.f%:z"));
            ArrayFormatter::try_new(array.as_ref(), &options)?
                .value(row)
                .to_string()
                .replace("+00:00", "+00")
        }
        _ => {
            let options = FormatOptions::default();
            ArrayFormatter::try_new(array.as_ref(), &options)?
                .value(row)
                .to_string()
        }
    })
}

fn quote_array_item(text: &str) -> String {
    if text.is_empty() || text.contains([',', '{', '}', '"', '\\', ' ']) || text == "NULL" {
        format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        text.to_string()
    }
}

fn quote_record_item(text: &str) -> String {
    if text.is_empty() || text.contains([',', '(', ')', '"', '\\', ' ']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

#[tokio::test]
async fn function_slt_files_pass_in_process() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(slt_dir())
        .expect("udfs/slt exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no udfs/slt/*.slt files");
    let mut failures = Vec::new();
    for file in files {
        let mut runner = Runner::new(|| async {
            Ok(InProcess {
                ctx: fixture_context().await,
            })
        });
        runner.with_column_validator(|_, _| true);
        if let Err(error) = runner.run_file_async(&file).await {
            failures.push(format!("{}: {error}", file.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "slt failures:\n{}",
        failures.join("\n\n")
    );
}
