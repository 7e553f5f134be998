-- name = "repurchase"
-- description = "Repeat-customer rate (buyers with 2+ orders among buyers), repurchase from the previous period, and days between consecutive orders, per period and segment"
-- schedule = "0 6 1 * *"
-- timezone = "UTC"
-- period = "month"
-- outputs = ["parquet", "csv", "html"]
--
-- [[chart]]
-- kind = "bar"
-- title = "Repeat-customer rate by lifecycle stage at the period start"
-- category = "segment"
-- value = "repeat_customer_rate"
-- format = "percent"
-- filter = { segment_kind = "lifecycle_stage" }

WITH orders AS (
  SELECT customer_id, order_id, order_ts,
         lag(order_ts) OVER (PARTITION BY customer_id ORDER BY order_ts, order_id) AS previous_ts
  FROM completed_orders
  WHERE order_ts < {period_end}
),
per_customer AS (
  SELECT customer_id,
         count(DISTINCT CASE WHEN order_ts >= {period_start} THEN order_id END) AS orders_in_period,
         count(DISTINCT CASE WHEN order_ts >= {previous_period_start} AND order_ts < {period_start} THEN order_id END) AS orders_before
  FROM orders
  WHERE order_ts >= {previous_period_start}
  GROUP BY customer_id
),
segments AS (
  SELECT * FROM {segments} g
),
interval_stats AS (
  SELECT g.segment_kind, g.segment,
         avg(CAST(CAST(o.order_ts AS DATE) - CAST(o.previous_ts AS DATE) AS BIGINT)) AS avg_days,
         median(CAST(CAST(o.order_ts AS DATE) - CAST(o.previous_ts AS DATE) AS BIGINT)) AS median_days
  FROM orders o
  JOIN segments g ON g.customer_id = o.customer_id
  WHERE o.order_ts >= {period_start} AND o.previous_ts IS NOT NULL
  GROUP BY g.segment_kind, g.segment
),
counts AS (
  SELECT g.segment_kind, g.segment,
         count(CASE WHEN p.orders_in_period >= 1 THEN 1 END) AS buyers,
         count(CASE WHEN p.orders_in_period >= 2 THEN 1 END) AS repeat_buyers,
         count(CASE WHEN p.orders_before >= 1 THEN 1 END) AS previous_period_buyers,
         count(CASE WHEN p.orders_before >= 1 AND p.orders_in_period >= 1 THEN 1 END) AS returning_buyers
  FROM segments g
  LEFT JOIN per_customer p ON p.customer_id = g.customer_id
  GROUP BY g.segment_kind, g.segment
)
SELECT {period_start} AS period_start, {period_end} AS period_end,
       c.segment_kind, c.segment,
       c.buyers, c.repeat_buyers,
       c.repeat_buyers * 1.0 / nullif(c.buyers, 0) AS repeat_customer_rate,
       c.previous_period_buyers,
       c.returning_buyers * 1.0 / nullif(c.previous_period_buyers, 0) AS repurchase_from_previous_period,
       i.avg_days AS avg_repurchase_interval_days,
       i.median_days AS median_repurchase_interval_days
FROM counts c
LEFT JOIN interval_stats i ON i.segment_kind = c.segment_kind AND i.segment = c.segment
ORDER BY c.segment_kind, c.segment
