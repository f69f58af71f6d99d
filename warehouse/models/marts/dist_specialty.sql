-- Score distribution per specialty and performance year, with the national cohort beside each row, small
-- cells suppressed as the public aggregates (v1/stats/{PY}/specialty/) suppress them.
with clinicians as (
    select performance_year, specialty_key, specialty, final_score, is_scored
    from {{ ref('fct_clinician_year') }}
    where specialty_key is not null
),

labels as (
    select performance_year, specialty_key, min(specialty) as specialty
    from clinicians
    group by performance_year, specialty_key
),

national as (
    select
        performance_year,
        count(*) as national_clinicians,
        round(avg(cast(final_score as double)), 2) as national_mean_score,
        round({{ quantile_cont('cast(final_score as double)', 0.5) }}, 2) as national_median_score,
        round(100.0 * sum(case when score_band = 'exceptional' then 1 else 0 end) / count(*), 1)
            as national_exceptional_share_pct
    from {{ ref('fct_clinician_year') }}
    where is_scored
    group by performance_year
),

{{ score_distribution('clinicians', ['performance_year', 'specialty_key']) }},

-- Where exactly one specialty of a year is withheld (fewer than min_cell), the smallest published one is withheld
-- too, as the public aggregates do (core/stats.py withheld_groups): the national count less the published ones
-- never gives a withheld specialty's size.
group_sizes as (
    select performance_year, specialty_key, count(*) as n
    from clinicians
    where is_scored
    group by performance_year, specialty_key
),

complement as (
    select performance_year, specialty_key
    from (
        select
            performance_year,
            specialty_key,
            n,
            sum(case when n < {{ var('min_cell') }} then 1 else 0 end) over (partition by performance_year) as withheld,
            row_number() over (
                partition by performance_year
                order by case when n >= {{ var('min_cell') }} then 0 else 1 end, n, specialty_key
            ) as size_rank
        from group_sizes
    ) as ranked
    where withheld = 1 and size_rank = 1 and n >= {{ var('min_cell') }}
)

select
    d.performance_year,
    d.specialty_key,
    l.specialty,
    cast(d.performance_year as varchar) || '-' || d.specialty_key as distribution_key,
    d.clinicians,
    d.mean_score,
    d.median_score,
    d.top_decile_min_score,
    d.p10_score, d.p20_score, d.p30_score, d.p40_score, d.p50_score, d.p60_score, d.p70_score, d.p80_score,
    d.p90_score,
    d.exceptional_count, d.exceptional_share_pct,
    d.above_average_count, d.above_average_share_pct,
    d.meeting_threshold_count, d.meeting_threshold_share_pct,
    d.below_threshold_count, d.below_threshold_share_pct,
    n.national_clinicians,
    n.national_mean_score,
    n.national_median_score,
    n.national_exceptional_share_pct
from distribution as d
join labels as l on l.performance_year = d.performance_year and l.specialty_key = d.specialty_key
join national as n on n.performance_year = d.performance_year
where not exists (
    select 1 from complement as c where c.performance_year = d.performance_year and c.specialty_key = d.specialty_key
)
