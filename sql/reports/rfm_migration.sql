-- name = "rfm_migration"
-- description = "RFM segment migration over the period (month over month by default): customers moving from each segment at the period start to each segment at its end, per region and channel"
-- schedule = "0 6 1 * *"
-- timezone = "UTC"
-- period = "month"
-- outputs = ["parquet", "csv", "html"]
--
-- [[chart]]
-- kind = "heatmap"
-- title = "RFM migration: from (rows) to (columns), share of the from-segment"
-- category = "from_segment"
-- series = "to_segment"
-- value = "share_of_from"
-- format = "percent"
-- filter = { segment_kind = "all" }

-- Customers who had ordered by the period end; 'no_orders' at the start means they bought for
-- the first time in the period. Segment kinds: all, region and channel (as of the period start).
WITH moves AS (
  SELECT b.customer_id,
         coalesce(a.segment, 'no_orders') AS from_segment,
         b.segment AS to_segment
  FROM rfm('completed_orders', {period_end}) b
  LEFT JOIN rfm('completed_orders', {period_start}) a ON a.customer_id = b.customer_id
),
counted AS (
  SELECT g.segment_kind, g.segment, m.from_segment, m.to_segment, count(*) AS customers
  FROM moves m JOIN {segments} g ON g.customer_id = m.customer_id
  WHERE g.segment_kind IN ('all', 'region', 'channel')
  GROUP BY 1, 2, 3, 4
)
SELECT {period_start} AS period_start, {period_end} AS period_end,
       segment_kind, segment, from_segment, to_segment, customers,
       customers * 1.0 / sum(customers) OVER (PARTITION BY segment_kind, segment, from_segment) AS share_of_from,
       from_segment <> to_segment AS moved
FROM counted
ORDER BY segment_kind, segment, from_segment, to_segment
