//! The commands behind the CLI, usable from tests and benches without a process: build the
//! configuration from file, environment and flags, then serve, query or generate.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::{Config, DatasetConfig, DatasetFormat, is_identifier};
use crate::demo;
use crate::engine::Engine;
use crate::error::{Result, SegmintError};
use crate::output::{OutputFormat, write_stream};
use crate::reports::{self, Period, Reports, RunRequest, RunSummary, Step, Trigger};
use crate::server::Server;

/// Where the datasets come from, as given on the command line.
#[derive(Debug, Clone, Default)]
pub struct DataSources {
    /// `--config FILE`.
    pub config: Option<PathBuf>,
    /// `--demo`: serve the generated demo data.
    pub demo: bool,
    /// `--dataset NAME=URL`, repeatable.
    pub datasets: Vec<String>,
    /// `--project DIR`: the project folder (its `segmint.toml` is read when `--config` is
    /// not given).
    pub project: Option<PathBuf>,
}

/// Builds the effective configuration: file, then flags on top.
pub fn load_config(sources: &DataSources, listen: Option<&str>) -> Result<Config> {
    let project_config = sources
        .project
        .as_ref()
        .map(|dir| dir.join("segmint.toml"))
        .filter(|path| sources.config.is_none() && path.is_file());
    let mut config = match sources.config.as_ref().or(project_config.as_ref()) {
        Some(path) => Config::from_file(path)?,
        None => Config::default(),
    };
    if let Some(dir) = &sources.project {
        config.project.dir = Some(dir.clone());
    }
    if let Some(listen) = listen {
        config.server.listen = listen.to_string();
    }
    if sources.demo {
        config.demo.serving = true;
        let root = config
            .demo
            .cache_dir
            .clone()
            .unwrap_or_else(demo::default_cache_root);
        let dir = demo::ensure_cached(&root, config.demo.customers, config.demo.seed)?;
        // The demo analyst is the administrator: DDL is on, and what it creates lives beside
        // the demo data (external tables may read only there).
        let catalog = &mut config.catalog;
        if catalog.dir.is_none() {
            catalog.allow_ddl = true;
            catalog.dir = Some(root.join("catalog"));
        }
        if catalog.allowed_locations.is_empty() {
            catalog
                .allowed_locations
                .push(root.to_string_lossy().into_owned());
        }
        if catalog.tables_url.is_none() {
            catalog.tables_url = Some(root.join("tables").to_string_lossy().into_owned());
        }
        if config.reports.output_url.is_none() {
            config.reports.output_url = Some(root.join("reports").to_string_lossy().into_owned());
        }
        // The demo history ends on 2026-10-31: analyse it as of the next day.
        config
            .functions
            .entry("as_of".to_string())
            .or_insert_with(|| demo::DEMO_AS_OF.to_string());
        let mut datasets = demo::datasets(&dir);
        datasets.retain(|d| !config.datasets.iter().any(|c| c.name == d.name));
        config.datasets.splice(0..0, datasets);
    }
    for spec in &sources.datasets {
        let dataset = parse_dataset_flag(spec)?;
        config.datasets.retain(|d| d.name != dataset.name);
        config.datasets.push(dataset);
    }
    config.validate()?;
    Ok(config)
}

/// Parses `NAME=URL` (the format follows the file extension: `.csv`, `.json`, else Parquet).
pub fn parse_dataset_flag(spec: &str) -> Result<DatasetConfig> {
    let (name, url) = spec.split_once('=').ok_or_else(|| {
        SegmintError::ConfigInvalid(format!("--dataset '{spec}' must look like NAME=URL"))
    })?;
    if !is_identifier(name) {
        return Err(SegmintError::ConfigInvalid(format!(
            "--dataset name '{name}' must be a lowercase SQL identifier"
        )));
    }
    let format = if url.ends_with(".csv") {
        DatasetFormat::Csv
    } else if url.ends_with(".json") || url.ends_with(".ndjson") {
        DatasetFormat::Json
    } else {
        DatasetFormat::Parquet
    };
    Ok(DatasetConfig {
        name: name.to_string(),
        url: url.to_string(),
        format,
        partition_columns: None,
        shared: false,
    })
}

/// Builds the engine and reports datasets that could not be registered.
pub async fn build_engine(config: &Config) -> Result<Arc<Engine>> {
    let engine = Engine::build(config, &crate::pgcompat::Postgres).await?;
    for status in engine.datasets() {
        if let Some(error) = &status.error {
            tracing::warn!(dataset = %status.name, %error, "dataset unavailable");
        }
    }
    for (name, error) in engine.unrestored() {
        tracing::warn!(object = %name, %error, "saved object not restored");
    }
    Ok(Arc::new(engine))
}

