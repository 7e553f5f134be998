//! A server that survives heavy queries and bad clients, and tells its operators what happened:
//! a memory-hungry query spills, or fails alone with 53200 while other sessions are served;
//! 1,000 invalid statements and random bytes on the socket leave it up; every statement is
//! counted in the Prometheus metrics and written to the query log with its secrets redacted.

use std::path::Path;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{self, TestServer, http_get, metric, sqlstate};

/// The demo data with a small per-query memory budget, spill files and a metrics endpoint.
fn limited_config(spill: &Path) -> segmint::Config {
    let mut config = support::demo_config();
    config.engine.memory_limit = Some("1GiB".into());
    config.engine.query_memory_limit = Some("16MiB".into());
    config.engine.spill_dir = Some(spill.to_path_buf());
    config.server.metrics_listen = Some("127.0.0.1:0".into());
    // Whether a sort spills or fails depends on how many partitions share the budget.
    config.engine.target_partitions = Some(2);
    config
}

/// A sort bigger than the budget: spills, and finishes. (It keeps a column beside the window:
/// DataFusion 55 cannot spill the zero-column batches of `row_number()` alone.)
const SPILLING_SORT: &str = "SELECT max(rn)::bigint FROM (SELECT value AS v, row_number() OVER \
                             (ORDER BY random()) AS rn FROM range(1000000)) t WHERE v >= 0";
