-- name = "browse_paths"
-- description = "Top browse paths: the most common sequences of the first five events of a session, per period and session channel, with how often they end in an order"
-- schedule = "0 6 * * *"
-- timezone = "UTC"
-- period = "month"
-- outputs = ["parquet", "csv", "html"]
-- needs = ["events"]
--
-- [params]
-- steps = 5                    # events of each session kept in its path
-- top = 15                     # paths kept per segment
-- checkout_window = "3 hours"   # an order this soon after a session's last event converts it
--
-- [[chart]]
-- kind = "bar"
-- title = "Most common browse paths (all channels)"
-- category = "path"
-- value = "sessions"
-- filter = { segment_kind = "all" }

WITH numbered AS (
  SELECT customer_id, session_id, channel, event_ts, event_type,
         row_number() OVER (PARTITION BY session_id ORDER BY event_ts, event_id) AS step,
         max(event_ts) OVER (PARTITION BY session_id) AS session_end
  FROM model.events
  WHERE event_ts >= {period_start} AND event_ts < {period_end}
),
paths AS (
  SELECT session_id, min(customer_id) AS customer_id, min(channel) AS channel,
         min(event_ts) AS started, max(session_end) AS ended,
         array_to_string(array_agg(event_type ORDER BY step), ' > ') AS path
  FROM numbered
  WHERE step <= {steps}
  GROUP BY session_id
),
converted AS (
  SELECT p.session_id, p.channel, p.path,
         max(CASE WHEN o.order_id IS NOT NULL THEN 1 ELSE 0 END) AS ordered
  FROM paths p
  LEFT JOIN completed_orders o
    ON o.customer_id = p.customer_id AND o.order_ts >= p.started
   AND o.order_ts <= p.ended + INTERVAL {checkout_window}
  GROUP BY p.session_id, p.channel, p.path
),
dims AS (
  SELECT 'all' AS segment_kind, 'all' AS segment, path, ordered FROM converted
  UNION ALL
  SELECT 'channel', channel, path, ordered FROM converted
),
counted AS (
  SELECT segment_kind, segment, path, count(*) AS sessions, sum(ordered) AS ordered_sessions
  FROM dims
  GROUP BY segment_kind, segment, path
),
ranked AS (
  SELECT *,
         row_number() OVER (PARTITION BY segment_kind, segment ORDER BY sessions DESC, path) AS rank,
         sessions * 1.0 / sum(sessions) OVER (PARTITION BY segment_kind, segment) AS share_of_sessions
  FROM counted
)
SELECT {period_start} AS period_start, {period_end} AS period_end,
       segment_kind, segment, rank, path, sessions, share_of_sessions,
       ordered_sessions * 1.0 / sessions AS order_rate
FROM ranked
WHERE rank <= {top}
ORDER BY segment_kind, segment, rank
