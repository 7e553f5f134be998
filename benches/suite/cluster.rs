//! `scripts/bench.sh --cluster`: the CRM suite through pgwire on a single-node `segmint serve`
//! and on the same server with `--cluster` in front of a local Apache DataFusion Ballista
//! cluster (one `segmint scheduler`, then 1 or 2 `segmint executor` processes), all on this
//! machine and interleaved query by query. Also measured: the fixed cost of a trivial query on
//! the cluster, and the stages of each query's distributed plan (`EXPLAIN`), so the extra time
//! can be put per query and per stage.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

use crate::processes::{BenchResult, Server, median};
use crate::queries::{self, Kind, SuiteQuery};
use crate::suite::{pgwire_query, server_config};
use crate::{Scale, Settings};

/// The query whose extra time on the cluster is the fixed cost of a cluster query: it lists
/// the orders files and reads their statistics like every query, matches no row, and returns
/// one.
pub const TRIVIAL_SQL: &str = "SELECT count(*) FROM orders WHERE customer_id = -1";

/// The three setups, in the order of every `[_; 3]` below.
pub const SETUPS: [&str; 3] = ["single-node", "1 executor", "2 executors"];

/// Executors of the two clusters.
pub const EXECUTORS: [usize; 2] = [1, 2];

/// How long the executors have to register with their scheduler.
const REGISTER_TIMEOUT: Duration = Duration::from_secs(120);

/// How long one query may take before the run fails (a stuck job would hang it otherwise).
const QUERY_TIMEOUT: Duration = Duration::from_secs(600);

/// One entry at one scale on the three setups.
#[derive(Debug, Clone)]
pub struct ClusterQuery {
    /// Suite name.
    pub name: &'static str,
    /// Rows of the result (the same on the three setups, or the run fails).
    pub rows: u64,
    /// Stages of the distributed plan on the 1- and 2-executor clusters (`None`: no
    /// distributed plan in `EXPLAIN`).
    pub stages: [Option<usize>; 2],
    /// Median milliseconds: single-node, 1 executor, 2 executors.
    pub ms: [f64; 3],
}

impl ClusterQuery {
    /// The time on setup `s` as a ratio to the single-node time.
    pub fn ratio(&self, s: usize) -> f64 {
        self.ms[s] / self.ms[0]
    }

    /// Extra milliseconds per stage on cluster `c` (0: 1 executor, 1: 2 executors) over the
    /// single-node time.
    pub fn extra_per_stage(&self, c: usize) -> Option<f64> {
        self.stages[c]
            .filter(|n| *n > 0)
            .map(|n| (self.ms[c + 1] - self.ms[0]) / n as f64)
    }
}

/// One scale's results.
#[derive(Debug, Clone)]
pub struct ClusterScale {
    /// `S10`...
    pub label: String,
    /// Orders in the data.
    pub orders: u64,
    /// Customers in the data.
    pub customers: u64,
    /// The suite's entries.
    pub queries: Vec<ClusterQuery>,
    /// [`TRIVIAL_SQL`].
    pub trivial: ClusterQuery,
    /// `--concurrent-tasks` of each executor, per cluster.
    pub task_slots: [usize; 2],
}

/// A child process killed when dropped, with its log file.
struct Process {
    child: Child,
    what: String,
    log: PathBuf,
}

