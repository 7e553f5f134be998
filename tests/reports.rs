//! Scheduled reports end to end: `segmint report run` (the CLI, as cron or Airflow would call
//! it) writes Parquet, CSV and HTML and a history row; a server serves them as `reports.*`
//! to psql; a failed run keeps the last good output; the scheduler inside the server runs a
//! report on its schedule; headless Chromium renders the HTML page.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::{self, TestServer};

/// A config file serving the test demo data, with reports written under `output` and, when
/// given, extra report definitions from `reports_dir`.
fn write_config(dir: &Path, output: &Path, reports_dir: Option<&Path>, scheduler: bool) -> PathBuf {
    let mut toml = String::from(
        "[server]\nlisten = \"127.0.0.1:0\"\n\n[functions]\nas_of = \"2026-11-01\"\n\n",
    );
    toml.push_str(&format!(
        "[reports]\noutput_url = \"{}\"\nscheduler = {scheduler}\n",
        output.display()
    ));
    if let Some(reports_dir) = reports_dir {
        toml.push_str(&format!("dir = \"{}\"\n", reports_dir.display()));
    }
    for dataset in segmint::demo::datasets(support::demo_dir()) {
        toml.push_str(&format!(
            "\n[[datasets]]\nname = \"{}\"\nurl = \"{}\"\n",
            dataset.name, dataset.url
        ));
        if let Some(columns) = dataset.partition_columns {
            toml.push_str(&format!("partition_columns = {columns:?}\n"));
        }
    }
    let path = dir.join("segmint.toml");
    std::fs::write(&path, toml).expect("write config");
    path
}

fn report_run(config: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_segmint"))
        .args(["report", "run"])
        .args(args)
        .arg("--config")
        .arg(config)
        .env("SEGMINT_LOG", "warn")
        .output()
        .expect("run segmint report run")
}

fn server_for(config: &Path) -> TestServer {
    TestServer::start(segmint::Config::from_file(config).expect("config"))
}

