//! Model fits against their peer: `bgnbd_fit`, `pareto_nbd_fit` and `gamma_gamma_fit` in
//! process, and `lifetimes` 0.11.3 (PyPI) in the worker, on the same customer summaries (the
//! demo shop's `btyd_summary`, written once to Parquet). Both sides fit distinct rows with
//! weights (lifetimes' own advice for large bases), and each side's time covers the fit
//! alone: Segmint's query reads the summary file; lifetimes is handed arrays already in
//! memory. Segmint's times are medians of the suite's runs; lifetimes runs once (its
//! Pareto/NBD fit takes minutes).

use std::path::Path;
use std::time::Instant;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::Float64Type;
use datafusion::dataframe::DataFrameWriteOptions;
use datafusion::prelude::ParquetReadOptions;
use segmint::{Config, Engine};
use serde_json::{Value, json};

use crate::Settings;
use crate::processes::{BenchResult, Worker, median};

/// One model's fit on both sides.
pub struct FitRow {
    /// `bgnbd`, `pareto_nbd`, `gamma_gamma`.
    pub model: &'static str,
    /// Segmint's median, ms.
    pub segmint_ms: f64,
    /// Segmint's parameters, in the model's order.
    pub segmint_params: Vec<f64>,
    /// lifetimes' time, ms, with its parameters; or why it failed.
    pub lifetimes: Result<(f64, Vec<f64>), String>,
}

/// The fits at one customer count.
pub struct FitsResult {
    /// Demo customers.
    pub customers: u64,
    /// Distinct `(x, t_x, T)` rows of the summary.
    pub distinct_rows: u64,
    /// lifetimes' version as the worker reports it.
    pub lifetimes_version: String,
    /// Per model.
    pub rows: Vec<FitRow>,
}

/// The fits: SQL aggregate, its parameter names, and the rows it reads.
const MODELS: [(&str, &str, &[&str], &str); 3] = [
    (
        "bgnbd",
        "bgnbd_fit(x, t_x, \"T\")",
        &["r", "alpha", "a", "b"],
        "",
    ),
    (
        "pareto_nbd",
        "pareto_nbd_fit(x, t_x, \"T\")",
        &["r", "alpha", "s", "beta"],
        "",
    ),
    (
        "gamma_gamma",
        "gamma_gamma_fit(x, m_x)",
        &["p", "q", "gamma"],
        " WHERE x > 0 AND m_x > 0",
    ),
];

/// Fits each model on `customers` demo customers on both sides.
pub async fn run(
    settings: &Settings,
    customers: u64,
    worker: &mut Worker,
) -> BenchResult<FitsResult> {
    let dir = segmint::demo::ensure_cached(&settings.data_root, customers, 42)?;
    let config = Config {
        datasets: segmint::demo::datasets(&dir),
        ..Config::default()
    };
    let engine = Engine::build(&config, &segmint::pgcompat::Postgres).await?;
    let summary = settings
        .work
        .join(format!("btyd-summary-c{customers}.parquet"));
    engine
        .session()
        .sql(
            "SELECT x, t_x, \"T\", m_x \
             FROM btyd_summary('completed_orders', DATE '2026-10-31')",
        )
        .await?
        .write_parquet(
            &summary.display().to_string(),
            DataFrameWriteOptions::new().with_single_file_output(true),
            None,
        )
        .await?;
    let opened = worker.call(json!({"op": "lifetimes_open", "path": summary}))?;
    let lifetimes_version = opened["version"].as_str().unwrap_or("?").to_string();
    let distinct_rows = opened["distinct"].as_u64().unwrap_or(0);
    // Sessions share the engine's catalog: register the summary once.
    let table = format!("fit_summary_c{customers}");
    engine
        .session()
        .register_parquet(&table, path_str(&summary), ParquetReadOptions::new())
        .await?;
    let mut rows = Vec::new();
    for (model, call, names, filter) in MODELS {
        let sql = format!("SELECT {call} AS f FROM {table}{filter}");
        let mut times = Vec::new();
        let mut params = Vec::new();
        for _ in 0..=settings.runs {
            let ctx = engine.session();
            let started = Instant::now();
            let batches = ctx.sql(&sql).await?.collect().await?;
            times.push(started.elapsed().as_secs_f64() * 1e3);
            params = struct_fields(&batches, names)?;
        }
        // The first run warms the file cache.
        times.remove(0);
        let lifetimes = match worker.call(json!({"op": "lifetimes_fit", "model": model})) {
            Ok(answer) => Ok((
                answer["ms"].as_f64().unwrap_or(f64::NAN),
                numbers(&answer["params"]),
            )),
            Err(error) => Err(error.to_string()),
        };
        println!(
            "fits c{customers} {model}: Segmint {:.0} ms, lifetimes {}",
            median(&times),
            match &lifetimes {
                Ok((ms, _)) => format!("{ms:.0} ms"),
                Err(error) => error.clone(),
            }
        );
        rows.push(FitRow {
            model,
            segmint_ms: median(&times),
            segmint_params: params,
            lifetimes,
        });
    }
    Ok(FitsResult {
        customers,
        distinct_rows,
        lifetimes_version,
        rows,
    })
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap_or_default()
}

fn numbers(value: &Value) -> Vec<f64> {
    value
        .as_array()
        .map(|items| items.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default()
}

/// The named fields of the one struct the fit query returns.
fn struct_fields(
    batches: &[datafusion::arrow::record_batch::RecordBatch],
    names: &[&str],
) -> BenchResult<Vec<f64>> {
    let batch = batches
        .iter()
        .find(|b| b.num_rows() > 0)
        .ok_or("the fit returned no row")?;
    let fit = batch.column(0).as_struct();
    names
        .iter()
        .map(|name| {
            let column = fit
                .column_by_name(name)
                .ok_or_else(|| format!("the fit has no field {name}"))?;
            let values = column.as_primitive::<Float64Type>();
            if values.is_null(0) {
                return Err(format!("the fit's {name} is NULL").into());
            }
            Ok(values.value(0))
        })
        .collect()
}
