//! A real Apache DataFusion Ballista cluster on 127.0.0.1: one `segmint scheduler` and two
//! `segmint executor` processes of this build (free ports, separate work folders, one task
//! slot each), the datasets as Parquet on the moto S3 server, and a Segmint server with
//! `[cluster] scheduler` set. The CRM function `.slt` files and the CDNOW oracles must give
//! through it exactly what they give on one machine, and so must a report run by a
//! `segmint serve --cluster` process over the CDNOW log mapped as a shop's own orders; then an
//! executor and the scheduler are killed in turn.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use datafusion::prelude::{CsvReadOptions, SessionContext};
use futures::StreamExt;
use object_store::ObjectStoreExt;
use object_store::path::Path as StorePath;
use parquet::arrow::ArrowWriter;
use segmint::config::{AuthMethod, DatasetConfig, DatasetFormat, RoleConfig, UserConfig};
use tokio_postgres::{Client, SimpleQueryMessage};

use crate::slt::{Protocol, run_all};
use crate::support::s3::Moto;
use crate::support::{TestServer, connect_to, sqlstate};

/// The bucket every test dataset is uploaded to.
const BUCKET: &str = "lake";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} did not listen within 60 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One scheduler and its executors, killed when dropped.
struct LocalCluster {
    scheduler: Option<Child>,
    scheduler_port: u16,
    executors: Vec<Option<Child>>,
    dir: tempfile::TempDir,
}

impl LocalCluster {
    /// Starts the scheduler and `executors` executors with `config` (a segmint.toml).
    fn start(config: &Path, executors: usize) -> LocalCluster {
        let dir = tempfile::tempdir().expect("temp dir");
        let scheduler_port = free_port();
        let logs = dir.path().to_path_buf();
        let log = move |name: &str| {
            std::fs::File::create(logs.join(format!("{name}.log"))).expect("log file")
        };
        let scheduler = Command::new(env!("CARGO_BIN_EXE_segmint"))
            .args([
                "scheduler",
                "--bind",
                &format!("127.0.0.1:{scheduler_port}"),
            ])
            .args(["--executor-timeout", "4s", "--config"])
            .arg(config)
            .env("SEGMINT_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log("scheduler"))
            .spawn()
            .expect("start the scheduler");
        wait_for_port(scheduler_port, "the scheduler");
        let mut cluster = LocalCluster {
            scheduler: Some(scheduler),
            scheduler_port,
            executors: vec![],
            dir,
        };
        for i in 0..executors {
            let work = cluster.dir.path().join(format!("executor-{i}"));
            let child = Command::new(env!("CARGO_BIN_EXE_segmint"))
                .args(["executor", "--scheduler", &cluster.url()])
                .args(["--bind", &format!("127.0.0.1:{}", free_port())])
                .args(["--grpc-port", &free_port().to_string()])
                .args(["--concurrent-tasks", "1", "--heartbeat", "1s", "--work-dir"])
                .arg(&work)
                .arg("--config")
                .arg(config)
                .env("SEGMINT_LOG", "info")
                .stdout(Stdio::null())
                .stderr(log(&format!("executor-{i}")))
                .spawn()
                .expect("start an executor");
            cluster.executors.push(Some(child));
        }
        cluster
    }

    /// `df://127.0.0.1:<port>`.
    fn url(&self) -> String {
        format!("df://127.0.0.1:{}", self.scheduler_port)
    }

    /// Kills executor `i` (SIGKILL: no goodbye to the scheduler).
    fn kill_executor(&mut self, i: usize) {
        if let Some(mut child) = self.executors[i].take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills the scheduler.
    fn kill_scheduler(&mut self) {
        if let Some(mut child) = self.scheduler.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The processes' logs, for failure messages.
    fn logs(&self) -> String {
        let mut text = String::new();
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        files.sort();
        for file in files
            .into_iter()
            .filter(|f| f.extension().is_some_and(|e| e == "log"))
        {
            let body = std::fs::read_to_string(&file).unwrap_or_default();
            let tail: Vec<&str> = body.lines().rev().take(30).collect();
            text.push_str(&format!("--- {}\n", file.display()));
            for line in tail.into_iter().rev() {
                text.push_str(line);
                text.push('\n');
            }
        }
        text
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        for i in 0..self.executors.len() {
            self.kill_executor(i);
        }
        self.kill_scheduler();
    }
}

/// Reads a CSV file with DataFusion's inference and uploads it to `key` as Parquet.
async fn upload_as_parquet(moto: &Moto, csv: &Path, key: &str) {
    let ctx = SessionContext::new();
    let frame = ctx
        .read_csv(csv.to_string_lossy().as_ref(), CsvReadOptions::new())
        .await
        .expect("read the csv");
    let schema = frame.schema().as_arrow().clone();
    let batches = frame.collect().await.expect("collect the csv");
    let mut bytes = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut bytes, std::sync::Arc::new(schema), None)
        .expect("parquet writer");
    for batch in &batches {
        writer.write(batch).expect("write");
    }
    writer.close().expect("close");
    moto.client(BUCKET)
        .put(&StorePath::from(key), Bytes::from(bytes).into())
        .await
        .expect("upload");
}

/// A dataset on the test bucket.
fn s3_dataset(name: &str) -> DatasetConfig {
    DatasetConfig {
        name: name.to_string(),
        url: format!("s3://{BUCKET}/{name}/"),
        format: DatasetFormat::Parquet,
        partition_columns: None,
        shared: false,
    }
}

/// Uploads the CRM fixtures (`udfs/slt/data`) and the CDNOW files; returns the dataset names.
async fn upload_datasets(moto: &Moto) -> Vec<String> {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("udfs/slt/data");
    let mut names = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&fixtures)
        .expect("fixtures")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "csv"))
        .collect();
    files.sort();
    for csv in files {
        let name = csv
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("name")
            .to_string();
        upload_as_parquet(moto, &csv, &format!("{name}/part-0.parquet")).await;
        names.push(name);
    }
    let (sample, summary) = crate::cdnow::cdnow_sample_csvs();
    for (name, csv) in [
        ("cdnow", crate::cdnow::cdnow_csv().to_path_buf()),
        ("cdnow_sample", sample.clone()),
        ("cdnow_summary", summary.clone()),
    ] {
        upload_as_parquet(moto, &csv, &format!("{name}/part-0.parquet")).await;
        names.push(name.to_string());
    }
    names
}

