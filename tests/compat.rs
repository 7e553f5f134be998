//! The driver compatibility suite: real clients over TCP against a Segmint demo server, one
//! named test per client, each running that client's named operations (connect, list tables
//! and views, list columns with their types, a parameterised `rfm()` query checked against
//! the literal one, types, errors, cursors, COPY export...).
//!
//! The clients live in `tests/compat/` (Python, Java, Node.js programs and a dbt project);
//! `scripts/compat-setup.sh` installs them into `$SEGMINT_COMPAT_DIR` (default
//! `<target dir>/compat`), which the test command runs first. Each test writes its client's
//! results into `docs/compatibility.md` when `SEGMINT_BLESS=1`, and otherwise fails when that
//! table no longer matches what the client does.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use crate::support::{self, TestServer};

/// One operation of one client and how it went.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Outcome {
    operation: String,
    ok: bool,
    detail: String,
}

const DOC: &str = "docs/compatibility.md";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Where `scripts/compat-setup.sh` installed the clients.
pub(crate) fn compat_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("SEGMINT_COMPAT_DIR") {
        return PathBuf::from(dir);
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo().join("target"));
    target.join("compat")
}

pub(crate) fn require(path: &Path) -> PathBuf {
    assert!(
        path.exists(),
        "{} is missing: run ./scripts/compat-setup.sh (the test command does) to install the \
         compatibility clients",
        path.display()
    );
    path.to_path_buf()
}

pub(crate) fn python() -> PathBuf {
    require(&compat_dir().join("venv/bin/python"))
}

/// Runs a client program and parses its `RESULT` lines.
fn run(mut command: Command, client: &str) -> Vec<Outcome> {
    let started = std::time::Instant::now();
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{client}: cannot start {command:?}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let outcomes: Vec<Outcome> = stdout
        .lines()
        .filter_map(|line| {
            let mut parts = line.splitn(5, '\t');
            (parts.next()? == "RESULT").then_some(())?;
            let _client = parts.next()?;
            let operation = parts.next()?.to_string();
            let ok = parts.next()? == "ok";
            let detail = parts.next().unwrap_or("").to_string();
            Some(Outcome {
                operation,
                ok,
                detail,
            })
        })
        .collect();
    assert!(
        !outcomes.is_empty(),
        "{client} reported nothing (exit {:?} after {:?}):\n{stdout}\n{}",
        output.status,
        started.elapsed(),
        String::from_utf8_lossy(&output.stderr)
    );
    if outcomes.iter().any(|o| !o.ok) {
        eprintln!(
            "{client} stderr:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    outcomes
}

/// Operations that fail for a known, documented reason (`tests/compat/known-gaps.tsv`:
/// client, operation, reason); they show as gaps in the published table.
fn known_gaps(client: &str) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(repo().join("tests/compat/known-gaps.tsv"))
        .expect("tests/compat/known-gaps.tsv");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let mut parts = l.splitn(3, '\t');
            (parts.next()? == client)
                .then(|| Some((parts.next()?.to_string(), parts.next()?.to_string())))?
        })
        .collect()
}

/// With `SEGMINT_BLESS=1`, records the current failures of a catalog-query corpus as its
/// known gaps (the reason is the server's error).
fn bless_gaps(client: &str, outcomes: &[Outcome]) {
    let path = repo().join("tests/compat/known-gaps.tsv");
    let _guard = DOC_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let prefix = format!("{client}\t");
    let mut lines: Vec<String> = text
        .lines()
        .filter(|l| !l.starts_with(&prefix))
        .map(str::to_string)
        .collect();
    for o in outcomes.iter().filter(|o| !o.ok) {
        let reason: String = o.detail.chars().take(160).collect();
        lines.push(format!(
            "{client}\t{}\t{}",
            o.operation,
            reason.replace('|', "/")
        ));
    }
    std::fs::write(&path, lines.join("\n") + "\n").expect("write known gaps");
}

