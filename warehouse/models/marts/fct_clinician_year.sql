-- One row per NPI and performance year: the profile's headline (score, band, payment outcome) with the
-- specialty, state and special statuses of the TIN/NPI row that headline comes from. That row is chosen
-- as the public aggregates choose it (core/stats.py clinicians): the highest final score, then the state
-- and the specialty in order, so the mart's cohorts are the published ones.
with ranked as (
    select
        *,
        row_number() over (
            partition by performance_year, npi
            order by final_score desc nulls last, coalesce(practice_state, ''), coalesce(clinician_specialty, '')
        ) as row_rank
    from {{ ref('stg_clinician_scores') }}
),

headline_row as (
    select * from ranked where row_rank = 1
),

joined as (
    select
        h.performance_year,
        h.npi,
        h.clinician_year_key,
        h.payment_year,
        h.final_score,
        h.final_score is not null as is_scored,
        h.score_band,
        h.payment_outcome,
        h.payment_adjustment_pct,
        h.participation_option,
        h.quality_status,
        h.promoting_interoperability_status,
        h.improvement_activities_status,
        h.cost_status,
        h.scored_practices,
        nullif(trim(r.clinician_specialty), '') as specialty,
        nullif({{ specialty_slug('r.clinician_specialty') }}, '') as specialty_key,
        case when {{ is_state_code('upper(trim(r.practice_state))') }} then upper(trim(r.practice_state)) end
            as practice_state,
        r.clinician_type,
        r.practice_size,
        r.years_in_medicare,
        coalesce(r.small_practice_status, false) as is_small_practice,
        coalesce(r.rural_status, false) as is_rural,
        coalesce(r.hpsa_status, false) as is_hpsa,
        coalesce(r.hospital_based_status, false) as is_hospital_based,
        coalesce(r.non_patient_facing_status, false) as is_non_patient_facing,
        coalesce(r.facility_based_status, false) as is_facility_based,
        coalesce(r.safety_net_status, false) as is_safety_net,
        coalesce(r.extreme_hardship, false) as had_extreme_hardship,
        p.performance_threshold,
        p.exceptional_threshold,
        r.release_id,
        h.attribution
    from {{ ref('stg_profile_headlines') }} as h
    left join headline_row as r
        on r.performance_year = h.performance_year and r.npi = h.npi
    left join {{ ref('mips_parameters') }} as p
        on p.performance_year = h.performance_year
)

select
    *,
    -- where the clinician stands in the specialty nationally that year (0 = lowest, 1 = highest): the way to
    -- compare across years, since the measures, weights and thresholds change every year
    case when is_scored and specialty_key is not null then
        percent_rank() over (
            partition by performance_year, specialty_key, is_scored order by final_score
        )
    end as specialty_percentile
from joined
