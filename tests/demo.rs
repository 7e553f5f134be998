//! The demo-data generator: determinism, row counts, value ranges and the shapes analysts
//! rely on (heavy-tailed frequency, promotion peaks, lapsed customers, brand loyalty).

use std::path::Path;

use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::Float64Type;
use segmint::{Config, Engine};

use crate::support;

async fn engine_for(dir: &Path) -> Engine {
    let config = Config {
        datasets: segmint::demo::datasets(dir),
        ..Config::default()
    };
    Engine::build(&config, &segmint::pgcompat::Postgres)
        .await
        .expect("engine")
}

/// Runs a query returning one row of numbers, as f64s.
async fn numbers(engine: &Engine, sql: &str) -> Vec<f64> {
    let ctx = engine.session();
    let batches = ctx
        .sql(&format!("SELECT * FROM ({sql}) AS q"))
        .await
        .expect("plan")
        .collect()
        .await
        .expect("run");
    let batch = batches.iter().find(|b| b.num_rows() > 0).expect("a row");
    batch
        .columns()
        .iter()
        .map(|column| {
            let column = datafusion::arrow::compute::cast(
                column,
                &datafusion::arrow::datatypes::DataType::Float64,
            )
            .expect("numeric column");
            column.as_primitive::<Float64Type>().value(0)
        })
        .collect()
}

const FINGERPRINT: &str = "SELECT
    (SELECT count(*) FROM customers) AS customers,
    (SELECT sum(customer_id * city_tier) FROM customers) AS customer_mix,
    (SELECT count(*) FROM orders) AS orders,
    (SELECT sum(net_amount) FROM orders) AS revenue,
    (SELECT sum(order_id % 9973) FROM orders) AS order_ids,
    (SELECT count(*) FROM order_items) AS items,
    (SELECT count(*) FROM events) AS events,
    (SELECT sum(CAST(dwell_seconds * 10 AS BIGINT)) FROM events) AS dwell,
    (SELECT count(*) FROM reviews) AS reviews,
    (SELECT count(*) FROM support_tickets) AS tickets,
    (SELECT sum(score) FROM nps_responses) AS nps";

#[tokio::test]
async fn same_seed_same_data_whatever_the_threads() {
    let one = tempfile::tempdir().expect("dir");
    let two = tempfile::tempdir().expect("dir");
    let other_seed = tempfile::tempdir().expect("dir");
    segmint::app::demo_data(one.path(), 5_000, 99, Some(1)).expect("generate 1 thread");
    segmint::app::demo_data(two.path(), 5_000, 99, Some(2)).expect("generate 2 threads");
    segmint::app::demo_data(other_seed.path(), 5_000, 100, Some(2)).expect("generate other seed");
    let a = numbers(&engine_for(one.path()).await, FINGERPRINT).await;
    let b = numbers(&engine_for(two.path()).await, FINGERPRINT).await;
    let c = numbers(&engine_for(other_seed.path()).await, FINGERPRINT).await;
    assert_eq!(a, b, "thread count changed the data");
    assert_ne!(a, c, "a different seed gave the same data");
    assert_eq!(a[0], 5_000.0);
}

#[tokio::test]
async fn same_seed_and_threads_give_identical_files() {
    let one = tempfile::tempdir().expect("dir");
    let two = tempfile::tempdir().expect("dir");
    segmint::app::demo_data(one.path(), 800, 5, Some(2)).expect("generate");
    segmint::app::demo_data(two.path(), 800, 5, Some(2)).expect("generate");
    for table in [
        "customers",
        "orders/order_month=2025-11",
        "events",
        "products",
    ] {
        let list = |root: &Path| -> Vec<(String, Vec<u8>)> {
            let mut files: Vec<_> = std::fs::read_dir(root.join(table))
                .expect("table folder")
                .filter_map(|e| e.ok())
                .map(|e| {
                    (
                        e.file_name().to_string_lossy().into_owned(),
                        std::fs::read(e.path()).expect("read"),
                    )
                })
                .collect();
            files.sort();
            files
        };
        assert_eq!(
            list(one.path()),
            list(two.path()),
            "{table} differs between runs"
        );
    }
}

