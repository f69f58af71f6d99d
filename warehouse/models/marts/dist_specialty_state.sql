-- Score distribution per specialty, state and performance year, to benchmark a practice against its state
-- peers: the state's cohort of the specialty, with the specialty's national figures beside it. Cells are
-- suppressed as the public aggregates suppress them (a cohort under var('min_cell') is left out).
with clinicians as (
    select performance_year, specialty_key, practice_state, final_score, is_scored
    from {{ ref('fct_clinician_year') }}
    where specialty_key is not null and practice_state is not null
),

{{ score_distribution('clinicians', ['performance_year', 'specialty_key', 'practice_state']) }}

select
    d.performance_year,
    d.specialty_key,
    s.specialty,
    d.practice_state,
    cast(d.performance_year as varchar) || '-' || d.specialty_key || '-' || d.practice_state as distribution_key,
    d.clinicians,
    d.mean_score,
    d.median_score,
    d.top_decile_min_score,
    d.p10_score, d.p50_score, d.p90_score,
    d.exceptional_count, d.exceptional_share_pct,
    d.above_average_count, d.above_average_share_pct,
    d.meeting_threshold_count, d.meeting_threshold_share_pct,
    d.below_threshold_count, d.below_threshold_share_pct,
    s.clinicians as specialty_national_clinicians,
    s.mean_score as specialty_national_mean_score,
    s.median_score as specialty_national_median_score,
    s.exceptional_share_pct as specialty_national_exceptional_share_pct,
    s.national_mean_score,
    s.national_median_score
from distribution as d
join {{ ref('dist_specialty') }} as s
    on s.performance_year = d.performance_year and s.specialty_key = d.specialty_key
