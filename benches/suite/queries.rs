//! The CRM suite: each query in Segmint's SQL and, where DuckDB runs it too, in DuckDB's.
//! Both read the same Parquet files; the SQL differs only where the dialects do.

/// The analysis date of the demo shop (orders strictly before it count).
pub const AS_OF: &str = "2026-11-01";

/// The first day of the 90 days before [`AS_OF`].
const LAST_90_DAYS: &str = "2026-08-03";

/// The orders files served a second time, with an index on `customer_id`.
pub const INDEXED_ORDERS: &str = "orders_indexed";

/// The index of [`INDEXED_ORDERS`], as `[[indexes]]` declares it.
pub fn customer_index() -> segmint::config::IndexConfig {
    segmint::config::IndexConfig {
        name: "orders_by_customer".to_string(),
        dataset: INDEXED_ORDERS.to_string(),
        column: "customer_id".to_string(),
    }
}

/// How a suite entry runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A query whose rows are fetched.
    Query,
    /// A report run: Segmint's report runner (over the wire, `RUN REPORT`), DuckDB's
    /// `COPY (...) TO 'file.parquet'`.
    Report,
}

/// One entry of the suite.
pub struct SuiteQuery {
    /// Short name used in tables.
    pub name: &'static str,
    /// What an analyst asks.
    pub question: &'static str,
    /// Segmint's SQL (for reports: the report name).
    pub segmint: String,
    /// DuckDB's SQL; `None` when DuckDB has no such function (compared with `baseline`).
    pub duckdb: Option<String>,
    /// For Segmint-only entries: the suite entry whose DuckDB time is the baseline.
    pub baseline: Option<&'static str>,
    /// How it runs.
    pub kind: Kind,
}

/// Per-customer recency (days), frequency and monetary over completed orders.
fn customer_rfm_cte() -> String {
    format!(
        "c AS (
           SELECT customer_id,
                  CAST(DATE '{AS_OF}' - max(CAST(order_ts AS DATE)) AS BIGINT) AS recency_days,
                  count(*) AS frequency,
                  sum(net_amount) AS monetary
           FROM completed_orders
           WHERE order_ts < '{AS_OF}T00:00:00Z'
           GROUP BY customer_id)"
    )
}

/// The report the suite runs: the goal breakdown by channel for the period and the 12 months
/// before it (repurchase rate, AOV), as a file of `sql/reports/` would hold it.
pub const REPORT_NAME: &str = "bench_goal_breakdown";

/// The report's SQL with the runner's placeholders.
pub const REPORT_SQL: &str = "WITH monthly AS (
  SELECT channel, order_month, customer_id, count(*) AS n, sum(net_amount) AS spend
  FROM completed_orders
  WHERE order_ts >= {period_end} - INTERVAL '365 days' AND order_ts < {period_end}
  GROUP BY channel, order_month, customer_id
)
SELECT channel, order_month,
       count(*) AS buyers,
       sum(CASE WHEN n >= 2 THEN 1 ELSE 0 END) * 1.0 / count(*) AS repurchase_rate,
       sum(spend) / sum(n) AS aov
FROM monthly
GROUP BY channel, order_month
ORDER BY channel, order_month";

/// The report file Segmint loads from its reports folder.
pub fn report_file() -> String {
    format!(
        "-- name = \"{REPORT_NAME}\"\n-- description = \"Benchmark: repurchase rate and AOV by channel and month\"\n\
         -- schedule = \"0 6 1 * *\"\n-- period = \"month\"\n-- outputs = [\"parquet\"]\n\n{REPORT_SQL}\n"
    )
}

/// The period end of the report run (the day after `as_of`).
pub const REPORT_AS_OF: &str = "2026-10-31";