/// The `[[object_stores]]` part of the config every process reads.
fn stores_toml(moto: &Moto) -> String {
    format!(
        "[[object_stores]]\nurl = \"s3://{BUCKET}\"\n[object_stores.options]\nendpoint = \"{}\"\nregion = \"us-east-1\"\naccess_key_id = \"{}\"\nsecret_access_key = \"{}\"\nallow_http = \"true\"\n",
        moto.endpoint, moto.key_id, moto.secret
    )
}

async fn rows(client: &Client, sql: &str) -> Vec<Vec<Option<String>>> {
    client
        .simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(row) => Some(
                (0..row.len())
                    .map(|i| row.get(i).map(str::to_string))
                    .collect(),
            ),
            _ => None,
        })
        .collect()
}

/// Runs `sql`, which must fail with `code`; returns the server's message.
async fn refused(client: &Client, sql: &str, code: &str) -> String {
    let error = client
        .simple_query(sql)
        .await
        .expect_err("the statement must fail");
    let message = error
        .as_db_error()
        .map(|e| e.message().to_string())
        .unwrap_or_else(|| error.to_string());
    assert_eq!(sqlstate(&error), code, "{sql}: {message}");
    message
}

async fn count(client: &Client, sql: &str) -> i64 {
    rows(client, sql).await[0][0]
        .as_deref()
        .expect("a count")
        .parse()
        .expect("an integer")
}

