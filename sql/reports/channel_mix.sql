-- name = "channel_mix"
-- description = "Channel mix (web, app, mini-program, offline store): orders, revenue, buyers and browsing sessions per channel and their shares, per period and customer segment"
-- schedule = "0 6 * * *"
-- timezone = "UTC"
-- period = "month"
-- outputs = ["parquet", "csv", "html"]
-- needs = ["events", "orders.channel"]
--
-- [[chart]]
-- kind = "bar"
-- title = "Share of revenue by channel (all customers)"
-- category = "channel"
-- value = "revenue_share"
-- format = "percent"
-- filter = { segment_kind = "all" }

-- Segments (RFM, lifecycle, region) are the customer's at the period start; the breakdown
-- column is the channel of each order or browsing session.
WITH segments AS (
  SELECT * FROM {segments} g WHERE g.segment_kind <> 'channel'
),
orders AS (
  SELECT g.segment_kind, g.segment, o.channel,
         count(*) AS orders, sum(CAST(o.net_amount AS DOUBLE)) AS revenue,
         count(DISTINCT o.customer_id) AS buyers
  FROM completed_orders o JOIN segments g ON g.customer_id = o.customer_id
  WHERE o.order_ts >= {period_start} AND o.order_ts < {period_end}
  GROUP BY 1, 2, 3
),
sessions AS (
  SELECT g.segment_kind, g.segment, e.channel, count(DISTINCT e.session_id) AS sessions
  FROM model.events e JOIN segments g ON g.customer_id = e.customer_id
  WHERE e.event_ts >= {period_start} AND e.event_ts < {period_end}
  GROUP BY 1, 2, 3
),
joined AS (
  SELECT coalesce(o.segment_kind, s.segment_kind) AS segment_kind,
         coalesce(o.segment, s.segment) AS segment,
         coalesce(o.channel, s.channel) AS channel,
         coalesce(o.orders, 0) AS orders, coalesce(o.revenue, 0) AS revenue,
         coalesce(o.buyers, 0) AS buyers, coalesce(s.sessions, 0) AS sessions
  FROM orders o
  FULL JOIN sessions s
    ON s.segment_kind = o.segment_kind AND s.segment = o.segment AND s.channel = o.channel
)
SELECT {period_start} AS period_start, {period_end} AS period_end,
       segment_kind, segment, channel, orders, revenue, buyers, sessions,
       orders * 1.0 / nullif(sum(orders) OVER (PARTITION BY segment_kind, segment), 0) AS order_share,
       revenue / nullif(sum(revenue) OVER (PARTITION BY segment_kind, segment), 0) AS revenue_share,
       sessions * 1.0 / nullif(sum(sessions) OVER (PARTITION BY segment_kind, segment), 0) AS session_share
FROM joined
ORDER BY segment_kind, segment, channel