/// The Done-when of the reports issue: `report run goal_attainment --as-of 2026-10-31` on the
/// demo data writes Parquet, CSV and HTML and a history row, and psql can query the result.
#[tokio::test]
async fn goal_attainment_runs_from_the_cli_and_is_queryable_over_psql() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = dir.path().join("reports");
    let config = write_config(dir.path(), &output, None, false);

    let run = report_run(&config, &["goal_attainment", "--as-of", "2026-10-31"]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "report run failed: {stderr}");
    assert!(
        stderr.contains("running the report query"),
        "no progress shown: {stderr}"
    );
    let stdout = String::from_utf8_lossy(&run.stdout);
    for extension in ["parquet", "csv", "html"] {
        let file = output.join(format!("goal_attainment/2026-10-31.{extension}"));
        assert!(
            file.exists(),
            "{} missing; printed: {stdout}",
            file.display()
        );
        assert!(
            stdout.contains(&format!("2026-10-31.{extension}")),
            "{stdout}"
        );
    }
    let csv = std::fs::read_to_string(output.join("goal_attainment/2026-10-31.csv")).expect("csv");
    assert!(
        csv.starts_with(
            "as_of,period_start,period_end,level,id,name,parent_id,segment_kind,segment"
        ),
        "{}",
        csv.lines().next().unwrap_or("")
    );

    let server = server_for(&config);
    let client = server.connect().await;
    let metrics = client
        .query(
            "SELECT id, actual, target, attainment, status FROM reports.goal_attainment \
             WHERE as_of = DATE '2026-10-31' AND level = 'metric' AND segment_kind = 'all' \
             ORDER BY id",
            &[],
        )
        .await
        .expect("query reports.goal_attainment");
    assert!(metrics.len() >= 12, "{} metric rows", metrics.len());
    let with_targets = metrics
        .iter()
        .filter(|r| r.get::<_, Option<f64>>(2).is_some())
        .count();
    assert!(
        with_targets >= 12,
        "only {with_targets} metrics have a target for 2026-10"
    );
    for row in &metrics {
        let (Some(actual), Some(target), Some(attainment)) = (
            row.get::<_, Option<f64>>(1),
            row.get::<_, Option<f64>>(2),
            row.get::<_, Option<f64>>(3),
        ) else {
            continue;
        };
        let id: String = row.get(0);
        let expected = if id == "repurchase_interval_days"
            || id == "complaint_resolution_hours"
            || id == "complaint_rate"
        {
            target / actual
        } else {
            actual / target
        };
        assert!(
            (attainment - expected).abs() < 1e-9,
            "{id}: {attainment} vs {expected}"
        );
        let status: String = row.get(4);
        let want = if attainment >= 1.0 {
            "green"
        } else if attainment >= 0.9 {
            "amber"
        } else {
            "red"
        };
        assert_eq!(status, want, "{id}");
    }
    let root = client
        .query_one(
            "SELECT attainment FROM reports.goal_attainment WHERE as_of = DATE '2026-10-31' \
             AND level = 'goal' AND id = 'customer_value' AND segment_kind = 'all'",
            &[],
        )
        .await
        .expect("root goal");
    let root: f64 = root.get(0);
    assert!(root > 0.3 && root <= 1.2, "root attainment {root}");

    let run_row = client
        .query_one(
            "SELECT status, rows, trigger, period, error IS NULL FROM reports.report_runs \
             WHERE name = 'goal_attainment' AND as_of = DATE '2026-10-31'",
            &[],
        )
        .await
        .expect("history row");
    assert_eq!(run_row.get::<_, String>(0), "succeeded");
    let total: i64 = client
        .query_one(
            "SELECT count(*) FROM reports.goal_attainment WHERE as_of = DATE '2026-10-31'",
            &[],
        )
        .await
        .expect("count")
        .get(0);
    assert_eq!(run_row.get::<_, i64>(1), total);
    assert_eq!(run_row.get::<_, String>(2), "manual");
    assert_eq!(run_row.get::<_, String>(3), "month");
    assert!(run_row.get::<_, bool>(4));

    // psql itself, as an analyst would.
    let psql = Command::new("psql")
        .args([
            "-h",
            &server.addr.ip().to_string(),
            "-p",
            &server.addr.port().to_string(),
        ])
        .args(["-U", "analyst", "-d", "segmint", "-At", "-c"])
        .arg(
            "SELECT status, count(*) FROM reports.goal_attainment \
             WHERE as_of = '2026-10-31' AND level = 'goal' AND segment_kind = 'all' \
             GROUP BY 1 ORDER BY 1",
        )
        .output()
        .expect("run psql");
    let text = String::from_utf8_lossy(&psql.stdout);
    assert!(
        psql.status.success(),
        "{}",
        String::from_utf8_lossy(&psql.stderr)
    );
    let goals: i64 = text
        .lines()
        .filter_map(|l| l.split('|').nth(1)?.parse::<i64>().ok())
        .sum();
    assert_eq!(goals, 5, "five goals in the shipped tree: {text}");

    render_in_chromium(&output.join("goal_attainment/2026-10-31.html"));
}