/// The jobs the scheduler has seen, from Ballista's REST API (`/api/jobs`).
fn scheduler_jobs(cluster: &LocalCluster) -> usize {
    use std::io::{Read, Write};
    let mut stream =
        std::net::TcpStream::connect(("127.0.0.1", cluster.scheduler_port)).expect("scheduler");
    write!(
        stream,
        "GET /api/jobs HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut body = String::new();
    stream.read_to_string(&mut body).expect("response");
    body.matches("\"job_id\"").count()
}

/// Waits until the scheduler knows `n` live executors, through `segmint.cluster`.
async fn wait_for_executors(client: &Client, n: i64, cluster: &LocalCluster) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let known = match client
            .simple_query("SELECT count(*) FROM segmint.cluster WHERE state = 'alive'")
            .await
        {
            Ok(messages) => messages
                .into_iter()
                .find_map(|m| match m {
                    SimpleQueryMessage::Row(row) => row.get(0).and_then(|v| v.parse().ok()),
                    _ => None,
                })
                .unwrap_or(0),
            Err(_) => 0,
        };
        if known == n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the scheduler knows {known} executors, not {n}, after 90 s\n{}",
            cluster.logs()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A process killed when the test ends, even by a failed assertion.
struct KilledOnDrop(Child);

impl Drop for KilledOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The CDNOW log as a shop's only table, mapped onto the customer model.
const CDNOW_ORDERS_SQL: &str = "SELECT customer_id, CAST(order_date AS TIMESTAMP) AS order_ts, amount AS net_amount FROM cdnow\n";

/// A config over the CDNOW dataset on the bucket, mapped by `project/model/orders.sql`, with
/// report outputs under `output`.
fn cdnow_shop_toml(moto: &Moto, project: &Path, output: &str) -> String {
    std::fs::create_dir_all(project.join("model")).expect("mkdir model");
    std::fs::write(project.join("model/orders.sql"), CDNOW_ORDERS_SQL).expect("orders.sql");
    format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n\n[project]\ndir = \"{}\"\n\n[reports]\noutput_url = \"{output}\"\nscheduler = false\n\n[[datasets]]\nname = \"cdnow\"\nurl = \"s3://{BUCKET}/cdnow/\"\n\n{}",
        project.display(),
        stores_toml(moto)
    )
}

/// `reports.order_value` of 1997-03-31, floats rounded (sums may add in another order).
async fn order_value_rows(client: &Client) -> Vec<Vec<Option<String>>> {
    rows(
        client,
        "SELECT segment_kind, segment, orders, customers, round(revenue, 4), round(aov, 6), \
         round(purchase_frequency, 6), round(revenue_per_customer, 6) \
         FROM reports.order_value WHERE as_of = DATE '1997-03-31' ORDER BY segment_kind, segment",
    )
    .await
}

