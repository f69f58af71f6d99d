-- The scored clinicians of a specialty within a state, by final score: rank with ties (rank()), only
-- for cohorts of at least var('min_leaderboard_cohort'), and the caveats that must travel with any list
-- built from it.
with cohort as (
    select
        *,
        count(*) over (partition by performance_year, specialty_key, practice_state) as cohort_size
    from {{ ref('fct_clinician_year') }}
    where is_scored and specialty_key is not null and practice_state is not null
)

select
    performance_year,
    specialty_key,
    specialty,
    practice_state,
    npi,
    cast(performance_year as varchar) || '-' || specialty_key || '-' || practice_state || '-' || npi
        as leaderboard_key,
    final_score,
    score_band,
    payment_outcome,
    rank() over (
        partition by performance_year, specialty_key, practice_state order by final_score desc
    ) as score_rank,
    cohort_size,
    'A MIPS score is a Medicare payment-program measure, not a rating of clinical quality.' as caveat,
    'Scores are not comparable across performance years: measures, weights and thresholds change.'
        as comparability_caveat,
    attribution
from cohort
where cohort_size >= {{ var('min_leaderboard_cohort') }}
