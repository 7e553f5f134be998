//! Side-by-side benchmark: the CRM suite on Segmint (in-process and through pgwire) and on
//! DuckDB, 1M-row transfers and small-query throughput against PostgreSQL 15, all in one run.
//! `scripts/bench.sh` installs what it needs and runs it; it writes `docs/performance.md`.
//!
//! Settings (environment): `SEGMINT_BENCH_SCALES` (`S1,S10`; add `S50` for the spilling RFM
//! run; `none` skips the suite), `SEGMINT_BENCH_LAYOUTS` (`demo,foreign`: the file layouts
//! of [`layouts`] each scale is measured on), `SEGMINT_BENCH_RUNS` (5), `SEGMINT_BIN` (the
//! release `segmint`), `SEGMINT_BENCH_PYTHON` (a Python with duckdb, pyarrow, psycopg and
//! lifetimes), `SEGMINT_BENCH_PG_PORT`
//! (PostgreSQL on loopback, user `postgres`; without it the wire sections are skipped),
//! `SEGMINT_BENCH_PGBENCH_SECONDS` (10), `SEGMINT_BENCH_DOC` (where the report goes),
//! `SEGMINT_BENCH_ENGINE_OPTIONS` (`key=value;...` engine options for Segmint, to measure a
//! setting on and off), `SEGMINT_BENCH_SERVER_OPTIONS` (`key=value;...` TOML lines added to the
//! server's `[server]` table, such as `cache_results=false`).
//!
//! `SEGMINT_BENCH_FITS` (`20000,100000`, or `none`): demo customer counts at which the BTYD
//! fits run against `lifetimes` 0.11.3 ([`fits`]; the worker's Python needs `lifetimes`).
//!
//! `SEGMINT_BENCH_CLUSTER=1` (`scripts/bench.sh --cluster`) runs the cluster comparison instead
//! ([`cluster`]): the suite through pgwire on a single-node server and on the same server in
//! front of a local Ballista cluster of 1 and of 2 executors, at `SEGMINT_BENCH_SCALES` (`S10`
//! there); no DuckDB, PostgreSQL or Python. It writes only the cluster section of the report.

mod cluster;
mod fits;
mod layouts;
mod markdown;
mod processes;
mod queries;
mod suite;
mod wire;

use std::path::PathBuf;

use processes::{BenchResult, Worker};

/// A data scale: a label and the demo customers that give about that many orders.
#[derive(Debug, Clone)]
pub struct Scale {
    /// `S1`, `S10`, `S50`.
    pub label: String,
    /// Demo customers (about 3.02 orders each).
    pub customers: u64,
}

fn scale(label: &str) -> BenchResult<Scale> {
    let millions: u64 = label
        .trim()
        .strip_prefix(['S', 's'])
        .and_then(|n| n.parse().ok())
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("scale '{label}' is not S<millions of orders>"))?;
    Ok(Scale {
        label: format!("S{millions}"),
        customers: millions * 331_000,
    })
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| default.to_string())
}

/// What the run was told to do.
pub struct Settings {
    /// Scales of the CRM suite.
    pub scales: Vec<Scale>,
    /// File layouts each scale is measured on.
    pub layouts: Vec<layouts::Layout>,
    /// Measured runs per query (after one warm-up).
    pub runs: usize,
    /// The `segmint` binary served over the wire.
    pub bin: PathBuf,
    /// An earlier `segmint` build whose wire figures are measured in the same run
    /// (`SEGMINT_BENCH_BASELINE_BIN`), for before/after comparisons.
    pub baseline_bin: Option<PathBuf>,
    /// Python with the worker's packages.
    pub python: PathBuf,
    /// PostgreSQL's port, when the wire sections run.
    pub postgres_port: Option<u16>,
    /// Seconds per pgbench measurement.
    pub pgbench_seconds: u64,
    /// Cached demo data.
    pub data_root: PathBuf,
    /// Scratch space (server configs, report outputs, transfer files).
    pub work: PathBuf,
    /// The Markdown report.
    pub doc: PathBuf,
    /// Extra `[engine.options]` for Segmint.
    pub engine_options: Vec<(String, String)>,
    /// Extra `[server]` settings (TOML values) for the Segmint server.
    pub server_options: Vec<(String, String)>,
    /// Demo customer counts of the model-fit comparison.
    pub fits: Vec<u64>,
    /// The cluster comparison instead of the side-by-side suite.
    pub cluster: bool,
}

fn pairs(name: &str) -> BenchResult<Vec<(String, String)>> {
    env_or(name, "")
        .split(';')
        .filter(|pair| !pair.trim().is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((key, value)) => Ok((key.trim().to_string(), value.trim().to_string())),
            None => Err(format!("{name}: '{pair}' is not key=value").into()),
        })
        .collect()
}