/// A report run through a `segmint serve --cluster` process gives what one machine gives, its
/// queries ran as scheduler jobs (the run's segments are scratch Parquet on the bucket, which
/// is removed afterwards), and the query log names the job of a cluster query.
/// Returns the config of that server.
async fn reports_and_the_query_log_on_the_cluster(
    moto: &Moto,
    cluster: &LocalCluster,
    dir: &Path,
) -> PathBuf {
    let local_output = format!("{}/", dir.join("reports").display());
    let one_machine = TestServer::start(
        segmint::Config::from_toml(&cdnow_shop_toml(moto, &dir.join("project"), &local_output))
            .expect("config"),
    );
    let local = connect_to(&one_machine.conn_str("analyst")).await;
    local
        .simple_query("RUN REPORT order_value AS OF DATE '1997-03-31'")
        .await
        .expect("RUN REPORT on one machine");
    let expected = order_value_rows(&local).await;
    assert!(expected.len() > 3, "{expected:?}");
    one_machine.stop();

    let toml = dir.join("cluster-shop.toml");
    let mut text = cdnow_shop_toml(
        moto,
        &dir.join("project"),
        &format!("s3://{BUCKET}/reports/"),
    );
    text.push_str(&format!("\n[cluster]\nscheduler = \"{}\"\n", cluster.url()));
    std::fs::write(&toml, text).expect("write the config");
    let serve = crate::support::ServeProcess::start(
        &[
            "--log-format",
            "json",
            "serve",
            "--config",
            toml.to_str().expect("a UTF-8 path"),
        ],
        "warn,segmint::query=info",
    );
    let conn = serve.conn_str("analyst");
    let crate::support::ServeProcess { child, lines, .. } = serve;
    let mut child = KilledOnDrop(child);
    let logged = std::thread::spawn(move || lines.map_while(Result::ok).collect::<Vec<_>>());
    let client = connect_to(&conn).await;
    let jobs_before = scheduler_jobs(cluster);
    client
        .simple_query("RUN REPORT order_value AS OF DATE '1997-03-31'")
        .await
        .unwrap_or_else(|e| panic!("RUN REPORT on the cluster: {e:?}\n{}", cluster.logs()));
    let report_jobs = scheduler_jobs(cluster) - jobs_before;
    eprintln!("RUN REPORT order_value on the cluster: {report_jobs} scheduler jobs");
    // The segments query and the report query, which joins the segments.
    assert!(
        report_jobs >= 2,
        "only {report_jobs} report queries reached the scheduler"
    );
    assert_eq!(
        order_value_rows(&client).await,
        expected,
        "as on one machine"
    );
    let scratch = moto
        .client(BUCKET)
        .list(Some(&StorePath::from("reports.run")))
        .collect::<Vec<_>>()
        .await;
    assert!(scratch.is_empty(), "scratch files left: {scratch:?}");

    assert_eq!(count(&client, "SELECT count(*) FROM cdnow").await, 69_659);
    drop(client);
    let _ = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status();
    let _ = child.0.wait();
    let logged = logged.join().expect("the log reader");
    let line = logged
        .iter()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find(|entry| {
            entry["target"] == "segmint::query"
                && entry["fields"]["query"] == "SELECT count(*) FROM cdnow"
        })
        .unwrap_or_else(|| panic!("no query log line for the count in {logged:?}"));
    let job = line["fields"]["job_id"].as_str().unwrap_or_default();
    assert!(!job.is_empty(), "the log line names the job: {line}");
    toml
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crm_sql_runs_on_a_ballista_cluster_like_on_one_machine() {
    let moto = Moto::start(&[BUCKET]);
    let datasets = upload_datasets(&moto).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let toml = dir.path().join("segmint.toml");
    std::fs::write(&toml, stores_toml(&moto)).expect("write segmint.toml");
    let mut cluster = LocalCluster::start(&toml, 2);

    let mut config = segmint::Config::from_file(&toml).expect("config");
    config.server.listen = "127.0.0.1:0".to_string();
    config.cluster.scheduler = Some(cluster.url());
    config.datasets = datasets.iter().map(|n| s3_dataset(n)).collect();
    // What CREATE TABLE AS writes lives on this machine, which the executors share.
    let catalog_dir = dir.path().join("catalog");
    let local = tempfile::tempdir().expect("temp dir");
    let local_csv = local.path().join("local_orders.csv");
    std::fs::write(&local_csv, "customer_id,amount\n1,2.5\n").expect("csv");
    config.catalog.allowed_locations = vec![local.path().to_string_lossy().into_owned()];
    config.catalog.allow_ddl = true;
    config.catalog.dir = Some(catalog_dir.clone());
    config.catalog.tables_url = Some(format!("{}/tables/", catalog_dir.display()));
    config.cluster.shared_paths = vec![catalog_dir.clone()];
    config.server.auth = Some(AuthMethod::Trust);
    config.users = vec![
        UserConfig {
            name: "root".to_string(),
            password: None,
            role: "admin".to_string(),
        },
        UserConfig {
            name: "slt".to_string(),
            password: None,
            role: "admin".to_string(),
        },
        UserConfig {
            name: "few".to_string(),
            password: None,
            role: "few".to_string(),
        },
    ];
    config.roles = vec![RoleConfig {
        name: "few".to_string(),
        admin: false,
        datasets: vec!["*".to_string()],
        schemas: vec![],
        row_filter: None,
        row_filters: [("orders".to_string(), "customer_id <= 3".to_string())].into(),
    }];
    let server = TestServer::start(config);
    let root = connect_to(&server.conn_str("root")).await;
    wait_for_executors(&root, 2, &cluster).await;

    // The CRM functions and the CDNOW oracles: exactly the single-node answers.
    // The CRM files also through the extended protocol (bound parameters, typed results).
    for (protocol, folder) in [
        (Protocol::Simple, "udfs/slt"),
        (Protocol::Simple, "tests/slt_cdnow"),
        (Protocol::Extended, "udfs/slt"),
    ] {
        let run = std::panic::AssertUnwindSafe(run_all(protocol, folder, &server));
        if let Err(panic) = futures::FutureExt::catch_unwind(run).await {
            eprintln!("cluster logs:\n{}", cluster.logs());
            std::panic::resume_unwind(panic);
        }
    }

    // They ran there: the dataset queries of the files became Ballista jobs.
    let jobs = scheduler_jobs(&cluster);
    assert!(jobs >= 50, "only {jobs} jobs reached the scheduler");

    // EXPLAIN shows Ballista's stages: the CRM kernel needs all rows in one partition.
    let explain = rows(
        &root,
        "EXPLAIN SELECT segment, count(*) FROM rfm('orders', DATE '2026-01-01') GROUP BY segment",
    )
    .await;
    let text: String = explain
        .iter()
        .flatten()
        .flatten()
        .cloned()
        .collect::<Vec<_>>()
        .join("\n");
    assert!(text.contains("distributed_plan"), "{text}");
    let stages = text.matches("stage_id=").count();
    assert!(stages > 1, "more than one stage:\n{text}");
    assert!(text.contains("CrmKernelExec"), "{text}");

    // A session's segmint.* setting reaches the executors' scalar functions.
    let stages_default = rows(&root, "SELECT customer_id, lifecycle_stage(min(order_ts), max(order_ts), count(*), DATE '2026-01-01') FROM orders GROUP BY customer_id ORDER BY customer_id").await;
    root.batch_execute("SET segmint.lifecycle_active_days = 1")
        .await
        .expect("SET");
    let stages_short = rows(&root, "SELECT customer_id, lifecycle_stage(min(order_ts), max(order_ts), count(*), DATE '2026-01-01') FROM orders GROUP BY customer_id ORDER BY customer_id").await;
    assert_ne!(stages_default, stages_short, "the setting changed stages");
    root.batch_execute("SET segmint.lifecycle_active_days = 90")
        .await
        .expect("SET back");

    // Row filters are in the plan before it leaves the server.
    let few = connect_to(&server.conn_str("few")).await;
    let all = count(
        &root,
        "SELECT count(*) FROM rfm('orders', DATE '2026-01-01')",
    )
    .await;
    let filtered = count(
        &few,
        "SELECT count(*) FROM rfm('orders', DATE '2026-01-01')",
    )
    .await;
    let expected = count(&root, "SELECT count(DISTINCT customer_id) FROM orders WHERE customer_id <= 3 AND order_ts < DATE '2026-01-01'").await;
    assert_eq!(filtered, expected, "the analyst sees only their customers");
    assert!(filtered < all, "{filtered} < {all}");
    let max_id = rows(
        &few,
        "SELECT max(customer_id) FROM lifecycle('orders', DATE '2026-01-01')",
    )
    .await;
    assert_eq!(max_id[0][0].as_deref(), Some("3"));

    // Reports run there too, and the query log names the job.
    let shop = tempfile::tempdir().expect("temp dir");
    let shop_toml = reports_and_the_query_log_on_the_cluster(&moto, &cluster, shop.path()).await;

    // The executors the scheduler knows.
    let executors = rows(
        &root,
        "SELECT executor_id, host, task_slots, state FROM segmint.cluster ORDER BY executor_id",
    )
    .await;
    assert_eq!(executors.len(), 2, "{executors:?}");
    assert!(
        executors
            .iter()
            .all(|e| e[2].as_deref() == Some("1") && e[3].as_deref() == Some("alive")),
        "{executors:?}"
    );

    // A local path nobody marked shared is refused, with how to fix it.
    root.batch_execute(&format!(
        "CREATE EXTERNAL TABLE local_orders STORED AS CSV LOCATION '{}'",
        local_csv.display()
    ))
    .await
    .expect("an external table on a local path");
    // A local path the executors may not see.
    let message = refused(&root, "SELECT sum(amount) FROM local_orders", "0A000").await;
    assert!(message.contains("shared_paths"), "{message}");

    // An executor killed in the middle of CREATE TABLE AS: the statement finishes through
    // Ballista's retries or fails with 58000 within a bounded time, never leaving half a table.
    let expected_rows = count(&root, "SELECT count(*) FROM cdnow a JOIN cdnow_sample b ON a.customer_id % 50 = b.customer_id % 50").await;
    let ctas = {
        let conn = server.conn_str("root");
        tokio::spawn(async move {
            let client = connect_to(&conn).await;
            let started = Instant::now();
            let result = client
                .simple_query("CREATE TABLE joined AS SELECT a.customer_id, b.customer_id AS other FROM cdnow a JOIN cdnow_sample b ON a.customer_id % 50 = b.customer_id % 50")
                .await
                .map(|_| ());
            (result, started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(700)).await;
    cluster.kill_executor(0);
    let (result, took) = ctas.await.expect("the CTAS task");
    eprintln!(
        "CREATE TABLE AS with an executor killed after 0.7 s: {} in {took:?}",
        if result.is_ok() { "finished" } else { "failed" }
    );
    assert!(
        took < Duration::from_secs(120),
        "bounded: {took:?}\n{}",
        cluster.logs()
    );
    match result {
        Ok(()) => assert_eq!(
            count(&root, "SELECT count(*) FROM joined").await,
            expected_rows
        ),
        Err(error) => {
            let message = error
                .as_db_error()
                .map(|e| e.message().to_string())
                .unwrap_or_default();
            assert_eq!(sqlstate(&error), "58000", "{message}\n{}", cluster.logs());
            let missing = root.simple_query("SELECT count(*) FROM joined").await;
            assert!(missing.is_err(), "no half-written table");
        }
    }
    // The scheduler drops the lost executor, and the next query runs on the one left.
    wait_for_executors(&root, 1, &cluster).await;
    assert_eq!(
        count(&root, "SELECT count(*) FROM cdnow").await,
        69_659,
        "{}",
        cluster.logs()
    );

    // The scheduler goes down: queries on datasets fail clearly, catalog queries still work.
    cluster.kill_scheduler();
    let started = Instant::now();
    let message = refused(&root, "SELECT count(*) FROM cdnow", "58000").await;
    assert!(started.elapsed() < Duration::from_secs(60), "bounded");
    assert!(message.contains(&cluster.url()), "{message}");
    assert!(count(&root, "SELECT count(*) FROM pg_catalog.pg_class").await > 0);
    assert_eq!(
        rows(&root, "SELECT 1 + 1").await[0][0].as_deref(),
        Some("2")
    );
    refused(&root, "SELECT * FROM segmint.cluster", "58000").await;
    server.stop();

    // A server started while the scheduler is down says so at start, serves, answers catalog
    // queries and refuses dataset queries with the scheduler's address.
    let serve = crate::support::ServeProcess::start(
        &[
            "serve",
            "--config",
            shop_toml.to_str().expect("a UTF-8 path"),
        ],
        "error",
    );
    assert!(
        serve
            .before
            .iter()
            .any(|line| line.contains("scheduler is not reachable")),
        "{:?}",
        serve.before
    );
    let conn = serve.conn_str("analyst");
    let _serve = KilledOnDrop(serve.child);
    let client = connect_to(&conn).await;
    assert!(count(&client, "SELECT count(*) FROM information_schema.tables").await > 0);
    let message = refused(&client, "SELECT count(*) FROM cdnow", "58000").await;
    assert!(message.contains(&cluster.url()), "{message}");
}
