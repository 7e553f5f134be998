-- name = "goal_attainment"
-- description = "Actual against target for every metric of the goal tree (sql/goals/), per segment, with gap, attainment and status, rolled up the tree by weight"
-- schedule = "0 6 1 * *"       # 06:00 on the 1st: the month that just ended
-- timezone = "UTC"
-- period = "month"
-- outputs = ["parquet", "csv", "html"]
--
-- [params]
-- green = 1.0                  # attainment at or above: green
-- amber = 0.9                  # at or above: amber; below: red
-- cap = 1.2                    # attainment is capped here before rolling up
--
-- [[chart]]
-- kind = "bar"
-- title = "Attainment by metric (all customers)"
-- category = "name"
-- value = "attainment"
-- status = "status"
-- reference = 1.0
-- format = "percent"
-- filter = { level = "metric", segment_kind = "all" }
--
-- [[chart]]
-- kind = "bar"
-- title = "Attainment by goal (all customers)"
-- category = "name"
-- value = "attainment"
-- status = "status"
-- reference = 1.0
-- format = "percent"
-- filter = { level = "goal", segment_kind = "all" }
--
-- [[chart]]
-- kind = "heatmap"
-- title = "Cohort retention: share of each first-purchase month (last 12) buying k months later"
-- sql = '''
-- WITH firsts AS (
--   SELECT customer_id, CAST(date_trunc('month', min(order_ts)) AS DATE) AS cohort
--   FROM completed_orders WHERE order_ts < {period_end} GROUP BY customer_id),
-- active AS (
--   SELECT DISTINCT customer_id, CAST(date_trunc('month', order_ts) AS DATE) AS month
--   FROM completed_orders WHERE order_ts < {period_end}),
-- sizes AS (SELECT cohort, count(*) AS n FROM firsts GROUP BY cohort)
-- SELECT CAST(f.cohort AS VARCHAR) AS cohort,
--        CAST((date_part('year', a.month) - date_part('year', f.cohort)) * 12
--             + date_part('month', a.month) - date_part('month', f.cohort) AS BIGINT) AS months_since_first,
--        count(*) * 1.0 / max(s.n) AS retention_rate
-- FROM firsts f JOIN active a ON a.customer_id = f.customer_id JOIN sizes s ON s.cohort = f.cohort
-- WHERE f.cohort >= {period_start} - INTERVAL '11 months'
-- GROUP BY 1, 2 ORDER BY 1, 2
-- '''
-- category = "cohort"
-- series = "months_since_first"
-- value = "retention_rate"
-- format = "percent"
--
-- [[chart]]
-- kind = "bar"
-- title = "Customers by RFM segment at the period end"
-- sql = "SELECT segment, count(*) AS customers FROM {segments_at_end} s WHERE segment_kind = 'rfm_segment' GROUP BY segment"
-- category = "segment"
-- value = "customers"
--
-- [[chart]]
-- kind = "heatmap"
-- title = "RFM segment migration over the period (customers)"
-- sql = "SELECT coalesce(a.segment, 'no_orders') AS from_segment, b.segment AS to_segment, count(*) AS customers FROM rfm('completed_orders', {period_end}) b LEFT JOIN rfm('completed_orders', {period_start}) a ON a.customer_id = b.customer_id GROUP BY 1, 2 ORDER BY 1, 2"
-- category = "from_segment"
-- series = "to_segment"
-- value = "customers"

-- One row per metric (level 'metric') and per goal (level 'goal'), segment kind and segment;
-- a metric's parent_id lists the goals it measures. attainment = actual / target for metrics
-- where up is good, target / actual where down is good (crm-reference 5.2). A target counts
-- when the metric's grain is the run's period and the target's range holds the period start.
-- A goal's attainment is the weighted mean of the capped attainment of the metrics under it,
-- each weighted by the product of the normalised weights on its path.
WITH RECURSIVE
actuals AS (
  SELECT * FROM {metric_actuals} a
),
metric_goals AS (
  SELECT metric_id, array_to_string(array_agg(goal_id ORDER BY goal_id), ',') AS goal_ids
  FROM goals.goal_metrics
  GROUP BY metric_id
),
metric_rows AS (
  SELECT mg.goal_ids AS goal_id, m.metric_id, m.name, m.unit, m.direction,
         a.segment_kind, a.segment, a.actual,
         t.target_value AS target, t.baseline_value AS baseline
  FROM goals.metrics m
  JOIN metric_goals mg ON mg.metric_id = m.metric_id
  JOIN actuals a ON a.metric_id = m.metric_id
  LEFT JOIN goals.targets t
    ON t.metric_id = m.metric_id AND t.segment_kind = a.segment_kind AND t.segment = a.segment
   AND m.grain = {period}
   AND t.period_start <= {period_start} AND {period_start} < t.period_end
),
scored AS (
  SELECT *,
         CASE
           WHEN target IS NULL OR actual IS NULL THEN NULL
           WHEN direction = 'up' AND target <> 0 THEN actual / target
           WHEN direction = 'down' AND actual > 0 THEN target / actual
           WHEN direction = 'down' AND actual = 0 THEN {cap}
         END AS attainment
  FROM metric_rows
),
-- Every edge of the tree with its weight normalised among its siblings.
edges AS (
  SELECT goal_id AS parent, metric_id AS child, 'metric' AS kind, weight FROM goals.goal_metrics
  UNION ALL
  SELECT parent_goal_id, goal_id, 'goal', weight FROM goals.goals WHERE parent_goal_id IS NOT NULL
),
shares AS (
  SELECT parent, child, kind, weight / sum(weight) OVER (PARTITION BY parent) AS share FROM edges
),
-- Each metric's share in every goal above it.
paths (goal_id, metric_id, share) AS (
  SELECT parent, child, share FROM shares WHERE kind = 'metric'
  UNION ALL
  SELECT s.parent, p.metric_id, p.share * s.share
  FROM paths p JOIN shares s ON s.child = p.goal_id AND s.kind = 'goal'
),
goal_rows AS (
  SELECT g.goal_id, g.name, g.parent_goal_id, s.segment_kind, s.segment,
         sum(p.share * least(s.attainment, {cap})) / sum(p.share) AS attainment
  FROM paths p
  JOIN goals.goals g ON g.goal_id = p.goal_id
  JOIN (SELECT metric_id, segment_kind, segment, attainment FROM scored
        WHERE attainment IS NOT NULL) s ON s.metric_id = p.metric_id
  GROUP BY g.goal_id, g.name, g.parent_goal_id, s.segment_kind, s.segment
)
SELECT {period_start} AS period_start, {period_end} AS period_end,
       'metric' AS level, metric_id AS id, name, goal_id AS parent_id,
       segment_kind, segment, unit, direction, actual, target, baseline,
       actual - target AS gap, attainment,
       CASE WHEN attainment IS NULL THEN NULL
            WHEN attainment >= {green} THEN 'green'
            WHEN attainment >= {amber} THEN 'amber'
            ELSE 'red' END AS status
FROM scored
UNION ALL
SELECT {period_start}, {period_end}, 'goal', goal_id, name, parent_goal_id,
       segment_kind, segment, NULL, 'up', NULL, NULL, NULL, NULL, attainment,
       CASE WHEN attainment >= {green} THEN 'green'
            WHEN attainment >= {amber} THEN 'amber'
            ELSE 'red' END
FROM goal_rows
ORDER BY level DESC, segment_kind, segment, id
