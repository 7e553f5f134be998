//! psql itself against the demo server: the meta-commands analysts type first.

use std::process::Command;

use crate::support;

/// Runs psql with `commands` (each a `-c`), returning stdout; fails the test on a non-zero exit.
fn psql(commands: &[&str]) -> String {
    let server = support::demo_server();
    let mut cmd = Command::new("psql");
    cmd.args(["-X", "-v", "ON_ERROR_STOP=1"])
        .args(["-h", &server.addr.ip().to_string()])
        .args(["-p", &server.addr.port().to_string()])
        .args(["-U", "segmint", "-d", "segmint"])
        .env("PGCONNECT_TIMEOUT", "10");
    for command in commands {
        cmd.args(["-c", command]);
    }
    let output = cmd
        .output()
        .expect("psql is installed (the test script installs postgresql-client)");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success(),
        "psql {commands:?} failed:\n{stdout}\n{stderr}"
    );
    stdout
}

#[test]
fn dt_lists_the_demo_tables() {
    let out = psql(&["\\dt"]);
    for table in segmint::demo::TABLE_NAMES {
        assert!(
            out.contains(&format!(" {table} ")),
            "\\dt misses {table}:\n{out}"
        );
    }
    assert!(
        !out.contains("pg_class"),
        "\\dt should not list catalog tables:\n{out}"
    );
}

#[test]
fn d_orders_describes_columns_and_types() {
    let out = psql(&["\\d orders"]);
    for expected in [
        "Table \"public.orders\"",
        "order_id",
        "bigint",
        "order_ts",
        "timestamp with time zone",
        "net_amount",
        "numeric",
        "channel",
        "text",
        "order_month",
    ] {
        assert!(
            out.contains(expected),
            "\\d orders misses {expected}:\n{out}"
        );
    }
}

#[test]
fn dn_and_df_work() {
    let out = psql(&["\\dn"]);
    assert!(out.contains("public"), "\\dn:\n{out}");
    let out = psql(&["\\df"]);
    assert!(out.contains("List of functions"), "\\df:\n{out}");
    for name in segmint_udfs::function_names() {
        assert!(out.contains(&name), "\\df misses {name}:\n{out}");
    }
}

#[test]
fn the_readme_query_runs_in_psql() {
    let out =
        psql(&["SELECT channel, count(*), sum(net_amount) FROM orders GROUP BY 1 ORDER BY 1"]);
    for channel in ["app", "mini-program", "offline store", "web"] {
        assert!(out.contains(channel), "missing channel {channel}:\n{out}");
    }
    assert!(out.contains("(4 rows)"), "{out}");
}

#[test]
fn psql_survives_an_error_mid_script() {
    let server = support::demo_server();
    let output = Command::new("psql")
        .args([
            "-X",
            "-h",
            &server.addr.ip().to_string(),
            "-p",
            &server.addr.port().to_string(),
        ])
        .args(["-U", "segmint", "-d", "segmint"])
        .args([
            "-c",
            "SELECT * FROM no_such_table",
            "-c",
            "SELECT 40 + 2 AS answer",
        ])
        .output()
        .expect("psql");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no_such_table"), "{stderr}");
    assert!(
        stdout.contains("42"),
        "the second command did not run:\n{stdout}\n{stderr}"
    );
}

#[test]
fn df_plus_shows_crm_function_docs() {
    let out = psql(&["\\df+ rfm_segment", "\\df lifecycle*"]);
    assert!(
        out.contains("The named RFM segment of 1-5 scores"),
        "\\df+ shows the function's documentation:\n{out}"
    );
    assert!(out.contains("lifecycle_stage"), "{out}");
    assert!(
        out.contains("table, as_of, customer_col, time_col, options"),
        "table functions list their documented arguments:\n{out}"
    );
}

#[test]
fn customer_360_is_listed_as_a_view() {
    let out = psql(&["\\dv"]);
    assert!(
        out.contains("customer_360"),
        "\\dv lists the built-in view:\n{out}"
    );
}
