-- Which specialties have the highest concentration of Exceptional performers, by performance year: the
-- share of a specialty's scored clinicians in the exceptional band, against the national share (lift), and
-- its rank that year. From the suppressed distribution, so a withheld count stays withheld.
select
    performance_year,
    specialty_key,
    specialty,
    distribution_key,
    clinicians,
    exceptional_count,
    exceptional_share_pct,
    national_exceptional_share_pct,
    round(exceptional_share_pct / nullif(national_exceptional_share_pct, 0), 2) as lift_over_national,
    case when exceptional_share_pct is not null then
        rank() over (partition by performance_year order by exceptional_share_pct desc)
    end as concentration_rank
from {{ ref('dist_specialty') }}
