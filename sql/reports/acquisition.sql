-- name = "acquisition"
-- description = "New registered users, first-purchase conversion and second-order conversion within 30 days, per period, region and acquisition channel"
-- schedule = "0 6 * * *"
-- timezone = "UTC"
-- period = "month"
-- outputs = ["parquet", "csv", "html"]
-- needs = ["customers.registered_at"]
--
-- [[chart]]
-- kind = "bar"
-- title = "New registered users by acquisition channel"
-- category = "segment"
-- value = "new_registered_users"
-- filter = { segment_kind = "channel" }

-- New registrants have no orders yet, so their segments are who they are, not what they did:
-- channel is the acquisition channel, region the region. First-purchase conversion counts
-- registrants of the period who ordered before its end. Second-order conversion looks at
-- customers whose first order was 30 days or more before the period end, so each has had 30
-- days to order again: those with a first order in [period start - 30 days, period end - 30 days).
WITH firsts AS (
  SELECT customer_id, min(order_ts) AS first_ts
  FROM completed_orders WHERE order_ts < {period_end}
  GROUP BY customer_id
),
seconds AS (
  SELECT f.customer_id, f.first_ts,
         min(CASE WHEN o.order_ts > f.first_ts THEN o.order_ts END) AS second_ts
  FROM firsts f JOIN completed_orders o ON o.customer_id = f.customer_id
  WHERE o.order_ts < {period_end}
  GROUP BY f.customer_id, f.first_ts
),
people AS (
  SELECT c.customer_id, c.registered_at, coalesce(c.region, 'unknown') AS region,
         coalesce(c.acquisition_channel, 'unknown') AS channel,
         s.first_ts, s.second_ts
  FROM model.customers c LEFT JOIN seconds s ON s.customer_id = c.customer_id
),
dims AS (
  SELECT *, 'all' AS segment_kind, 'all' AS segment FROM people
  UNION ALL SELECT *, 'channel' AS segment_kind, channel AS segment FROM people
  UNION ALL SELECT *, 'region' AS segment_kind, region AS segment FROM people
)
SELECT {period_start} AS period_start, {period_end} AS period_end,
       segment_kind, segment,
       count(CASE WHEN registered_at >= {period_start} AND registered_at < {period_end} THEN 1 END) AS new_registered_users,
       count(CASE WHEN registered_at >= {period_start} AND registered_at < {period_end}
                   AND first_ts IS NOT NULL THEN 1 END) AS registrants_who_bought,
       count(CASE WHEN registered_at >= {period_start} AND registered_at < {period_end}
                   AND first_ts IS NOT NULL THEN 1 END) * 1.0
         / nullif(count(CASE WHEN registered_at >= {period_start} AND registered_at < {period_end} THEN 1 END), 0)
         AS first_purchase_conversion,
       count(CASE WHEN first_ts >= {period_start} THEN 1 END) AS new_customers,
       count(CASE WHEN first_ts >= {period_start} - INTERVAL '30 days' AND first_ts < {period_end} - INTERVAL '30 days'
                   AND second_ts <= first_ts + INTERVAL '30 days' THEN 1 END) * 1.0
         / nullif(count(CASE WHEN first_ts >= {period_start} - INTERVAL '30 days'
                              AND first_ts < {period_end} - INTERVAL '30 days' THEN 1 END), 0)
         AS second_order_30d_rate
FROM dims
GROUP BY segment_kind, segment
ORDER BY segment_kind, segment
