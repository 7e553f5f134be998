//! Predictive-value benchmark: fits and scores the demo shop's customers with the BTYD
//! functions in-process and prints each step's median time and its ratio to the baseline
//! measured in the same run: `btyd_summary` alone (scan, filter and two hash aggregations over
//! the orders), which every fit and `customer_value` start from.
//!
//! ```text
//! cargo bench --bench predictive                           # 1M customers (~3M orders)
//! SEGMINT_BENCH_CUSTOMERS=50000 SEGMINT_BENCH_RUNS=1 cargo bench --bench predictive
//! SEGMINT_BENCH_SKIP=pareto cargo bench --bench predictive  # steps whose name contains it
//! ```
//! On the demo shop the Pareto/NBD dropout is nearly homogeneous: its fit lands on the
//! exponential-dropout limit (`s` reported as 10⁶).
//! Data is cached under `target/bench-data/` (shared with the segmentation benchmark).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use segmint::{Config, Engine};

const AS_OF: &str = "DATE '2026-11-01'";

fn queries() -> Vec<(&'static str, String)> {
    // The calibration period ends the day before `AS_OF`, as in `customer_value`.
    let summary = "btyd_summary('completed_orders', DATE '2026-10-31')";
    vec![
        (
            "btyd_summary (baseline)",
            format!("SELECT count(*), sum(x), sum(t_x), sum(m_x) FROM {summary}"),
        ),
        (
            "bgnbd_fit",
            format!("SELECT bgnbd_fit(x, t_x, \"T\") FROM {summary}"),
        ),
        (
            "gamma_gamma_fit",
            format!("SELECT gamma_gamma_fit(x, m_x) FROM {summary} WHERE m_x > 0"),
        ),
        (
            "pareto_nbd_fit",
            format!("SELECT pareto_nbd_fit(x, t_x, \"T\") FROM {summary}"),
        ),
        (
            "customer_value (fit + score all)",
            format!(
                "SELECT clv_decile, count(*), avg(p_alive), sum(clv) \
                 FROM customer_value('completed_orders', {AS_OF}) GROUP BY 1"
            ),
        ),
        (
            "customer_value model=pareto_nbd",
            format!(
                "SELECT stage, count(*), sum(clv) FROM customer_value('completed_orders', \
                 {AS_OF}, 'customer_id', 'order_ts', 'net_amount', 'model=pareto_nbd') GROUP BY 1"
            ),
        ),
    ]
}

fn env_list(name: &str, default: &[u64]) -> Vec<u64> {
    std::env::var(name)
        .ok()
        .map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect())
        .filter(|v: &Vec<u64>| !v.is_empty())
        .unwrap_or_else(|| default.to_vec())
}

async fn time_query(
    engine: &Engine,
    sql: &str,
    runs: usize,
) -> Result<(Duration, String), Box<dyn std::error::Error>> {
    let mut times = Vec::with_capacity(runs);
    let mut first_row = String::new();
    for _ in 0..runs {
        let ctx = engine.session();
        let started = Instant::now();
        let batches = ctx.sql(sql).await?.collect().await?;
        times.push(started.elapsed());
        if let Some(batch) = batches.first().filter(|b| b.num_rows() > 0) {
            first_row =
                datafusion::arrow::util::pretty::pretty_format_batches(&[batch.slice(0, 1)])?
                    .to_string()
                    .lines()
                    .nth(3)
                    .unwrap_or_default()
                    .to_string();
        }
    }
    times.sort();
    Ok((times[times.len() / 2], first_row))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let scales = env_list("SEGMINT_BENCH_CUSTOMERS", &[1_000_000]);
    let runs = env_list("SEGMINT_BENCH_RUNS", &[3])[0].max(1) as usize;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
    let runtime = tokio::runtime::Runtime::new()?;
    println!("predictive benchmark: {runs} runs per query, median reported");
    for customers in scales {
        let generated = Instant::now();
        let dir = segmint::demo::ensure_cached(&root, customers, 42)?;
        println!(
            "\nscale: {customers} demo customers (data ready in {:.1} s)",
            generated.elapsed().as_secs_f64()
        );
        let config = Config {
            datasets: segmint::demo::datasets(&dir),
            ..Config::default()
        };
        runtime.block_on(async {
            let engine = Engine::build(&config, &segmint::pgcompat::Postgres).await?;
            let mut baseline = None;
            println!(
                "{:<36} {:>10} {:>10}  first row",
                "step", "median s", "vs summary"
            );
            let skip = std::env::var("SEGMINT_BENCH_SKIP").unwrap_or_default();
            for (name, sql) in queries() {
                if !skip.is_empty() && name.contains(skip.as_str()) {
                    continue;
                }
                let (time, row) = time_query(&engine, &sql, runs).await?;
                let base = *baseline.get_or_insert(time);
                println!(
                    "{name:<36} {:>10.2} {:>9.1}x  {}",
                    time.as_secs_f64(),
                    time.as_secs_f64() / base.as_secs_f64(),
                    row.chars().take(160).collect::<String>()
                );
            }
            Ok::<(), Box<dyn std::error::Error>>(())
        })?;
    }
    Ok(())
}
