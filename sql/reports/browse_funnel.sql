-- name = "browse_funnel"
-- description = "Browse -> cart -> purchase funnel by category and by product, per period and browsing channel; flags products with many views but low conversion"
-- schedule = "0 6 * * *"
-- timezone = "UTC"
-- period = "month"
-- outputs = ["parquet", "csv", "html"]
-- needs = ["events", "order_items", "products"]
--
-- [[chart]]
-- kind = "bar"
-- title = "View-to-purchase conversion by category (all channels)"
-- category = "category"
-- value = "view_to_purchase"
-- format = "percent"
-- filter = { level = "category", segment_kind = "all" }

-- Views are 'browse' events and carts 'add_to_cart' events in the period; purchases are the
-- completed orders of the period holding the product (or, for a category, any of its
-- products), by order channel; units are the quantities bought. A product has many views but low
-- conversion when its views are in the top quarter of products and its view-to-purchase rate
-- in the bottom quarter (within its segment).
WITH views AS (
  SELECT e.channel, e.product_id,
         count(CASE WHEN e.event_type = 'browse' THEN 1 END) AS views,
         count(CASE WHEN e.event_type = 'add_to_cart' THEN 1 END) AS carts,
         count(DISTINCT CASE WHEN e.event_type = 'browse' THEN e.customer_id END) AS viewers
  FROM model.events e
  WHERE e.event_ts >= {period_start} AND e.event_ts < {period_end} AND e.product_id IS NOT NULL
  GROUP BY 1, 2
),
bought AS (
  SELECT o.channel, i.product_id, sum(i.quantity) AS units, count(DISTINCT o.order_id) AS orders
  FROM completed_orders o JOIN model.order_items i ON i.order_id = o.order_id
  WHERE o.order_ts >= {period_start} AND o.order_ts < {period_end}
  GROUP BY 1, 2
),
per_channel AS (
  SELECT coalesce(v.channel, b.channel) AS channel, coalesce(v.product_id, b.product_id) AS product_id,
         coalesce(v.views, 0) AS views, coalesce(v.carts, 0) AS carts,
         coalesce(v.viewers, 0) AS viewers,
         coalesce(b.orders, 0) AS purchases, coalesce(b.units, 0) AS units
  FROM views v FULL JOIN bought b ON b.channel = v.channel AND b.product_id = v.product_id
),
dims AS (
  SELECT 'all' AS segment_kind, 'all' AS segment, product_id, views, carts, viewers, purchases, units FROM per_channel
  UNION ALL
  SELECT 'channel', channel, product_id, views, carts, viewers, purchases, units FROM per_channel
),
products_funnel AS (
  SELECT d.segment_kind, d.segment, 'product' AS level, p.category,
         d.product_id, min(p.name) AS product_name,
         sum(d.views) AS views, sum(d.carts) AS carts, sum(d.purchases) AS purchases, sum(d.units) AS units
  FROM dims d JOIN model.products p ON p.product_id = d.product_id
  GROUP BY d.segment_kind, d.segment, p.category, d.product_id
),
category_orders AS (
  SELECT 'all' AS segment_kind, 'all' AS segment, i.category,
         count(DISTINCT o.order_id) AS purchases
  FROM completed_orders o JOIN model.order_items i ON i.order_id = o.order_id
  WHERE o.order_ts >= {period_start} AND o.order_ts < {period_end}
  GROUP BY i.category
  UNION ALL
  SELECT 'channel', o.channel, i.category, count(DISTINCT o.order_id)
  FROM completed_orders o JOIN model.order_items i ON i.order_id = o.order_id
  WHERE o.order_ts >= {period_start} AND o.order_ts < {period_end}
  GROUP BY o.channel, i.category
),
categories_funnel AS (
  SELECT f.segment_kind, f.segment, 'category' AS level, f.category,
         CAST(NULL AS INT) AS product_id, CAST(NULL AS VARCHAR) AS product_name,
         sum(f.views) AS views, sum(f.carts) AS carts,
         coalesce(min(c.purchases), 0) AS purchases, sum(f.units) AS units
  FROM products_funnel f
  LEFT JOIN category_orders c
    ON c.segment_kind = f.segment_kind AND c.segment = f.segment AND c.category = f.category
  GROUP BY f.segment_kind, f.segment, f.category
),
funnel AS (
  SELECT *,
         carts * 1.0 / nullif(views, 0) AS view_to_cart,
         purchases * 1.0 / nullif(carts, 0) AS cart_to_purchase,
         purchases * 1.0 / nullif(views, 0) AS view_to_purchase
  FROM (SELECT * FROM products_funnel UNION ALL SELECT * FROM categories_funnel) u
),
ranked AS (
  SELECT *,
         CASE WHEN level = 'product' THEN
           percent_rank() OVER (PARTITION BY segment_kind, segment, level ORDER BY views) END AS views_rank,
         CASE WHEN level = 'product' THEN
           percent_rank() OVER (PARTITION BY segment_kind, segment, level ORDER BY coalesce(view_to_purchase, 0)) END AS conversion_rank
  FROM funnel
)
SELECT {period_start} AS period_start, {period_end} AS period_end,
       segment_kind, segment, level, category, product_id, product_name,
       views, carts, purchases, units, view_to_cart, cart_to_purchase, view_to_purchase,
       coalesce(level = 'product' AND views_rank >= 0.75 AND conversion_rank <= 0.25, false) AS many_views_low_conversion
FROM ranked
ORDER BY segment_kind, segment, level, category, views DESC, product_id