#[tokio::test]
async fn row_counts_and_value_ranges() {
    let engine = engine_for(support::demo_dir()).await;
    let checks = numbers(
        &engine,
        "SELECT
            (SELECT count(*) FROM customers) AS c0,
            (SELECT count(*) FROM orders) AS c1,
            (SELECT count(*) FROM orders WHERE net_amount <> gross_amount - discount_amount OR discount_amount < 0 OR gross_amount <= 0) AS c2,
            (SELECT count(*) FROM orders WHERE order_ts < TIMESTAMP '2024-11-01T00:00:00Z' OR order_ts >= TIMESTAMP '2026-11-01T00:00:00Z') AS c3,
            (SELECT count(*) FROM orders WHERE status NOT IN ('completed', 'refunded', 'cancelled')) AS c4,
            (SELECT count(*) FROM orders WHERE channel NOT IN ('web', 'app', 'mini-program', 'offline store')) AS c5,
            (SELECT count(*) FROM orders o LEFT JOIN customers c USING (customer_id) WHERE c.customer_id IS NULL) AS c6,
            (SELECT count(*) FROM (SELECT order_id, count(*) AS n, max(item_count) AS expected FROM order_items JOIN orders USING (order_id) GROUP BY order_id) WHERE n <> expected) AS c7,
            (SELECT count(*) FROM reviews WHERE rating NOT BETWEEN 1 AND 5) AS c8,
            (SELECT count(*) FROM nps_responses WHERE score NOT BETWEEN 0 AND 10) AS c9,
            (SELECT count(*) FROM support_tickets WHERE first_response_at < created_at OR resolved_at < first_response_at OR satisfaction NOT BETWEEN 1 AND 5) AS c10,
            (SELECT count(*) FROM events WHERE event_type NOT IN ('browse', 'search', 'add_to_cart', 'favorite') OR dwell_seconds <= 0) AS c11,
            (SELECT count(DISTINCT status) FROM orders) AS c12,
            (SELECT count(DISTINCT kind) FROM support_tickets) AS c13,
            (SELECT count(*) FROM products) AS c14",
    )
    .await;
    assert_eq!(checks[0], support::DEMO_CUSTOMERS as f64);
    let orders = checks[1];
    assert!(
        orders > 2.0 * checks[0] && orders < 8.0 * checks[0],
        "orders per customer: {}",
        orders / checks[0]
    );
    for (i, violations) in checks[2..12].iter().enumerate() {
        assert_eq!(*violations, 0.0, "check {} found violations", i + 2);
    }
    assert_eq!(checks[12], 3.0, "statuses include refunded and cancelled");
    assert_eq!(checks[13], 3.0, "ticket kinds");
    assert_eq!(checks[14], 2_000.0);
}

#[tokio::test]
async fn shapes_carry_signal() {
    let engine = engine_for(support::demo_dir()).await;
    let shapes = numbers(
        &engine,
        "WITH per_customer AS (
            SELECT customer_id, count(*) AS n, max(order_ts) AS last_ts FROM orders GROUP BY customer_id
         ), daily AS (
            SELECT date_trunc('day', order_ts) AS d, count(*) AS n FROM orders GROUP BY 1
         ), brand_share AS (
            SELECT o.customer_id, max(cnt) * 1.0 / sum(cnt) AS top_share FROM (
                SELECT o.customer_id, i.brand, count(*) AS cnt
                FROM order_items i JOIN orders o USING (order_id) GROUP BY 1, 2) o
            GROUP BY o.customer_id HAVING sum(cnt) >= 5
         )
         SELECT
            (SELECT max(n) FROM per_customer) * 1.0 / (SELECT median(n) FROM per_customer) AS c0,
            (SELECT avg(n) FROM daily WHERE date_part('month', d) = 11 AND date_part('day', d) = 11)
                / (SELECT avg(n) FROM daily) AS c1,
            (SELECT avg(n) FROM daily WHERE date_part('month', d) = 6 AND date_part('day', d) = 18)
                / (SELECT avg(n) FROM daily) AS c2,
            (SELECT count(*) FROM per_customer WHERE last_ts < TIMESTAMP '2026-05-01T00:00:00Z') * 1.0
                / (SELECT count(*) FROM per_customer) AS c3,
            (SELECT avg(top_share) FROM brand_share) AS c4,
            (SELECT count(*) FROM customers WHERE customer_id NOT IN (SELECT customer_id FROM orders)) * 1.0
                / (SELECT count(*) FROM customers) AS c5",
    )
    .await;
    assert!(
        shapes[0] >= 5.0,
        "heavy tail: max/median orders per customer = {}",
        shapes[0]
    );
    assert!(
        shapes[1] >= 3.0,
        "Double 11 peak = {}x an average day",
        shapes[1]
    );
    assert!(shapes[2] >= 2.0, "618 peak = {}x an average day", shapes[2]);
    assert!(shapes[3] >= 0.2, "lapsed share = {}", shapes[3]);
    assert!(shapes[4] >= 0.35, "favourite brand share = {}", shapes[4]);
    assert!(
        shapes[5] > 0.1 && shapes[5] < 0.4,
        "never-buyers share = {}",
        shapes[5]
    );
}
