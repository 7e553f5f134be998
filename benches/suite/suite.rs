//! One scale of the CRM suite (Segmint in-process, Segmint over pgwire, DuckDB, interleaved),
//! and the wire section against PostgreSQL.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::Int64Type;
use segmint::config::{DatasetConfig, DatasetFormat, IndexConfig, ReportsConfig};
use segmint::reports::{Reports, RunRequest, Trigger};
use segmint::{Config, Engine};
use serde_json::json;
use tokio_postgres::NoTls;

use crate::layouts::{self, Layout};
use crate::processes::{BenchResult, Server, Worker, median, peak_mib, reset_peak};
use crate::queries::{self, Kind, SuiteQuery};
use crate::wire::{self, Endpoint, Throughput, Transfer};
use crate::{Scale, Settings};

/// Orders per scale step: S50 runs only the RFM and customer_value() entries, under a 2 GiB
/// memory limit.
const MEMORY_LIMITED_FROM: u64 = 50 * 331_000;
/// The memory limit of the S50 run.
pub const S50_MEMORY_LIMIT: &str = "2GiB";

/// Median time and peak memory of one query on one engine.
#[derive(Debug, Clone, Default)]
pub struct Measured {
    /// Median milliseconds of the measured runs.
    pub ms: f64,
    /// Peak resident memory (MiB) of the engine's process during the runs.
    pub peak_mib: f64,
    /// Rows of the result.
    pub rows: u64,
}

/// One query at one scale.
#[derive(Debug, Clone)]
pub struct QueryResult {
    /// Suite name.
    pub name: &'static str,
    /// What it answers.
    pub question: &'static str,
    /// Segmint in-process.
    pub in_process: Measured,
    /// Segmint through pgwire.
    pub pgwire: Measured,
    /// DuckDB (for Segmint-only entries: the baseline entry's DuckDB figure).
    pub duckdb: Option<Measured>,
    /// The entry DuckDB's figure comes from, when not this one.
    pub baseline: Option<&'static str>,
}

/// One scale's results.
#[derive(Debug, Clone)]
pub struct ScaleResult {
    /// `S1`, `S10`...
    pub label: String,
    /// How the files were laid out.
    pub layout: Layout,
    /// Orders in the data.
    pub orders: u64,
    /// Customers in the data.
    pub customers: u64,
    /// Engine memory limit, when the run had one.
    pub memory_limit: Option<&'static str>,
    /// Per query.
    pub queries: Vec<QueryResult>,
    /// DuckDB's version.
    pub duckdb_version: String,
}

/// One Segmint build's wire figures, each against PostgreSQL measured beside it.
#[derive(Debug, Clone)]
pub struct WireFigures {
    /// 1M-row transfers.
    pub transfers: Vec<Transfer>,
    /// pgbench throughput.
    pub throughput: Vec<Throughput>,
    /// How soon a cancel ends a long query.
    pub cancels: Vec<wire::CancelLatency>,
}

/// The wire section's results.
#[derive(Debug, Clone)]
pub struct WireResult {
    /// This build.
    pub figures: WireFigures,
    /// The baseline build (`SEGMINT_BENCH_BASELINE_BIN`), measured in the same run.
    pub baseline: Option<WireFigures>,
    /// pgbench clients.
    pub clients: usize,
    /// PostgreSQL's version string.
    pub postgres_version: String,
}

