//! Segmentation benchmark: generates demo data at two scales and times segmentation queries
//! in-process, printing the median time, orders/s and the ratio to a plain scan
//! (`SELECT sum(net_amount) FROM orders`) measured in the same run. `rfm()` is timed next to
//! the same result written by hand with `percentile_cont` edges and `NTILE` windows (the
//! baseline it must not be slower than), and the ratio of the two is printed.
//!
//! ```text
//! cargo bench --bench segmentation                      # 50k and 3.2M customers (~10M orders)
//! SEGMINT_BENCH_CUSTOMERS=20000,100000 SEGMINT_BENCH_RUNS=3 cargo bench --bench segmentation
//! ```
//! Data is cached under `target/bench-data/` so repeated runs skip generation.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::Int64Type;
use segmint::{Config, Engine};

const SCAN_BASELINE: &str = "SELECT sum(net_amount) FROM orders";

/// `rfm()` with its default qcut scheme over the completed orders.
const RFM_FUNCTION: &str = "SELECT segment, count(*), sum(r_score + f_score + m_score) FROM rfm('completed_orders', DATE '2026-11-01') GROUP BY 1";

/// The same scores written by hand: value-quantile edges for R and M, NTILE for F.
const RFM_HAND_WRITTEN: &str = "WITH c AS (
        SELECT customer_id,
               CAST(DATE '2026-11-01' - max(CAST(order_ts AS DATE)) AS BIGINT) AS recency_days,
               count(*) AS frequency,
               sum(CAST(net_amount AS DOUBLE)) AS monetary
        FROM completed_orders WHERE order_ts < DATE '2026-11-01' GROUP BY customer_id),
     e AS (
        SELECT percentile_cont(0.2) WITHIN GROUP (ORDER BY recency_days) AS r1,
               percentile_cont(0.4) WITHIN GROUP (ORDER BY recency_days) AS r2,
               percentile_cont(0.6) WITHIN GROUP (ORDER BY recency_days) AS r3,
               percentile_cont(0.8) WITHIN GROUP (ORDER BY recency_days) AS r4,
               percentile_cont(0.2) WITHIN GROUP (ORDER BY monetary) AS m1,
               percentile_cont(0.4) WITHIN GROUP (ORDER BY monetary) AS m2,
               percentile_cont(0.6) WITHIN GROUP (ORDER BY monetary) AS m3,
               percentile_cont(0.8) WITHIN GROUP (ORDER BY monetary) AS m4
        FROM c),
     h AS (
        SELECT 5 - ((CASE WHEN r1 < recency_days THEN 1 ELSE 0 END) + (CASE WHEN r2 < recency_days THEN 1 ELSE 0 END)
                  + (CASE WHEN r3 < recency_days THEN 1 ELSE 0 END) + (CASE WHEN r4 < recency_days THEN 1 ELSE 0 END)) AS r,
               NTILE(5) OVER (ORDER BY frequency, customer_id) AS f,
               1 + (CASE WHEN m1 < monetary THEN 1 ELSE 0 END) + (CASE WHEN m2 < monetary THEN 1 ELSE 0 END)
                 + (CASE WHEN m3 < monetary THEN 1 ELSE 0 END) + (CASE WHEN m4 < monetary THEN 1 ELSE 0 END) AS m
        FROM c CROSS JOIN e)
     SELECT rfm_segment(r, f, m), count(*), sum(r + f + m) FROM h GROUP BY 1";

