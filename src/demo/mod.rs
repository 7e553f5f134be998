//! Deterministic demo data: an e-commerce shop's customers, orders, order lines, products,
//! browsing events, reviews, support tickets and NPS answers, as zstd Parquet.
//!
//! Generation streams: customers are simulated in blocks by one worker per core and written
//! batch by batch, so 50M orders never sit in memory. The same seed always gives the same
//! rows (each customer has their own random stream); the same seed and thread count give the
//! same files. `orders` is partitioned by month, hive style (`orders/order_month=2025-11/`).

mod model;
mod tables;
mod writer;

pub use writer::DATA_PAGE_ROWS;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use model::AS_OF;
use model::{CatalogIndex, CustomerRows, catalog, month_of, simulate_customer};
use tables::{
    Customer, Event, NpsResponse, Order, OrderItem, Product, Review, SupportTicket, Table,
};
use writer::{ParquetSink, PartitionedSink, write_all};

use crate::config::{DatasetConfig, DatasetFormat};
use crate::error::{Result, SegmintError};

/// The largest customer count: ids derived from customer ids (events: id * 100,000) stay
/// far inside `i64`.
pub const MAX_CUSTOMERS: u64 = 1_000_000_000;

/// The natural analysis date of the demo data: the day after its history ends.
pub const DEMO_AS_OF: &str = "2026-11-01";

/// Customers simulated per block of work.
const BLOCK_CUSTOMERS: u64 = 2_000;

/// What to generate.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Output directory (one folder per table is created inside).
    pub out: PathBuf,
    /// Number of customers (about 3 orders each on average).
    pub customers: u64,
    /// Random seed.
    pub seed: u64,
    /// Worker threads; `None` uses every core.
    pub threads: Option<usize>,
}

/// Row counts and timing of a generation run.
#[derive(Debug, Clone, Default)]
pub struct DemoSummary {
    /// Rows written per table, in a fixed order.
    pub tables: Vec<(&'static str, u64)>,
    /// Wall-clock time.
    pub elapsed: Duration,
}

impl DemoSummary {
    /// Total rows over all tables.
    pub fn total_rows(&self) -> u64 {
        self.tables.iter().map(|(_, n)| n).sum()
    }

    /// Rows of one table.
    pub fn rows(&self, table: &str) -> u64 {
        self.tables
            .iter()
            .find(|(name, _)| *name == table)
            .map_or(0, |(_, n)| *n)
    }
}

/// The names of the demo tables.
pub const TABLE_NAMES: &[&str] = &[
    Customer::NAME,
    Order::NAME,
    OrderItem::NAME,
    Product::NAME,
    Event::NAME,
    Review::NAME,
    SupportTicket::NAME,
    NpsResponse::NAME,
];

/// Dataset definitions for demo data in `dir`.
pub fn datasets(dir: &Path) -> Vec<DatasetConfig> {
    TABLE_NAMES
        .iter()
        .map(|name| DatasetConfig {
            name: name.to_string(),
            url: format!("{}/", dir.join(name).display()),
            format: DatasetFormat::Parquet,
            partition_columns: (*name == Order::NAME).then(|| vec!["order_month".to_string()]),
            shared: false,
        })
        .collect()
}

/// Generates the demo data into `options.out`.
///
/// Tables are written into a hidden staging folder first and moved into place only when all
/// are complete, so an interrupted run never leaves half a dataset behind.
pub fn generate(options: &DemoOptions) -> Result<DemoSummary> {
    let started = Instant::now();
    if options.customers == 0 || options.customers > MAX_CUSTOMERS {
        return Err(SegmintError::Demo(format!(
            "--customers must be between 1 and {MAX_CUSTOMERS}, got {}",
            options.customers
        )));
    }
    for name in TABLE_NAMES {
        if options.out.join(name).exists() {
            return Err(SegmintError::Demo(format!(
                "{} already contains a '{name}' table; choose an empty directory",
                options.out.display()
            )));
        }
    }
    let staging = options
        .out
        .join(format!(".segmint-staging-{}", std::process::id()));
    std::fs::create_dir_all(&staging)
        .map_err(|e| SegmintError::io(format!("creating {}", staging.display()), e))?;
    let result = generate_into(&staging, options);
    let summary = match result {
        Ok(summary) => summary,
        Err(error) => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(error);
        }
    };
    for name in TABLE_NAMES {
        let from = staging.join(name);
        if from.exists() {
            let to = options.out.join(name);
            std::fs::rename(&from, &to)
                .map_err(|e| SegmintError::io(format!("moving {} into place", to.display()), e))?;
        } else {
            // A table with no rows at this scale still exists as an empty folder.
            std::fs::create_dir_all(options.out.join(name))
                .map_err(|e| SegmintError::io("creating table folder", e))?;
        }
    }
    let _ = std::fs::remove_dir_all(&staging);
    Ok(DemoSummary {
        elapsed: started.elapsed(),
        ..summary
    })
}