/// A hash join whose build side does not fit and cannot spill.
const HUNGRY_JOIN: &str = "SELECT count(*) FROM range(3000000) a JOIN range(3000000) b \
                           ON a.value = b.value";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_memory_hungry_query_spills_or_fails_alone_while_others_are_served() {
    let spill = tempfile::tempdir().expect("spill dir");
    let server = TestServer::start(limited_config(spill.path()));
    let heavy = server.connect().await;

    let sorted: i64 = heavy
        .query_one(SPILLING_SORT, &[])
        .await
        .expect("a sort over the budget spills and finishes")
        .get(0);
    assert_eq!(sorted, 1_000_000);
    let (_, text) = http_get(&server, "/metrics");
    assert!(metric(&text, "segmint_spills_total") >= 1.0, "{text}");
    assert!(metric(&text, "segmint_spilled_bytes_total") > 0.0, "{text}");

    // The join fails alone; another session is served meanwhile and afterwards.
    let other = server.connect().await;
    let hungry = async { heavy.query_one(HUNGRY_JOIN, &[]).await.map(|_| ()) };
    let others = async {
        let mut counts = Vec::new();
        for _ in 0..5 {
            let row = other
                .query_one("SELECT count(*) FROM customers", &[])
                .await
                .expect("another session is served");
            counts.push(row.get::<_, i64>(0));
        }
        counts
    };
    let (hungry, counts) = tokio::join!(hungry, others);
    let error = hungry.expect_err("the join needs more than its budget");
    assert_eq!(sqlstate(&error), "53200", "{error}");
    assert_eq!(counts, vec![support::DEMO_CUSTOMERS as i64; 5]);
    let one: i64 = heavy
        .query_one("SELECT 1", &[])
        .await
        .expect("the failed session goes on")
        .get(0);
    assert_eq!(one, 1);

    let (_, text) = http_get(&server, "/metrics");
    assert!(
        metric(&text, "segmint_query_errors_total{sqlstate=\"53200\"}") >= 1.0,
        "{text}"
    );
    // All reservations are returned (the failed query's tasks end asynchronously).
    let started = std::time::Instant::now();
    loop {
        let (_, text) = http_get(&server, "/metrics");
        if metric(&text, "segmint_memory_in_use_bytes") == 0.0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "memory still held: {text}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_and_health_are_served_on_their_own_port() {
    let spill = tempfile::tempdir().expect("spill dir");
    let server = TestServer::start(limited_config(spill.path()));
    let client = server.connect().await;
    let rows = client
        .query("SELECT customer_id FROM customers LIMIT 7", &[])
        .await
        .expect("query");
    assert_eq!(rows.len(), 7);
    let error = client
        .simple_query("SELECT * FROM no_such_table")
        .await
        .expect_err("unknown table");
    assert_eq!(sqlstate(&error), "42P01");

    let (status, text) = http_get(&server, "/metrics");
    assert_eq!(status, 200);
    assert!(metric(&text, "segmint_queries_total") >= 2.0, "{text}");
    assert!(metric(&text, "segmint_rows_sent_total") >= 7.0, "{text}");
    assert!(
        metric(&text, "segmint_query_errors_total{sqlstate=\"42P01\"}") >= 1.0,
        "{text}"
    );
    assert!(
        metric(&text, "segmint_query_duration_seconds_count") >= 2.0,
        "{text}"
    );
    assert_eq!(metric(&text, "segmint_active_connections"), 1.0, "{text}");
    assert!(metric(&text, "segmint_bytes_sent_total") > 0.0, "{text}");
    assert!(text.contains("segmint_memory_in_use_bytes"), "{text}");

    let (status, body) = http_get(&server, "/health");
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    let (status, _) = http_get(&server, "/nothing-here");
    assert_eq!(status, 404);
    drop(client);
}

/// Invalid statements of many kinds, each with the SQLSTATE PostgreSQL gives.
const INVALID: &[(&str, &str)] = &[
    ("SELEC 1", "42601"),
    ("SELECT * FROM no_such_table", "42P01"),
    ("SELECT no_such_column FROM customers", "42703"),
    ("SELECT 1 / 0", "22012"),
    ("SELECT 'abc'::int", "22P02"),
    ("SELECT no_such_function(1)", "42883"),
    ("SELECT * FROM customers WHERE", "42601"),
    ("SELECT * FROM '/etc/passwd'", "42P01"),
    ("SET statement_timeout = 'soon'", "22023"),
    ("SELECT rfm('no_such_table', DATE '2026-01-01')", "42883"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_invalid_statements_leave_the_session_usable() {
    let client = support::connect().await;
    for i in 0..1000 {
        let (sql, expected) = INVALID[i % INVALID.len()];
        // Both protocols: simple queries and Parse/Bind/Execute.
        let error = if i % 2 == 0 {
            client.simple_query(sql).await.err()
        } else {
            client.query(sql, &[]).await.err()
        };
        let error = error.unwrap_or_else(|| panic!("{sql} should fail"));
        assert_eq!(sqlstate(&error), expected, "{sql}: {error}");
    }
    let customers: i64 = client
        .query_one("SELECT count(*) FROM customers", &[])
        .await
        .expect("the session is still usable")
        .get(0);
    assert_eq!(customers, support::DEMO_CUSTOMERS as i64);
}

/// A startup packet for user `segmint`.
fn startup() -> Vec<u8> {
    let mut body = 196608u32.to_be_bytes().to_vec();
    body.extend(b"user\0segmint\0database\0segmint\0\0");
    let mut packet = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    packet.extend(body);
    packet
}

/// A typed message.
fn message(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut bytes = vec![kind];
    bytes.extend(((body.len() + 4) as u32).to_be_bytes());
    bytes.extend(body);
    bytes
}

/// Sends `bytes`, closes the sending side, and returns what the server answered.
async fn send_and_read(server: &TestServer, bytes: &[u8]) -> Vec<u8> {
    let mut socket = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("the server accepts connections");
    let _ = socket.write_all(bytes).await;
    let _ = socket.shutdown().await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), socket.read_to_end(&mut answer)).await;
    answer
}

/// Whether `answer` holds an ErrorResponse with `code`.
fn has_error(answer: &[u8], code: &str) -> bool {
    let needle = format!("C{code}\0");
    answer
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_bytes_and_malformed_messages_leave_the_server_up() {
    let server = TestServer::start(support::demo_config());
    let before = server.connect().await;
    let mut rng = ChaCha8Rng::seed_from_u64(20261123);
    for round in 0..250 {
        let mut garbage = vec![0u8; rng.random_range(1..2048)];
        rng.fill(&mut garbage[..]);
        match round % 5 {
            // Bytes instead of a startup packet.
            0 => {
                send_and_read(&server, &garbage).await;
            }
            // A login, then bytes instead of messages.
            1 => {
                let mut bytes = startup();
                bytes.extend(&garbage);
                send_and_read(&server, &bytes).await;
            }
            // A Parse that claims 65,535 parameter types and carries none.
            2 => {
                let mut bytes = startup();
                bytes.extend(message(b'P', b"\0SELECT 1\0\xff\xff"));
                let answer = send_and_read(&server, &bytes).await;
                assert!(has_error(&answer, "08P01"), "round {round}: {answer:?}");
            }
            // A message that announces a gigabyte.
            3 => {
                let mut bytes = startup();
                bytes.extend(b"Q\x40\x00\x00\x00SELECT");
                let answer = send_and_read(&server, &bytes).await;
                assert!(has_error(&answer, "08P01"), "round {round}: {answer:?}");
            }
            // A Bind with a parameter longer than the message, then a truncated query.
            _ => {
                let mut bytes = startup();
                bytes.extend(message(b'P', b"\0SELECT $1::int\0\x00\x00"));
                bytes.extend(message(
                    b'B',
                    b"\0\0\x00\x00\x00\x01\x7f\xff\xff\xff\x00\x00",
                ));
                bytes.extend(&message(b'Q', b"SELECT 1\0")[..7]);
                let answer = send_and_read(&server, &bytes).await;
                assert!(has_error(&answer, "08P01"), "round {round}: {answer:?}");
            }
        }
    }
    // The session opened before and a new one both work.
    for client in [before, server.connect().await] {
        let n: i64 = client
            .query_one("SELECT count(*) FROM customers", &[])
            .await
            .expect("the server is up")
            .get(0);
        assert_eq!(n, support::DEMO_CUSTOMERS as i64);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_statement_gets_a_log_line_without_its_secrets() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("segmint.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n\n[[datasets]]\nname = \"customers\"\nurl = \"{}/\"\n",
            support::demo_dir().join("customers").display()
        ),
    )
    .expect("config");
    let config = config.to_str().expect("a UTF-8 path");
    let serve = support::ServeProcess::start(
        &["--log-format", "json", "serve", "--config", config],
        "warn,segmint::query=info",
    );
    let client = support::connect_to(&serve.conn_str("alice")).await;
    let rows = client
        .query("SELECT customer_id FROM customers LIMIT 3", &[])
        .await
        .expect("query");
    assert_eq!(rows.len(), 3);
    let error = client
        .simple_query("SELECT * FROM nowhere")
        .await
        .expect_err("unknown table");
    assert_eq!(sqlstate(&error), "42P01");
    let _ = client
        .simple_query(
            "CREATE EXTERNAL TABLE leak STORED AS PARQUET LOCATION 's3://bucket/t/' \
             OPTIONS ('aws.secret_access_key' 'hunter2', 'aws.region' 'eu-west-1')",
        )
        .await;
    drop(client);
    serve.terminate();
    let support::ServeProcess {
        mut child, lines, ..
    } = serve;
    let logged: Vec<serde_json::Value> = lines
        .map_while(Result::ok)
        .filter_map(|line| serde_json::from_str(&line).ok())
        .filter(|entry: &serde_json::Value| entry["target"] == "segmint::query")
        .collect();
    let _ = child.wait();
    let field = |entry: &serde_json::Value, name: &str| entry["fields"][name].clone();
    let select = logged
        .iter()
        .find(|e| field(e, "query").as_str() == Some("SELECT customer_id FROM customers LIMIT 3"))
        .unwrap_or_else(|| panic!("no line for the SELECT in {logged:?}"));
    assert_eq!(field(select, "user"), "alice");
    assert_eq!(field(select, "rows"), 3);
    assert_eq!(field(select, "sqlstate"), "00000");
    assert!(
        field(select, "duration_ms")
            .as_f64()
            .is_some_and(|ms| ms >= 0.0)
    );
    let failed = logged
        .iter()
        .find(|e| field(e, "query").as_str() == Some("SELECT * FROM nowhere"))
        .unwrap_or_else(|| panic!("no line for the failure in {logged:?}"));
    assert_eq!(field(failed, "sqlstate"), "42P01");
    let ddl = logged
        .iter()
        .find(|e| {
            field(e, "query")
                .as_str()
                .is_some_and(|q| q.contains("leak"))
        })
        .unwrap_or_else(|| panic!("no line for the DDL in {logged:?}"));
    let text = field(ddl, "query").to_string();
    assert!(!text.contains("hunter2"), "{text}");
    assert!(text.contains("eu-west-1"), "{text}");
}