/// Asserts every operation passed (or failed as a documented known gap, which must still
/// fail) and the published table says so.
fn conclude(client: &str, mut outcomes: Vec<Outcome>) {
    if client.ends_with("catalog queries") && std::env::var("SEGMINT_BLESS").is_ok_and(|v| v == "1")
    {
        bless_gaps(client, &outcomes);
    }
    let gaps = known_gaps(client);
    let mut fixed = Vec::new();
    for outcome in outcomes.iter_mut() {
        if let Some((_, reason)) = gaps.iter().find(|(op, _)| *op == outcome.operation) {
            if outcome.ok {
                fixed.push(outcome.operation.clone());
            } else {
                outcome.ok = true;
                outcome.detail = format!("known gap: {reason}");
            }
        }
    }
    assert!(
        fixed.is_empty(),
        "{client}: {fixed:?} now work: remove them from tests/compat/known-gaps.tsv"
    );
    record(client, &outcomes);
    let failed: Vec<String> = outcomes
        .iter()
        .filter(|o| !o.ok)
        .map(|o| format!("  {}: {}", o.operation, o.detail))
        .collect();
    assert!(
        failed.is_empty(),
        "{client}: {} of {} operations failed:\n{}",
        failed.len(),
        outcomes.len(),
        failed.join("\n")
    );
}

static DOC_LOCK: Mutex<()> = Mutex::new(());

/// The client's section of `docs/compatibility.md`.
fn section(client: &str, outcomes: &[Outcome]) -> String {
    let mut text = format!("<!-- client: {client} -->\n| {client} | result |\n|---|---|\n");
    for o in outcomes {
        let result = match (o.ok, o.detail.strip_prefix("known gap: ")) {
            (true, Some(reason)) => format!("fails: {reason}"),
            (true, None) => "works".to_string(),
            (false, _) => "fails".to_string(),
        };
        text.push_str(&format!("| {} | {result} |\n", o.operation));
    }
    text.push_str("<!-- end -->\n");
    text
}

/// Checks (or with `SEGMINT_BLESS=1` rewrites) the client's section of the published table.
fn record(client: &str, outcomes: &[Outcome]) {
    let _guard = DOC_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let path = repo().join(DOC);
    let doc = std::fs::read_to_string(&path).unwrap_or_default();
    let expected = section(client, outcomes);
    let marker = format!("<!-- client: {client} -->\n");
    let current = doc.find(&marker).and_then(|start| {
        let end = doc[start..].find("<!-- end -->\n")? + start + "<!-- end -->\n".len();
        Some((start, end))
    });
    if std::env::var("SEGMINT_BLESS").is_ok_and(|v| v == "1") {
        let updated = match current {
            Some((start, end)) => format!("{}{expected}{}", &doc[..start], &doc[end..]),
            None => format!("{doc}\n{expected}"),
        };
        std::fs::write(&path, updated).expect("write docs/compatibility.md");
        return;
    }
    let published = current.map(|(start, end)| &doc[start..end]);
    assert_eq!(
        published,
        Some(expected.as_str()),
        "{DOC} does not match what {client} does; regenerate it with \
         SEGMINT_BLESS=1 cargo test --test main compat"
    );
}

fn server() -> &'static TestServer {
    support::demo_server()
}

fn python_client(client: &str) {
    let server = server();
    let mut command = Command::new(python());
    command
        .arg(repo().join("tests/compat/python/compat.py"))
        .arg(client)
        .args(["--host", "127.0.0.1", "--port"])
        .arg(server.addr.port().to_string());
    conclude(client, run(command, client));
}

#[test]
fn psycopg() {
    python_client("psycopg");
}

#[test]
fn asyncpg() {
    python_client("asyncpg");
}

#[test]
fn sqlalchemy_and_pandas() {
    python_client("sqlalchemy");
}

#[test]
fn psqlodbc() {
    python_client("psqlodbc");
}

#[test]
fn pgcli() {
    python_client("pgcli");
}

