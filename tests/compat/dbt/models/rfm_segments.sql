-- RFM segment of every customer with an order before the analysis date.
select customer_id, segment, r_score, f_score, m_score
from rfm('orders', DATE '2026-11-01')
