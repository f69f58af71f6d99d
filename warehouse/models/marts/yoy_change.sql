-- Year-over-year change per NPI, with the flags the source asks for: MIPS measures, weights and thresholds
-- change every year, so a raw score change is comparable only within a stable cohort (consecutive years, the
-- same specialty, state and participation option), and the change of standing within the specialty
-- (specialty_percentile) is the comparison that survives a change of rules.
with years as (
    select
        *,
        lag(performance_year) over (partition by npi order by performance_year) as previous_year,
        lag(final_score) over (partition by npi order by performance_year) as previous_final_score,
        lag(specialty_key) over (partition by npi order by performance_year) as previous_specialty_key,
        lag(practice_state) over (partition by npi order by performance_year) as previous_state,
        lag(participation_option) over (partition by npi order by performance_year) as previous_participation,
        lag(performance_threshold) over (partition by npi order by performance_year) as previous_threshold,
        lag(specialty_percentile) over (partition by npi order by performance_year) as previous_percentile
    from {{ ref('fct_clinician_year') }}
)

select
    performance_year,
    npi,
    clinician_year_key,
    previous_year,
    final_score,
    previous_final_score,
    round(cast(final_score as double) - cast(previous_final_score as double), 2) as score_change,
    round(specialty_percentile - previous_percentile, 4) as percentile_change,
    performance_threshold - previous_threshold as threshold_change,
    previous_year = performance_year - 1 as is_consecutive,
    coalesce(
        previous_year = performance_year - 1
        and specialty_key = previous_specialty_key
        and practice_state = previous_state
        and participation_option = previous_participation,
        false
    ) as is_comparable_cohort
from years
where previous_year is not null