#[test]
fn pgjdbc() {
    let server = server();
    let jar = require(Path::new("/usr/share/java/postgresql.jar"));
    let mut command = Command::new("java");
    command
        .arg("-cp")
        .arg(jar)
        .arg(repo().join("tests/compat/java/Compat.java"))
        .arg("127.0.0.1")
        .arg(server.addr.port().to_string());
    conclude("pgjdbc", run(command, "pgjdbc"));
}

#[test]
fn node_pg() {
    let server = server();
    let modules = require(&compat_dir().join("node/node_modules"));
    let mut command = Command::new("node");
    command
        .env("NODE_PATH", modules)
        .arg(repo().join("tests/compat/node/compat.js"))
        .arg("127.0.0.1")
        .arg(server.addr.port().to_string());
    conclude("node-pg", run(command, "node-pg"));
}

/// Runs one dbt command against the server; `Ok` when dbt exits 0.
fn dbt(profiles: &Path, args: &[&str]) -> Result<(), String> {
    let dbt = require(&compat_dir().join("venv/bin/dbt"));
    let project = repo().join("tests/compat/dbt");
    let target = tempfile::tempdir().map_err(|e| e.to_string())?;
    let output = Command::new(dbt)
        .args(args)
        .arg("--profiles-dir")
        .arg(profiles)
        .arg("--project-dir")
        .arg(&project)
        .env("DBT_TARGET_PATH", target.path().join("target"))
        .env("DBT_LOG_PATH", target.path().join("logs"))
        .env("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
        .output()
        .map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    if output.status.success() {
        Ok(())
    } else {
        let tail: Vec<&str> = stdout.lines().rev().take(8).collect();
        Err(tail.into_iter().rev().collect::<Vec<_>>().join(" / "))
    }
}

#[test]
fn dbt_postgres() {
    let server = server();
    let profiles = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        profiles.path().join("profiles.yml"),
        format!(
            "segmint:\n  target: demo\n  outputs:\n    demo:\n      type: postgres\n      \
             host: 127.0.0.1\n      port: {}\n      user: analyst\n      password: \"\"\n      \
             dbname: segmint\n      schema: public\n      threads: 1\n      \
             connect_timeout: 120\n",
            server.addr.port()
        ),
    )
    .expect("write profiles.yml");
    let steps = [
        ("connect (dbt debug)", vec!["debug"]),
        ("segment model tests (dbt test)", vec!["test"]),
        (
            "inline query (dbt show)",
            vec![
                "show",
                "--inline",
                "select segment, customers from {{ ref('segment_sizes') }}",
            ],
        ),
    ];
    let outcomes = steps
        .iter()
        .map(|(operation, args)| {
            let result = dbt(profiles.path(), args);
            Outcome {
                operation: operation.to_string(),
                ok: result.is_ok(),
                detail: result.err().unwrap_or_default(),
            }
        })
        .collect();
    conclude("dbt-postgres", outcomes);
}

fn psql(server: &TestServer, args: &[&str]) -> Result<String, String> {
    let output = Command::new("psql")
        .args([
            "-X",
            "-h",
            "127.0.0.1",
            "-U",
            "analyst",
            "-d",
            "segmint",
            "-v",
            "ON_ERROR_STOP=1",
            "-p",
        ])
        .arg(server.addr.port().to_string())
        .args(args)
        .output()
        .map_err(|e| e.to_string())?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).to_string())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).replace('\n', " "))
    }
}

