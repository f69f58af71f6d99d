-- One row per NPI and performance year: the year's entry of its public profile document.
select
    cast(performance_year as integer) as performance_year,
    npi,
    cast(performance_year as varchar) || '-' || npi as clinician_year_key,
    payment_year,
    final_score,
    payment_adjustment_pct,
    payment_outcome,
    score_band,
    participation_option,
    quality_score,
    quality_status,
    promoting_interoperability_score,
    promoting_interoperability_status,
    improvement_activities_score,
    improvement_activities_status,
    cost_score,
    cost_status,
    scored_practices,
    attribution
from {{ source('qpp', 'profile_headlines') }}
