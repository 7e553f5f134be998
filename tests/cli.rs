//! The `segmint` binary as scripts use it: `sql` with each output format, `--dataset`, errors.

use std::process::Command;

use crate::support;

/// Runs the `segmint` binary with `args` (warnings only in its log).
pub(crate) fn segmint(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_segmint"))
        .args(args)
        .env("SEGMINT_LOG", "warn")
        .output()
        .expect("run segmint")
}

fn orders_flag() -> String {
    format!("orders={}", support::demo_dir().join("orders").display())
}

#[test]
fn sql_prints_csv_json_and_tables() {
    let orders = orders_flag();
    let query = "SELECT channel, count(*) AS n FROM orders GROUP BY channel ORDER BY channel";
    let csv = segmint(&["sql", query, "--dataset", &orders, "--format", "csv"]);
    assert!(
        csv.status.success(),
        "{}",
        String::from_utf8_lossy(&csv.stderr)
    );
    let text = String::from_utf8_lossy(&csv.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "channel,n");
    assert_eq!(lines.len(), 5, "{text}");
    assert!(lines[1].starts_with("app,"));

    let json = segmint(&["sql", query, "--dataset", &orders, "--format", "json"]);
    assert!(json.status.success());
    let parsed: serde_json::Value = serde_json::from_slice(&json.stdout).expect("valid JSON");
    let rows = parsed.as_array().expect("array");
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[0]["channel"], "app");

    let table = segmint(&["sql", query, "--dataset", &orders]);
    assert!(table.status.success());
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains("| channel") && text.contains("(4 rows)"),
        "{text}"
    );
}

#[test]
fn sql_reports_errors_with_a_failing_exit_code() {
    let out = segmint(&["sql", "SELECT * FROM nowhere", "--dataset", &orders_flag()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("nowhere"), "{stderr}");

    let out = segmint(&["sql", "SELECT 1", "--dataset", "Bad-Name=/tmp/x.parquet"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Bad-Name"));
}

#[test]
fn a_broken_dataset_does_not_hide_the_others() {
    let out = segmint(&[
        "sql",
        "SELECT count(*) AS n FROM orders",
        "--dataset",
        "ghost=/nonexistent/segmint/ghost/",
        "--dataset",
        &orders_flag(),
        "--format",
        "csv",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("ghost"),
        "the broken dataset is reported: {stderr}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let n: u64 = stdout
        .lines()
        .nth(1)
        .expect("a row")
        .parse()
        .expect("a count");
    assert!(n > 0);
}

#[test]
fn config_files_are_validated() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("segmint.toml");
    std::fs::write(
        &path,
        "[server]\nlisten = \"127.0.0.1:5433\"\nmax_conections = 5\n",
    )
    .expect("write");
    let out = segmint(&[
        "sql",
        "SELECT 1",
        "--config",
        path.to_str().expect("utf8 path"),
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("max_conections"),
        "names the bad key: {stderr}"
    );

    std::fs::write(
        &path,
        format!(
            "[[datasets]]\nname = \"orders\"\nurl = \"{}/\"\n[functions]\nlifecycle_new_days = \"45\"\n",
            support::demo_dir().join("orders").display()
        ),
    )
    .expect("write");
    let out = segmint(&[
        "sql",
        "SELECT count(DISTINCT order_month) AS months FROM orders",
        "--config",
        path.to_str().expect("utf8 path"),
        "--format",
        "csv",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().nth(1),
        Some("24")
    );
}

#[test]
fn demo_data_command_prints_counts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = segmint(&[
        "demo-data",
        "--out",
        dir.path().to_str().expect("utf8"),
        "--customers",
        "300",
        "--seed",
        "3",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("customers") && text.contains("300 rows"),
        "{text}"
    );
    assert!(text.contains("rows/s"), "{text}");
    assert!(dir.path().join("orders").is_dir());
    // Refuses to overwrite existing data.
    let again = segmint(&[
        "demo-data",
        "--out",
        dir.path().to_str().expect("utf8"),
        "--customers",
        "10",
    ]);
    assert!(!again.status.success());
}

#[tokio::test]
async fn serve_answers_psql_clients_and_stops_on_sigterm() {
    let orders = orders_flag();
    let mut serve = support::ServeProcess::start(
        &["serve", "--listen", "127.0.0.1:0", "--dataset", &orders],
        "warn",
    );
    let client = support::connect_to(&serve.conn_str("segmint")).await;
    let n: i64 = client
        .query_one("SELECT count(*) FROM orders", &[])
        .await
        .expect("query")
        .get(0);
    assert!(n > 0);

    serve.terminate();
    let child = &mut serve.child;
    let started = std::time::Instant::now();
    let exit = loop {
        if let Some(exit) = child.try_wait().expect("wait") {
            break exit;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(15),
            "server did not stop"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert!(exit.success(), "serve exited with {exit:?}");
}
