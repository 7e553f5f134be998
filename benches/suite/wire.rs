//! Wire benchmarks against PostgreSQL 15 on the same machine: 1M rows through `SELECT` and
//! `COPY ... TO STDOUT` read by psql and psycopg, and pgbench throughput of small queries.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use serde_json::json;

use crate::processes::{BenchResult, Worker, median, run};

/// Where a PostgreSQL-speaking server listens.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// `Segmint` or `PostgreSQL 15`.
    pub label: &'static str,
    /// Loopback port.
    pub port: u16,
    /// User to log in as.
    pub user: String,
    /// Database name.
    pub database: String,
}

impl Endpoint {
    fn dsn(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user={} dbname={}",
            self.port, self.user, self.database
        )
    }

    fn psql(&self) -> Command {
        let mut command = Command::new("psql");
        command.args([
            "-X",
            "-q",
            "-A",
            "-t",
            "-h",
            "127.0.0.1",
            "-p",
            &self.port.to_string(),
            "-U",
            &self.user,
            "-d",
            &self.database,
        ]);
        command
    }
}

/// The rows transferred.
pub const TRANSFER_SQL: &str =
    "SELECT order_id, customer_id, order_ts, channel, net_amount, status FROM transfer";

/// One transfer measurement: client and statement, then the median ms per server.
#[derive(Debug, Clone)]
pub struct Transfer {
    /// `psql` or `psycopg`.
    pub client: &'static str,
    /// `SELECT` or `COPY`.
    pub statement: &'static str,
    /// Median milliseconds on Segmint.
    pub segmint_ms: f64,
    /// Median milliseconds on PostgreSQL.
    pub postgres_ms: f64,
}

/// The PostgreSQL tables: the transfer rows and a small daily KPI table dashboards read.
const TABLES: &[(&str, &str)] = &[
    (
        "transfer",
        "order_id bigint PRIMARY KEY, customer_id bigint NOT NULL, order_ts timestamptz NOT NULL, \
         channel text NOT NULL, net_amount numeric(12,2) NOT NULL, status text NOT NULL",
    ),
    (
        "daily_kpi",
        "day date NOT NULL, channel text NOT NULL, orders bigint NOT NULL, revenue numeric(18,2) NOT NULL",
    ),
];

/// Loads table `name` (a CSV file with a header) into PostgreSQL.
pub fn load_postgres(postgres: &Endpoint, name: &str, csv: &Path) -> BenchResult<()> {
    let columns = TABLES
        .iter()
        .find(|(table, _)| *table == name)
        .map(|(_, columns)| *columns)
        .ok_or_else(|| format!("no PostgreSQL definition for {name}"))?;
    run(postgres.psql().args([
        "-v",
        "ON_ERROR_STOP=1",
        "-c",
        &format!("DROP TABLE IF EXISTS {name}"),
        "-c",
        &format!("CREATE TABLE {name} ({columns})"),
        "-c",
        &format!(
            "\\copy {name} FROM '{}' WITH (FORMAT csv, HEADER)",
            csv.display()
        ),
        "-c",
        &format!("VACUUM ANALYZE {name}"),
    ]))?;
    Ok(())
}

fn psql_once(endpoint: &Endpoint, copy: bool) -> BenchResult<f64> {
    let sql = if copy {
        format!("COPY ({TRANSFER_SQL}) TO STDOUT")
    } else {
        TRANSFER_SQL.to_string()
    };
    let mut command = endpoint.psql();
    command.args(["-c", &sql]).stdout(Stdio::null());
    let started = Instant::now();
    let status = command.status()?;
    let ms = started.elapsed().as_secs_f64() * 1e3;
    if !status.success() {
        return Err(format!("psql {sql} on {} failed ({status})", endpoint.label).into());
    }
    Ok(ms)
}