/// Starts what a serving engine does in the background: periodic dataset listing, the
/// `reports.*` tables and, when enabled, the report scheduler. The reports are reachable
/// through the engine (`RUN REPORT`) for as long as the caller keeps the returned handle.
/// Needs a Tokio runtime.
pub async fn start_background(config: &Config, engine: &Arc<Engine>) -> Result<Arc<Reports>> {
    engine.start_refresh();
    let reports = Arc::new(Reports::open(&config.reports, engine.clone()).await?);
    let runner: Arc<dyn crate::engine::report_runner::ReportRunner> = reports.clone();
    engine.set_report_runner(Arc::downgrade(&runner));
    if config.reports.scheduler_enabled() {
        reports::scheduler::start(reports.clone(), config.reports.missed_runs);
    }
    if config.demo.serving && config.reports.scheduler_enabled() {
        // A demo's first start: fill reports.* for October 2026 rather than answer 42P01.
        let as_of = reports::first_run::demo_first_run_date();
        reports::first_run::spawn_first_runs(reports.clone(), as_of);
    }
    Ok(reports)
}

/// `segmint passwd USER`: reads a password from standard input and prints the `[[users]]`
/// entry holding its SCRAM-SHA-256 verifier (or md5 hash).
pub fn passwd(user: &str, role: &str, md5: bool) -> Result<()> {
    use std::io::BufRead;
    if user.is_empty() || user.chars().any(|c| c.is_control() || c == '"') {
        return Err(SegmintError::ConfigInvalid(format!(
            "user name '{user}' is not valid"
        )));
    }
    if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        eprintln!("password for {user} (input is shown; pipe it in to hide it):");
    }
    let mut password = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut password)
        .map_err(|e| SegmintError::io("reading the password from standard input", e))?;
    let password = password.trim_end_matches(['\n', '\r']);
    if password.is_empty() {
        return Err(SegmintError::ConfigInvalid(
            "empty password: give one line on standard input".to_string(),
        ));
    }
    let credential = if md5 {
        crate::access::Credential::new_md5(user, password)
    } else {
        crate::access::Credential::new_scram(password)
    };
    println!(
        "[[users]]\nname = \"{user}\"\npassword = \"{}\"\nrole = \"{role}\"",
        credential.to_config_string()
    );
    Ok(())
}

/// `segmint serve`: serves until SIGINT or SIGTERM.
pub async fn serve(config: Config) -> Result<()> {
    let engine = build_engine(&config).await?;
    if let Some(cluster) = engine.cluster() {
        let probe = crate::engine::distributed::status::get(cluster.endpoint(), "/api/version");
        let answer = tokio::time::timeout(crate::engine::distributed::status::TIMEOUT, probe)
            .await
            .unwrap_or_else(|_| Err("no answer within 5 s".to_string()));
        match answer {
            Ok(_) => {
                tracing::info!(scheduler = %cluster.scheduler(), "query execution goes to the cluster")
            }
            Err(reason) => tracing::error!(
                scheduler = %cluster.scheduler(),
                %reason,
                "the cluster scheduler is not reachable: catalog queries are answered, queries on datasets fail until it is"
            ),
        }
    }
    let server = Server::bind(&config, engine.clone()).await?;
    // Kept for as long as the server runs: `RUN REPORT` reaches the reports through it.
    let _reports = start_background(&config, &engine).await?;
    let addr = server.local_addr()?;
    let tables: Vec<String> = engine
        .datasets()
        .into_iter()
        .filter(|d| d.error.is_none())
        .map(|d| d.name)
        .collect();
    tracing::info!(%addr, tables = ?tables, "Segmint is ready");
    eprintln!(
        "Segmint listening on {addr}: psql -h {} -p {} -U segmint -d {}",
        addr.ip(),
        addr.port(),
        engine.database()
    );
    server.serve(shutdown_signal()).await
}

/// `segmint scheduler`: Ballista's scheduler with Segmint's functions, settings, object
/// stores and codecs, until SIGINT or SIGTERM.
pub async fn scheduler(config: Config, options: crate::cluster::SchedulerOptions) -> Result<()> {
    eprintln!(
        "Segmint scheduler on {}: start executors with segmint executor --scheduler df://{}",
        options.bind, options.bind
    );
    tokio::select! {
        result = crate::cluster::run_scheduler(&config, options) => result,
        () = shutdown_signal() => Ok(()),
    }
}

/// `segmint executor`: Ballista's executor with Segmint's functions, settings, object stores
/// and codecs, until SIGINT or SIGTERM.
pub async fn executor(config: Config, options: crate::cluster::ExecutorOptions) -> Result<()> {
    tokio::select! {
        result = crate::cluster::run_executor(&config, options) => result,
        () = shutdown_signal() => Ok(()),
    }
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => tracing::info!("SIGINT received"),
        _ = terminate => tracing::info!("SIGTERM received"),
    }
}

