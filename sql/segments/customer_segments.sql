-- The segment dimensions of every customer as of {at} (a DATE), one row per customer and
-- dimension: customer_id, segment_kind, segment. Reports join it through {segments} (as of
-- the period start) and {segments_at_end} (as of the period end).
--   all              'all': the whole customer base
--   rfm_segment      rfm() segment on orders before {at}; 'no_orders' for customers without any
--   lifecycle_stage  lifecycle() stage before {at}; 'prospect' for customers without orders
--   channel          the channel of most of their orders (ties: alphabetical); 'no_orders'
--   region           customers.region
WITH channel_orders AS (
  SELECT customer_id, channel, count(*) AS n
  FROM completed_orders
  WHERE order_ts < {at}
  GROUP BY customer_id, channel
),
main_channel AS (
  SELECT customer_id, channel
  FROM (
    SELECT customer_id, channel,
           row_number() OVER (PARTITION BY customer_id ORDER BY n DESC, channel) AS pick
    FROM channel_orders
  ) ranked
  WHERE pick = 1
),
base AS (
  SELECT c.customer_id,
         coalesce(c.region, 'unknown') AS region,
         coalesce(r.segment, 'no_orders') AS rfm_segment,
         coalesce(l.stage, 'prospect') AS lifecycle_stage,
         coalesce(m.channel, 'no_orders') AS channel
  FROM model.customers c
  LEFT JOIN rfm('completed_orders', {at}) r ON r.customer_id = c.customer_id
  LEFT JOIN lifecycle('completed_orders', {at}) l ON l.customer_id = c.customer_id
  LEFT JOIN main_channel m ON m.customer_id = c.customer_id
)
SELECT customer_id, 'all' AS segment_kind, 'all' AS segment FROM base
UNION ALL SELECT customer_id, 'rfm_segment', rfm_segment FROM base
UNION ALL SELECT customer_id, 'lifecycle_stage', lifecycle_stage FROM base
UNION ALL SELECT customer_id, 'channel', channel FROM base
UNION ALL SELECT customer_id, 'region', region FROM base
