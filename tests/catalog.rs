//! Dataset registration: inferred partitions, pruning-friendly partition columns, and broken
//! datasets reported without taking the healthy ones down.

use segmint::config::{DatasetConfig, DatasetFormat};
use segmint::{Config, Engine};

use crate::support;

fn dataset(name: &str, url: String) -> DatasetConfig {
    DatasetConfig {
        name: name.to_string(),
        url,
        format: DatasetFormat::Parquet,
        partition_columns: None,
        shared: false,
    }
}

#[tokio::test]
async fn broken_datasets_are_reported_and_skipped() {
    let scratch = tempfile::tempdir().expect("temp dir");
    let corrupt = scratch.path().join("corrupt");
    std::fs::create_dir_all(&corrupt).expect("mkdir");
    std::fs::write(corrupt.join("part-0.parquet"), b"this is not parquet").expect("write");

    let config = Config {
        datasets: vec![
            dataset("missing", "/nonexistent/segmint/missing/".to_string()),
            dataset("corrupt", format!("{}/", corrupt.display())),
            dataset(
                "orders",
                format!("{}/", support::demo_dir().join("orders").display()),
            ),
        ],
        ..Config::default()
    };
    let engine = Engine::build(&config, &segmint::pgcompat::Postgres)
        .await
        .expect("engine builds despite bad datasets");
    let statuses = engine.datasets();
    assert_eq!(statuses.len(), 3);
    let status = |name: &str| {
        statuses
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("{name} is listed"))
    };
    let missing = status("missing")
        .error
        .as_deref()
        .expect("missing is an error");
    assert!(missing.contains("missing"), "{missing}");
    let corrupt = status("corrupt")
        .error
        .as_deref()
        .expect("corrupt is an error");
    assert!(corrupt.contains("corrupt"), "{corrupt}");
    assert!(status("orders").error.is_none());
    assert_eq!(
        status("orders").partition_columns,
        vec!["order_month".to_string()]
    );

    let ctx = engine.session();
    let batches = ctx
        .sql("SELECT count(*) FROM orders WHERE order_month = '2025-11'")
        .await
        .expect("plan")
        .collect()
        .await
        .expect("run");
    assert_eq!(batches[0].num_rows(), 1);
    assert!(ctx.sql("SELECT * FROM corrupt").await.is_err());
}

#[tokio::test]
async fn partition_filters_prune_folders() {
    let config = Config {
        datasets: segmint::demo::datasets(support::demo_dir()),
        ..Config::default()
    };
    let engine = Engine::build(&config, &segmint::pgcompat::Postgres)
        .await
        .expect("engine");
    let ctx = engine.session();
    let plan = ctx
        .sql("EXPLAIN SELECT sum(net_amount) FROM orders WHERE order_month = '2025-11'")
        .await
        .expect("explain")
        .collect()
        .await
        .expect("run");
    let text = datafusion::arrow::util::pretty::pretty_format_batches(&plan)
        .expect("format")
        .to_string();
    assert!(
        text.contains("order_month=2025-11"),
        "only the November folder is scanned:\n{text}"
    );
    assert!(
        !text.contains("order_month=2025-10"),
        "October should be pruned:\n{text}"
    );
}

#[tokio::test]
async fn demo_cache_is_generated_once_and_reused() {
    let root = tempfile::tempdir().expect("temp dir");
    let first = segmint::demo::ensure_cached(root.path(), 200, 11).expect("generate");
    assert!(first.join(".complete").exists());
    let marker = std::fs::metadata(first.join(".complete"))
        .expect("marker")
        .modified()
        .expect("mtime");
    let second = segmint::demo::ensure_cached(root.path(), 200, 11).expect("reuse");
    assert_eq!(first, second);
    let again = std::fs::metadata(second.join(".complete"))
        .expect("marker")
        .modified()
        .expect("mtime");
    assert_eq!(marker, again, "cached data was regenerated");
    let leftovers: Vec<_> = std::fs::read_dir(root.path())
        .expect("list")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".demo-staging"))
        .collect();
    assert!(leftovers.is_empty(), "staging folders left behind");
}