/// Writes the `segmint.toml` of a benchmark server: `datasets`, the reports folder and where
/// report outputs go (`reports`), the memory limit and spill folder.
pub fn server_config(
    settings: &Settings,
    path: &Path,
    datasets: &[DatasetConfig],
    reports: Option<(&Path, &Path)>,
    memory_limit: Option<&str>,
    spill: &Path,
    indexes: &[IndexConfig],
) -> BenchResult<()> {
    let mut toml = String::from("[server]\nlisten = \"127.0.0.1:0\"\nmax_connections = 64\n");
    // The suite measures queries, not the result cache (the small-query section keeps it on).
    if reports.is_some()
        && !settings
            .server_options
            .iter()
            .any(|(k, _)| k == "cache_results")
    {
        toml.push_str("cache_results = false\n");
    }
    for (key, value) in &settings.server_options {
        toml.push_str(&format!("{key} = {value}\n"));
    }
    toml.push_str("\n[engine]\n");
    if !settings.engine_options.is_empty() {
        let options: Vec<String> = settings
            .engine_options
            .iter()
            .map(|(k, v)| format!("{k:?} = {v:?}"))
            .collect();
        toml.push_str(&format!("options = {{ {} }}\n", options.join(", ")));
    }
    if let Some(limit) = memory_limit {
        toml.push_str(&format!("memory_limit = \"{limit}\"\n"));
    }
    toml.push_str(&format!("spill_dir = \"{}\"\n\n", spill.display()));
    if let Some((dir, output)) = reports {
        toml.push_str(&format!(
            "[reports]\ndir = \"{}\"\noutput_url = \"{}/\"\nscheduler = false\n\n",
            dir.display(),
            output.display()
        ));
    }
    for dataset in datasets {
        toml.push_str(&format!(
            "[[datasets]]\nname = \"{}\"\nurl = \"{}\"\nformat = \"parquet\"\n",
            dataset.name, dataset.url
        ));
        if let Some(columns) = &dataset.partition_columns {
            toml.push_str(&format!("partition_columns = {columns:?}\n"));
        }
        toml.push('\n');
    }
    for index in indexes {
        toml.push_str(&format!(
            "[[indexes]]\nname = \"{}\"\ndataset = \"{}\"\ncolumn = \"{}\"\n\n",
            index.name, index.dataset, index.column
        ));
    }
    std::fs::write(path, toml)?;
    Ok(())
}

async fn count(engine: &Engine, sql: &str) -> BenchResult<i64> {
    let batches = engine.session().sql(sql).await?.collect().await?;
    Ok(batches
        .first()
        .filter(|b| b.num_rows() > 0)
        .map(|b| b.column(0).as_primitive::<Int64Type>().value(0))
        .unwrap_or(0))
}

/// Runs one suite entry through pgwire on `client` (a query: every row fetched; a report:
/// `RUN REPORT`); returns the milliseconds and the rows.
pub async fn pgwire_query(
    client: &tokio_postgres::Client,
    query: &SuiteQuery,
) -> BenchResult<(f64, u64)> {
    let started = Instant::now();
    let rows = match query.kind {
        Kind::Query => client.query(query.segmint.as_str(), &[]).await?.len() as u64,
        Kind::Report => {
            let sql = format!(
                "RUN REPORT {} AS OF '{}'",
                query.segmint,
                queries::REPORT_AS_OF
            );
            let messages = client.simple_query(&sql).await?;
            messages
                .iter()
                .find_map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::Row(row) => {
                        row.get("rows").and_then(|r| r.parse().ok())
                    }
                    _ => None,
                })
                .unwrap_or(0)
        }
    };
    Ok((started.elapsed().as_secs_f64() * 1e3, rows))
}

/// The three engines of one scale.
struct Engines<'a> {
    engine: Arc<Engine>,
    reports: Reports,
    server: Server,
    client: tokio_postgres::Client,
    worker: &'a mut Worker,
}

impl Engines<'_> {
    async fn in_process(&self, query: &SuiteQuery) -> BenchResult<(f64, u64)> {
        let started = Instant::now();
        let rows = match query.kind {
            Kind::Query => {
                let batches = self
                    .engine
                    .session()
                    .sql(&query.segmint)
                    .await?
                    .collect()
                    .await?;
                batches.iter().map(|b| b.num_rows() as u64).sum()
            }
            Kind::Report => {
                let as_of = chrono::NaiveDate::parse_from_str(queries::REPORT_AS_OF, "%Y-%m-%d")?;
                let request = RunRequest {
                    as_of: Some(as_of),
                    period: None,
                    trigger: Trigger::Manual,
                };
                let summary = self.reports.run(&query.segmint, request, &|_| {}).await?;
                summary.record.rows
            }
        };
        Ok((started.elapsed().as_secs_f64() * 1e3, rows))
    }

    async fn pgwire(&self, query: &SuiteQuery) -> BenchResult<(f64, u64)> {
        pgwire_query(&self.client, query).await
    }

    fn duckdb(&mut self, sql: &str) -> BenchResult<(f64, u64)> {
        let timed = self.worker.timed(json!({"op": "duckdb", "sql": sql}))?;
        Ok((timed.ms, timed.rows))
    }
}

