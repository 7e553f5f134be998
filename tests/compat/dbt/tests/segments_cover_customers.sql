-- Fails (returns rows) when the segment sizes do not add up to the customers rfm() scored.
select total
from (select sum(customers) as total from {{ ref('segment_sizes') }}) sizes
where total <> (select count(distinct customer_id) from orders where order_ts < TIMESTAMPTZ '2026-11-01 00:00:00+00')