fn psycopg_once(worker: &mut Worker, endpoint: &Endpoint, copy: bool) -> BenchResult<(f64, u64)> {
    let (op, sql) = if copy {
        ("psycopg_copy", format!("COPY ({TRANSFER_SQL}) TO STDOUT"))
    } else {
        ("psycopg_select", TRANSFER_SQL.to_string())
    };
    let timed = worker.timed(json!({"op": op, "dsn": endpoint.dsn(), "sql": sql}))?;
    Ok((timed.ms, timed.rows))
}

/// Measures the four client/statement pairs on both servers, interleaved, `runs` times each.
pub fn transfer(
    worker: &mut Worker,
    segmint: &Endpoint,
    postgres: &Endpoint,
    runs: usize,
) -> BenchResult<Vec<Transfer>> {
    let mut results = Vec::new();
    for (client, statement, copy) in [
        ("psql", "SELECT", false),
        ("psql", "COPY", true),
        ("psycopg", "SELECT", false),
        ("psycopg", "COPY", true),
    ] {
        let mut times = [Vec::new(), Vec::new()];
        let mut received = [0, 0];
        // One warm-up run each, then the measured runs.
        for round in 0..=runs {
            for (i, endpoint) in [segmint, postgres].into_iter().enumerate() {
                let (ms, got) = if client == "psql" {
                    (psql_once(endpoint, copy)?, 0)
                } else {
                    psycopg_once(worker, endpoint, copy)?
                };
                if round > 0 {
                    times[i].push(ms);
                }
                received[i] = got;
            }
        }
        if client == "psycopg" && received[0] != received[1] {
            return Err(format!(
                "{client} {statement}: Segmint sent {} {}, PostgreSQL {}",
                received[0],
                if copy { "bytes" } else { "rows" },
                received[1]
            )
            .into());
        }
        let result = Transfer {
            client,
            statement,
            segmint_ms: median(&times[0]),
            postgres_ms: median(&times[1]),
        };
        println!(
            "transfer {client:<8} {statement:<7} Segmint {:>8.0} ms  PostgreSQL {:>8.0} ms  ratio {:.2}",
            result.segmint_ms,
            result.postgres_ms,
            result.segmint_ms / result.postgres_ms
        );
        results.push(result);
    }
    Ok(results)
}

/// One pgbench measurement.
#[derive(Debug, Clone)]
pub struct Throughput {
    /// The script's name.
    pub script: &'static str,
    /// `simple` or `extended`.
    pub protocol: &'static str,
    /// Transactions per second on Segmint.
    pub segmint_tps: f64,
    /// Transactions per second on PostgreSQL.
    pub postgres_tps: f64,
}

/// The small-query scripts: a health check, and what a dashboard fires when it opens.
pub const SCRIPTS: &[(&str, &str)] = &[
    ("health_check", "SELECT 1;\n"),
    (
        "dashboard",
        "SELECT 1;\n\
         SELECT c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relname = 'daily_kpi';\n\
         SELECT sum(orders) AS orders, sum(revenue) AS revenue FROM daily_kpi WHERE day >= DATE '2026-10-01';\n",
    ),
];

fn pgbench_once(
    endpoint: &Endpoint,
    script: &Path,
    protocol: &str,
    clients: usize,
    seconds: u64,
) -> BenchResult<f64> {
    let out = run(Command::new("pgbench").args([
        "-n",
        "-h",
        "127.0.0.1",
        "-p",
        &endpoint.port.to_string(),
        "-U",
        &endpoint.user,
        "-c",
        &clients.to_string(),
        "-j",
        "2",
        "-T",
        &seconds.to_string(),
        "-M",
        protocol,
        "-f",
        &script.display().to_string(),
        &endpoint.database,
    ]))?;
    let failed = out
        .lines()
        .find_map(|l| l.strip_prefix("number of failed transactions: "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0);
    if failed > 0 {
        return Err(format!(
            "pgbench on {}: {failed} failed transactions\n{out}",
            endpoint.label
        )
        .into());
    }
    out.lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|tps| tps.parse::<f64>().ok())
        .ok_or_else(|| format!("no tps in pgbench output:\n{out}").into())
}

