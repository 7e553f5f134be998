//! Safe to expose: logins (SCRAM-SHA-256, MD5, trust), TLS, roles with grants and row
//! filters, and per-session limits, each checked with real clients (psql, psycopg,
//! tokio-postgres) against a real server.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use segmint::access::Credential;
use segmint::config::{AuthMethod, RoleConfig, UserConfig};
use tokio_postgres::NoTls;

use crate::support::{self, TestServer, sqlstate};

const EAST_ORDERS: &str =
    "customer_id IN (SELECT customer_id FROM customers WHERE region = 'east')";

fn user(name: &str, password: &str, role: &str) -> UserConfig {
    UserConfig {
        name: name.to_string(),
        password: Some(Credential::new_scram(password).to_config_string()),
        role: role.to_string(),
    }
}

/// The demo data with an admin, an analyst, and `east`, who reads east-region rows only.
fn secured_config(catalog_dir: &Path) -> segmint::Config {
    let mut config = support::demo_config();
    config.users = vec![
        user("root", "root-pw", "admin"),
        user("alice", "alice-pw", "analyst"),
        user("erin", "erin-pw", "east"),
        UserConfig {
            name: "oldie".to_string(),
            password: Some(Credential::new_md5("oldie", "oldie-pw").to_config_string()),
            role: "analyst".to_string(),
        },
    ];
    config.roles = vec![RoleConfig {
        name: "east".to_string(),
        admin: false,
        datasets: vec!["*".to_string()],
        schemas: vec![],
        row_filter: Some("region = 'east'".to_string()),
        row_filters: [("orders".to_string(), EAST_ORDERS.to_string())].into(),
    }];
    config.catalog.allow_ddl = true;
    config.catalog.dir = Some(catalog_dir.to_path_buf());
    config
}

fn conn(server: &TestServer, user: &str, password: &str) -> String {
    format!(
        "host=127.0.0.1 port={} user={user} password={password} dbname=segmint",
        server.addr.port()
    )
}

async fn login(
    server: &TestServer,
    user: &str,
    password: &str,
) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, connection) =
        tokio_postgres::connect(&conn(server, user, password), NoTls).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

