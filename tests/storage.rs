//! Datasets in object storage, against a real S3-compatible server (moto on 127.0.0.1):
//! partitions found from folders and pruned, globs, files that gained columns, listings cached
//! (request counts) and refreshed, DDL behind the allow-list, `CREATE TABLE AS` written to the
//! bucket, wrong credentials and a stopped store failing clearly and quickly while the other
//! datasets keep working, a killed `CREATE TABLE AS` leaving nothing behind, and report runs
//! written to and served from a bucket.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use datafusion::arrow::array::{ArrayRef, Float64Array, Int64Array, StringArray};
use datafusion::arrow::record_batch::RecordBatch;
use futures::TryStreamExt;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;
use segmint::Config;
use segmint::config::{DatasetConfig, DatasetFormat};
use tokio_postgres::{Client, SimpleQueryMessage};

use crate::support::s3::Moto;
use crate::support::{TestServer, connect_to, sqlstate};

/// A Parquet file of `rows` orders for customers `first..`, amounts `base + i`, in row
/// groups of 100 (so statistics can prune them), with a `channel` column when given.
fn orders_file(first: i64, rows: i64, base: f64, channel: Option<&str>) -> Bytes {
    let mut columns: Vec<(&str, ArrayRef)> = vec![
        (
            "customer_id",
            Arc::new(Int64Array::from_iter_values(first..first + rows)),
        ),
        (
            "amount",
            Arc::new(Float64Array::from_iter_values(
                (0..rows).map(|i| base + i as f64),
            )),
        ),
    ];
    if let Some(channel) = channel {
        columns.push((
            "channel",
            Arc::new(StringArray::from_iter_values(
                (0..rows).map(|_| channel.to_string()),
            )),
        ));
    }
    let batch = RecordBatch::try_from_iter(columns).expect("batch");
    let properties = WriterProperties::builder()
        .set_max_row_group_row_count(Some(100))
        .build();
    let mut buffer = Vec::new();
    let mut writer =
        ArrowWriter::try_new(&mut buffer, batch.schema(), Some(properties)).expect("writer");
    writer.write(&batch).expect("write");
    writer.close().expect("close");
    Bytes::from(buffer)
}

async fn upload(store: &Arc<dyn ObjectStore>, path: &str, data: Bytes) {
    store
        .put(&StorePath::from(path), data.into())
        .await
        .expect("upload");
}

/// All text cells of a simple query, row by row.
async fn rows(client: &Client, sql: &str) -> Vec<Vec<String>> {
    client
        .simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e:?}"))
        .into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(row) => Some(
                (0..row.len())
                    .map(|i| row.get(i).unwrap_or("NULL").to_string())
                    .collect(),
            ),
            _ => None,
        })
        .collect()
}

async fn one(client: &Client, sql: &str) -> String {
    rows(client, sql).await[0][0].clone()
}

/// (list, get, head) requests sent to `store` so far.
async fn requests(client: &Client, store: &str) -> (u64, u64, u64) {
    let row = &rows(
        client,
        &format!(
            "SELECT list, get, head FROM segmint.object_store_requests WHERE store = '{store}'"
        ),
    )
    .await[0];
    let n = |i: usize| row[i].parse::<u64>().expect("count");
    (n(0), n(1), n(2))
}

/// The bucket the tests' stores may not read: ten rows of payroll.
async fn upload_payroll(moto: &Moto) {
    upload(
        &moto.client("vault"),
        "payroll/part-0.parquet",
        orders_file(1, 10, 1.0, None),
    )
    .await;
}

