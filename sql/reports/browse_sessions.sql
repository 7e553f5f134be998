-- name = "browse_sessions"
-- description = "Browsing sessions, cart abandonment and dwell time per period and segment; channel is the session's channel"
-- schedule = "0 6 * * *"
-- timezone = "UTC"
-- period = "month"
-- outputs = ["parquet", "csv", "html"]
-- needs = ["events"]
--
-- [params]
-- checkout_window = "3 hours"   # an order this soon after a session's last event converts it
--
-- [[chart]]
-- kind = "bar"
-- title = "Cart abandonment rate by channel"
-- category = "segment"
-- value = "cart_abandonment_rate"
-- format = "percent"
-- filter = { segment_kind = "channel" }

-- A session is one session_id. A cart session has an add_to_cart event; it is abandoned unless
-- the customer completed an order between the session's first event and checkout_window after
-- its last one. Dwell is the sum of the events' dwell_seconds.
WITH sessions AS (
  SELECT customer_id, session_id, min(channel) AS channel,
         min(event_ts) AS started, max(event_ts) AS ended,
         count(*) AS events,
         sum(dwell_seconds) AS dwell_seconds,
         max(CASE WHEN event_type = 'add_to_cart' THEN 1 ELSE 0 END) AS has_cart
  FROM model.events
  WHERE event_ts >= {period_start} AND event_ts < {period_end}
  GROUP BY customer_id, session_id
),
converted AS (
  SELECT s.session_id, max(CASE WHEN o.order_id IS NOT NULL THEN 1 ELSE 0 END) AS ordered
  FROM sessions s
  LEFT JOIN completed_orders o
    ON o.customer_id = s.customer_id AND o.order_ts >= s.started
   AND o.order_ts <= s.ended + INTERVAL {checkout_window}
  GROUP BY s.session_id
),
scored AS (
  SELECT s.customer_id, s.channel, s.events, s.dwell_seconds, s.has_cart, c.ordered
  FROM sessions s JOIN converted c ON c.session_id = s.session_id
),
tagged AS (
  SELECT g.segment_kind, g.segment, s.customer_id, s.events, s.dwell_seconds, s.has_cart, s.ordered
  FROM scored s JOIN {segments} g ON g.customer_id = s.customer_id
  WHERE g.segment_kind <> 'channel'
  UNION ALL
  SELECT 'channel', s.channel, s.customer_id, s.events, s.dwell_seconds, s.has_cart, s.ordered
  FROM scored s
)
SELECT {period_start} AS period_start, {period_end} AS period_end,
       segment_kind, segment,
       count(*) AS sessions,
       count(DISTINCT customer_id) AS visitors,
       avg(events) AS events_per_session,
       avg(dwell_seconds) AS dwell_seconds_mean,
       median(dwell_seconds) AS dwell_seconds_median,
       sum(has_cart) AS cart_sessions,
       sum(CASE WHEN has_cart = 1 AND ordered = 0 THEN 1 ELSE 0 END) AS abandoned_cart_sessions,
       sum(CASE WHEN has_cart = 1 AND ordered = 0 THEN 1 ELSE 0 END) * 1.0 / nullif(sum(has_cart), 0) AS cart_abandonment_rate,
       sum(ordered) * 1.0 / count(*) AS session_conversion_rate
FROM tagged
GROUP BY segment_kind, segment
ORDER BY segment_kind, segment
