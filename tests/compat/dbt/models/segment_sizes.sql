-- Customers per RFM segment.
select segment, count(*) as customers
from {{ ref('rfm_segments') }}
group by 1
