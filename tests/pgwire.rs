//! The wire protocol against a real server with tokio-postgres: both protocols, types,
//! SQLSTATEs, session isolation, concurrency, limits, read-only enforcement and shutdown.

use tokio_postgres::SimpleQueryMessage;
use tokio_postgres::types::Type;

use crate::support::{self, TestServer, connect, sqlstate};

fn simple_rows(messages: Vec<SimpleQueryMessage>) -> Vec<Vec<Option<String>>> {
    messages
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

#[tokio::test]
async fn extended_protocol_binds_parameters() {
    let client = connect().await;
    let expected = simple_rows(
        client
            .simple_query("SELECT count(*) FROM orders WHERE channel = 'app'")
            .await
            .expect("simple query"),
    );
    let row = client
        .query_one("SELECT count(*) FROM orders WHERE channel = $1", &[&"app"])
        .await
        .expect("extended query");
    let count: i64 = row.get(0);
    assert!(count > 0);
    assert_eq!(expected[0][0].as_deref(), Some(count.to_string().as_str()));

    // The same named statement executed with different parameters.
    let statement = client
        .prepare("SELECT count(*) FROM orders WHERE channel = $1 AND item_count >= $2")
        .await
        .expect("prepare");
    assert_eq!(statement.params(), &[Type::TEXT, Type::INT4]);
    let all: i64 = client
        .query_one(&statement, &[&"app", &1i32])
        .await
        .expect("run")
        .get(0);
    let multi: i64 = client
        .query_one(&statement, &[&"app", &2i32])
        .await
        .expect("run")
        .get(0);
    assert_eq!(all, count);
    assert!(
        multi < all && multi > 0,
        "multi-line orders {multi} of {all}"
    );
}

#[tokio::test]
async fn result_columns_have_postgres_types() {
    let client = connect().await;
    let statement = client
        .prepare(
            "SELECT o.order_id, o.order_ts, o.channel, o.net_amount, o.item_count, \
             c.city_tier, c.birth_date, c.registered_at, c.marketing_opt_in, c.interests, \
             e.dwell_seconds \
             FROM orders o JOIN customers c USING (customer_id) JOIN events e USING (customer_id) LIMIT 1",
        )
        .await
        .expect("prepare");
    let types: Vec<Type> = statement
        .columns()
        .iter()
        .map(|c| c.type_().clone())
        .collect();
    assert_eq!(
        types,
        vec![
            Type::INT8,
            Type::TIMESTAMPTZ,
            Type::TEXT,
            Type::NUMERIC,
            Type::INT4,
            Type::INT2,
            Type::DATE,
            Type::TIMESTAMP,
            Type::BOOL,
            Type::TEXT_ARRAY,
            Type::FLOAT8,
        ]
    );
    let row = client.query_one(&statement, &[]).await.expect("run");
    let order_id: i64 = row.get(0);
    assert!(order_id > 1000);
    let tier: i16 = row.get(5);
    assert!((1..=5).contains(&tier));
    let interests: Option<Vec<String>> = row.get(9);
    assert!(interests.is_some());
    let dwell: f64 = row.get(10);
    assert!(dwell > 0.0);
}

#[tokio::test]
async fn errors_carry_sqlstate_and_the_connection_stays_usable() {
    let client = connect().await;
    let cases = [
        ("SELEC 1", "42601"),
        ("SELECT * FROM no_such_table", "42P01"),
        ("SELECT no_such_column FROM orders", "42703"),
        ("SELECT no_such_function(1)", "42883"),
        ("SELECT 1 / 0", "22012"),
        ("SELECT CAST('abc' AS INT)", "22P02"),
        ("SET no_such_setting = 1", "42704"),
        ("SET datafusion.no_such.option = 1", "42704"),
    ];
    for (sql, code) in cases {
        let simple = client.simple_query(sql).await.expect_err(sql);
        assert_eq!(
            sqlstate(&simple),
            code,
            "simple protocol: {sql}: {simple:?}"
        );
        let extended = client.query(sql, &[]).await.expect_err(sql);
        assert_eq!(
            sqlstate(&extended),
            code,
            "extended protocol: {sql}: {extended:?}"
        );
        let one: i64 = client
            .query_one("SELECT 1::BIGINT", &[])
            .await
            .expect("still usable")
            .get(0);
        assert_eq!(one, 1);
    }
}

#[tokio::test]
async fn a_failing_statement_stops_the_rest_of_a_simple_query_string() {
    let client = connect().await;
    let error = client
        .simple_query("SELECT 1; SELECT * FROM missing; SELECT 3")
        .await
        .expect_err("second statement fails");
    assert_eq!(sqlstate(&error), "42P01");
    let rows = simple_rows(
        client
            .simple_query("SELECT 4; SELECT 5")
            .await
            .expect("usable"),
    );
    assert_eq!(
        rows,
        vec![vec![Some("4".to_string())], vec![Some("5".to_string())]]
    );
}

#[tokio::test]
async fn each_connection_has_its_own_session() {
    let a = connect().await;
    let b = connect().await;
    a.batch_execute(
        "SET application_name = 'dashboard'; SET datafusion.execution.batch_size = 123",
    )
    .await
    .expect("set");
    let show = |rows: Vec<SimpleQueryMessage>| simple_rows(rows)[0][0].clone();
    assert_eq!(
        show(a.simple_query("SHOW application_name").await.expect("show")).as_deref(),
        Some("dashboard")
    );
    let a_batch = simple_rows(
        a.simple_query("SHOW datafusion.execution.batch_size")
            .await
            .expect("show"),
    );
    let b_batch = simple_rows(
        b.simple_query("SHOW datafusion.execution.batch_size")
            .await
            .expect("show"),
    );
    assert_eq!(a_batch[0].last().cloned().flatten().as_deref(), Some("123"));
    assert_ne!(b_batch[0].last().cloned().flatten().as_deref(), Some("123"));
    assert_eq!(
        show(b.simple_query("SHOW application_name").await.expect("show")).as_deref(),
        Some("")
    );
    a.batch_execute("RESET ALL").await.expect("reset");
    assert_eq!(
        show(a.simple_query("SHOW application_name").await.expect("show")).as_deref(),
        Some("")
    );
}

#[tokio::test]
async fn session_commands_drivers_send_are_accepted() {
    let client = connect().await;
    client
        .batch_execute(
            "SET extra_float_digits = 3; SET DateStyle = 'ISO'; SET TIME ZONE 'UTC'; \
             SET search_path = public; SET statement_timeout = 0; SET client_encoding = 'UTF8'",
        )
        .await
        .expect("driver settings");
    let version: String = client
        .query_one("SELECT version()", &[])
        .await
        .expect("version")
        .get(0);
    assert!(version.starts_with("PostgreSQL 15"), "{version}");
    let database: String = client
        .query_one("SELECT current_database()", &[])
        .await
        .expect("current_database")
        .get(0);
    assert_eq!(database, "segmint");
    let user: String = client
        .query_one("SELECT current_user", &[])
        .await
        .expect("user")
        .get(0);
    assert_eq!(user, "analyst");
    let all = simple_rows(client.simple_query("SHOW ALL").await.expect("show all"));
    assert!(all.iter().any(|r| r[0].as_deref() == Some("TimeZone")));
}

#[tokio::test]
async fn transaction_statements_are_accepted() {
    let mut client = connect().await;
    let transaction = client.transaction().await.expect("begin");
    let n: i64 = transaction
        .query_one("SELECT count(*) FROM customers", &[])
        .await
        .expect("query in transaction")
        .get(0);
    assert_eq!(n, support::DEMO_CUSTOMERS as i64);
    transaction.commit().await.expect("commit");
    client
        .batch_execute(
            "BEGIN; SAVEPOINT s1; RELEASE SAVEPOINT s1; SET TRANSACTION READ ONLY; ROLLBACK",
        )
        .await
        .expect("transaction control");
    // An error inside a transaction, then ROLLBACK, leaves the session usable.
    client.batch_execute("BEGIN").await.expect("begin");
    assert!(client.batch_execute("SELECT * FROM missing").await.is_err());
    client.batch_execute("ROLLBACK").await.expect("rollback");
    client.query_one("SELECT 1", &[]).await.expect("usable");
}

/// After an error inside `BEGIN`, PostgreSQL refuses every statement with 25P02 until the
/// block ends or rolls back to a savepoint set before the error; both protocols, and a
/// prepared statement parsed before the error.
#[tokio::test]
async fn a_failed_transaction_block_refuses_statements_until_it_ends() {
    let client = connect().await;
    let one = "SELECT 1::BIGINT";
    let prepared = client.prepare(one).await.expect("prepare before the block");
    for end in ["ROLLBACK", "COMMIT", "END", "ABORT"] {
        client.batch_execute("BEGIN").await.expect("begin");
        client
            .query_one(one, &[])
            .await
            .expect("fine before the error");
        let error = client
            .simple_query("SELECT * FROM missing")
            .await
            .expect_err("missing table");
        assert_eq!(sqlstate(&error), "42P01");
        let simple = client.simple_query(one).await.expect_err("aborted block");
        assert_eq!(sqlstate(&simple), "25P02", "{simple:?}");
        let extended = client.query(one, &[]).await.expect_err("aborted block");
        assert_eq!(sqlstate(&extended), "25P02", "{extended:?}");
        let bound = client
            .query(&prepared, &[])
            .await
            .expect_err("aborted block");
        assert_eq!(sqlstate(&bound), "25P02", "{bound:?}");
        let savepoint = client
            .simple_query("SAVEPOINT late")
            .await
            .expect_err("aborted");
        assert_eq!(sqlstate(&savepoint), "25P02");
        client.simple_query(end).await.expect(end);
        let n: i64 = client.query_one(&prepared, &[]).await.expect(end).get(0);
        assert_eq!(n, 1, "usable after {end}");
    }
    // An error in the extended protocol fails the block too.
    client.batch_execute("BEGIN").await.expect("begin");
    assert_eq!(
        sqlstate(&client.query("SELECT 1 / 0", &[]).await.expect_err("error")),
        "22012"
    );
    assert_eq!(
        sqlstate(&client.simple_query(one).await.expect_err("aborted")),
        "25P02"
    );
    client.batch_execute("ROLLBACK").await.expect("rollback");
    // Outside a block an error changes nothing.
    assert!(client.simple_query("SELECT * FROM missing").await.is_err());
    client.query_one(one, &[]).await.expect("autocommit");
}

/// `ROLLBACK TO SAVEPOINT` recovers a failed block when the savepoint came before the error;
/// savepoint statements outside a block, or naming no savepoint, fail as in PostgreSQL.
#[tokio::test]
async fn rollback_to_a_savepoint_recovers_a_failed_block() {
    let client = connect().await;
    let one = "SELECT 1::BIGINT";
    for protocol in ["simple", "extended"] {
        client
            .batch_execute("BEGIN; SAVEPOINT a")
            .await
            .expect("savepoint");
        assert!(client.simple_query("SELECT * FROM missing").await.is_err());
        match protocol {
            "simple" => client
                .simple_query("ROLLBACK TO SAVEPOINT a")
                .await
                .map(|_| ()),
            _ => client.execute("ROLLBACK TO a", &[]).await.map(|_| ()),
        }
        .expect("rollback to a");
        client.query_one(one, &[]).await.expect(protocol);
        let error = client
            .simple_query("ROLLBACK TO nowhere")
            .await
            .expect_err("no such savepoint");
        assert_eq!(sqlstate(&error), "3B001");
        // That error failed the block again; the savepoint still recovers it.
        assert_eq!(
            sqlstate(&client.query(one, &[]).await.expect_err("aborted")),
            "25P02"
        );
        client.simple_query("ROLLBACK TO a").await.expect("again");
        client
            .batch_execute("RELEASE a; COMMIT")
            .await
            .expect("commit");
    }
    for outside in ["SAVEPOINT a", "RELEASE a", "ROLLBACK TO a"] {
        let error = client.simple_query(outside).await.expect_err(outside);
        assert_eq!(sqlstate(&error), "25P01", "{outside}");
    }
    client.query_one(one, &[]).await.expect("usable");
}

#[tokio::test]
async fn writes_are_rejected_as_read_only() {
    let client = connect().await;
    let target = std::env::temp_dir().join(format!("segmint-copy-{}.csv", std::process::id()));
    let statements = [
        "CREATE TABLE stolen AS SELECT * FROM customers".to_string(),
        "CREATE VIEW v AS SELECT 1".to_string(),
        "DROP TABLE orders".to_string(),
        format!("COPY (SELECT * FROM customers) TO '{}'", target.display()),
        format!(
            "EXPLAIN ANALYZE COPY (SELECT * FROM customers) TO '{}'",
            target.display()
        ),
    ];
    for sql in &statements {
        let error = client.simple_query(sql).await.expect_err(sql);
        let code = sqlstate(&error);
        assert!(
            code == "25006" || code == "0A000" || code == "42601",
            "{sql}: {error:?}"
        );
    }
    assert!(!target.exists(), "COPY wrote a file on the server");
    let n: i64 = client
        .query_one("SELECT count(*) FROM orders", &[])
        .await
        .expect("orders intact")
        .get(0);
    assert!(n > 0);
}

#[tokio::test]
async fn large_results_stream_completely() {
    let client = connect().await;
    let expected: i64 = client
        .query_one("SELECT count(*) FROM events", &[])
        .await
        .expect("count")
        .get(0);
    assert!(expected > 20_000, "events: {expected}");
    let rows = client
        .query("SELECT event_id, event_type FROM events", &[])
        .await
        .expect("all events");
    assert_eq!(rows.len() as i64, expected);
    let simple = simple_rows(
        client
            .simple_query("SELECT event_id FROM events")
            .await
            .expect("simple"),
    );
    assert_eq!(simple.len() as i64, expected);
}

#[tokio::test]
async fn many_concurrent_connections_get_the_same_answers() {
    let sql = "SELECT channel, count(*) AS n, sum(net_amount)::VARCHAR AS revenue FROM orders GROUP BY channel ORDER BY channel";
    let reference = simple_rows(connect().await.simple_query(sql).await.expect("reference"));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        tasks.push(tokio::spawn(async move {
            let client = connect().await;
            let mut results = Vec::new();
            for _ in 0..3 {
                results.push(simple_rows(client.simple_query(sql).await.expect("query")));
            }
            results
        }));
    }
    for task in tasks {
        for result in task.await.expect("task") {
            assert_eq!(result, reference);
        }
    }
}

