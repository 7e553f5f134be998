//! Real-data oracles: the CDNOW log (from the `lifetimes` 0.11.3 wheel on PyPI, fetched by
//! `scripts/fetch-cdnow.sh`) served as a dataset, and `tests/slt_cdnow/*.slt` asserting the
//! published figures of crm-reference §1.4, §2 and §5.1 through the wire in both protocols.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::slt::{Protocol, run_all};
use crate::support::TestServer;

/// The folder holding `CDNOW_master.txt`, fetched on first use.
fn cdnow_dir() -> PathBuf {
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

/// `CDNOW_master.txt` (whitespace-separated, `YYYYMMDD` dates) as CSV with typed columns.
fn cdnow_csv() -> &'static Path {
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
            csv.push_str(&format!(
                "{id},{}-{}-{},{cds},{amount}\n",
                &date[..4],
                &date[4..6],
                &date[6..8]
            ));
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
        });
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
