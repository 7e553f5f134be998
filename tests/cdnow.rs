//! Real-data oracles: the CDNOW log (from the `lifetimes` 0.11.3 wheel on PyPI, fetched by
//! `scripts/fetch-cdnow.sh`) served as datasets, and `tests/slt_cdnow/*.slt` asserting the
//! published figures of crm-reference §1.4, §2, §4.5 and §5.1 through the wire in both
//! protocols.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::slt::{Protocol, run_all};
use crate::support::TestServer;

/// The folder holding `CDNOW_master.txt`, fetched on first use.
pub(crate) fn cdnow_dir() -> PathBuf {
    let dir = match std::env::var_os("SEGMINT_CDNOW_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => {
            let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
            home.join(".cache/segmint/cdnow")
        }
    };
    if !dir.join("CDNOW_master.txt").exists() {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/fetch-cdnow.sh");
        let status = std::process::Command::new("bash")
            .arg(&script)
            .arg(&dir)
            .status()
            .expect("run scripts/fetch-cdnow.sh");
        assert!(
            status.success(),
            "scripts/fetch-cdnow.sh failed: the CDNOW oracles need PyPI"
        );
    }
    dir
}

/// `YYYYMMDD` as `YYYY-MM-DD`.
pub(crate) fn iso_date(date: &str) -> String {
    format!("{}-{}-{}", &date[..4], &date[4..6], &date[6..8])
}

/// `CDNOW_master.txt` (whitespace-separated, `YYYYMMDD` dates) as CSV with typed columns.
pub(crate) fn cdnow_csv() -> &'static Path {
    static FILE: OnceLock<PathBuf> = OnceLock::new();
    FILE.get_or_init(|| {
        let text = std::fs::read_to_string(cdnow_dir().join("CDNOW_master.txt"))
            .expect("read CDNOW_master.txt");
        let mut csv = String::from("customer_id,order_date,cds,amount\n");
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [id, date, cds, amount] = fields[..] else {
                panic!("unexpected CDNOW line: {line}");
            };
            let id: u32 = id.parse().expect("customer id");
            csv.push_str(&format!("{id},{},{cds},{amount}\n", iso_date(date)));
        }
        let dir = tempfile::Builder::new()
            .prefix("segmint-cdnow")
            .tempdir()
            .expect("temp dir")
            .keep();
        let path = dir.join("cdnow.csv");
        std::fs::write(&path, csv).expect("write cdnow.csv");
        path
    })
}

/// `CDNOW_sample.txt` (the 2,357-customer sample of the BG/NBD paper, calibration and holdout)
/// as CSV with the sample's customer ids (1..2357), and the published calibration summary
/// `cdnow_customers_summary_with_transactions.csv` as it ships (`ID,x,t_x,T,zbar`).
pub(crate) fn cdnow_sample_csvs() -> &'static (PathBuf, PathBuf) {
    static FILES: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    FILES.get_or_init(|| {
        let text = std::fs::read_to_string(cdnow_dir().join("CDNOW_sample.txt"))
            .expect("read CDNOW_sample.txt");
        let mut csv = String::from("customer_id,order_date,cds,amount\n");
        for line in text.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [_, id, date, cds, amount] = fields[..] else {
                panic!("unexpected CDNOW sample line: {line}");
            };
            let id: u32 = id.parse().expect("sample id");
            csv.push_str(&format!("{id},{},{cds},{amount}\n", iso_date(date)));
        }
        let dir = tempfile::Builder::new()
            .prefix("segmint-cdnow-sample")
            .tempdir()
            .expect("temp dir")
            .keep();
        let sample = dir.join("cdnow_sample.csv");
        std::fs::write(&sample, csv).expect("write cdnow_sample.csv");
        let summary = dir.join("cdnow_summary.csv");
        std::fs::copy(
            cdnow_dir().join("cdnow_customers_summary_with_transactions.csv"),
            &summary,
        )
        .expect("copy the published summary");
        (sample, summary)
    })
}

