-- Fails when no customer is a champion.
select 1 as missing
from (select count(*) as n from {{ ref('rfm_segments') }} where segment = 'champions') c
where n = 0