/// The entries run at the memory-limited scale (the per-customer table functions, and the
/// hand-written RFM as the baseline of `rfm()`).
pub const MEMORY_LIMITED_QUERIES: [&str; 3] = ["rfm()", "rfm_sql", "customer_value()"];

/// True for the scales run under [`S50_MEMORY_LIMIT`] (only the RFM entries).
pub fn is_memory_limited(scale: &Scale) -> bool {
    scale.customers >= MEMORY_LIMITED_FROM
}

/// Runs the suite at one scale on one layout of its files.
pub async fn run_scale(
    settings: &Settings,
    scale: &Scale,
    layout: Layout,
    worker: &mut Worker,
) -> BenchResult<ScaleResult> {
    let demo = segmint::demo::ensure_cached(&settings.data_root, scale.customers, 42)?;
    let data = layouts::ensure(layout, &demo, worker)?;
    let work = settings
        .work
        .join(format!("{}-{}", scale.label, layout.name()));
    let reports_dir = work.join("reports");
    std::fs::create_dir_all(&reports_dir)?;
    std::fs::write(
        reports_dir.join(format!("{}.sql", queries::REPORT_NAME)),
        queries::report_file(),
    )?;
    let duckdb_out = work.join("duckdb-out");
    std::fs::create_dir_all(&duckdb_out)?;
    let memory_limit = is_memory_limited(scale).then_some(S50_MEMORY_LIMIT);

    let mut datasets = layouts::datasets(layout, &data);
    // The orders again, with an index on customer_id (the rfm-only memory-limited run has no
    // lookup to answer).
    let indexes = match memory_limit {
        Some(_) => vec![],
        None => {
            let orders = datasets
                .iter()
                .find(|d| d.name == "orders")
                .cloned()
                .ok_or("no orders dataset")?;
            datasets.push(DatasetConfig {
                name: queries::INDEXED_ORDERS.to_string(),
                ..orders
            });
            vec![queries::customer_index()]
        }
    };
    let mut config = Config {
        indexes: indexes.clone(),
        datasets: datasets.clone(),
        reports: ReportsConfig {
            dir: Some(reports_dir.clone()),
            output_url: Some(format!("{}/", work.join("in-process-out").display())),
            scheduler: Some(false),
            ..ReportsConfig::default()
        },
        ..Config::default()
    };
    config.engine.memory_limit = memory_limit.map(str::to_string);
    config.engine.options = settings.engine_options.iter().cloned().collect();
    config.engine.spill_dir = Some(work.join("spill-in-process"));
    let engine = Arc::new(Engine::build(&config, &segmint::pgcompat::Postgres).await?);
    let reports = Reports::open(&config.reports, engine.clone()).await?;

    let server_toml = work.join("segmint.toml");
    server_config(
        settings,
        &server_toml,
        &datasets,
        Some((&reports_dir, &work.join("server-out"))),
        memory_limit,
        &work.join("spill-server"),
        &indexes,
    )?;
    let server = Server::start(&settings.bin, &server_toml, &work.join("server.log"))?;
    let (client, connection) = tokio_postgres::connect(
        &format!(
            "host=127.0.0.1 port={} user=segmint dbname=segmint",
            server.port
        ),
        NoTls,
    )
    .await?;
    tokio::spawn(connection);
    let mut setup = layouts::duckdb_setup(layout, &data);
    if memory_limit.is_some() {
        setup.push("SET memory_limit = '2GiB'".to_string());
    }
    let duckdb_version = worker.open_duckdb(&setup)?;

    let orders = count(&engine, "SELECT count(*) FROM orders").await? as u64;
    let customers = count(&engine, "SELECT count(*) FROM customers").await? as u64;
    let customer = count(
        &engine,
        &format!(
            "SELECT min(customer_id) FROM orders WHERE customer_id >= {}",
            customers / 2
        ),
    )
    .await?;
    println!(
        "\n{} ({} layout): {orders} orders, {customers} customers{}; DuckDB {duckdb_version}",
        scale.label,
        layout.name(),
        memory_limit.map_or(String::new(), |l| format!(", memory limit {l}"))
    );
    let mut suite = queries::suite(customer, &duckdb_out.display().to_string());
    if memory_limit.is_some() {
        suite.retain(|q| MEMORY_LIMITED_QUERIES.contains(&q.name));
    }

    let mut engines = Engines {
        engine,
        reports,
        server,
        client,
        worker,
    };
    let pids = [
        std::process::id(),
        engines.server.pid(),
        engines.worker.pid(),
    ];
    // times[query][engine], peaks[query][engine], rows[query][engine]
    let mut times = vec![[Vec::new(), Vec::new(), Vec::new()]; suite.len()];
    let mut peaks = vec![[0.0f64; 3]; suite.len()];
    let mut rows = vec![[0u64; 3]; suite.len()];
    let runs = if memory_limit.is_some() {
        1
    } else {
        settings.runs
    };
    for round in 0..=runs {
        for (i, query) in suite.iter().enumerate() {
            for e in 0..3 {
                reset_peak(pids[e]);
                let (ms, n) = match e {
                    0 => engines.in_process(query).await,
                    1 => engines.pgwire(query).await,
                    _ => match &query.duckdb {
                        Some(sql) => engines.duckdb(sql),
                        None => continue,
                    },
                }
                .map_err(|error| {
                    format!(
                        "{} ({}): {error}",
                        query.name,
                        ["in-process", "pgwire", "DuckDB"][e]
                    )
                })?;
                peaks[i][e] = peaks[i][e].max(peak_mib(pids[e]));
                rows[i][e] = n;
                // Round 0 warms caches up and is not counted.
                if round > 0 {
                    times[i][e].push(ms);
                }
            }
        }
    }

    let mut results = Vec::new();
    for (i, query) in suite.iter().enumerate() {
        let measured = |e: usize| Measured {
            ms: median(&times[i][e]),
            peak_mib: peaks[i][e],
            rows: rows[i][e],
        };
        if query.duckdb.is_some() && query.kind == Kind::Query && rows[i][0] != rows[i][2] {
            return Err(format!(
                "{}: Segmint returned {} rows, DuckDB {}",
                query.name, rows[i][0], rows[i][2]
            )
            .into());
        }
        let duckdb = match (&query.duckdb, query.baseline) {
            (Some(_), _) => Some(measured(2)),
            (None, Some(baseline)) => {
                suite
                    .iter()
                    .position(|q| q.name == baseline)
                    .map(|b| Measured {
                        ms: median(&times[b][2]),
                        peak_mib: peaks[b][2],
                        rows: rows[b][2],
                    })
            }
            (None, None) => None,
        };
        let result = QueryResult {
            name: query.name,
            question: query.question,
            in_process: measured(0),
            pgwire: measured(1),
            duckdb,
            baseline: query.baseline,
        };
        let duck_ms = result.duckdb.as_ref().map_or(f64::NAN, |d| d.ms);
        println!(
            "{:<16} in-process {:>8.1} ms  pgwire {:>8.1} ms  DuckDB {:>8.1} ms  ratio {:>5.2} / {:>5.2}  peak MiB {:>6.0} / {:>6.0} / {:>6.0}  rows {}",
            query.name,
            result.in_process.ms,
            result.pgwire.ms,
            duck_ms,
            result.in_process.ms / duck_ms,
            result.pgwire.ms / duck_ms,
            result.in_process.peak_mib,
            result.pgwire.peak_mib,
            result.duckdb.as_ref().map_or(f64::NAN, |d| d.peak_mib),
            result.in_process.rows,
        );
        results.push(result);
    }
    Ok(ScaleResult {
        label: scale.label.clone(),
        layout,
        orders,
        customers,
        memory_limit,
        queries: results,
        duckdb_version,
    })
}