fn cdnow_server() -> &'static TestServer {
    static SERVER: OnceLock<TestServer> = OnceLock::new();
    SERVER.get_or_init(|| {
        let mut config = segmint::Config::default();
        config.server.listen = "127.0.0.1:0".to_string();
        config.datasets.push(segmint::config::DatasetConfig {
            name: "cdnow".to_string(),
            url: cdnow_csv().to_string_lossy().into_owned(),
            format: segmint::config::DatasetFormat::Csv,
            partition_columns: None,
            shared: false,
        });
        let (sample, summary) = cdnow_sample_csvs();
        for (name, path) in [("cdnow_sample", sample), ("cdnow_summary", summary)] {
            config.datasets.push(segmint::config::DatasetConfig {
                name: name.to_string(),
                url: path.to_string_lossy().into_owned(),
                format: segmint::config::DatasetFormat::Csv,
                partition_columns: None,
                shared: false,
            });
        }
        TestServer::start(config)
    })
}

#[test]
fn cdnow_master_has_the_published_shape() {
    let text = std::fs::read_to_string(cdnow_csv()).expect("read");
    assert_eq!(text.lines().count(), 69_659 + 1, "rows plus header");
}

#[tokio::test]
async fn cdnow_oracles_hold_with_the_simple_protocol() {
    run_all(Protocol::Simple, "tests/slt_cdnow", cdnow_server()).await;
}

#[tokio::test]
async fn cdnow_oracles_hold_with_the_extended_protocol() {
    run_all(Protocol::Extended, "tests/slt_cdnow", cdnow_server()).await;
}

/// A prepared statement whose table-function arguments are parameters (the date and the
/// options of `rfm`, bound at Execute and handed to the function as values) beside an
/// ordinary parameter, on the CDNOW log: the counts of cdnow.slt's literal queries.
#[tokio::test]
async fn table_function_arguments_bind_as_parameters() {
    let client = cdnow_server().connect().await;
    let statement = client
        .prepare(
            "SELECT count(*) FROM rfm('cdnow', $1, 'customer_id', 'order_date', 'amount', $2) \
             WHERE frequency >= $3",
        )
        .await
        .expect("prepares");
    use tokio_postgres::types::Type;
    assert_eq!(statement.params(), [Type::DATE, Type::TEXT, Type::INT8]);
    let as_of = chrono::NaiveDate::from_ymd_opt(1998, 7, 1).expect("date");
    let count = |options: &'static str, frequency: i64| {
        let (client, statement) = (&client, &statement);
        async move {
            let row = client
                .query_one(statement, &[&as_of, &options, &frequency])
                .await
                .expect("runs");
            row.get::<_, i64>(0)
        }
    };
    assert_eq!(count("merge_same_day=true", 1).await, 23_570);
    assert_eq!(count("merge_same_day=true", 2).await, 23_570 - 12_054);
    // Other values plan the statement again: a quote in a value is a value, not SQL.
    let error = client
        .query_one(&statement, &[&as_of, &"merge_same_day=maybe'; --", &1i64])
        .await
        .expect_err("a bad option");
    assert_eq!(crate::support::sqlstate(&error), "22023", "{error}");
    // The connection stays usable.
    assert_eq!(count("merge_same_day=false", 1).await, 23_570);
}

/// CDNOW as a shop: `orders` with one order per customer-day (the Fader-Hardie convention the
/// published KPIs use) and a `customers` master registered on the first purchase day.
fn cdnow_shop() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let text = std::fs::read_to_string(cdnow_dir().join("CDNOW_master.txt"))
            .expect("read CDNOW_master.txt");
        let mut days: std::collections::BTreeMap<(u32, String), f64> = Default::default();
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [id, date, _, amount] = fields[..] else {
                panic!("unexpected CDNOW line: {line}");
            };
            let day = iso_date(date);
            *days.entry((id.parse().expect("id"), day)).or_default() +=
                amount.parse::<f64>().expect("amount");
        }
        let mut orders = String::from("order_id,customer_id,order_ts,channel,net_amount,status\n");
        let mut customers = String::from("customer_id,registered_at,region,acquisition_channel\n");
        let mut last = 0;
        for (n, ((id, day), amount)) in days.iter().enumerate() {
            orders.push_str(&format!(
                "{n},{id},{day}T00:00:00,mail,{amount:.2},completed\n"
            ));
            if *id != last {
                customers.push_str(&format!("{id},{day}T00:00:00,us,mail\n"));
                last = *id;
            }
        }
        let dir = tempfile::Builder::new()
            .prefix("segmint-cdnow-shop")
            .tempdir()
            .expect("temp dir")
            .keep();
        std::fs::write(dir.join("orders.csv"), orders).expect("write orders.csv");
        std::fs::write(dir.join("customers.csv"), customers).expect("write customers.csv");
        dir
    })
}

