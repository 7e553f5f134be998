//! SQL functions over the wire: an administrator names a formula with `CREATE FUNCTION`, every
//! connection can call it, psql's `\df+` lists it with its body, it survives a restart, and
//! `DROP FUNCTION` forgets it. Analysts may not define functions, and bad bodies are refused
//! when the function is created, with PostgreSQL's codes.

use std::path::Path;
use std::process::Command;

use segmint::config::{AuthMethod, UserConfig};
use tokio_postgres::{Client, SimpleQueryMessage};

use crate::support::{self, TestServer, connect_to, sqlstate};

const NET_OF_VAT: &str = "CREATE FUNCTION net_of_vat(amount numeric) RETURNS numeric \
    LANGUAGE sql AS $$ amount / 1.25 $$";

/// The demo data with an administrator (`root`) and an analyst (`alice`), DDL allowed and
/// saved in `catalog_dir`.
fn server(catalog_dir: &Path) -> TestServer {
    let mut config = support::demo_config();
    config.server.auth = Some(AuthMethod::Trust);
    config.users = ["root:admin", "alice:analyst"]
        .iter()
        .map(|user| {
            let (name, role) = user.split_once(':').expect("name:role");
            UserConfig {
                name: name.to_string(),
                password: None,
                role: role.to_string(),
            }
        })
        .collect();
    config.catalog.allow_ddl = true;
    config.catalog.dir = Some(catalog_dir.to_path_buf());
    TestServer::start(config)
}

/// The first column of every row of `sql`, as text.
async fn column(client: &Client, sql: &str) -> Vec<Option<String>> {
    client
        .simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e:?}"))
        .into_iter()
        .filter_map(|message| match message {
            SimpleQueryMessage::Row(row) => Some(row.get(0).map(str::to_string)),
            _ => None,
        })
        .collect()
}

async fn number(client: &Client, sql: &str) -> f64 {
    column(client, sql)
        .await
        .first()
        .cloned()
        .flatten()
        .unwrap_or_else(|| panic!("{sql}: no value"))
        .parse()
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

async fn refused(client: &Client, sql: &str) -> String {
    let error = client
        .simple_query(sql)
        .await
        .err()
        .unwrap_or_else(|| panic!("{sql} should be refused"));
    sqlstate(&error)
}

fn psql(server: &TestServer, command: &str) -> String {
    let out = Command::new("psql")
        .args(["-X", "-v", "ON_ERROR_STOP=1"])
        .args(["-h", &server.addr.ip().to_string()])
        .args(["-p", &server.addr.port().to_string()])
        .args(["-U", "alice", "-d", "segmint", "-c", command])
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .expect("psql is installed (the test script installs postgresql-client)");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "psql {command} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn functions_are_created_shared_listed_and_survive_a_restart() {
    let dir = tempfile::tempdir().expect("catalog dir");
    let server = server(dir.path());
    let root = connect_to(&server.conn_str("root")).await;
    let alice = connect_to(&server.conn_str("alice")).await;
    // Connected (and planning) before the function exists.
    let expected = number(
        &alice,
        "SELECT net_amount / 1.25 FROM orders ORDER BY order_id LIMIT 1",
    )
    .await;

    // Analysts may not define or drop functions.
    assert_eq!(refused(&alice, NET_OF_VAT).await, "42501");
    assert_eq!(
        refused(&alice, "DROP FUNCTION IF EXISTS net_of_vat").await,
        "42501"
    );

    // Bad bodies are refused at CREATE, not first use.
    for (body, code) in [
        ("amount /", "42601"),
        ("no_such_function(amount)", "42883"),
        ("amount * discount_rate", "42703"),
    ] {
        let sql = format!(
            "CREATE FUNCTION broken(amount numeric) RETURNS numeric LANGUAGE sql AS $$ {body} $$"
        );
        assert_eq!(refused(&root, &sql).await, code, "{sql}");
    }

    root.batch_execute(NET_OF_VAT)
        .await
        .expect("an administrator creates a function");
    assert!(dir.path().join("functions/net_of_vat.sql").exists());
    assert_eq!(
        refused(&root, NET_OF_VAT).await,
        "42723",
        "CREATE without OR REPLACE of an existing function"
    );
    // The extended protocol, from a connection opened before the function existed.
    let row = alice
        .query_one(
            "SELECT net_of_vat(net_amount)::float8 FROM orders ORDER BY order_id LIMIT 1",
            &[],
        )
        .await
        .expect("the analyst calls it");
    let value: f64 = row.get(0);
    assert!((value - expected).abs() < 1e-6, "{value} vs {expected}");
    let used = number(&alice, "SELECT net_of_vat(net_amount) FROM orders LIMIT 1").await;
    assert!(used > 0.0);
    // `$1` and RETURN, replacing the function.
    root.batch_execute(
        "CREATE OR REPLACE FUNCTION net_of_vat(numeric) RETURNS numeric RETURN $1 / 1.25",
    )
    .await
    .expect("replaced");
    let replaced = number(
        &alice,
        "SELECT net_of_vat(net_amount) FROM orders ORDER BY order_id LIMIT 1",
    )
    .await;
    assert!((replaced - expected).abs() < 1e-6);

    let listing = psql(&server, "\\df+ net_of_vat");
    for expected in ["net_of_vat", "numeric", "sql", "Source code", "$1 / 1.25"] {
        assert!(
            listing.contains(expected),
            "\\df+ shows {expected}:\n{listing}"
        );
    }
    assert!(
        psql(&server, "\\df").contains("net_of_vat"),
        "\\df lists it"
    );

    server.stop();
    let server = self::server(dir.path());
    let alice = connect_to(&server.conn_str("alice")).await;
    let restored = number(
        &alice,
        "SELECT net_of_vat(net_amount) FROM orders ORDER BY order_id LIMIT 1",
    )
    .await;
    assert!(
        (restored - expected).abs() < 1e-6,
        "the function survives a restart"
    );

    let root = connect_to(&server.conn_str("root")).await;
    assert_eq!(
        refused(&root, "DROP FUNCTION lower").await,
        "42501",
        "built-in functions stay"
    );
    assert_eq!(
        refused(&root, "DROP FUNCTION no_such_function").await,
        "42883"
    );
    root.batch_execute("DROP FUNCTION IF EXISTS no_such_function")
        .await
        .expect("IF EXISTS");
    root.batch_execute("DROP FUNCTION net_of_vat")
        .await
        .expect("dropped");
    assert!(!dir.path().join("functions/net_of_vat.sql").exists());
    assert_eq!(
        refused(&alice, "SELECT net_of_vat(net_amount) FROM orders LIMIT 1").await,
        "42883",
        "other connections forget it"
    );
    server.stop();
    let server = self::server(dir.path());
    let alice = connect_to(&server.conn_str("alice")).await;
    assert_eq!(
        refused(&alice, "SELECT net_of_vat(1)").await,
        "42883",
        "dropped for good"
    );
}

#[tokio::test]
async fn functions_need_ddl_to_be_allowed() {
    let client = support::connect().await;
    assert_eq!(refused(&client, NET_OF_VAT).await, "25006");
    assert_eq!(refused(&client, "DROP FUNCTION net_of_vat").await, "25006");
}