/// `segmint sql`: runs one query and prints its result to stdout (`reports.*` included).
pub async fn sql(config: Config, query: &str, format: OutputFormat) -> Result<u64> {
    let engine = build_engine(&config).await?;
    Reports::open(&config.reports, engine.clone()).await?;
    let ctx = engine.session();
    let frame = ctx.sql(query).await?;
    let stream = frame.execute_stream().await?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    write_stream(stream, format, &mut out).await
}

/// `segmint check`: prints what the configuration serves and returns whether it is ready
/// (`false`: something configured is broken).
pub async fn check(config: Config) -> Result<bool> {
    let engine = build_engine(&config).await?;
    let reports = Reports::open(&config.reports, engine.clone()).await?;
    let report = crate::check::check(&engine, &reports).await?;
    print!("{}", report.text);
    Ok(report.problems.is_empty())
}

/// `segmint init DIR`: writes a starter project and prints what it wrote.
pub fn init(dir: &Path) -> Result<()> {
    let written = crate::init::init(dir)?;
    for path in &written {
        println!("wrote {}", path.display());
    }
    println!(
        "next: add your datasets to {0}/segmint.toml, map your orders in {0}/model/orders.sql,          then `segmint check --project {0}` and `segmint serve --project {0}`",
        dir.display()
    );
    Ok(())
}

/// `segmint report list`: every report with its schedule, period, outputs and last run.
pub async fn report_list(config: Config) -> Result<()> {
    let engine = build_engine(&config).await?;
    let reports = Reports::open(&config.reports, engine).await?;
    println!(
        "{:<20} {:<18} {:<16} {:<8} {:<18} last run",
        "name", "schedule", "timezone", "period", "outputs"
    );
    for report in reports.list() {
        let last = reports
            .runs(&report.name)
            .await?
            .pop()
            .map(|r| {
                format!(
                    "{} as of {} ({})",
                    r.status,
                    r.as_of,
                    r.started.format("%Y-%m-%d %H:%M")
                )
            })
            .unwrap_or_else(|| "never".to_string());
        let outputs: Vec<String> = report
            .outputs
            .iter()
            .map(|o| format!("{o:?}").to_lowercase())
            .collect();
        println!(
            "{:<20} {:<18} {:<16} {:<8} {:<18} {last}",
            report.name,
            report.schedule_text.as_deref().unwrap_or("on demand"),
            report.timezone.name(),
            report.period.as_str(),
            outputs.join(","),
        );
        println!("    {}", report.description);
        if let Some(reason) = reports.unavailable(report) {
            println!("    unavailable on this shop's data: {reason}");
        }
    }
    Ok(())
}

/// `segmint report run NAME`: runs one report now, printing each step (and, every few
/// seconds, how long the current one has taken) to stderr.
pub async fn report_run(
    config: Config,
    name: &str,
    as_of: Option<chrono::NaiveDate>,
    period: Option<Period>,
) -> Result<RunSummary> {
    let engine = build_engine(&config).await?;
    let reports = Reports::open(&config.reports, engine).await?;
    let started = std::time::Instant::now();
    let current = Arc::new(std::sync::Mutex::new((String::from("starting"), started)));
    let ticker = {
        let current = current.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(std::time::Duration::from_secs(5));
            ticks.tick().await;
            loop {
                ticks.tick().await;
                if let Ok(step) = current.lock() {
                    eprintln!(
                        "  … still {} ({:.0}s, {:.0}s in all)",
                        step.0,
                        step.1.elapsed().as_secs_f64(),
                        started.elapsed().as_secs_f64()
                    );
                }
            }
        })
    };
    let progress = |step: &Step| {
        eprintln!("[{:>6.1}s] {step}", started.elapsed().as_secs_f64());
        if let Ok(mut current) = current.lock() {
            *current = (step.to_string(), std::time::Instant::now());
        }
    };
    let request = RunRequest {
        as_of,
        period,
        trigger: Trigger::Manual,
    };
    let result = reports.run(name, request, &progress).await;
    ticker.abort();
    let summary = result?;
    eprintln!(
        "[{:>6.1}s] done: {} rows as of {} ({} period)",
        started.elapsed().as_secs_f64(),
        summary.record.rows,
        summary.record.as_of,
        summary.record.period
    );
    for file in &summary.files {
        println!("{file}");
    }
    Ok(summary)
}

/// `segmint demo-data`: generates demo data into `out` and prints a summary.
pub fn demo_data(
    out: &Path,
    customers: u64,
    seed: u64,
    threads: Option<usize>,
) -> Result<demo::DemoSummary> {
    let summary = demo::generate(&demo::DemoOptions {
        out: out.to_path_buf(),
        customers,
        seed,
        threads,
    })?;
    Ok(summary)
}