/// crm-reference §5.1: the shipped reports, run over all of CDNOW's history, give the
/// published AOV, purchase frequency, revenue per customer, repeat rate and cohort figures.
#[tokio::test]
async fn cdnow_kpis_come_out_of_the_shipped_reports() {
    use segmint::reports::{Period, Reports, RunRequest, Trigger};

    let shop = cdnow_shop();
    let output = tempfile::tempdir().expect("output dir");
    let mut config = segmint::Config::default();
    config.server.listen = "127.0.0.1:0".to_string();
    config.reports.output_url = Some(output.path().to_string_lossy().into_owned());
    for name in ["orders", "customers"] {
        config.datasets.push(segmint::config::DatasetConfig {
            name: name.to_string(),
            url: shop
                .join(format!("{name}.csv"))
                .to_string_lossy()
                .into_owned(),
            format: segmint::config::DatasetFormat::Csv,
            partition_columns: None,
            shared: false,
        });
    }
    let engine = segmint::app::build_engine(&config).await.expect("engine");
    let reports = Reports::open(&config.reports, engine)
        .await
        .expect("reports");
    let as_of = chrono::NaiveDate::from_ymd_opt(1998, 6, 30);
    for name in ["order_value", "repurchase", "cohort_retention"] {
        let request = RunRequest {
            as_of,
            period: Some(Period::All),
            trigger: Trigger::Manual,
        };
        reports
            .run(name, request, &|_| {})
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }

    let server = TestServer::start(config);
    let client = server.connect().await;
    let kpis = client
        .query_one(
            "SELECT orders, customers, round(revenue, 2), round(aov, 4), \
                    round(purchase_frequency, 4), round(revenue_per_customer, 4) \
             FROM reports.order_value WHERE segment_kind = 'all'",
            &[],
        )
        .await
        .expect("order_value");
    assert_eq!(kpis.get::<_, i64>(0), 67_591, "customer-day orders");
    assert_eq!(kpis.get::<_, i64>(1), 23_570);
    assert_eq!(kpis.get::<_, f64>(2), 2_500_315.63);
    assert_eq!(kpis.get::<_, f64>(3), 36.9918, "AOV");
    assert_eq!(kpis.get::<_, f64>(4), 2.8677, "purchase frequency");
    assert_eq!(kpis.get::<_, f64>(5), 106.0804, "revenue per customer");

    let repeat = client
        .query_one(
            "SELECT buyers, repeat_buyers, round(repeat_customer_rate, 4) \
             FROM reports.repurchase WHERE segment_kind = 'all'",
            &[],
        )
        .await
        .expect("repurchase");
    assert_eq!(repeat.get::<_, i64>(0), 23_570);
    assert_eq!(repeat.get::<_, i64>(1), 11_516);
    assert_eq!(repeat.get::<_, f64>(2), 0.4886, "repeat-customer rate");

    let cohorts = client
        .query(
            "SELECT cohort, cohort_size, round(retention_rate * 100, 2) FROM reports.cohort_retention \
             WHERE segment_kind = 'all' AND months_since_first = 1 ORDER BY cohort",
            &[],
        )
        .await
        .expect("cohort_retention");
    let got: Vec<(String, i64, f64)> = cohorts
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        got,
        [
            ("1997-01-01".to_string(), 7_846, 14.75),
            ("1997-02-01".to_string(), 8_476, 15.48),
            ("1997-03-01".to_string(), 7_248, 14.24),
        ]
    );
    let unobserved: i64 = client
        .query_one(
            "SELECT count(*) FROM reports.cohort_retention \
             WHERE segment_kind = 'all' AND retention_rate IS NULL",
            &[],
        )
        .await
        .expect("unobserved cells")
        .get(0);
    assert_eq!(
        unobserved, 3,
        "month 17 of the February and March cohorts and month 16 of March are after June 1998"
    );
}