fn settings() -> BenchResult<Settings> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let cluster = matches!(
        env_or("SEGMINT_BENCH_CLUSTER", "").trim(),
        "1" | "true" | "yes"
    );
    let scales = env_or(
        "SEGMINT_BENCH_SCALES",
        if cluster { "S10" } else { "S1,S10" },
    )
    .split(',')
    .filter(|label| !matches!(label.trim(), "none" | ""))
    .map(scale)
    .collect::<BenchResult<Vec<_>>>()?;
    let layouts = env_or("SEGMINT_BENCH_LAYOUTS", "demo,foreign")
        .split(',')
        .map(layouts::Layout::parse)
        .collect::<BenchResult<Vec<_>>>()?;
    let runs = env_or("SEGMINT_BENCH_RUNS", "5").parse::<usize>()?.max(1);
    let work = target.join("bench-suite");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    Ok(Settings {
        scales,
        layouts,
        runs,
        bin: PathBuf::from(env_or(
            "SEGMINT_BIN",
            &target.join("release/segmint").display().to_string(),
        )),
        baseline_bin: Some(env_or("SEGMINT_BENCH_BASELINE_BIN", ""))
            .filter(|path| !path.trim().is_empty())
            .map(PathBuf::from),
        python: PathBuf::from(env_or("SEGMINT_BENCH_PYTHON", "python3")),
        postgres_port: std::env::var("SEGMINT_BENCH_PG_PORT")
            .ok()
            .and_then(|p| p.parse().ok()),
        pgbench_seconds: env_or("SEGMINT_BENCH_PGBENCH_SECONDS", "10").parse()?,
        data_root: root.join("target/bench-data"),
        work,
        doc: PathBuf::from(env_or(
            "SEGMINT_BENCH_DOC",
            &root.join("docs/performance.md").display().to_string(),
        )),
        engine_options: pairs("SEGMINT_BENCH_ENGINE_OPTIONS")?,
        server_options: pairs("SEGMINT_BENCH_SERVER_OPTIONS")?,
        fits: env_or("SEGMINT_BENCH_FITS", "20000,100000")
            .split(',')
            .filter(|n| !matches!(n.trim(), "none" | "0" | ""))
            .map(|n| n.trim().parse::<u64>())
            .collect::<Result<Vec<_>, _>>()?,
        cluster,
    })
}

fn main() -> BenchResult<()> {
    let settings = settings()?;
    if settings.cluster {
        return run_cluster(&settings);
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/suite/worker.py");
    let mut worker = Worker::start(&settings.python, &script)?;
    let runtime = tokio::runtime::Runtime::new()?;
    let mut report = markdown::Report::new(&settings);
    for scale in &settings.scales {
        for &layout in &settings.layouts {
            match runtime.block_on(suite::run_scale(&settings, scale, layout, &mut worker)) {
                Ok(result) => {
                    report.duckdb_version = result.duckdb_version.clone();
                    report.scales.push(result);
                }
                // The memory-limited scale is the test of spilling: its failure is a result.
                Err(error) if suite::is_memory_limited(scale) => {
                    let label = format!("{} ({} layout)", scale.label, layout.name());
                    println!("{label}: failed under the memory limit: {error}");
                    report.failures.push((label, error.to_string()));
                    worker = Worker::start(&settings.python, &script)?;
                }
                Err(error) => return Err(error),
            }
        }
    }
    for &customers in &settings.fits {
        match runtime.block_on(fits::run(&settings, customers, &mut worker)) {
            Ok(result) => report.fits.push(result),
            Err(error) => {
                println!("fits at {customers} customers failed: {error}");
                report.fit_failures.push((customers, error.to_string()));
            }
        }
    }
    if let Some(port) = settings.postgres_port {
        let wire = runtime.block_on(suite::run_wire(&settings, port, &mut worker))?;
        report.wire = Some(wire);
    } else {
        println!("SEGMINT_BENCH_PG_PORT is not set: transfer and pgbench sections skipped");
    }
    report.write(&settings.doc)?;
    println!("\nwrote {}", settings.doc.display());
    Ok(())
}

/// The cluster comparison (`SEGMINT_BENCH_CLUSTER`): writes the cluster section of the report.
fn run_cluster(settings: &Settings) -> BenchResult<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    let mut scales = Vec::new();
    for scale in &settings.scales {
        scales.push(runtime.block_on(cluster::run_scale(settings, scale))?);
    }
    markdown::write_cluster(&settings.doc, &scales, settings.runs)?;
    println!("\nwrote the cluster section of {}", settings.doc.display());
    Ok(())
}