/// Opens the page in headless Chromium: its DOM has the charts, no scripts, and the
/// screenshot shows coloured bars and heatmap cells.
fn render_in_chromium(page: &Path) {
    let chromium = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|name| {
            Command::new("sh")
                .args(["-c", &format!("command -v {name}")])
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .expect(
            "headless Chromium is missing: ./scripts/compat-setup.sh installs Debian's chromium",
        );
    let url = format!("file://{}", page.display());
    let profile = tempfile::tempdir().expect("profile dir");
    let common = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--window-size=1000,1800",
    ];
    let user_dir = format!("--user-data-dir={}", profile.path().display());
    let dom = Command::new(chromium)
        .args(common)
        .arg(&user_dir)
        .args(["--dump-dom", &url])
        .output()
        .expect("chromium --dump-dom");
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom.contains("<h1>goal_attainment</h1>"),
        "page not rendered: {dom:.300}"
    );
    assert!(dom.matches("<svg").count() >= 5, "charts missing");
    assert!(
        dom.matches("class=\"bar\"").count() >= 12,
        "attainment bars missing"
    );
    assert!(dom.contains("class=\"cell\""), "heatmap cells missing");
    assert!(!dom.contains("<script"), "the page must not run scripts");

    let shot = profile.path().join("page.png");
    let status = Command::new(chromium)
        .args(common)
        .arg(&user_dir)
        .arg(format!("--screenshot={}", shot.display()))
        .arg(&url)
        .output()
        .expect("chromium --screenshot");
    assert!(
        shot.exists(),
        "no screenshot: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(&shot).expect("open screenshot"),
    ));
    let mut reader = decoder.read_info().expect("png header");
    let mut pixels = vec![0; reader.output_buffer_size().expect("png size")];
    let info = reader.next_frame(&mut pixels).expect("png frame");
    let channels = info.color_type.samples();
    let count = |rgb: [u8; 3]| {
        pixels[..info.buffer_size()]
            .chunks(channels)
            .filter(|p| p[0] == rgb[0] && p[1] == rgb[1] && p[2] == rgb[2])
            .count()
    };
    let green = count([0x2e, 0x7d, 0x32]);
    let red = count([0xc6, 0x28, 0x28]);
    let amber = count([0xf9, 0xa8, 0x25]);
    assert!(
        green + red + amber > 2_000,
        "status colours barely visible: green {green}, red {red}, amber {amber}"
    );
}

/// A failed run leaves the last good output of that date in place and is recorded.
#[tokio::test]
async fn a_failed_run_keeps_the_last_good_output() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = dir.path().join("reports");
    let reports_dir = dir.path().join("sql");
    std::fs::create_dir_all(&reports_dir).expect("mkdir");
    let report = reports_dir.join("top_customers.sql");
    std::fs::write(
        &report,
        "-- name = \"top_customers\"\n-- description = \"first five customers\"\n\n\
         SELECT customer_id, region FROM customers ORDER BY customer_id LIMIT 5\n",
    )
    .expect("write report");
    let config = write_config(dir.path(), &output, Some(&reports_dir), false);
    let good = report_run(&config, &["top_customers", "--as-of", "2026-10-31"]);
    assert!(
        good.status.success(),
        "{}",
        String::from_utf8_lossy(&good.stderr)
    );
    let parquet = output.join("top_customers/2026-10-31.parquet");
    let before = std::fs::read(&parquet).expect("first output");

    std::fs::write(
        &report,
        "-- name = \"top_customers\"\n\nSELECT customer_id, no_such_column FROM customers\n",
    )
    .expect("break report");
    let bad = report_run(&config, &["top_customers", "--as-of", "2026-10-31"]);
    assert!(!bad.status.success(), "a broken report must fail");
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.contains("no_such_column"), "{stderr}");
    assert_eq!(std::fs::read(&parquet).expect("output kept"), before);

    let list = Command::new(env!("CARGO_BIN_EXE_segmint"))
        .args(["report", "list", "--config"])
        .arg(&config)
        .env("SEGMINT_LOG", "warn")
        .output()
        .expect("segmint report list");
    let listed = String::from_utf8_lossy(&list.stdout);
    let line = listed
        .lines()
        .find(|l| l.starts_with("top_customers "))
        .unwrap_or_else(|| panic!("top_customers not listed: {listed}"));
    assert!(line.contains("failed as of 2026-10-31"), "{line}");
    assert!(line.contains("on demand"), "{line}");

    let unknown = report_run(&config, &["no_such_report"]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("goal_attainment"));

    let server = server_for(&config);
    let client = server.connect().await;
    let rows = client
        .query(
            "SELECT customer_id FROM reports.top_customers ORDER BY 1",
            &[],
        )
        .await
        .expect("last good output");
    assert_eq!(rows.len(), 5);
    let runs = client
        .query(
            "SELECT status, error FROM reports.report_runs WHERE name = 'top_customers' ORDER BY started",
            &[],
        )
        .await
        .expect("history");
    let statuses: Vec<String> = runs.iter().map(|r| r.get(0)).collect();
    assert_eq!(statuses, ["succeeded", "failed"]);
    let error: Option<String> = runs[1].get(1);
    assert!(error.is_some_and(|e| e.contains("no_such_column")));
}