#[tokio::test]
async fn connections_beyond_the_limit_get_53300() {
    let mut config = support::demo_config();
    config.server.max_connections = 2;
    let server = TestServer::start(config);
    let first = server.connect().await;
    let second = server.connect().await;
    let third = tokio_postgres::connect(&server.conn_str("extra"), tokio_postgres::NoTls).await;
    let error = third.err().expect("third connection is refused");
    assert_eq!(sqlstate(&error), "53300");
    first
        .query_one("SELECT 1", &[])
        .await
        .expect("first still works");
    drop(second);
    // The slot is released once the server sees the connection close.
    let mut reconnected = None;
    for _ in 0..50 {
        if let Ok((client, connection)) =
            tokio_postgres::connect(&server.conn_str("again"), tokio_postgres::NoTls).await
        {
            tokio::spawn(connection);
            reconnected = Some(client);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let client = reconnected.expect("a freed slot accepts a new connection");
    client.query_one("SELECT 1", &[]).await.expect("query");
    drop(client);
    drop(first);
    server.stop();
}

#[tokio::test]
async fn shutdown_stops_accepting_and_returns() {
    let server = TestServer::start(support::demo_config());
    let addr = server.addr;
    let client = server.connect().await;
    client.query_one("SELECT 1", &[]).await.expect("query");
    let started = std::time::Instant::now();
    server.stop();
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "still accepting after shutdown"
    );
}