/// Transfers and small queries against PostgreSQL on `postgres_port`.
pub async fn run_wire(
    settings: &Settings,
    postgres_port: u16,
    worker: &mut Worker,
) -> BenchResult<WireResult> {
    let work = settings.work.join("wire");
    let postgres = Endpoint {
        label: "PostgreSQL",
        port: postgres_port,
        user: "postgres".into(),
        database: "postgres".into(),
    };
    // The first million orders of the smallest scale, as Parquet for Segmint and CSV for
    // PostgreSQL (DuckDB writes both).
    let smallest = settings
        .scales
        .iter()
        .min_by_key(|s| s.customers)
        .ok_or("no scale")?;
    let data = segmint::demo::ensure_cached(&settings.data_root, smallest.customers, 42)?;
    worker.open_duckdb(&layouts::duckdb_setup(Layout::Demo, &data))?;
    let select = "SELECT order_id, customer_id, order_ts, channel, net_amount, status FROM orders ORDER BY order_id LIMIT 1000000";
    let kpi = "SELECT CAST(order_ts AS DATE) AS day, channel, count(*) AS orders, sum(net_amount) AS revenue FROM completed_orders GROUP BY 1, 2 ORDER BY 1, 2";
    let mut tables = Vec::new();
    for (name, select) in [("transfer", select), ("daily_kpi", kpi)] {
        let folder = work.join(name);
        std::fs::create_dir_all(&folder)?;
        let parquet = folder.join("part-0.parquet");
        let csv = work.join(format!("{name}.csv"));
        for (file, format) in [(&parquet, "parquet"), (&csv, "csv, HEADER")] {
            let copy = format!("COPY ({select}) TO '{}' (FORMAT {format})", file.display());
            worker.call(json!({"op": "duckdb", "sql": copy}))?;
        }
        wire::load_postgres(&postgres, name, &csv)?;
        tables.push(DatasetConfig {
            name: name.into(),
            url: format!("{}/", folder.display()),
            format: DatasetFormat::Parquet,
            partition_columns: None,
            shared: false,
        });
    }

    let postgres_version = crate::processes::run(std::process::Command::new("psql").args([
        "-X",
        "-A",
        "-t",
        "-h",
        "127.0.0.1",
        "-p",
        &postgres_port.to_string(),
        "-U",
        "postgres",
        "-c",
        "SHOW server_version",
    ]))?
    .trim()
    .to_string();

    let config = work.join("segmint.toml");
    server_config(
        settings,
        &config,
        &tables,
        None,
        None,
        &work.join("spill"),
        &[],
    )?;
    println!("\nwire: 1,000,000 rows; PostgreSQL {postgres_version}");
    let clients = 4;
    let figures =
        wire_figures(settings, worker, &settings.bin, &config, &postgres, clients).await?;
    let baseline = match &settings.baseline_bin {
        Some(bin) => {
            println!("\nwire, baseline build {}", bin.display());
            Some(wire_figures(settings, worker, bin, &config, &postgres, clients).await?)
        }
        None => None,
    };
    Ok(WireResult {
        figures,
        baseline,
        clients,
        postgres_version,
    })
}

/// Transfers, pgbench and cancels of the server `bin` runs with `config`, each beside
/// PostgreSQL.
async fn wire_figures(
    settings: &Settings,
    worker: &mut Worker,
    bin: &Path,
    config: &Path,
    postgres: &Endpoint,
    clients: usize,
) -> BenchResult<WireFigures> {
    let work = settings.work.join("wire");
    let server = Server::start(bin, config, &work.join("server.log"))?;
    let segmint = Endpoint {
        label: "Segmint",
        port: server.port,
        user: "segmint".into(),
        database: "segmint".into(),
    };
    let transfers = wire::transfer(worker, &segmint, postgres, settings.runs.min(5))?;
    let throughput =
        wire::small_queries(&work, &segmint, postgres, clients, settings.pgbench_seconds)?;
    let cancels = wire::cancel_latency(&segmint, postgres, settings.runs.min(5)).await?;
    drop(server);
    Ok(WireFigures {
        transfers,
        throughput,
        cancels,
    })
}
