-- name = "lifecycle_flows"
-- description = "Lifecycle stage flows over the period: customers moving between prospect, new, active, dormant and churned, per region and RFM segment at the period start"
-- schedule = "0 6 1 * *"
-- timezone = "UTC"
-- period = "month"
-- outputs = ["parquet", "csv", "html"]
--
-- [[chart]]
-- kind = "heatmap"
-- title = "Lifecycle flows: from (rows) to (columns), customers"
-- category = "from_stage"
-- series = "to_stage"
-- value = "customers"
-- filter = { segment_kind = "all" }

-- Every customer registered before the period end, with their stage at the start and the end.
WITH flows AS (
  SELECT c.customer_id,
         coalesce(a.stage, 'prospect') AS from_stage,
         coalesce(b.stage, 'prospect') AS to_stage
  FROM model.customers c
  LEFT JOIN lifecycle('completed_orders', {period_start}) a ON a.customer_id = c.customer_id
  LEFT JOIN lifecycle('completed_orders', {period_end}) b ON b.customer_id = c.customer_id
  WHERE coalesce(c.registered_at < {period_end}, true)
),
counted AS (
  SELECT g.segment_kind, g.segment, f.from_stage, f.to_stage, count(*) AS customers
  FROM flows f JOIN {segments} g ON g.customer_id = f.customer_id
  WHERE g.segment_kind IN ('all', 'region', 'rfm_segment')
  GROUP BY 1, 2, 3, 4
)
SELECT {period_start} AS period_start, {period_end} AS period_end,
       segment_kind, segment, from_stage, to_stage, customers,
       customers * 1.0 / sum(customers) OVER (PARTITION BY segment_kind, segment, from_stage) AS share_of_from
FROM counted
ORDER BY segment_kind, segment, from_stage, to_stage