/// The scheduler inside the server runs a report at its cron times, and the runs are
/// queryable while it serves.
#[tokio::test]
async fn the_scheduler_runs_a_report_on_its_schedule() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = dir.path().join("reports");
    let reports_dir = dir.path().join("sql");
    std::fs::create_dir_all(&reports_dir).expect("mkdir");
    std::fs::write(
        reports_dir.join("ticks.sql"),
        "-- name = \"ticks\"\n-- schedule = \"*/2 * * * * *\"   # every two seconds\n\
         -- timezone = \"Asia/Shanghai\"\n-- period = \"day\"\n\n\
         SELECT {period_start} AS day, count(*) AS customers FROM customers\n",
    )
    .expect("write report");
    let config = write_config(dir.path(), &output, Some(&reports_dir), true);
    let server = server_for(&config);
    let client = server.connect().await;
    let never = client
        .query("SELECT * FROM reports.goal_attainment", &[])
        .await
        .expect_err("no run of goal_attainment yet");
    assert_eq!(support::sqlstate(&never), "42P01");
    assert!(
        never
            .to_string()
            .contains("segmint report run goal_attainment")
            || format!("{never:?}").contains("segmint report run goal_attainment"),
        "{never:?}"
    );
    let started = Instant::now();
    let runs = loop {
        let runs: i64 = client
            .query_one(
                "SELECT count(*) FROM reports.report_runs \
                 WHERE name = 'ticks' AND trigger = 'schedule' AND status = 'succeeded'",
                &[],
            )
            .await
            .map(|r| r.get(0))
            .unwrap_or(0);
        if runs >= 2 || started.elapsed() > Duration::from_secs(60) {
            break runs;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(
        runs >= 2,
        "the scheduler ran 'ticks' {runs} times in a minute"
    );
    let row = client
        .query_one(
            "SELECT r.as_of, t.customers, r.scheduled_for IS NOT NULL \
             FROM reports.report_runs r JOIN reports.ticks t ON t.as_of = r.as_of \
             WHERE r.name = 'ticks' ORDER BY r.started DESC LIMIT 1",
            &[],
        )
        .await
        .expect("a scheduled run's rows");
    let customers: i64 = row.get(1);
    assert_eq!(customers, support::DEMO_CUSTOMERS as i64);
    assert!(row.get::<_, bool>(2));
}

/// `missed_runs = "latest"`: a report whose last scheduled run is older than its latest fire
/// time runs once at start, for that fire time.
#[tokio::test]
async fn the_latest_missed_scheduled_run_runs_at_start() {
    use chrono::{DurationRound, TimeDelta, Utc};
    use segmint::reports::{Reports, RunRequest, Trigger};

    let dir = tempfile::tempdir().expect("temp dir");
    let output = dir.path().join("reports");
    let reports_dir = dir.path().join("sql");
    std::fs::create_dir_all(&reports_dir).expect("mkdir");
    std::fs::write(
        reports_dir.join("hourly.sql"),
        "-- name = \"hourly\"\n-- schedule = \"0 0 * * * *\"   # at the top of every hour\n\n\
         SELECT count(*) AS customers FROM customers\n",
    )
    .expect("write report");
    let config_path = write_config(dir.path(), &output, Some(&reports_dir), true);
    let config = segmint::Config::from_file(&config_path).expect("config");

    // A scheduled run three hours ago, as if the server had been down since.
    let top_of_hour = Utc::now()
        .duration_trunc(TimeDelta::hours(1))
        .expect("truncate to the hour");
    let engine = segmint::app::build_engine(&config).await.expect("engine");
    let reports = Reports::open(&config.reports, engine)
        .await
        .expect("reports");
    let request = RunRequest {
        as_of: None,
        period: None,
        trigger: Trigger::Schedule(top_of_hour - TimeDelta::hours(3)),
    };
    reports
        .run("hourly", request, &|_| {})
        .await
        .expect("earlier scheduled run");

    let server = TestServer::start(config);
    let client = server.connect().await;
    let started = Instant::now();
    loop {
        let caught_up: i64 = client
            .query_one(
                "SELECT count(*) FROM reports.report_runs WHERE name = 'hourly' \
                 AND trigger = 'schedule' AND status = 'succeeded' AND scheduled_for = $1",
                &[&top_of_hour],
            )
            .await
            .map(|r| r.get(0))
            .unwrap_or(0);
        if caught_up == 1 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the run missed at {top_of_hour} did not run at start"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let replayed: i64 = client
        .query_one(
            "SELECT count(*) FROM reports.report_runs WHERE name = 'hourly' \
             AND scheduled_for > $1 AND scheduled_for < $2",
            &[&(top_of_hour - TimeDelta::hours(3)), &top_of_hour],
        )
        .await
        .expect("runs")
        .get(0);
    assert_eq!(replayed, 0, "older missed runs are not replayed");
}

/// Administrators run reports over the wire with `RUN REPORT`, in both protocols; the output
/// is queryable at once. Unknown reports and bad dates get their SQLSTATEs.
#[tokio::test]
async fn admins_run_reports_over_the_wire() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = dir.path().join("reports");
    let config = write_config(dir.path(), &output, None, false);
    let server = server_for(&config);
    let client = server.connect().await;

    let rows = client
        .query("RUN REPORT goal_attainment AS OF '2026-10-31'", &[])
        .await
        .expect("RUN REPORT");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<_, String>("report"), "goal_attainment");
    assert_eq!(rows[0].get::<_, String>("as_of"), "2026-10-31");
    let written: u64 = rows[0].get::<_, String>("rows").parse().expect("rows");
    assert!(written > 0, "no rows written");
    assert!(
        rows[0]
            .get::<_, String>("files")
            .contains("2026-10-31.parquet")
    );
    assert!(output.join("goal_attainment/2026-10-31.html").exists());

    let served: i64 = client
        .query_one(
            "SELECT count(*) FROM reports.goal_attainment WHERE as_of = DATE '2026-10-31'",
            &[],
        )
        .await
        .expect("query the report")
        .get(0);
    assert_eq!(served as u64, written);
    let recorded: i64 = client
        .query_one(
            "SELECT count(*) FROM reports.report_runs WHERE name = 'goal_attainment' \
             AND status = 'succeeded'",
            &[],
        )
        .await
        .expect("query the history")
        .get(0);
    assert_eq!(recorded, 1);

    let simple = client
        .simple_query("run report goal_attainment as of date '2026-09-30';")
        .await
        .expect("RUN REPORT, simple protocol");
    assert!(
        simple
            .iter()
            .any(|m| matches!(m, tokio_postgres::SimpleQueryMessage::Row(r)
            if r.get("as_of") == Some("2026-09-30"))),
        "no row"
    );
    for (sql, code) in [
        ("RUN REPORT no_such_report", "42704"),
        ("RUN REPORT goal_attainment AS OF '2026-13-45'", "22007"),
        ("RUN REPORT goal_attainment AS OF last tuesday", "42601"),
        ("RUN REPORT", "42601"),
    ] {
        let error = client.simple_query(sql).await.expect_err(sql);
        assert_eq!(support::sqlstate(&error), code, "{sql}: {error}");
    }
}

