-- name = "customer_retention"
-- description = "Customer retention rate CRR = (E - N) / S x 100 and churn per period and segment (crm-reference 5.1); the customer base is everyone not churned (lifecycle)"
-- schedule = "0 6 1 * *"
-- timezone = "UTC"
-- period = "month"
-- outputs = ["parquet", "csv", "html"]
--
-- [[chart]]
-- kind = "bar"
-- title = "Customer retention rate by RFM segment at the period start (%)"
-- category = "segment"
-- value = "retention_rate"
-- filter = { segment_kind = "rfm_segment" }

-- S = customers in the base at the period start, E = at the end, N = new customers (first
-- order in the period). Segments are those of the period start.
WITH base_start AS (
  SELECT customer_id FROM lifecycle('completed_orders', {period_start}) WHERE stage <> 'churned'
),
base_end AS (
  SELECT customer_id FROM lifecycle('completed_orders', {period_end}) WHERE stage <> 'churned'
),
new_customers AS (
  SELECT customer_id FROM completed_orders
  GROUP BY customer_id
  HAVING min(order_ts) >= {period_start} AND min(order_ts) < {period_end}
)
SELECT {period_start} AS period_start, {period_end} AS period_end,
       g.segment_kind, g.segment,
       count(s.customer_id) AS customers_at_start,
       count(e.customer_id) AS customers_at_end,
       count(n.customer_id) AS new_customers,
       count(CASE WHEN s.customer_id IS NOT NULL AND e.customer_id IS NOT NULL THEN 1 END) AS retained_customers,
       count(CASE WHEN s.customer_id IS NOT NULL AND e.customer_id IS NULL THEN 1 END) AS lost_customers,
       CASE WHEN count(s.customer_id) > 0
            THEN 100.0 * (count(e.customer_id) - count(n.customer_id)) / count(s.customer_id) END AS retention_rate,
       CASE WHEN count(s.customer_id) > 0
            THEN 100.0 * count(CASE WHEN s.customer_id IS NOT NULL AND e.customer_id IS NULL THEN 1 END)
                 / count(s.customer_id) END AS churn_rate
FROM {segments} g
LEFT JOIN base_start s ON s.customer_id = g.customer_id
LEFT JOIN base_end e ON e.customer_id = g.customer_id
LEFT JOIN new_customers n ON n.customer_id = g.customer_id
GROUP BY g.segment_kind, g.segment
ORDER BY g.segment_kind, g.segment
