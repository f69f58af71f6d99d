-- A quality-tier signal per NPI and performance year for payer credentialing, mapped from the band and the
-- payment outcome CMS's numbers put the clinician in (models/marts/marts.yml documents the mapping). A
-- signal about a Medicare payment program, never a rating of clinical quality on its own.
select
    performance_year,
    npi,
    clinician_year_key,
    final_score,
    score_band,
    payment_outcome,
    case
        when not is_scored then 'not_scored'
        when score_band = 'exceptional' and payment_outcome = 'positive' then 'tier_1'
        when score_band in ('exceptional', 'above_average') then 'tier_2'
        when score_band = 'meeting_threshold' and payment_outcome in ('positive', 'neutral') then 'tier_3'
        else 'tier_4'
    end as credentialing_tier,
    case
        when not is_scored then 'No MIPS final score this year.'
        when score_band = 'exceptional' and payment_outcome = 'positive' then
            'Exceptional band with a positive payment adjustment.'
        when score_band in ('exceptional', 'above_average') then 'At or above 75 points.'
        when score_band = 'meeting_threshold' and payment_outcome in ('positive', 'neutral') then
            'Met the performance threshold: no negative adjustment.'
        else 'Below the performance threshold, or a negative adjustment.'
    end as tier_reason,
    attribution
from {{ ref('fct_clinician_year') }}