/// A demo's first start, as a user runs it (`segmint serve --demo`, the log going to a file):
/// with an empty reports folder the server runs the shipped reports once for October 2026 in
/// the background, so `reports.goal_attainment` answers instead of 42P01. The log says once,
/// in one line of words and without colour codes, which reports have not run yet, however
/// often the datasets are listed again.
#[tokio::test]
async fn a_demo_first_start_runs_the_reports_and_logs_quietly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("segmint.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n\n[catalog]\nrefresh_interval = \"1s\"\n\n\
             [demo]\ncache_dir = \"{}\"\ncustomers = {}\nseed = {}\n",
            dir.path().join("cache").display(),
            support::DEMO_CUSTOMERS,
            support::DEMO_SEED
        ),
    )
    .expect("write config");
    let log = dir.path().join("serve.log");
    /// Stops the server even when an assertion fails.
    struct Killed(std::process::Child);
    impl Drop for Killed {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut server = Killed(
        Command::new(env!("CARGO_BIN_EXE_segmint"))
            .args(["serve", "--demo", "--config"])
            .arg(&config)
            .env("SEGMINT_LOG", "info")
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("start segmint serve --demo"),
    );
    let read_log = || std::fs::read_to_string(&log).unwrap_or_default();

    let started = Instant::now();
    let port = loop {
        let text = read_log();
        if let Some(port) = text.lines().find_map(|line| {
            let rest = line.strip_prefix("Segmint listening on 127.0.0.1:")?;
            rest.split(':').next().map(str::to_string)
        }) {
            break port;
        }
        if let Ok(Some(status)) = server.0.try_wait() {
            panic!("serve --demo exited with {status}: {text}");
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no address within two minutes: {text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let client = support::connect_to(&format!(
        "host=127.0.0.1 port={port} user=segmint dbname=segmint"
    ))
    .await;

    let started = Instant::now();
    let rows = loop {
        match client
            .query_one("SELECT count(*) FROM reports.goal_attainment", &[])
            .await
        {
            Ok(row) if row.get::<_, i64>(0) > 0 => break row.get::<_, i64>(0),
            Ok(_) => {}
            Err(error) => {
                assert_eq!(support::sqlstate(&error), "42P01", "{error:?}");
                let text = format!("{error:?}");
                assert!(text.contains("has not run yet"), "{text}");
                assert!(!text.contains("Cannot infer"), "{text}");
            }
        }
        if let Ok(Some(status)) = server.0.try_wait() {
            panic!("serve --demo exited with {status}: {}", read_log());
        }
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "reports.goal_attainment still empty after three minutes: {}",
            read_log()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(rows > 0);
    let run = client
        .query_one(
            "SELECT CAST(as_of AS text), period, status FROM reports.report_runs \
             WHERE name = 'goal_attainment'",
            &[],
        )
        .await
        .expect("the first run is recorded once");
    assert_eq!(run.get::<_, String>(0), "2026-10-31");
    assert_eq!(run.get::<_, String>(1), "month");
    assert_eq!(run.get::<_, String>(2), "succeeded");
    let as_of: Vec<String> = client
        .query(
            "SELECT DISTINCT CAST(as_of AS text) FROM reports.goal_attainment",
            &[],
        )
        .await
        .expect("goal_attainment rows")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(as_of, ["2026-10-31"]);
    // A few more refreshes (every second) with the other reports still waiting their turn.
    tokio::time::sleep(Duration::from_secs(3)).await;
    drop(server);

    let text = read_log();
    assert!(
        !text.contains('\u{1b}'),
        "colour codes in a log file:\n{text}"
    );
    assert!(
        !text.contains("Cannot infer"),
        "DataFusion's error text:\n{text}"
    );
    let count = |needle: &str| text.lines().filter(|l| l.contains(needle)).count();
    let waiting = count("reports have not run yet (");
    assert_eq!(waiting, 1, "one line for the reports not run yet:\n{text}");
    assert!(
        text.lines()
            .any(|l| l.contains("reports have not run yet (") && l.contains("goal_attainment")),
        "{text}"
    );
    // Each report's own line, and the retries at each refresh, are debug lines.
    assert_eq!(count("has not run yet"), 0, "{text}");
    assert_eq!(count("no report has run yet:"), 0, "{text}");
    assert_eq!(
        count("running each report once in the background"),
        1,
        "{text}"
    );
}