#[test]
fn psql_client() {
    let server = server();
    let dir = tempfile::tempdir().expect("temp dir");
    let csv = dir.path().join("segment.csv");
    let check = |operation: &str, result: Result<(), String>| Outcome {
        operation: operation.to_string(),
        ok: result.is_ok(),
        detail: result.err().unwrap_or_default(),
    };
    let outcomes = vec![
        check(
            "list tables and views (\\dt, \\dv)",
            psql(server, &["-At", "-c", "\\dt", "-c", "\\dv"]).and_then(|out| {
                let ok = ["orders|table", "customers|table", "customer_360|view"]
                    .iter()
                    .all(|needle| out.contains(needle));
                ok.then_some(()).ok_or(out)
            }),
        ),
        check(
            "roles and session reset (\\du, DISCARD ALL)",
            psql(server, &["-c", "\\du", "-c", "DISCARD ALL"]).and_then(|out| {
                (out.contains("List of roles") && out.contains("DISCARD ALL"))
                    .then_some(())
                    .ok_or(out)
            }),
        ),
        check(
            "list columns (\\d orders)",
            psql(server, &["-c", "\\d orders"]).and_then(|out| {
                (out.contains("order_ts") && out.contains("timestamp with time zone"))
                    .then_some(())
                    .ok_or(out)
            }),
        ),
        check(
            "parameterised query (\\set variable)",
            std::fs::write(
                dir.path().join("segments.sql"),
                "SELECT sum(c) FROM (SELECT segment, count(*) AS c \
                 FROM rfm('orders', DATE :'as_of') GROUP BY 1) s;\n",
            )
            .map_err(|e| e.to_string())
            .and_then(|_| {
                let file = dir.path().join("segments.sql");
                psql(
                    server,
                    &["-At", "-v", "as_of=2026-11-01", "-f", &file.to_string_lossy()],
                )
            })
            .and_then(|out| {
                let scored: i64 = out.trim().parse().map_err(|_| out.clone())?;
                (scored > 1000).then_some(()).ok_or(out)
            }),
        ),
        check(
            "export a segment (\\copy ... CSV HEADER)",
            psql(
                server,
                &[
                    "-c",
                    &format!(
                        "\\copy (SELECT customer_id, segment FROM rfm('orders', DATE '2026-11-01') WHERE segment = 'champions' ORDER BY 1) TO '{}' CSV HEADER",
                        csv.display()
                    ),
                ],
            )
            .and_then(|out| {
                let text = std::fs::read_to_string(&csv).map_err(|e| e.to_string())?;
                let rows = text.lines().count() - 1;
                (text.starts_with("customer_id,segment\n")
                    && rows > 10
                    && out.contains(&format!("COPY {rows}")))
                .then_some(())
                .ok_or(format!("{out}: {} lines", rows + 1))
            }),
        ),
    ];
    conclude("psql", outcomes);
}