fn psql(conninfo: &str, password: &str, sql: &str) -> Output {
    Command::new("psql")
        .arg(conninfo)
        .args(["-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .env("PGPASSWORD", password)
        .env("PGCONNECT_TIMEOUT", "20")
        .env_remove("PGSSLMODE")
        .output()
        .expect("psql runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).to_string()
}

async fn count(client: &tokio_postgres::Client, sql: &str) -> i64 {
    client
        .query_one(sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {:?}", e.as_db_error().map(|d| d.message())))
        .get(0)
}

async fn denied(client: &tokio_postgres::Client, sql: &str) -> String {
    let error = client
        .simple_query(sql)
        .await
        .err()
        .unwrap_or_else(|| panic!("{sql} should be refused"));
    sqlstate(&error)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_need_the_right_password_and_never_say_who_exists() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(secured_config(dir.path()));

    let alice = login(&server, "alice", "alice-pw")
        .await
        .expect("right password");
    let row = alice
        .query_one("SELECT current_user", &[])
        .await
        .expect("query");
    assert_eq!(row.get::<_, String>(0), "alice");

    let mut messages = Vec::new();
    for (name, password) in [
        ("alice", "wrong"),
        ("ghost", "alice-pw"),
        ("oldie", "oldie-pw"),
    ] {
        let error = login(&server, name, password)
            .await
            .err()
            .unwrap_or_else(|| panic!("{name} must not log in"));
        let db = error.as_db_error().expect("a server error");
        assert_eq!(db.code().code(), "28P01", "{name}: {db}");
        messages.push(db.message().replace(name, "USER"));
    }
    // An md5-hashed user cannot answer SCRAM; none of the three answers differs.
    assert!(messages.iter().all(|m| m == &messages[0]), "{messages:?}");
    assert_eq!(
        messages[0],
        "password authentication failed for user \"USER\""
    );

    // psql, with the password from PGPASSWORD.
    let url = format!("host=127.0.0.1 port={} dbname=segmint", server.addr.port());
    let ok = psql(
        &format!("{url} user=alice"),
        "alice-pw",
        "SELECT current_user",
    );
    assert!(ok.status.success(), "{}", stderr(&ok));
    assert_eq!(stdout(&ok), "alice");
    let bad = psql(&format!("{url} user=alice"), "nope", "SELECT 1");
    assert!(!bad.status.success());
    assert!(
        stderr(&bad).contains("password authentication failed for user \"alice\""),
        "{}",
        stderr(&bad)
    );
    let unknown = psql(&format!("{url} user=ghost"), "nope", "SELECT 1");
    assert!(
        stderr(&unknown).contains("password authentication failed for user \"ghost\""),
        "{}",
        stderr(&unknown)
    );

    // psycopg sees SQLSTATE 28P01 and logs in with the right password.
    let script = r#"
import sys, psycopg
url = sys.argv[1]
try:
    psycopg.connect(url + " user=alice password=wrong")
    print("logged in with a wrong password")
except psycopg.OperationalError as e:
    print("wrong:", e)
with psycopg.connect(url + " user=alice password=alice-pw") as c:
    print("right:", c.execute("SELECT current_user").fetchone()[0])
"#;
    let out = Command::new(crate::compat::python())
        .args(["-c", script, &url])
        .output()
        .expect("python runs");
    let text = stdout(&out);
    assert!(
        text.contains("wrong:")
            && text.contains("password authentication failed for user \"alice\""),
        "{text}\n{}",
        stderr(&out)
    );
    assert!(text.contains("right: alice"), "{text}\n{}", stderr(&out));

    // Repeated failures from one address are slowed down: 100 ms, 200 ms, then 400 ms
    // (psycopg's good login just reset the count).
    for _ in 0..2 {
        assert!(login(&server, "alice", "still-wrong").await.is_err());
    }
    let started = Instant::now();
    assert!(login(&server, "alice", "still-wrong").await.is_err());
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );
    // A good login resets the count.
    login(&server, "alice", "alice-pw")
        .await
        .expect("right password");
    let started = Instant::now();
    assert!(login(&server, "alice", "wrong-again").await.is_err());
    assert!(
        started.elapsed() < Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn md5_logins_work_for_md5_users_when_enabled() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = secured_config(dir.path());
    config.server.auth = Some(AuthMethod::Md5);
    let server = TestServer::start(config);
    let oldie = login(&server, "oldie", "oldie-pw")
        .await
        .expect("md5 login");
    oldie.simple_query("SELECT 1").await.expect("query");
    // SCRAM users still use SCRAM under md5, as in PostgreSQL.
    login(&server, "alice", "alice-pw")
        .await
        .expect("scram login");
    let error = login(&server, "oldie", "wrong").await.expect_err("refused");
    assert_eq!(sqlstate(&error), "28P01");
    let url = format!(
        "host=127.0.0.1 port={} dbname=segmint user=oldie",
        server.addr.port()
    );
    let ok = psql(&url, "oldie-pw", "SELECT current_user");
    assert_eq!(stdout(&ok), "oldie", "{}", stderr(&ok));
    server.stop();
}

/// A CA and a server certificate for `localhost` / 127.0.0.1, made with openssl.
fn certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl runs");
        assert!(out.status.success(), "openssl {args:?}: {}", stderr(&out));
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    run(&[
        &["req", "-x509"][..],
        &ec,
        &[
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "2",
            "-subj",
            "/CN=Segmint test CA",
        ],
    ]
    .concat());
    run(&[
        &["req"][..],
        &ec,
        &[
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ],
    ]
    .concat());
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .expect("ext");
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "san.ext",
    ]);
    (
        dir.join("ca.crt"),
        dir.join("server.crt"),
        dir.join("server.key"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_can_be_required_and_verified() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (ca, cert, key) = certificates(dir.path());
    let mut config = secured_config(dir.path());
    config.server.tls_cert = Some(cert);
    config.server.tls_key = Some(key);
    config.server.require_tls = true;
    let server = TestServer::start(config);
    let port = server.addr.port();

    let plain = psql(
        &format!("host=127.0.0.1 port={port} dbname=segmint user=alice sslmode=disable"),
        "alice-pw",
        "SELECT 1",
    );
    assert!(!plain.status.success());
    assert!(
        stderr(&plain).contains("TLS connections only"),
        "{}",
        stderr(&plain)
    );

    let require = psql(
        &format!("host=127.0.0.1 port={port} dbname=segmint user=alice sslmode=require"),
        "alice-pw",
        "SELECT 1",
    );
    assert!(require.status.success(), "{}", stderr(&require));

    let verify = psql(
        &format!(
            "host=localhost hostaddr=127.0.0.1 port={port} dbname=segmint user=alice sslmode=verify-full sslrootcert={}",
            ca.display()
        ),
        "alice-pw",
        "SELECT current_user",
    );
    assert!(verify.status.success(), "{}", stderr(&verify));
    assert_eq!(stdout(&verify), "alice");

    // A certificate for another name fails verify-full on the client side.
    let wrong_name = psql(
        &format!(
            "host=127.0.0.2 port={port} dbname=segmint user=alice sslmode=verify-full sslrootcert={}",
            ca.display()
        ),
        "alice-pw",
        "SELECT 1",
    );
    assert!(!wrong_name.status.success());

    let script = r#"
import sys, psycopg
with psycopg.connect(sys.argv[1]) as c:
    print(c.pgconn.ssl_in_use, c.execute("SELECT current_user").fetchone()[0])
"#;
    let out = Command::new(crate::compat::python())
        .args([
            "-c",
            script,
            &format!(
                "host=localhost hostaddr=127.0.0.1 port={port} dbname=segmint user=alice password=alice-pw sslmode=verify-full sslrootcert={}",
                ca.display()
            ),
        ])
        .output()
        .expect("python runs");
    assert_eq!(stdout(&out), "True alice", "{}", stderr(&out));
    server.stop();
}

#[test]
fn a_certificate_that_does_not_load_stops_the_server() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("bad.crt"), "not a certificate").expect("write");
    let config = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\ntls_cert = \"{0}/bad.crt\"\ntls_key = \"{0}/bad.crt\"\n",
        dir.path().display()
    );
    std::fs::write(dir.path().join("segmint.toml"), config).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_segmint"))
        .args(["serve", "--config"])
        .arg(dir.path().join("segmint.toml"))
        .output()
        .expect("segmint runs");
    assert!(
        !out.status.success(),
        "must not serve without its certificate"
    );
    assert!(stderr(&out).contains("TLS"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_filters_hold_whatever_the_sql() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(secured_config(dir.path()));
    let root = login(&server, "root", "root-pw").await.expect("admin");
    let erin = login(&server, "erin", "erin-pw")
        .await
        .expect("east analyst");

    let all = count(&root, "SELECT count(*) FROM customers").await;
    let east = count(
        &root,
        "SELECT count(*) FROM customers WHERE region = 'east'",
    )
    .await;
    assert!(0 < east && east < all, "{east} of {all}");
    let east_orders = count(
        &root,
        &format!("SELECT count(*) FROM orders WHERE {EAST_ORDERS}"),
    )
    .await;

    // Views an administrator made, over the filtered tables.
    root.simple_query("CREATE VIEW every_customer AS SELECT * FROM customers")
        .await
        .expect("admin creates a view");

    for sql in [
        "SELECT count(*) FROM customers",
        "SELECT count(*) FROM public.customers",
        "SELECT count(*) FROM segmint.public.customers",
        "SELECT count(*) FROM \"customers\"",
        "SELECT count(*) FROM (SELECT * FROM customers) c",
        "WITH c AS (SELECT * FROM customers) SELECT count(*) FROM c",
        "SELECT count(*) FROM every_customer",
        "SELECT count(*) FROM (SELECT customer_id FROM customers UNION ALL SELECT customer_id FROM every_customer WHERE false) u",
        "SELECT count(*) FROM customers WHERE region = 'east' OR true",
        "SELECT count(DISTINCT customer_id) FROM customers c WHERE EXISTS (SELECT 1 FROM customers d WHERE d.customer_id = c.customer_id)",
    ] {
        assert_eq!(count(&erin, sql).await, east, "{sql}");
    }
    assert_eq!(
        count(
            &erin,
            "SELECT count(*) FROM customers WHERE region <> 'east'"
        )
        .await,
        0
    );
    assert_eq!(
        count(&erin, "SELECT count(*) FROM orders").await,
        east_orders,
        "orders are filtered by their own subquery predicate"
    );
    assert_eq!(
        count(
            &erin,
            "SELECT count(*) FROM orders o JOIN customers c USING (customer_id) WHERE c.region <> 'east'"
        )
        .await,
        0
    );
    // Table functions read through the session too.
    let rfm_all = count(
        &root,
        "SELECT count(*) FROM rfm('orders', DATE '2026-11-01')",
    )
    .await;
    let rfm_east = count(
        &erin,
        "SELECT count(*) FROM rfm('orders', DATE '2026-11-01')",
    )
    .await;
    assert!(
        0 < rfm_east && rfm_east < rfm_all,
        "{rfm_east} of {rfm_all}"
    );
    // Prepared statements (extended protocol) are filtered alike.
    let prepared = erin
        .query_one(
            "SELECT count(*) FROM customers WHERE region = $1",
            &[&"west"],
        )
        .await
        .expect("prepared");
    assert_eq!(prepared.get::<_, i64>(0), 0);

    // A table the role-wide filter does not fit is refused, not served whole.
    assert_eq!(
        denied(&erin, "SELECT * FROM products LIMIT 1").await,
        "42501"
    );
    // Shared state is for administrators.
    for sql in [
        "CREATE VIEW mine AS SELECT 1",
        "DROP VIEW every_customer",
        "REFRESH DATASETS",
        "CREATE INDEX mine ON orders (customer_id)",
        "DROP INDEX IF EXISTS mine",
        "SET datafusion.catalog.default_schema = 'reports'",
        "SET datafusion.runtime.memory_limit = '100G'",
    ] {
        assert_eq!(denied(&erin, sql).await, "42501", "{sql}");
    }
    for sql in [
        "COPY customers TO '/tmp/segmint-escape.csv'",
        "COPY (SELECT * FROM customers) TO '/tmp/segmint-escape.csv'",
        "SELECT * FROM '/etc/passwd'",
    ] {
        let state = denied(&erin, sql).await;
        assert!(
            ["42501", "25006", "42P01", "0A000", "42601"].contains(&state.as_str()),
            "{sql}: {state}"
        );
    }
    assert!(!Path::new("/tmp/segmint-escape.csv").exists());
    assert_eq!(
        count(&erin, "SELECT count(*) FROM customers").await,
        east,
        "the connection stays usable"
    );
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grants_limit_tables_and_schemas() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = secured_config(dir.path());
    config.users.push(user("nina", "nina-pw", "narrow"));
    config.roles.push(RoleConfig {
        name: "narrow".to_string(),
        admin: false,
        datasets: vec!["customers".to_string()],
        schemas: vec!["goals".to_string()],
        row_filter: None,
        row_filters: Default::default(),
    });
    let server = TestServer::start(config);
    let nina = login(&server, "nina", "nina-pw").await.expect("login");
    assert!(count(&nina, "SELECT count(*) FROM customers").await > 0);
    assert!(count(&nina, "SELECT count(*) FROM goals.goals").await > 0);
    assert_eq!(denied(&nina, "SELECT count(*) FROM orders").await, "42501");
    assert_eq!(
        denied(
            &nina,
            "SELECT count(*) FROM rfm('orders', DATE '2026-11-01')"
        )
        .await,
        "42501"
    );
    let listed: Vec<String> = nina
        .query(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
            &[],
        )
        .await
        .expect("information_schema")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(listed, vec!["customers".to_string()]);
    assert_eq!(
        denied(&nina, "SELECT * FROM segmint.datasets").await,
        "42501"
    );
    // Reports are for administrators, whatever the report.
    assert_eq!(denied(&nina, "RUN REPORT goal_attainment").await, "42501");
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_isolated() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = TestServer::start(secured_config(dir.path()));
    let a = login(&server, "alice", "alice-pw").await.expect("a");
    let b = login(&server, "alice", "alice-pw").await.expect("b");
    a.simple_query("SET TimeZone = 'Asia/Tokyo'")
        .await
        .expect("set");
    a.simple_query("SET datafusion.execution.batch_size = 1234")
        .await
        .expect("set");
    let zone = b.query_one("SHOW TimeZone", &[]).await.expect("show");
    assert_eq!(zone.get::<_, String>(0), "UTC");
    let size = b
        .query_one("SHOW datafusion.execution.batch_size", &[])
        .await
        .expect("show");
    assert_ne!(size.get::<_, String>(1), "1234");
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_and_row_caps_end_statements_and_idle_sessions() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = secured_config(dir.path());
    config.server.max_result_rows = 1000;
    config.server.idle_session_timeout = "2s".to_string();
    let server = TestServer::start(config);
    let alice = login(&server, "alice", "alice-pw").await.expect("login");

    let capped = alice
        .simple_query("SELECT * FROM orders")
        .await
        .expect_err("capped");
    assert_eq!(sqlstate(&capped), "54000");
    assert_eq!(
        count(
            &alice,
            "SELECT count(*) FROM (SELECT * FROM orders LIMIT 1000) o"
        )
        .await,
        1000
    );

    // statement_timeout ends a long execution, not only planning.
    alice
        .simple_query("SET statement_timeout = '300ms'")
        .await
        .expect("set");
    let slow = "SELECT sum(a.net_amount * b.item_count) FROM orders a CROSS JOIN orders b";
    let started = Instant::now();
    let error = alice.simple_query(slow).await.expect_err("timed out");
    assert_eq!(sqlstate(&error), "57014");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    alice
        .simple_query("RESET statement_timeout")
        .await
        .expect("reset");
    assert_eq!(count(&alice, "SELECT 1::bigint").await, 1);

    // Idle sessions are closed with 57P05.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let gone = alice.simple_query("SELECT 1").await.expect_err("closed");
    assert!(gone.is_closed() || sqlstate(&gone) == "57P05", "{gone}");
    server.stop();
}
