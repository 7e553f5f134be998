//! Saved segments: an analyst scores customers, names a segment and saves it with
//! `CREATE VIEW`; other connections see it, BI tools list it as a view, it survives a restart,
//! and `DROP VIEW` forgets it. Everything else stays read-only.

use std::path::Path;

use crate::support::{TestServer, connect_to, demo_config, sqlstate};

const SEGMENT: &str = "CREATE VIEW at_risk_vip AS \
    SELECT r.customer_id, r.monetary FROM rfm('completed_orders', DATE '2026-11-01') r \
    JOIN customer_tags(DATE '2026-11-01') t ON t.customer_id = r.customer_id \
    WHERE r.segment IN ('at_risk', 'cant_lose') AND r.m_score >= 4";

const DIRECT: &str = "SELECT count(*) FROM rfm('completed_orders', DATE '2026-11-01') \
    WHERE segment IN ('at_risk', 'cant_lose') AND m_score >= 4";

fn server_with_segments(dir: &Path) -> TestServer {
    let mut config = demo_config();
    config.catalog.dir = Some(dir.to_path_buf());
    config.catalog.allow_ddl = true;
    TestServer::start(config)
}

async fn count(server: &TestServer, sql: &str) -> i64 {
    let client = connect_to(&server.conn_str("analyst")).await;
    client.query_one(sql, &[]).await.expect(sql).get(0)
}

#[tokio::test]
async fn saved_segments_are_shared_listed_and_survive_a_restart() {
    let dir = tempfile::tempdir().expect("segments dir");
    let server = server_with_segments(dir.path());
    let analyst = connect_to(&server.conn_str("analyst")).await;
    let expected = count(&server, DIRECT).await;
    assert!(expected > 0, "the demo shop has valuable customers at risk");

    let created = analyst
        .execute(SEGMENT, &[])
        .await
        .expect("save the segment");
    assert_eq!(created, 0);
    assert!(
        dir.path().join("at_risk_vip.sql").exists(),
        "segment saved as a file"
    );
    assert_eq!(
        count(&server, "SELECT count(*) FROM at_risk_vip").await,
        expected,
        "another connection sees the saved segment"
    );
    let kind: String = analyst
        .query_one(
            "SELECT table_type FROM information_schema.tables WHERE table_name = 'at_risk_vip'",
            &[],
        )
        .await
        .expect("listed")
        .get(0);
    assert_eq!(kind, "VIEW");

    // Bad names, built-in views, other schemas and other writes are refused.
    for (sql, code) in [
        ("CREATE VIEW \"Big Spenders\" AS SELECT 1", "42602"),
        ("CREATE OR REPLACE VIEW customer_360 AS SELECT 1", "42501"),
        ("DROP VIEW completed_orders", "42501"),
        ("CREATE TABLE copy AS SELECT * FROM customers", "0A000"),
        ("INSERT INTO customers SELECT * FROM customers", "25006"),
        ("EXPLAIN CREATE VIEW sneaky AS SELECT 1", "25006"),
    ] {
        let error = analyst.simple_query(sql).await.expect_err(sql);
        assert_eq!(sqlstate(&error), code, "{sql}: {error:?}");
    }
    assert_eq!(
        std::fs::read_dir(dir.path()).expect("list").count(),
        1,
        "nothing else was written"
    );

    server.stop();
    let server = server_with_segments(dir.path());
    assert_eq!(
        count(&server, "SELECT count(*) FROM at_risk_vip").await,
        expected,
        "the segment survives a restart"
    );
    let out = std::process::Command::new("psql")
        .args([
            "-X",
            "-h",
            &server.addr.ip().to_string(),
            "-p",
            &server.addr.port().to_string(),
            "-U",
            "analyst",
            "-d",
            "segmint",
            "-c",
            "\\dv",
        ])
        .output()
        .expect("run psql");
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(
        listing.contains("at_risk_vip"),
        "psql \\dv lists it:\n{listing}"
    );

    let analyst = connect_to(&server.conn_str("analyst")).await;
    analyst
        .batch_execute("DROP VIEW at_risk_vip")
        .await
        .expect("drop the segment");
    assert!(!dir.path().join("at_risk_vip.sql").exists());
    server.stop();
    let server = server_with_segments(dir.path());
    let client = connect_to(&server.conn_str("analyst")).await;
    let error = client
        .query_one("SELECT count(*) FROM at_risk_vip", &[])
        .await
        .expect_err("dropped for good");
    assert_eq!(sqlstate(&error), "42P01");
}