#[tokio::test]
async fn tokio_postgres() {
    let client = support::connect().await;
    let mut outcomes = Vec::new();
    let mut record_result = |operation: &str, result: Result<(), String>| {
        outcomes.push(Outcome {
            operation: operation.to_string(),
            ok: result.is_ok(),
            detail: result.err().unwrap_or_default(),
        })
    };
    let literal = client
        .query(
            "SELECT segment, count(*) FROM rfm('orders', DATE '2026-11-01') GROUP BY 1 ORDER BY 1",
            &[],
        )
        .await
        .map(|rows| {
            rows.iter()
                .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1)))
                .collect::<Vec<_>>()
        });
    let as_of = chrono::NaiveDate::from_ymd_opt(2026, 11, 1).expect("date");
    let parameterised = async {
        let statement = client
            .prepare("SELECT segment, count(*) FROM rfm('orders', $1) GROUP BY 1 ORDER BY 1")
            .await
            .map_err(|e| e.to_string())?;
        if statement.params() != [tokio_postgres::types::Type::DATE] {
            return Err(format!("parameter types {:?}", statement.params()));
        }
        if statement.columns()[1].name() != "count" {
            return Err(format!("column {}", statement.columns()[1].name()));
        }
        let rows = client
            .query(&statement, &[&as_of])
            .await
            .map_err(|e| e.to_string())?;
        let got: Vec<(String, i64)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        match &literal {
            Ok(expected) if *expected == got && got.len() >= 5 => Ok(()),
            other => Err(format!("{got:?} vs {other:?}")),
        }
    };
    record_result("parameterised query (binary)", parameterised.await);
    let columns = client
        .query(
            "SELECT column_name, data_type FROM information_schema.columns \
             WHERE table_name = $1 ORDER BY ordinal_position",
            &[&"customers"],
        )
        .await
        .map_err(|e| e.to_string())
        .and_then(|rows| {
            let got: Vec<String> = rows
                .iter()
                .map(|r| format!("{}:{}", r.get::<_, String>(0), r.get::<_, String>(1)))
                .collect();
            (got.first().map(String::as_str) == Some("customer_id:bigint")
                && got.contains(&"interests:ARRAY".to_string()))
            .then_some(())
            .ok_or(format!("{got:?}"))
        });
    record_result("list columns", columns);
    let cancel = async {
        let token = client.cancel_token();
        let query = client.simple_query("SELECT sum(value) FROM generate_series(1, 100000000000)");
        let canceller = async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            token.cancel_query(tokio_postgres::NoTls).await
        };
        let (result, cancelled) = tokio::join!(query, canceller);
        cancelled.map_err(|e| e.to_string())?;
        match result {
            Err(error) if support::sqlstate(&error) == "57014" => Ok(()),
            Err(error) => Err(format!("{error}")),
            Ok(_) => Err("the query finished".to_string()),
        }?;
        let one = client
            .query_one("SELECT 1 AS one", &[])
            .await
            .map_err(|e| e.to_string())?;
        (one.get::<_, i64>(0) == 1)
            .then_some(())
            .ok_or_else(|| "unusable after cancel".to_string())
    };
    record_result("cancel a running query (57014)", cancel.await);
    let zone = async {
        let other = support::connect().await;
        other
            .batch_execute("SET TimeZone = 'Asia/Kolkata'")
            .await
            .map_err(|e| e.to_string())?;
        let rows = other
            .simple_query("SELECT TIMESTAMPTZ '2025-06-01 00:00:00+00' AS t")
            .await
            .map_err(|e| e.to_string())?;
        let text = rows
            .iter()
            .find_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_string),
                _ => None,
            })
            .unwrap_or_default();
        text.starts_with("2025-06-01 05:30:00")
            .then_some(())
            .ok_or(text)
    };
    record_result("session TimeZone in timestamptz text", zone.await);
    conclude("tokio-postgres", outcomes);
}

/// The catalog and introspection queries a tool sends (collected from its source code into
/// `tests/compat/queries/<tool>.sql`, one `-- tool: description` block per query), each run
/// over the simple protocol as the tool sends it.
async fn catalog_queries(tool: &str) {
    let file = repo().join(format!("tests/compat/queries/{tool}.sql"));
    let text = std::fs::read_to_string(&file).expect("query corpus");
    let marker = format!("-- {tool}:");
    let mut blocks: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if let Some(description) = line.strip_prefix(&marker) {
            blocks.push((description.trim().to_string(), String::new()));
        } else if let Some((_, sql)) = blocks.last_mut()
            && !line.trim_start().starts_with("--")
        {
            sql.push_str(line);
            sql.push('\n');
        }
    }
    assert!(!blocks.is_empty(), "no queries in {}", file.display());
    let mut outcomes = Vec::new();
    for (description, sql) in blocks {
        let client = support::connect().await;
        let result = client.simple_query(&sql).await;
        outcomes.push(Outcome {
            operation: description,
            ok: result.is_ok(),
            detail: result
                .err()
                .map(|e| {
                    e.as_db_error()
                        .map(|d| d.message().replace(['\n', '\t'], " "))
                        .unwrap_or_else(|| e.to_string())
                })
                .unwrap_or_default(),
        });
    }
    conclude(&format!("{tool} catalog queries"), outcomes);
}

#[tokio::test]
async fn npgsql_and_power_bi_catalog_queries() {
    catalog_queries("npgsql").await;
}

#[tokio::test]
async fn pgcli_catalog_queries() {
    catalog_queries("pgcli").await;
}

#[tokio::test]
async fn metabase_catalog_queries() {
    catalog_queries("metabase").await;
}

#[tokio::test]
async fn grafana_catalog_queries() {
    catalog_queries("grafana").await;
}

#[tokio::test]
async fn dbeaver_catalog_queries() {
    catalog_queries("dbeaver").await;
}

#[tokio::test]
async fn datagrip_catalog_queries() {
    catalog_queries("datagrip").await;
}