impl Process {
    fn spawn(what: String, command: &mut Command, log: PathBuf) -> BenchResult<Process> {
        let log_file = std::fs::File::create(&log)?;
        let child = command
            .env("SEGMINT_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .map_err(|e| format!("starting {what}: {e}"))?;
        Ok(Process { child, what, log })
    }

    /// The end of its log.
    fn tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let from = lines.len().saturating_sub(20);
        format!(
            "--- {} ({})\n{}\n",
            self.what,
            self.log.display(),
            lines[from..].join("\n")
        )
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Free loopback ports, all different (each listener is held until all are chosen).
fn free_ports(n: usize) -> BenchResult<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()?;
    let mut ports = Vec::with_capacity(n);
    for listener in &listeners {
        ports.push(listener.local_addr()?.port());
    }
    Ok(ports)
}

/// One scheduler and its executors on 127.0.0.1, stopped when dropped.
struct LocalCluster {
    /// `df://127.0.0.1:PORT`.
    url: String,
    /// The scheduler first.
    processes: Vec<Process>,
}

impl LocalCluster {
    /// Starts a scheduler and `executors` executors, each with `tasks` task slots and its own
    /// work folder under `dir`, all reading `config`.
    fn start(
        bin: &Path,
        config: &Path,
        dir: &Path,
        executors: usize,
        tasks: usize,
    ) -> BenchResult<LocalCluster> {
        std::fs::create_dir_all(dir)?;
        let ports = free_ports(1 + 2 * executors)?;
        let scheduler_port = ports[0];
        let url = format!("df://127.0.0.1:{scheduler_port}");
        let scheduler = Process::spawn(
            format!("scheduler {url}"),
            Command::new(bin)
                .arg("scheduler")
                .args(["--bind", &format!("127.0.0.1:{scheduler_port}")])
                .arg("--config")
                .arg(config),
            dir.join("scheduler.log"),
        )?;
        let mut cluster = LocalCluster {
            url,
            processes: vec![scheduler],
        };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", scheduler_port)).is_err() {
            cluster.check_running()?;
            if started.elapsed() > Duration::from_secs(60) {
                return Err(format!(
                    "the scheduler did not listen within 60 s\n{}",
                    cluster.logs()
                )
                .into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        for i in 0..executors {
            let (flight, grpc) = (ports[1 + 2 * i], ports[2 + 2 * i]);
            let executor = Process::spawn(
                format!("executor {i} of {}", cluster.url),
                Command::new(bin)
                    .args(["executor", "--scheduler", &cluster.url])
                    .args(["--bind", &format!("127.0.0.1:{flight}")])
                    .args(["--grpc-port", &grpc.to_string()])
                    .args(["--concurrent-tasks", &tasks.to_string()])
                    .arg("--work-dir")
                    .arg(dir.join(format!("executor-{i}")))
                    .arg("--config")
                    .arg(config),
                dir.join(format!("executor-{i}.log")),
            )?;
            cluster.processes.push(executor);
        }
        Ok(cluster)
    }

    /// Fails when a process of the cluster has exited.
    fn check_running(&mut self) -> BenchResult<()> {
        for process in &mut self.processes {
            if let Some(status) = process.child.try_wait()? {
                return Err(
                    format!("{} exited ({status})\n{}", process.what, process.tail()).into(),
                );
            }
        }
        Ok(())
    }

    /// The end of every log.
    fn logs(&self) -> String {
        self.processes.iter().map(Process::tail).collect()
    }
}

/// A server the suite runs on, and its cluster when it has one.
struct Setup {
    server: Server,
    client: Client,
    cluster: Option<LocalCluster>,
    log: PathBuf,
}

impl Setup {
    /// The ends of the server's and the cluster's logs, for error messages.
    fn logs(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let from = lines.len().saturating_sub(20);
        let mut out = format!(
            "--- server on port {} ({})\n{}\n",
            self.server.port,
            self.log.display(),
            lines[from..].join("\n")
        );
        if let Some(cluster) = &self.cluster {
            out.push_str(&cluster.logs());
        }
        out
    }
}

async fn connect(port: u16) -> BenchResult<Client> {
    let (client, connection) = tokio_postgres::connect(
        &format!("host=127.0.0.1 port={port} user=segmint dbname=segmint"),
        NoTls,
    )
    .await?;
    tokio::spawn(connection);
    Ok(client)
}

/// The first column of the first row of `sql`, as an integer.
async fn scalar(client: &Client, sql: &str) -> BenchResult<i64> {
    let messages = client.simple_query(sql).await?;
    messages
        .iter()
        .find_map(|m| match m {
            SimpleQueryMessage::Row(row) => row.get(0).and_then(|v| v.parse().ok()),
            _ => None,
        })
        .ok_or_else(|| format!("{sql}: no integer in the answer").into())
}

/// Waits until the scheduler behind `setup` knows `n` live executors (`segmint.cluster`).
async fn wait_for_executors(setup: &mut Setup, n: i64) -> BenchResult<()> {
    let started = Instant::now();
    loop {
        let alive = scalar(
            &setup.client,
            "SELECT count(*) FROM segmint.cluster WHERE state = 'alive'",
        )
        .await
        .unwrap_or(0);
        if alive == n {
            return Ok(());
        }
        if let Some(cluster) = &mut setup.cluster {
            cluster.check_running()?;
        }
        if started.elapsed() > REGISTER_TIMEOUT {
            return Err(format!(
                "the scheduler knows {alive} live executors, not {n}, after {} s\n{}",
                REGISTER_TIMEOUT.as_secs(),
                setup.logs()
            )
            .into());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The SQL `EXPLAIN` is asked about for a suite entry (a report: its query with the run's
/// placeholders filled in as the runner fills them).
fn explained_sql(query: &SuiteQuery) -> BenchResult<String> {
    Ok(match query.kind {
        Kind::Query => query.segmint.clone(),
        Kind::Report => {
            let as_of = chrono::NaiveDate::parse_from_str(queries::REPORT_AS_OF, "%Y-%m-%d")?;
            let end = as_of + chrono::Days::new(1);
            queries::REPORT_SQL.replace(
                "{period_end}",
                &format!("DATE '{}'", end.format("%Y-%m-%d")),
            )
        }
    })
}

/// The stages of `sql`'s distributed plan: the `stage_id=` headers in `EXPLAIN`'s
/// `distributed_plan` row (`None` when there is no such row: the query runs in the server).
async fn stages(client: &Client, sql: &str) -> BenchResult<Option<usize>> {
    let messages = client.simple_query(&format!("EXPLAIN {sql}")).await?;
    Ok(messages.iter().find_map(|m| match m {
        SimpleQueryMessage::Row(row) if row.get(0) == Some("distributed_plan") => {
            row.get(1).map(|plan| plan.matches("stage_id=").count())
        }
        _ => None,
    }))
}

/// The `segmint.toml` of one setup: the suite's server config, plus the folders every
/// executor sees (on one machine: the demo data and the run's work folder).
fn setup_config(
    settings: &Settings,
    work: &Path,
    name: &str,
    datasets: &[segmint::config::DatasetConfig],
    reports_dir: &Path,
) -> BenchResult<PathBuf> {
    let path = work.join(format!("{name}.toml"));
    server_config(
        settings,
        &path,
        datasets,
        Some((reports_dir, &work.join(format!("{name}-out")))),
        None,
        &work.join(format!("spill-{name}")),
        &[],
    )?;
    let mut toml = std::fs::read_to_string(&path)?;
    toml.push_str(&format!(
        "[cluster]\nshared_paths = [{:?}, {:?}]\n",
        settings.data_root.display().to_string(),
        work.display().to_string()
    ));
    std::fs::write(&path, toml)?;
    Ok(path)
}

/// Runs the suite at one scale on the three setups.
pub async fn run_scale(settings: &Settings, scale: &Scale) -> BenchResult<ClusterScale> {
    let data = segmint::demo::ensure_cached(&settings.data_root, scale.customers, 42)?;
    let work = settings.work.join(format!("cluster-{}", scale.label));
    let reports_dir = work.join("reports");
    std::fs::create_dir_all(&reports_dir)?;
    std::fs::write(
        reports_dir.join(format!("{}.sql", queries::REPORT_NAME)),
        queries::report_file(),
    )?;
    let datasets = segmint::demo::datasets(&data);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let task_slots = EXECUTORS.map(|n| (cores / n).max(1));

    let mut setups = Vec::new();
    for (s, name) in ["single", "cluster-1", "cluster-2"].into_iter().enumerate() {
        let config = setup_config(settings, &work, name, &datasets, &reports_dir)?;
        let (cluster, args) = if s == 0 {
            (None, vec![])
        } else {
            let cluster = LocalCluster::start(
                &settings.bin,
                &config,
                &work.join(name),
                EXECUTORS[s - 1],
                task_slots[s - 1],
            )?;
            let args = vec!["--cluster".to_string(), cluster.url.clone()];
            (Some(cluster), args)
        };
        let log = work.join(format!("{name}-server.log"));
        let server = Server::start_with(&settings.bin, &config, &log, &args)?;
        let client = connect(server.port).await?;
        setups.push(Setup {
            server,
            client,
            cluster,
            log,
        });
    }
    for (s, setup) in setups.iter_mut().enumerate().skip(1) {
        wait_for_executors(setup, EXECUTORS[s - 1] as i64).await?;
    }

    let single = &setups[0].client;
    let orders = scalar(single, "SELECT count(*) FROM orders").await? as u64;
    let customers = scalar(single, "SELECT count(*) FROM customers").await? as u64;
    let customer = scalar(
        single,
        &format!(
            "SELECT min(customer_id) FROM orders WHERE customer_id >= {}",
            customers / 2
        ),
    )
    .await?;
    println!(
        "\n{} on a local Ballista cluster: {orders} orders, {customers} customers; \
         executors with {} and {} task slots",
        scale.label, task_slots[0], task_slots[1]
    );
    let out = work.join("unused-duckdb-out");
    let mut entries = queries::suite(customer, &out.display().to_string());
    // Index lookups run on the server, not the cluster.
    entries.retain(|q| q.name != "customer_orders_indexed");
    entries.push(SuiteQuery {
        name: "trivial",
        question: "Fixed cost: a dataset query that matches no row",
        segmint: TRIVIAL_SQL.to_string(),
        duckdb: None,
        baseline: None,
        kind: Kind::Query,
    });

    let mut stage_counts = vec![[None; 2]; entries.len()];
    for (i, entry) in entries.iter().enumerate() {
        let sql = explained_sql(entry)?;
        for c in 0..2 {
            let setup = &setups[c + 1];
            // The stages only explain the times: a failed EXPLAIN is reported, not fatal.
            stage_counts[i][c] = match stages(&setup.client, &sql).await {
                Ok(n) => n,
                Err(error) => {
                    println!("EXPLAIN {} ({}) failed: {error}", entry.name, SETUPS[c + 1]);
                    None
                }
            };
        }
    }

    // times[entry][setup]; rows must be the same on every run of every setup.
    let mut times = vec![[Vec::new(), Vec::new(), Vec::new()]; entries.len()];
    let mut rows: Vec<Option<(u64, usize)>> = vec![None; entries.len()];
    for round in 0..=settings.runs {
        for (i, entry) in entries.iter().enumerate() {
            // The setup that goes first changes every round and entry, so none of them always
            // finds the machine just after the same other one.
            for k in 0..3 {
                let s = (k + round + i) % 3;
                let setup = &mut setups[s];
                let measured =
                    tokio::time::timeout(QUERY_TIMEOUT, pgwire_query(&setup.client, entry))
                        .await
                        .unwrap_or_else(|_| {
                            Err(format!("no answer within {} s", QUERY_TIMEOUT.as_secs()).into())
                        });
                let (ms, n) = match measured {
                    Ok(measured) => measured,
                    Err(error) => {
                        if let Some(cluster) = &mut setup.cluster {
                            let _ = cluster.check_running();
                        }
                        return Err(format!(
                            "{} ({}): {error}\n{}",
                            entry.name,
                            SETUPS[s],
                            setup.logs()
                        )
                        .into());
                    }
                };
                let seen = rows[i];
                match seen {
                    None => rows[i] = Some((n, s)),
                    Some((expected, first)) if expected != n => {
                        return Err(format!(
                            "{}: {} returned {expected} rows, {} {n}",
                            entry.name, SETUPS[first], SETUPS[s]
                        )
                        .into());
                    }
                    Some(_) => {}
                }
                // Round 0 warms caches up and is not counted.
                if round > 0 {
                    times[i][s].push(ms);
                }
            }
        }
    }

    let mut results: Vec<ClusterQuery> = entries
        .iter()
        .enumerate()
        .map(|(i, entry)| ClusterQuery {
            name: entry.name,
            rows: rows[i].map_or(0, |(n, _)| n),
            stages: stage_counts[i],
            ms: [0, 1, 2].map(|s| median(&times[i][s])),
        })
        .collect();
    let trivial = results.pop().ok_or("no trivial query")?;
    let stage_text = |q: &ClusterQuery| match q.stages {
        [Some(a), Some(b)] if a == b => a.to_string(),
        [a, b] => format!(
            "{} / {}",
            a.map_or("-".into(), |n| n.to_string()),
            b.map_or("-".into(), |n| n.to_string())
        ),
    };
    for q in results.iter().chain(std::iter::once(&trivial)) {
        println!(
            "{:<16} single {:>8.1} ms  1 executor {:>8.1} ms ({:>5.2}x)  2 executors {:>8.1} ms ({:>5.2}x)  stages {}  rows {}",
            q.name,
            q.ms[0],
            q.ms[1],
            q.ratio(1),
            q.ms[2],
            q.ratio(2),
            stage_text(q),
            q.rows
        );
    }
    drop(setups);
    Ok(ClusterScale {
        label: scale.label.clone(),
        orders,
        customers,
        queries: results,
        trivial,
        task_slots,
    })
}