fn dataset(name: &str, url: &str) -> DatasetConfig {
    DatasetConfig {
        name: name.to_string(),
        url: url.to_string(),
        format: DatasetFormat::Parquet,
        partition_columns: None,
        shared: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_datasets_are_pruned_cached_refreshed_and_written() {
    let moto = Moto::start(&["lake", "vault"]);
    let lake = moto.client("lake");
    upload(
        &lake,
        "events/day=2026-11-01/part-0.parquet",
        orders_file(1, 300, 10.0, None),
    )
    .await;
    upload(
        &lake,
        "events/day=2026-11-02/part-0.parquet",
        orders_file(301, 200, 1000.0, Some("app")),
    )
    .await;
    for (name, first) in [("orders-1", 1), ("orders-2", 101), ("returns-1", 201)] {
        upload(
            &lake,
            &format!("landing/{name}.parquet"),
            orders_file(first, 100, 1.0, None),
        )
        .await;
    }
    upload_payroll(&moto).await;

    let catalog_dir = tempfile::tempdir().expect("catalog dir");
    let mut config = Config::default();
    config.server.listen = "127.0.0.1:0".to_string();
    config.object_stores = vec![moto.store_config("lake", &moto.secret)];
    config.datasets = vec![
        dataset("events", "s3://lake/events/"),
        dataset("landed_orders", "s3://lake/landing/orders-*.parquet"),
    ];
    config.catalog.allow_ddl = true;
    config.catalog.dir = Some(catalog_dir.path().to_path_buf());
    config.catalog.allowed_locations = vec!["s3://lake/landing/".to_string()];
    config.catalog.tables_url = Some("s3://lake/segmint/tables/".to_string());
    config.catalog.refresh_interval = "0s".to_string();
    let server = TestServer::start(config);
    let client = connect_to(&server.conn_str("admin")).await;

    // Partitions found from the folders; the older files lack `channel`, which reads as NULL.
    assert_eq!(
        rows(&client, "SELECT count(*), sum(amount)::bigint FROM events").await,
        vec![vec!["500".to_string(), "267750".to_string()]]
    );
    assert_eq!(
        rows(
            &client,
            "SELECT day, count(*), count(channel) FROM events GROUP BY day ORDER BY day"
        )
        .await,
        vec![
            vec!["2026-11-01".to_string(), "300".to_string(), "0".to_string()],
            vec![
                "2026-11-02".to_string(),
                "200".to_string(),
                "200".to_string()
            ],
        ]
    );
    // The glob reads orders-*.parquet and not returns-1.parquet.
    assert_eq!(
        one(&client, "SELECT count(*) FROM landed_orders").await,
        "200"
    );

    // A filter on the partition column reads only that folder.
    let plan = rows(
        &client,
        "EXPLAIN ANALYZE SELECT sum(amount) FROM events WHERE day = '2026-11-02'",
    )
    .await
    .concat()
    .join("\n");
    assert!(plan.contains("day=2026-11-02/part-0.parquet"), "{plan}");
    assert!(
        !plan.contains("day=2026-11-01"),
        "pruned folder read:\n{plan}"
    );
    // Row-group statistics skip every group of a file whose amounts are all below the filter.
    let plan = rows(
        &client,
        "EXPLAIN ANALYZE SELECT count(*) FROM events WHERE amount > 1150",
    )
    .await
    .concat()
    .join("\n");
    for pruned in [
        // The first day's file is skipped from its statistics, and one row group of the
        // second's; the page index is consulted for what is left.
        "files_ranges_pruned_statistics=2 total \u{2192} 1 matched",
        "row_groups_pruned_statistics=2 total \u{2192} 1 matched",
        "page_index_rows_pruned=100 total",
    ] {
        assert!(plan.contains(pruned), "{pruned}:\n{plan}");
    }

    // Repeated queries neither list the bucket nor read footers again.
    let before = requests(&client, "s3://lake").await;
    for _ in 0..3 {
        assert_eq!(one(&client, "SELECT count(*) FROM events").await, "500");
    }
    let after = requests(&client, "s3://lake").await;
    assert_eq!(after.0, before.0, "no LIST for cached listings");
    assert_eq!(after.2, before.2, "no HEAD either");
    assert!(
        after.1 - before.1 <= 3 * 2,
        "at most one GET per file and query: {before:?} -> {after:?}"
    );

    // A file that lands is invisible until the dataset is listed again, then visible.
    upload(
        &lake,
        "events/day=2026-11-03/part-0.parquet",
        orders_file(501, 50, 5.0, Some("web")),
    )
    .await;
    assert_eq!(one(&client, "SELECT count(*) FROM events").await, "500");
    client
        .batch_execute("REFRESH DATASET events")
        .await
        .expect("refresh");
    assert_eq!(one(&client, "SELECT count(*) FROM events").await, "550");
    let refreshed = requests(&client, "s3://lake").await;
    assert_eq!(refreshed.0, after.0 + 1, "one LIST per refresh");
    assert_eq!(
        rows(
            &client,
            "SELECT origin, files, partition_columns, error FROM segmint.datasets WHERE name = 'events'"
        )
        .await,
        vec![vec![
            "config".to_string(),
            "3".to_string(),
            "day".to_string(),
            "NULL".to_string()
        ]]
    );

    // Administrators add tables at allowed locations only.
    client
        .batch_execute(
            "CREATE EXTERNAL TABLE landing STORED AS PARQUET LOCATION 's3://lake/landing/'",
        )
        .await
        .expect("allowed location");
    assert_eq!(one(&client, "SELECT count(*) FROM landing").await, "300");
    for (sql, code) in [
        (
            "CREATE EXTERNAL TABLE payroll STORED AS PARQUET LOCATION 's3://vault/payroll/'",
            "42501",
        ),
        (
            "CREATE EXTERNAL TABLE pw STORED AS CSV LOCATION '/etc/passwd'",
            "42501",
        ),
        (
            "CREATE EXTERNAL TABLE up STORED AS PARQUET LOCATION 's3://lake/landing/../events/'",
            "42501",
        ),
        (
            "CREATE EXTERNAL TABLE up STORED AS PARQUET LOCATION 's3://lake/landing/..?x'",
            "42501",
        ),
        (
            "CREATE EXTERNAL TABLE up STORED AS PARQUET LOCATION 's3://lake/landing/%2e%2e/events/'",
            "42501",
        ),
        (
            "CREATE EXTERNAL TABLE up STORED AS PARQUET LOCATION 's3://lake/segmint/tables/'",
            "42501",
        ),
        (
            "CREATE EXTERNAL TABLE k STORED AS PARQUET LOCATION 's3://lake/landing/' \
             OPTIONS ('aws.secret_access_key' 'x')",
            "0A000",
        ),
        (
            "CREATE EXTERNAL TABLE events STORED AS PARQUET LOCATION 's3://lake/landing/'",
            "42501",
        ),
        ("DROP TABLE events", "42501"),
        ("REFRESH DATASET nowhere", "42P01"),
    ] {
        let error = client.simple_query(sql).await.expect_err(sql);
        assert_eq!(sqlstate(&error), code, "{sql}: {error:?}");
    }
    assert!(
        client
            .simple_query("SELECT * FROM '/etc/passwd'")
            .await
            .is_err(),
        "no file reads outside datasets"
    );

    // A segment materialised into the bucket, replaced, then dropped with its files.
    client
        .batch_execute(
            "CREATE TABLE big_spenders AS SELECT customer_id, amount FROM events WHERE amount >= 1100",
        )
        .await
        .expect("create table as");
    assert_eq!(
        one(&client, "SELECT count(*) FROM big_spenders").await,
        "100"
    );
    client
        .batch_execute(
            "CREATE OR REPLACE TABLE big_spenders AS SELECT customer_id FROM events WHERE amount >= 1150",
        )
        .await
        .expect("replace");
    assert_eq!(
        one(&client, "SELECT count(*) FROM big_spenders").await,
        "50"
    );
    let tables = StorePath::from("segmint/tables/big_spenders");
    let versions = |listing: Vec<object_store::ObjectMeta>| {
        listing
            .iter()
            .filter_map(|m| m.location.parts().nth(3).map(|p| p.as_ref().to_string()))
            .collect::<std::collections::BTreeSet<_>>()
    };
    let listed: Vec<_> = futures::TryStreamExt::try_collect(lake.list(Some(&tables)))
        .await
        .expect("list");
    assert_eq!(versions(listed).len(), 1, "the replaced version is gone");
    client
        .batch_execute("DROP TABLE big_spenders")
        .await
        .expect("drop");
    let listed: Vec<_> = futures::TryStreamExt::try_collect(lake.list(Some(&tables)))
        .await
        .expect("list");
    assert!(listed.is_empty(), "materialised files deleted: {listed:?}");
    assert_eq!(
        sqlstate(
            &client
                .simple_query("SELECT * FROM big_spenders")
                .await
                .expect_err("dropped")
        ),
        "42P01"
    );

    // The external table survives a restart; the secret is nowhere to be read.
    let show_all = rows(&client, "SHOW ALL").await.concat().join(" ");
    assert!(
        !show_all.contains(&moto.secret),
        "SHOW ALL leaks the secret"
    );
    let settings = rows(&client, "SELECT * FROM pg_catalog.pg_settings")
        .await
        .concat()
        .join(" ");
    assert!(
        !settings.contains(&moto.secret),
        "pg_settings leaks the secret"
    );
    drop(client);
    server.stop();
    let mut config = Config::default();
    config.server.listen = "127.0.0.1:0".to_string();
    config.object_stores = vec![moto.store_config("lake", &moto.secret)];
    config.catalog.dir = Some(catalog_dir.path().to_path_buf());
    config.catalog.allowed_locations = vec!["s3://lake/landing/".to_string()];
    let server = TestServer::start(config);
    let client = connect_to(&server.conn_str("analyst")).await;
    assert_eq!(one(&client, "SELECT count(*) FROM landing").await, "300");
    let error = client
        .simple_query("DROP TABLE landing")
        .await
        .expect_err("DDL is off now");
    assert_eq!(sqlstate(&error), "25006");
}

/// A `segmint serve` process, killed when dropped (also when a test fails).
struct ServerProcess(Child);

impl ServerProcess {
    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A `segmint serve` process with `config` (TOML), its stderr captured in `server.log`.
fn spawn_server(config: &str, dir: &std::path::Path) -> (ServerProcess, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let path = dir.join("segmint.toml");
    std::fs::write(
        &path,
        format!("[server]\nlisten = \"127.0.0.1:{port}\"\n{config}"),
    )
    .expect("write config");
    let log = std::fs::File::create(dir.join("server.log")).expect("log file");
    let child = Command::new(env!("CARGO_BIN_EXE_segmint"))
        .args(["serve", "--config"])
        .arg(&path)
        .env("RUST_LOG", "debug")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start segmint");
    let deadline = Instant::now() + Duration::from_secs(120);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "segmint did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    (ServerProcess(child), port)
}

async fn connect_port(port: u16) -> Client {
    connect_to(&format!(
        "host=127.0.0.1 port={port} user=admin dbname=segmint"
    ))
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_and_a_stopped_store_fail_fast_and_clearly() {
    let mut moto = Moto::start(&["lake", "vault"]);
    upload(
        &moto.client("lake"),
        "events/part-0.parquet",
        orders_file(1, 100, 1.0, None),
    )
    .await;
    upload_payroll(&moto).await;
    let wrong_secret = "definitely-not-the-secret-0123456789";
    let orders = crate::support::demo_dir().join("orders");
    let store = |bucket: &str, secret: &str| {
        format!(
            "[[object_stores]]\nurl = \"s3://{bucket}\"\noptions = {{ endpoint = \"{}\", region = \"us-east-1\", \
             access_key_id = \"{}\", secret_access_key = \"{secret}\", allow_http = \"true\" }}\n",
            moto.endpoint, moto.key_id
        )
    };
    let config = format!(
        "{}{}[[datasets]]\nname = \"events\"\nurl = \"s3://lake/events/\"\n\
         [[datasets]]\nname = \"payroll\"\nurl = \"s3://vault/payroll/\"\n\
         [[datasets]]\nname = \"orders\"\nurl = \"{}/\"\n[catalog]\nrefresh_interval = \"0s\"\n",
        store("lake", &moto.secret),
        store("vault", wrong_secret),
        orders.display()
    );
    let dir = tempfile::tempdir().expect("dir");
    let (mut server, port) = spawn_server(&config, dir.path());
    let client = connect_port(port).await;

    // Wrong credentials: the dataset is reported with the store's answer, the rest served.
    let started = Instant::now();
    let error = client
        .simple_query("SELECT count(*) FROM payroll")
        .await
        .expect_err("not served");
    assert_eq!(sqlstate(&error), "42P01");
    let message = error
        .as_db_error()
        .map(|e| e.message().to_string())
        .unwrap_or_default();
    assert!(
        message.contains("SignatureDoesNotMatch") || message.contains("403"),
        "{message}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    let status = rows(
        &client,
        "SELECT error FROM segmint.datasets WHERE name = 'payroll'",
    )
    .await;
    assert!(
        status[0][0].contains("403") || status[0][0].contains("Signature"),
        "{status:?}"
    );
    assert_eq!(one(&client, "SELECT count(*) FROM events").await, "100");

    // A stopped store: a clear I/O error within a bounded time; other datasets keep working.
    moto.stop();
    let started = Instant::now();
    let error = client
        .simple_query("SELECT sum(amount) FROM events")
        .await
        .expect_err("store is down");
    let took = started.elapsed();
    assert_eq!(sqlstate(&error), "58030", "{error:?}");
    assert!(took < Duration::from_secs(30), "failed after {took:?}");
    let local = one(&client, "SELECT count(*) FROM orders").await;
    assert!(local.parse::<u64>().expect("count") > 0);
    client
        .simple_query("REFRESH DATASETS")
        .await
        .expect_err("DDL and refresh are off");

    server.kill();
    let mut log = String::new();
    std::fs::File::open(dir.path().join("server.log"))
        .and_then(|mut f| f.read_to_string(&mut log))
        .expect("read log");
    assert!(log.contains("payroll"), "the failure is logged");
    assert!(!log.contains(&moto.secret), "the secret is logged");
    assert!(!log.contains(wrong_secret), "the wrong secret is logged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_create_table_as_leaves_no_partial_table() {
    let dir = tempfile::tempdir().expect("dir");
    let tables = dir.path().join("tables");
    let orders = crate::support::demo_dir().join("orders");
    let config = format!(
        "[engine.options]\n\"datafusion.execution.objectstore_writer_buffer_size\" = \"65536\"\n\
         \"datafusion.execution.parquet.max_row_group_size\" = \"8192\"\n\
         [[datasets]]\nname = \"orders\"\nurl = \"{}/\"\n[catalog]\nallow_ddl = true\n\
         dir = \"{}\"\ntables_url = \"{}\"\n",
        orders.display(),
        dir.path().join("catalog").display(),
        tables.display()
    );
    let (mut server, port) = spawn_server(&config, dir.path());
    let client = connect_port(port).await;
    client
        .batch_execute(
            "CREATE TABLE vip AS SELECT customer_id, sum(net_amount) AS spent FROM orders \
             GROUP BY customer_id ORDER BY spent DESC LIMIT 10",
        )
        .await
        .expect("first version");
    assert_eq!(one(&client, "SELECT count(*) FROM vip").await, "10");
    let first: Vec<_> = std::fs::read_dir(tables.join("vip"))
        .expect("vip folder")
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(first.len(), 1);

    // A long replacement, killed once its files are on disk (small row groups and write
    // buffers make them appear early).
    let slow = tokio::spawn(async move {
        client
            .batch_execute(
                "CREATE OR REPLACE TABLE vip AS SELECT o.*, g.value AS copy FROM orders o \
                 CROSS JOIN generate_series(1, 5000) g",
            )
            .await
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let versions = std::fs::read_dir(tables.join("vip"))
            .map(|d| d.count())
            .unwrap_or(0);
        if versions > 1 {
            break;
        }
        if slow.is_finished() {
            panic!(
                "the replacement ended before it was killed: {:?}",
                slow.await
            );
        }
        assert!(
            Instant::now() < deadline,
            "the replacement never started writing"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    server.kill();
    let _ = slow.await;

    let (mut server, port) = spawn_server(&config, dir.path());
    let client = connect_port(port).await;
    assert_eq!(
        one(&client, "SELECT count(*) FROM vip").await,
        "10",
        "the earlier version is intact"
    );
    let left: Vec<_> = std::fs::read_dir(tables.join("vip"))
        .expect("vip folder")
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(left, first, "the partial version was removed at start");
    server.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_that_land_appear_after_the_periodic_refresh() {
    let dir = tempfile::tempdir().expect("dir");
    let events = dir.path().join("events");
    std::fs::create_dir_all(&events).expect("mkdir");
    std::fs::write(events.join("a.parquet"), orders_file(1, 10, 1.0, None)).expect("write");
    let mut config = Config::default();
    config.server.listen = "127.0.0.1:0".to_string();
    config.datasets = vec![dataset("events", &format!("{}/", events.display()))];
    config.catalog.refresh_interval = "1s".to_string();
    let server = TestServer::start(config);
    let client = server.connect().await;
    assert_eq!(one(&client, "SELECT count(*) FROM events").await, "10");
    // A newer file with one more column: rows and the column appear without a restart.
    std::fs::write(
        events.join("b.parquet"),
        orders_file(11, 5, 1.0, Some("app")),
    )
    .expect("write");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let seen = client
            .simple_query("SELECT count(*), count(channel) FROM events")
            .await
            .map_err(|e| eprintln!("{e:?}"))
            .ok()
            .and_then(|m| {
                m.into_iter().find_map(|m| match m {
                    SimpleQueryMessage::Row(r) => {
                        Some((r.get(0)?.to_string(), r.get(1)?.to_string()))
                    }
                    _ => None,
                })
            });
        if seen == Some(("15".to_string(), "5".to_string())) {
            break;
        }
        if Instant::now() > deadline {
            let status = rows(&client, "SELECT * FROM segmint.datasets").await;
            panic!("new file not visible: {seen:?} {status:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Reports write their Parquet, CSV and HTML and their history row into a bucket, and the
/// server serves them from there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_are_written_to_and_served_from_s3() {
    use segmint::reports::{Reports, RunRequest, Trigger};

    let moto = Moto::start(&["lake"]);
    let mut config = crate::support::demo_config();
    config.object_stores = vec![moto.store_config("lake", &moto.secret)];
    config.reports.output_url = Some("s3://lake/reports/".to_string());
    config.reports.scheduler = Some(false);
    let engine = segmint::app::build_engine(&config).await.expect("engine");
    let reports = Reports::open(&config.reports, engine)
        .await
        .expect("reports");
    let request = RunRequest {
        as_of: chrono::NaiveDate::from_ymd_opt(2026, 10, 31),
        period: None,
        trigger: Trigger::Manual,
    };
    let summary = reports
        .run("order_value", request, &|_| {})
        .await
        .expect("run into the bucket");
    assert_eq!(summary.files.len(), 3, "{:?}", summary.files);

    let lake = moto.client("lake");
    let mut keys: Vec<String> = lake
        .list(Some(&StorePath::from("reports")))
        .map_ok(|meta| meta.location.to_string())
        .try_collect()
        .await
        .expect("list the bucket");
    keys.sort();
    assert_eq!(
        &keys[..3],
        [
            "reports/order_value/2026-10-31.csv",
            "reports/order_value/2026-10-31.html",
            "reports/order_value/2026-10-31.parquet",
        ]
    );
    assert!(
        keys[3].starts_with("reports/report_runs/") && keys[3].ends_with("-order_value.parquet"),
        "{keys:?}"
    );

    let server = TestServer::start(config);
    let client = server.connect().await;
    assert_eq!(
        one(&client, "SELECT count(*) > 0 FROM reports.order_value WHERE as_of = DATE '2026-10-31' AND segment_kind = 'channel'").await,
        "t"
    );
    assert_eq!(
        one(
            &client,
            "SELECT status FROM reports.report_runs WHERE name = 'order_value'"
        )
        .await,
        "succeeded"
    );
}