fn generate_into(dir: &Path, options: &DemoOptions) -> Result<DemoSummary> {
    let products = catalog(options.seed);
    let product_rows = write_all(
        dir.join(Product::NAME).join("part-000.parquet"),
        products.clone(),
    )?;
    let index = Arc::new(CatalogIndex::new(products));
    let blocks = options.customers.div_ceil(BLOCK_CUSTOMERS);
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let workers = options
        .threads
        .unwrap_or(cores)
        .clamp(1, blocks.max(1) as usize);

    let results: Vec<Result<WorkerCounts>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|worker| {
                let index = index.clone();
                scope.spawn(move || run_worker(dir, options, &index, worker, workers, blocks))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(SegmintError::Demo("a generator thread panicked".into()))
                })
            })
            .collect()
    });
    let mut total = WorkerCounts::default();
    for counts in results {
        total.add(&counts?);
    }
    Ok(DemoSummary {
        tables: vec![
            (Customer::NAME, total.customers),
            (Order::NAME, total.orders),
            (OrderItem::NAME, total.items),
            (Product::NAME, product_rows),
            (Event::NAME, total.events),
            (Review::NAME, total.reviews),
            (SupportTicket::NAME, total.tickets),
            (NpsResponse::NAME, total.nps),
        ],
        elapsed: Duration::ZERO,
    })
}

#[derive(Default)]
struct WorkerCounts {
    customers: u64,
    orders: u64,
    items: u64,
    events: u64,
    reviews: u64,
    tickets: u64,
    nps: u64,
}

impl WorkerCounts {
    fn add(&mut self, other: &WorkerCounts) {
        self.customers += other.customers;
        self.orders += other.orders;
        self.items += other.items;
        self.events += other.events;
        self.reviews += other.reviews;
        self.tickets += other.tickets;
        self.nps += other.nps;
    }
}

/// Simulates blocks `worker, worker + workers, ...` into this worker's own files.
fn run_worker(
    dir: &Path,
    options: &DemoOptions,
    index: &CatalogIndex,
    worker: usize,
    workers: usize,
    blocks: u64,
) -> Result<WorkerCounts> {
    let file = format!("part-{worker:03}.parquet");
    let mut customers = ParquetSink::<Customer>::new(dir.join(Customer::NAME).join(&file));
    let mut orders =
        PartitionedSink::<Order>::new(&dir.join(Order::NAME), "order_month", file.clone(), |o| {
            month_of(o.order_ts)
        });
    let mut items = ParquetSink::<OrderItem>::new(dir.join(OrderItem::NAME).join(&file));
    let mut events = ParquetSink::<Event>::new(dir.join(Event::NAME).join(&file));
    let mut reviews = ParquetSink::<Review>::new(dir.join(Review::NAME).join(&file));
    let mut tickets = ParquetSink::<SupportTicket>::new(dir.join(SupportTicket::NAME).join(&file));
    let mut nps = ParquetSink::<NpsResponse>::new(dir.join(NpsResponse::NAME).join(&file));

    let mut rows = CustomerRows::default();
    let mut block = worker as u64;
    while block < blocks {
        let first = block * BLOCK_CUSTOMERS + 1;
        let last = ((block + 1) * BLOCK_CUSTOMERS).min(options.customers);
        for customer_id in first..=last {
            simulate_customer(options.seed, customer_id as i64, index, &mut rows);
            for row in rows.customers.drain(..) {
                customers.push(row)?;
            }
            for row in rows.orders.drain(..) {
                orders.push(row)?;
            }
            for row in rows.items.drain(..) {
                items.push(row)?;
            }
            for row in rows.events.drain(..) {
                events.push(row)?;
            }
            for row in rows.reviews.drain(..) {
                reviews.push(row)?;
            }
            for row in rows.tickets.drain(..) {
                tickets.push(row)?;
            }
            for row in rows.nps.drain(..) {
                nps.push(row)?;
            }
        }
        block += workers as u64;
    }
    Ok(WorkerCounts {
        customers: customers.finish()?,
        orders: orders.finish()?,
        items: items.finish()?,
        events: events.finish()?,
        reviews: reviews.finish()?,
        tickets: tickets.finish()?,
        nps: nps.finish()?,
    })
}

/// The cache folder for the demo data of `customers` and `seed`, generating it on first use.
///
/// The data is generated into a staging folder and renamed into place when complete, so a
/// cache folder that exists is always whole.
pub fn ensure_cached(cache_root: &Path, customers: u64, seed: u64) -> Result<PathBuf> {
    let dir = cache_root.join(format!("demo-v4-c{customers}-s{seed}"));
    if dir.join(".complete").exists() {
        tracing::info!(dir = %dir.display(), "using cached demo data");
        return Ok(dir);
    }
    let staging = cache_root.join(format!(".demo-staging-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging)
        .map_err(|e| SegmintError::io(format!("creating {}", staging.display()), e))?;
    tracing::info!(customers, seed, dir = %dir.display(), "generating demo data (first use)");
    let summary = generate(&DemoOptions {
        out: staging.clone(),
        customers,
        seed,
        threads: None,
    })?;
    std::fs::write(
        staging.join(".complete"),
        format!("{}\n", summary.total_rows()),
    )
    .map_err(|e| SegmintError::io("marking demo data complete", e))?;
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::rename(&staging, &dir)
        .map_err(|e| SegmintError::io(format!("moving demo data to {}", dir.display()), e))?;
    tracing::info!(rows = summary.total_rows(), elapsed = ?summary.elapsed, "demo data ready");
    Ok(dir)
}

/// The default cache root: `$XDG_CACHE_HOME/segmint`, else `~/.cache/segmint`.
pub fn default_cache_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("segmint");
    }
    match std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        Some(home) => PathBuf::from(home).join(".cache").join("segmint"),
        None => std::env::temp_dir().join("segmint-cache"),
    }
}
