-- name = "cohort_retention"
-- description = "Cohort retention matrix: customers by first-purchase month, and the share who bought again k months later (crm-reference 5.1); NULL where month k is not observed yet"
-- schedule = "0 6 1 * *"
-- timezone = "UTC"
-- period = "month"
-- outputs = ["parquet", "csv", "html"]
--
-- [[chart]]
-- kind = "heatmap"
-- title = "Retention by cohort (all customers)"
-- category = "cohort"
-- series = "months_since_first"
-- value = "retention_rate"
-- format = "percent"
-- filter = { segment_kind = "all" }

-- The month holding as_of is observed up to as_of (month to date when run mid-month).
-- Cohorts are fixed at acquisition, so their segments are too: the channel of the first order
-- and the customer's region (RFM and lifecycle change every day and do not define a cohort).
WITH orders AS (
  SELECT customer_id, order_ts, channel FROM completed_orders WHERE order_ts < {period_end}
),
firsts AS (
  SELECT customer_id, min(order_ts) AS first_ts FROM orders GROUP BY customer_id
),
members AS (
  SELECT f.customer_id,
         CAST(date_trunc('month', f.first_ts) AS DATE) AS cohort_month,
         min(o.channel) AS channel,
         coalesce(min(c.region), 'unknown') AS region
  FROM firsts f
  JOIN orders o ON o.customer_id = f.customer_id AND o.order_ts = f.first_ts
  LEFT JOIN model.customers c ON c.customer_id = f.customer_id
  GROUP BY f.customer_id, f.first_ts
),
dims AS (
  SELECT customer_id, cohort_month, 'all' AS segment_kind, 'all' AS segment FROM members
  UNION ALL SELECT customer_id, cohort_month, 'channel', channel FROM members
  UNION ALL SELECT customer_id, cohort_month, 'region', region FROM members
),
month_index AS (
  SELECT customer_id,
         CAST(date_part('year', order_ts) * 12 + date_part('month', order_ts) - 1 AS BIGINT) AS m
  FROM orders
  GROUP BY 1, 2
),
cohorts AS (
  SELECT cohort_month, segment_kind, segment, count(*) AS cohort_size,
         CAST(date_part('year', cohort_month) * 12 + date_part('month', cohort_month) - 1 AS BIGINT) AS m0
  FROM dims
  GROUP BY cohort_month, segment_kind, segment
),
span AS (
  SELECT CAST(date_part('year', {as_of}) * 12 + date_part('month', {as_of}) - 1 AS BIGINT) AS last_m
),
bounds AS (
  SELECT max(s.last_m) - min(c.m0) AS max_k FROM cohorts c CROSS JOIN span s
),
offsets AS (
  SELECT value AS k FROM generate_series(0, 1200) g CROSS JOIN bounds b WHERE value <= b.max_k
),
retained AS (
  SELECT d.cohort_month, d.segment_kind, d.segment, a.m, count(*) AS customers
  FROM dims d
  JOIN month_index a ON a.customer_id = d.customer_id
  GROUP BY 1, 2, 3, 4
)
SELECT {period_start} AS period_start, {period_end} AS period_end,
       c.segment_kind, c.segment, c.cohort_month,
       CAST(c.cohort_month AS VARCHAR) AS cohort,
       o.k AS months_since_first,
       c.cohort_size,
       CASE WHEN c.m0 + o.k <= s.last_m THEN coalesce(r.customers, 0) END AS retained_customers,
       CASE WHEN c.m0 + o.k <= s.last_m THEN coalesce(r.customers, 0) * 1.0 / c.cohort_size END AS retention_rate
FROM cohorts c
CROSS JOIN offsets o
CROSS JOIN span s
LEFT JOIN retained r
  ON r.cohort_month = c.cohort_month AND r.segment_kind = c.segment_kind
 AND r.segment = c.segment AND r.m = c.m0 + o.k
ORDER BY c.segment_kind, c.segment, c.cohort_month, o.k
