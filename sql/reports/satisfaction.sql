-- name = "satisfaction"
-- description = "NPS, CSAT, complaint resolution time (mean, median, P90), first response, SLA attainment and complaint rate per period and segment (crm-reference 5.1)"
-- schedule = "0 6 * * *"
-- timezone = "UTC"
-- period = "month"
-- outputs = ["parquet", "csv", "html"]
-- needs = ["support_tickets", "nps_responses"]
--
-- [params]
-- sla_hours = 48               # a complaint resolved within this many hours meets the SLA
--
-- [[chart]]
-- kind = "bar"
-- title = "NPS by RFM segment at the period start"
-- category = "segment"
-- value = "nps"
-- filter = { segment_kind = "rfm_segment" }

-- NPS: answers in the period, % promoters (9-10) - % detractors (0-6). CSAT: tickets resolved
-- in the period with a 1-5 rating, % rated 4-5. Resolution and SLA: complaints resolved in the
-- period, hours from creation. Complaint rate: complaints opened / completed orders.
WITH segments AS (
  SELECT * FROM {segments} g
),
nps AS (
  SELECT g.segment_kind, g.segment, count(*) AS nps_responses,
         100.0 * (count(CASE WHEN n.score >= 9 THEN 1 END) - count(CASE WHEN n.score <= 6 THEN 1 END))
           / count(*) AS nps
  FROM model.nps_responses n JOIN segments g ON g.customer_id = n.customer_id
  WHERE n.responded_at >= {period_start} AND n.responded_at < {period_end}
  GROUP BY 1, 2
),
resolved AS (
  SELECT customer_id, kind, satisfaction,
         (CAST(date_part('epoch', resolved_at) AS DOUBLE) - CAST(date_part('epoch', created_at) AS DOUBLE)) / 3600.0 AS resolution_hours,
         (CAST(date_part('epoch', first_response_at) AS DOUBLE) - CAST(date_part('epoch', created_at) AS DOUBLE)) / 3600.0 AS first_response_hours
  FROM model.support_tickets
  WHERE resolved_at >= {period_start} AND resolved_at < {period_end}
),
csat AS (
  SELECT g.segment_kind, g.segment,
         count(r.satisfaction) AS csat_responses,
         100.0 * count(CASE WHEN r.satisfaction >= 4 THEN 1 END) / nullif(count(r.satisfaction), 0) AS csat
  FROM resolved r JOIN segments g ON g.customer_id = r.customer_id
  GROUP BY 1, 2
),
complaints AS (
  SELECT g.segment_kind, g.segment,
         count(*) AS complaints_resolved,
         avg(r.resolution_hours) AS resolution_hours_mean,
         median(r.resolution_hours) AS resolution_hours_median,
         approx_percentile_cont(r.resolution_hours, 0.9) AS resolution_hours_p90,
         avg(r.first_response_hours) AS first_response_hours_mean,
         100.0 * count(CASE WHEN r.resolution_hours <= {sla_hours} THEN 1 END) / count(*) AS sla_attainment
  FROM resolved r JOIN segments g ON g.customer_id = r.customer_id
  WHERE r.kind = 'complaint'
  GROUP BY 1, 2
),
opened AS (
  SELECT g.segment_kind, g.segment, count(*) AS complaints_opened
  FROM model.support_tickets t JOIN segments g ON g.customer_id = t.customer_id
  WHERE t.kind = 'complaint' AND t.created_at >= {period_start} AND t.created_at < {period_end}
  GROUP BY 1, 2
),
orders AS (
  SELECT g.segment_kind, g.segment, count(*) AS orders
  FROM completed_orders o JOIN segments g ON g.customer_id = o.customer_id
  WHERE o.order_ts >= {period_start} AND o.order_ts < {period_end}
  GROUP BY 1, 2
),
keys AS (
  SELECT DISTINCT segment_kind, segment FROM segments
)
SELECT {period_start} AS period_start, {period_end} AS period_end,
       k.segment_kind, k.segment,
       coalesce(n.nps_responses, 0) AS nps_responses, n.nps,
       coalesce(c.csat_responses, 0) AS csat_responses, c.csat,
       coalesce(x.complaints_resolved, 0) AS complaints_resolved,
       x.resolution_hours_mean, x.resolution_hours_median, x.resolution_hours_p90,
       x.first_response_hours_mean, x.sla_attainment,
       coalesce(p.complaints_opened, 0) AS complaints_opened,
       coalesce(o.orders, 0) AS orders,
       100.0 * coalesce(p.complaints_opened, 0) / nullif(o.orders, 0) AS complaint_rate
FROM keys k
LEFT JOIN nps n ON n.segment_kind = k.segment_kind AND n.segment = k.segment
LEFT JOIN csat c ON c.segment_kind = k.segment_kind AND c.segment = k.segment
LEFT JOIN complaints x ON x.segment_kind = k.segment_kind AND x.segment = k.segment
LEFT JOIN opened p ON p.segment_kind = k.segment_kind AND p.segment = k.segment
LEFT JOIN orders o ON o.segment_kind = k.segment_kind AND o.segment = k.segment
ORDER BY k.segment_kind, k.segment