/// The suite; `customer` is the customer whose orders are looked up, `out` the folder
/// DuckDB's report copies go to.
pub fn suite(customer: i64, out: &str) -> Vec<SuiteQuery> {
    let rfm = customer_rfm_cte();
    let rfm_hand = format!(
        "WITH {rfm},
         s AS (
           SELECT customer_id,
                  NTILE(5) OVER (ORDER BY recency_days DESC, customer_id) AS r_score,
                  NTILE(5) OVER (ORDER BY frequency, customer_id) AS f_score,
                  NTILE(5) OVER (ORDER BY monetary, customer_id) AS m_score
           FROM c)
         SELECT r_score, f_score, m_score, count(*) AS customers
         FROM s GROUP BY r_score, f_score, m_score ORDER BY r_score, f_score, m_score"
    );
    let lifecycle = format!(
        "WITH last AS (
           SELECT k.customer_id,
                  DATE '{AS_OF}' - CAST(min(o.order_ts) AS DATE) AS since_first,
                  DATE '{AS_OF}' - CAST(max(o.order_ts) AS DATE) AS since_last
           FROM customers k LEFT JOIN completed_orders o
             ON o.customer_id = k.customer_id AND o.order_ts < '{AS_OF}T00:00:00Z'
           GROUP BY k.customer_id)
         SELECT CASE WHEN since_last IS NULL THEN 'prospect' WHEN since_first <= 30 THEN 'new'
                     WHEN since_last <= 90 THEN 'active' WHEN since_last <= 180 THEN 'dormant'
                     ELSE 'churned' END AS stage,
                count(*) AS customers
         FROM last GROUP BY 1 ORDER BY 1"
    );
    let lifecycle_region = format!(
        "WITH last AS (
           SELECT customer_id, min(order_ts) AS first_ts, max(order_ts) AS last_ts
           FROM completed_orders WHERE order_ts < '{AS_OF}T00:00:00Z'
           GROUP BY customer_id)
         SELECT k.region,
                CASE WHEN l.last_ts IS NULL THEN 'prospect'
                     WHEN DATE '{AS_OF}' - CAST(l.first_ts AS DATE) <= 30 THEN 'new'
                     WHEN DATE '{AS_OF}' - CAST(l.last_ts AS DATE) <= 90 THEN 'active'
                     WHEN DATE '{AS_OF}' - CAST(l.last_ts AS DATE) <= 180 THEN 'dormant'
                     ELSE 'churned' END AS stage,
                count(*) AS customers
         FROM customers k LEFT JOIN last l ON l.customer_id = k.customer_id
         GROUP BY 1, 2 ORDER BY 1, 2"
    );
    // At Risk as the R package's vignette maps it: R 1-2, F 2-5, M 4-5.
    let at_risk = format!(
        "WITH {rfm},
         s AS (
           SELECT customer_id, recency_days, frequency, monetary,
                  NTILE(5) OVER (ORDER BY recency_days DESC, customer_id) AS r_score,
                  NTILE(5) OVER (ORDER BY frequency, customer_id) AS f_score,
                  NTILE(5) OVER (ORDER BY monetary, customer_id) AS m_score
           FROM c)
         SELECT s.customer_id, k.region, k.acquisition_channel, s.recency_days, s.frequency,
                s.monetary, s.r_score, s.f_score, s.m_score
         FROM s JOIN customers k ON k.customer_id = s.customer_id
         WHERE s.r_score <= 2 AND s.f_score >= 2 AND s.m_score >= 4"
    );
    let repurchase = "WITH firsts AS (
           SELECT customer_id, min(order_month) AS first_month
           FROM completed_orders GROUP BY customer_id)
         SELECT o.order_month, k.acquisition_channel AS channel,
                count(DISTINCT o.customer_id) AS buyers,
                count(DISTINCT CASE WHEN o.order_month > f.first_month THEN o.customer_id END)
                  * 1.0 / count(DISTINCT o.customer_id) AS repurchase_rate,
                sum(o.net_amount) / count(*) AS aov
         FROM completed_orders o
         JOIN customers k ON k.customer_id = o.customer_id
         JOIN firsts f ON f.customer_id = o.customer_id
         GROUP BY 1, 2 ORDER BY 1, 2"
        .to_string();
    let export = format!(
        "WITH {rfm}
         SELECT k.customer_id, k.region, k.acquisition_channel, c.recency_days, c.frequency, c.monetary
         FROM c JOIN customers k ON k.customer_id = c.customer_id
         WHERE c.recency_days BETWEEN 90 AND 365 AND c.frequency >= 2"
    );
    let goal = "WITH monthly AS (
           SELECT order_month, channel, customer_id, count(*) AS n, sum(net_amount) AS spend
           FROM completed_orders GROUP BY order_month, channel, customer_id)
         SELECT order_month, channel,
                sum(CASE WHEN n >= 2 THEN 1 ELSE 0 END) * 1.0 / count(*) AS repurchase_rate,
                sum(spend) / sum(n) AS aov
         FROM monthly GROUP BY order_month, channel ORDER BY order_month, channel"
        .to_string();
    let tags = format!(
        "WITH f AS (
           SELECT customer_id,
                  count(*) AS n_orders,
                  sum(CASE WHEN order_ts >= '{LAST_90_DAYS}T00:00:00Z' THEN 1 ELSE 0 END) AS orders_90d,
                  avg(CASE WHEN discount_amount > 0 THEN 1.0 ELSE 0.0 END) AS discount_share,
                  sum(net_amount) AS spend,
                  count(DISTINCT channel) AS channels
           FROM completed_orders WHERE order_ts < '{AS_OF}T00:00:00Z'
           GROUP BY customer_id)
         SELECT sum(CASE WHEN discount_share >= 0.5 THEN 1 ELSE 0 END) AS price_sensitive,
                sum(CASE WHEN spend >= 1000 THEN 1 ELSE 0 END) AS high_value,
                sum(CASE WHEN orders_90d >= 2 THEN 1 ELSE 0 END) AS frequent_recent,
                sum(CASE WHEN channels >= 2 THEN 1 ELSE 0 END) AS omnichannel,
                sum(CASE WHEN n_orders = 1 THEN 1 ELSE 0 END) AS one_time
         FROM f"
    );
    let report_duckdb = format!(
        "COPY ({}) TO '{out}/{REPORT_NAME}.parquet' (FORMAT parquet)",
        REPORT_SQL.replace("{period_end}", "DATE '2026-11-01'")
    );
    let lookup = format!(
        "SELECT order_id, order_ts, channel, net_amount, status
         FROM orders WHERE customer_id = {customer} ORDER BY order_ts"
    );
    vec![
        SuiteQuery {
            name: "rfm()",
            question: "RFM scores per customer with rfm() (NTILE scheme), counted by score",
            segmint: format!(
                "SELECT r_score, f_score, m_score, count(*) AS customers
                 FROM rfm('completed_orders', DATE '{AS_OF}', 'customer_id', 'order_ts', 'net_amount', 'scheme=ntile')
                 GROUP BY r_score, f_score, m_score ORDER BY r_score, f_score, m_score"
            ),
            duckdb: None,
            baseline: Some("rfm_sql"),
            kind: Kind::Query,
        },
        SuiteQuery {
            name: "customer_value()",
            question: "BG/NBD and Gamma-Gamma value of every customer with customer_value(), counted by stage and CLV decile",
            segmint: format!(
                "SELECT stage, clv_decile, count(*) AS customers, sum(clv) AS clv
                 FROM customer_value('completed_orders', DATE '{AS_OF}', 'customer_id', 'order_ts', 'net_amount')
                 GROUP BY stage, clv_decile ORDER BY stage, clv_decile"
            ),
            duckdb: None,
            baseline: None,
            kind: Kind::Query,
        },
        SuiteQuery {
            name: "rfm_sql",
            question: "The same scores written by hand: three NTILE() windows",
            segmint: rfm_hand.clone(),
            duckdb: Some(rfm_hand),
            baseline: None,
            kind: Kind::Query,
        },
        SuiteQuery {
            name: "lifecycle",
            question: "Customers per lifecycle stage (prospect, new, active, dormant, churned)",
            segmint: lifecycle.clone(),
            duckdb: Some(lifecycle),
            baseline: None,
            kind: Kind::Query,
        },
        SuiteQuery {
            name: "lifecycle_region",
            question: "Customers per lifecycle stage and region (aggregate + join)",
            segmint: lifecycle_region.clone(),
            duckdb: Some(lifecycle_region),
            baseline: None,
            kind: Kind::Query,
        },
        SuiteQuery {
            name: "at_risk_export",
            question: "Export the At Risk segment from three NTILE() windows, with profile",
            segmint: at_risk.clone(),
            duckdb: Some(at_risk),
            baseline: None,
            kind: Kind::Query,
        },
        SuiteQuery {
            name: "segment_export",
            question: "Export the lapsing repeat buyers with their profile (every row fetched)",
            segmint: export.clone(),
            duckdb: Some(export),
            baseline: None,
            kind: Kind::Query,
        },
        SuiteQuery {
            name: "goal_breakdown",
            question: "Monthly repurchase rate and AOV by channel",
            segmint: goal.clone(),
            duckdb: Some(goal),
            baseline: None,
            kind: Kind::Query,
        },
        SuiteQuery {
            name: "repurchase_channel",
            question: "Monthly buyers, repurchase rate and AOV by acquisition channel (joins + count distinct)",
            segmint: repurchase.clone(),
            duckdb: Some(repurchase),
            baseline: None,
            kind: Kind::Query,
        },
        SuiteQuery {
            name: "tags",
            question: "Behaviour tags: price-sensitive, high-value, frequent, omnichannel, one-time",
            segmint: tags.clone(),
            duckdb: Some(tags),
            baseline: None,
            kind: Kind::Query,
        },
        SuiteQuery {
            name: "report_run",
            question: "Run the goal-breakdown report and write it to storage as Parquet",
            segmint: REPORT_NAME.to_string(),
            duckdb: Some(report_duckdb),
            baseline: None,
            kind: Kind::Report,
        },
        SuiteQuery {
            name: "customer_orders",
            question: "One customer's orders (point lookup)",
            segmint: lookup.clone(),
            duckdb: Some(lookup.clone()),
            baseline: None,
            kind: Kind::Query,
        },
        SuiteQuery {
            name: "customer_orders_indexed",
            question: "One customer's orders, with CREATE INDEX on customer_id",
            segmint: lookup.replace("FROM orders", &format!("FROM {INDEXED_ORDERS}")),
            duckdb: None,
            baseline: Some("customer_orders"),
            kind: Kind::Query,
        },
    ]
}
