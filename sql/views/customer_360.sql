-- One row per customer: profile, RFM, lifecycle stage and tags, as of the analysis date the
-- server starts with (`[functions] as_of` in segmint.toml, else the start day; `--demo` uses
-- 2026-11-01, the day after the demo history ends). `{as_of}` is replaced by that date when the
-- view is created. Customers registered later are not listed. BI tools see it as a table.
CREATE VIEW customer_360 AS
SELECT c.customer_id,
       c.registered_at,
       c.birth_date,
       c.gender,
       c.region,
       c.city_tier,
       c.acquisition_channel,
       {as_of} AS as_of,
       r.recency_days,
       coalesce(r.frequency, 0) AS frequency,
       coalesce(r.monetary, 0) AS monetary,
       r.r_score,
       r.f_score,
       r.m_score,
       r.rfm_code,
       r.segment AS rfm_segment,
       r.class8 AS rfm_class8,
       l.first_order,
       l.last_order,
       coalesce(l.stage, 'prospect') AS lifecycle_stage,
       t.tags
FROM model.customers c
LEFT JOIN rfm('completed_orders', {as_of}) r ON r.customer_id = c.customer_id
LEFT JOIN lifecycle('completed_orders', {as_of}) l ON l.customer_id = c.customer_id
LEFT JOIN customer_tags({as_of}) t ON t.customer_id = c.customer_id
WHERE coalesce(c.registered_at < {as_of}, true);
