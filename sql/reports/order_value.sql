-- name = "order_value"
-- description = "Revenue, orders, AOV, purchase frequency and revenue per customer (ARPU = AOV x PF) per period and segment; channel is the channel of each order"
-- schedule = "0 6 * * *"
-- timezone = "UTC"
-- period = "month"
-- outputs = ["parquet", "csv", "html"]
--
-- [[chart]]
-- kind = "bar"
-- title = "Average order value by channel"
-- category = "segment"
-- value = "aov"
-- filter = { segment_kind = "channel" }
--
-- [[chart]]
-- kind = "bar"
-- title = "Revenue per customer by RFM segment at the period start"
-- category = "segment"
-- value = "revenue_per_customer"
-- filter = { segment_kind = "rfm_segment" }

-- Completed orders only: refunded and cancelled orders are netted out of revenue.
WITH o AS (
  SELECT customer_id, order_id, channel, CAST(net_amount AS DOUBLE) AS amount
  FROM completed_orders
  WHERE order_ts >= {period_start} AND order_ts < {period_end}
),
tagged AS (
  SELECT g.segment_kind, g.segment, o.customer_id, o.order_id, o.amount
  FROM o JOIN {segments} g ON g.customer_id = o.customer_id
  WHERE g.segment_kind <> 'channel'
  UNION ALL
  SELECT 'channel', o.channel, o.customer_id, o.order_id, o.amount FROM o
)
SELECT {period_start} AS period_start, {period_end} AS period_end,
       segment_kind, segment,
       count(DISTINCT order_id) AS orders,
       count(DISTINCT customer_id) AS customers,
       sum(amount) AS revenue,
       sum(amount) / count(DISTINCT order_id) AS aov,
       count(DISTINCT order_id) * 1.0 / count(DISTINCT customer_id) AS purchase_frequency,
       sum(amount) / count(DISTINCT customer_id) AS revenue_per_customer
FROM tagged
GROUP BY segment_kind, segment
ORDER BY segment_kind, segment
