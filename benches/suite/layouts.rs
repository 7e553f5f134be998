//! The file layouts each scale is measured on: the demo writer's own (monthly partitions,
//! 2,048-row pages, dictionaries on text columns only: what Segmint writes and was tuned on),
//! and a foreign one, the same rows as another tool leaves them.

use std::path::{Path, PathBuf};

use segmint::config::{DatasetConfig, DatasetFormat};
use serde_json::json;

use crate::processes::{BenchResult, Worker};

/// Orders per file of the foreign layout (4 row groups of pyarrow's default 1Mi rows).
const FOREIGN_ROWS_PER_FILE: u64 = 4 * 1024 * 1024;

/// The version of the foreign writer's output; a change to it writes the files again.
const FOREIGN_VERSION: u32 = 1;

/// How a scale's Parquet files are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `segmint demo`'s files: orders in monthly hive partitions, small pages, page index.
    Demo,
    /// pyarrow's defaults: orders sorted by time in a few large files (1Mi-row row groups,
    /// snappy, dictionaries on every column, no page index), `order_month` an ordinary column;
    /// customers in one file. Only `orders` and `customers`, as a shop would bring them.
    Foreign,
}

impl Layout {
    /// Every layout, in report order.
    pub const ALL: [Layout; 2] = [Layout::Demo, Layout::Foreign];

    /// The name used in settings and headings.
    pub fn name(self) -> &'static str {
        match self {
            Layout::Demo => "demo",
            Layout::Foreign => "foreign",
        }
    }

    /// One line on what the files look like.
    pub fn description(self) -> &'static str {
        match self {
            Layout::Demo => {
                "Segmint's demo writer: orders in monthly partitions, 2,048-row pages, \
                 dictionaries on text columns, page index"
            }
            Layout::Foreign => {
                "pyarrow defaults: orders sorted by time in files of 4Mi rows, 1Mi-row row \
                 groups, snappy, dictionaries on every column, no page index"
            }
        }
    }

    /// Parses a `SEGMINT_BENCH_LAYOUTS` entry.
    pub fn parse(name: &str) -> BenchResult<Layout> {
        Layout::ALL
            .into_iter()
            .find(|l| l.name() == name.trim())
            .ok_or_else(|| format!("unknown layout '{name}' (demo, foreign)").into())
    }
}

/// The files of `layout` for the demo data in `demo`: the demo folder itself, or its foreign
/// copy (written once by `worker`, cached beside it).
pub fn ensure(layout: Layout, demo: &Path, worker: &mut Worker) -> BenchResult<PathBuf> {
    match layout {
        Layout::Demo => Ok(demo.to_path_buf()),
        Layout::Foreign => ensure_foreign(demo, worker),
    }
}

fn ensure_foreign(demo: &Path, worker: &mut Worker) -> BenchResult<PathBuf> {
    let name = demo
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or("demo data folder has no name")?;
    let dir = demo.with_file_name(format!("{name}-foreign-v{FOREIGN_VERSION}"));
    if dir.join("orders").is_dir() && dir.join("customers").is_dir() {
        return Ok(dir);
    }
    // Written into a staging folder and renamed, so an interrupted run leaves no half copy.
    let staging = demo.with_file_name(format!(".{name}-foreign-staging"));
    let _ = std::fs::remove_dir_all(&staging);
    println!("writing the foreign layout of {} (pyarrow)", demo.display());
    worker.call(json!({
        "op": "write_foreign",
        "source": demo.display().to_string(),
        "out": staging.display().to_string(),
        "rows_per_file": FOREIGN_ROWS_PER_FILE,
    }))?;
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::rename(&staging, &dir)?;
    Ok(dir)
}

/// The datasets Segmint serves for `layout`'s files in `dir`.
pub fn datasets(layout: Layout, dir: &Path) -> Vec<DatasetConfig> {
    match layout {
        Layout::Demo => segmint::demo::datasets(dir),
        Layout::Foreign => ["orders", "customers"]
            .into_iter()
            .map(|name| DatasetConfig {
                name: name.to_string(),
                url: format!("{}/", dir.join(name).display()),
                format: DatasetFormat::Parquet,
                partition_columns: None,
                shared: false,
            })
            .collect(),
    }
}

/// DuckDB views over the same files Segmint serves.
pub fn duckdb_setup(layout: Layout, dir: &Path) -> Vec<String> {
    let data = dir.display();
    let orders = match layout {
        Layout::Demo => {
            format!("read_parquet('{data}/orders/*/*.parquet', hive_partitioning = true)")
        }
        Layout::Foreign => format!("read_parquet('{data}/orders/*.parquet')"),
    };
    vec![
        "SET TimeZone = 'UTC'".to_string(),
        format!("CREATE VIEW orders AS SELECT * FROM {orders}"),
        format!(
            "CREATE VIEW customers AS SELECT * FROM read_parquet('{data}/customers/*.parquet')"
        ),
        "CREATE VIEW completed_orders AS SELECT * FROM orders WHERE status = 'completed'"
            .to_string(),
    ]
}