/// pgbench with each script and protocol, Segmint then PostgreSQL.
pub fn small_queries(
    work: &Path,
    segmint: &Endpoint,
    postgres: &Endpoint,
    clients: usize,
    seconds: u64,
) -> BenchResult<Vec<Throughput>> {
    let mut results = Vec::new();
    for (script, text) in SCRIPTS {
        let path = work.join(format!("{script}.pgbench"));
        std::fs::write(&path, text)?;
        for protocol in ["simple", "extended"] {
            let segmint_tps = pgbench_once(segmint, &path, protocol, clients, seconds)?;
            let postgres_tps = pgbench_once(postgres, &path, protocol, clients, seconds)?;
            println!(
                "pgbench {script:<13} {protocol:<8} Segmint {segmint_tps:>9.0} tps  PostgreSQL {postgres_tps:>9.0} tps  ratio {:.2}",
                segmint_tps / postgres_tps
            );
            results.push(Throughput {
                script,
                protocol,
                segmint_tps,
                postgres_tps,
            });
        }
    }
    Ok(results)
}

/// Queries cancelled 1 s in: long on both servers (each `channel` joins a quarter of the
/// rows to each other), one streaming, one grouped.
pub const CANCELLED: &[(&str, &str)] = &[
    (
        "self-join",
        "SELECT count(*) FROM transfer a JOIN transfer b ON a.channel = b.channel",
    ),
    (
        "grouped self-join",
        "SELECT a.customer_id, count(*) FROM transfer a JOIN transfer b \
         ON a.channel = b.channel GROUP BY a.customer_id",
    ),
];

/// How long a query takes to end after a `CancelRequest`, median ms per server.
#[derive(Debug, Clone)]
pub struct CancelLatency {
    /// What was cancelled.
    pub query: &'static str,
    /// Median milliseconds from the cancel to the error on Segmint.
    pub segmint_ms: f64,
    /// The same on PostgreSQL.
    pub postgres_ms: f64,
}

/// Runs `sql` on `endpoint`, sends a cancel 1 s in, and returns the ms until the error came.
async fn cancel_once(endpoint: &Endpoint, sql: &str) -> BenchResult<f64> {
    let (client, connection) =
        tokio_postgres::connect(&endpoint.dsn(), tokio_postgres::NoTls).await?;
    let connection = tokio::spawn(connection);
    let token = client.cancel_token();
    let canceller = async {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        let sent = Instant::now();
        token
            .cancel_query(tokio_postgres::NoTls)
            .await
            .map(|_| sent)
    };
    let (result, sent) = tokio::join!(client.simple_query(sql), canceller);
    let ended = Instant::now();
    let sent = sent?;
    match result {
        Err(error) if error.code() == Some(&tokio_postgres::error::SqlState::QUERY_CANCELED) => {}
        Err(error) => return Err(format!("{sql} on {}: {error}", endpoint.label).into()),
        Ok(_) => return Err(format!("{sql} on {} ended before the cancel", endpoint.label).into()),
    }
    drop(client);
    let _ = connection.await;
    Ok(ended.saturating_duration_since(sent).as_secs_f64() * 1e3)
}

/// Cancel latency of each [`CANCELLED`] query on both servers, interleaved, `runs` times each.
pub async fn cancel_latency(
    segmint: &Endpoint,
    postgres: &Endpoint,
    runs: usize,
) -> BenchResult<Vec<CancelLatency>> {
    let mut results = Vec::new();
    for (query, sql) in CANCELLED {
        let mut times = [Vec::new(), Vec::new()];
        for _ in 0..runs.max(1) {
            for (i, endpoint) in [segmint, postgres].into_iter().enumerate() {
                times[i].push(cancel_once(endpoint, sql).await?);
            }
        }
        let result = CancelLatency {
            query,
            segmint_ms: median(&times[0]),
            postgres_ms: median(&times[1]),
        };
        println!(
            "cancel   {query:<18} Segmint {:>8.1} ms  PostgreSQL {:>8.1} ms",
            result.segmint_ms, result.postgres_ms
        );
        results.push(result);
    }
    Ok(results)
}