const QUERIES: &[(&str, &str)] = &[
    ("rfm() (qcut)", RFM_FUNCTION),
    ("rfm hand-written (qcut)", RFM_HAND_WRITTEN),
    (
        "rfm_ntile",
        "WITH rfm AS (
            SELECT customer_id,
                   DATE '2026-11-01' - CAST(max(order_ts) AS DATE) AS recency_days,
                   count(DISTINCT order_id) AS frequency,
                   sum(net_amount) AS monetary
            FROM orders WHERE status = 'completed' GROUP BY customer_id)
         SELECT customer_id,
                NTILE(5) OVER (ORDER BY recency_days DESC, customer_id) AS r_score,
                NTILE(5) OVER (ORDER BY frequency, customer_id) AS f_score,
                NTILE(5) OVER (ORDER BY monetary, customer_id) AS m_score
         FROM rfm",
    ),
    (
        "lifecycle_stages",
        "WITH last AS (
            SELECT c.customer_id,
                   DATE '2026-11-01' - CAST(min(o.order_ts) AS DATE) AS since_first,
                   DATE '2026-11-01' - CAST(max(o.order_ts) AS DATE) AS since_last
            FROM customers c LEFT JOIN orders o
              ON o.customer_id = c.customer_id AND o.status = 'completed'
            GROUP BY c.customer_id)
         SELECT CASE WHEN since_last IS NULL THEN 'prospect' WHEN since_first <= 30 THEN 'new'
                     WHEN since_last <= 90 THEN 'active' WHEN since_last <= 180 THEN 'dormant'
                     ELSE 'churned' END AS stage, count(*)
         FROM last GROUP BY 1",
    ),
    (
        "repurchase_aov_by_channel_month",
        "WITH monthly AS (
            SELECT order_month, channel, customer_id, count(*) AS n, sum(net_amount) AS spend
            FROM orders WHERE status = 'completed' GROUP BY 1, 2, 3)
         SELECT order_month, channel,
                sum(CASE WHEN n >= 2 THEN 1 ELSE 0 END) * 1.0 / count(*) AS repurchase_rate,
                sum(spend) / sum(n) AS aov
         FROM monthly GROUP BY 1, 2 ORDER BY 1, 2",
    ),
];

fn env_list(name: &str, default: &[u64]) -> Vec<u64> {
    std::env::var(name)
        .ok()
        .map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect())
        .filter(|v: &Vec<u64>| !v.is_empty())
        .unwrap_or_else(|| default.to_vec())
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

async fn time_query(
    engine: &Engine,
    sql: &str,
    runs: usize,
) -> Result<(Duration, usize), Box<dyn std::error::Error>> {
    let mut times = Vec::with_capacity(runs);
    let mut rows = 0;
    for _ in 0..runs {
        let ctx = engine.session();
        let started = Instant::now();
        let batches = ctx.sql(sql).await?.collect().await?;
        times.push(started.elapsed());
        rows = batches.iter().map(|b| b.num_rows()).sum();
    }
    Ok((median(times), rows))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let scales = env_list("SEGMINT_BENCH_CUSTOMERS", &[50_000, 3_200_000]);
    let runs = env_list("SEGMINT_BENCH_RUNS", &[5])[0].max(1) as usize;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
    let runtime = tokio::runtime::Runtime::new()?;
    println!("segmentation benchmark: {runs} runs per query, median reported");
    for customers in scales {
        let dir = segmint::demo::ensure_cached(&root, customers, 42)?;
        let config = Config {
            datasets: segmint::demo::datasets(&dir),
            ..Config::default()
        };
        runtime.block_on(async {
            let engine = Engine::build(&config, &segmint::pgcompat::Postgres).await?;
            let ctx = engine.session();
            let orders = ctx.sql("SELECT count(*) FROM orders").await?.collect().await?;
            let orders = orders[0]
                .column(0)
                .as_primitive::<Int64Type>()
                .value(0) as f64;
            let (scan, _) = time_query(&engine, SCAN_BASELINE, runs).await?;
            println!(
                "\nscale: {customers} customers, {orders:.0} orders; baseline scan {:.1} ms ({:.0} orders/s)",
                scan.as_secs_f64() * 1e3,
                orders / scan.as_secs_f64()
            );
            println!("{:<34} {:>10} {:>14} {:>10} {:>12}", "query", "median ms", "orders/s", "result", "vs scan");
            let mut rfm_times = Vec::new();
            for (name, sql) in QUERIES {
                let (time, rows) = time_query(&engine, sql, runs).await?;
                if name.starts_with("rfm") && name.ends_with("(qcut)") {
                    rfm_times.push(time);
                }
                println!(
                    "{name:<34} {:>10.1} {:>14.0} {rows:>10} {:>11.1}x",
                    time.as_secs_f64() * 1e3,
                    orders / time.as_secs_f64(),
                    time.as_secs_f64() / scan.as_secs_f64()
                );
            }
            if let [function, hand_written] = rfm_times[..] {
                println!(
                    "rfm() / hand-written SQL: {:.2}x (below 1 means rfm() is faster)",
                    function.as_secs_f64() / hand_written.as_secs_f64()
                );
            }
            Ok::<(), Box<dyn std::error::Error>>(())
        })?;
    }
    Ok(())
}
