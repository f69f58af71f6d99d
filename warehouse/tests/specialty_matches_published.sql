-- The mart's specialty distribution is the published one (v1/stats/{PY}/specialty/*.json): the same
-- specialties (none more, none fewer: the smallest withheld with a single withheld one), the same counts, the
-- mean and median as the public ones round them (a specialty's mean to one decimal, its median interpolated to a
-- whole point and withheld below quantile_min_group clinicians; the mart keeps them to the cent), and each band
-- count withheld exactly where the public aggregate withholds it. A row here is a disagreement.
-- A year whose public specialty aggregates are held back at an earlier release (national.json's
-- breakdowns.held_back: a correction of fewer than 100 clinicians, core/stats.py breakdowns_for) is not
-- compared: the mart is the current release; tests/integration/test_mart.py compares that year with the release
-- the aggregates are of.
{{ config(enabled=target.type == 'duckdb') }}

with held_back as (
    select performance_year
    from {{ published_json('v1/stats/*/national.json', "cast(null as integer) as performance_year, "
        ~ "cast(null as struct(held_back json)) as breakdowns") }}
    where breakdowns.held_back is not null
),

published as (
    select
        performance_year,
        scope.key as specialty_key,
        clinicians,
        mean as mean_score,
        median as median_score,
        bands
    from {{ published_json('v1/stats/*/specialty/*.json', "cast(null as integer) as performance_year, "
        ~ "cast(null as struct(key varchar)) as scope, cast(null as bigint) as clinicians, cast(null as double) as mean, "
        ~ "cast(null as double) as median, cast(null as struct(band varchar, count bigint)[]) as bands") }}
),

published_bands as (
    select performance_year, specialty_key, b.band as band, b.count as band_count
    from published, unnest(bands) as t(b)
),

mart_bands as (
    {%- for band in ['exceptional', 'above_average', 'meeting_threshold', 'below_threshold'] %}
    select performance_year, specialty_key, '{{ band }}' as band, {{ band }}_count as band_count
    from {{ ref('dist_specialty') }}
    {{ "union all" if not loop.last }}
    {%- endfor %}
)

select 'specialty' as what, coalesce(p.performance_year, m.performance_year) as performance_year,
       coalesce(p.specialty_key, m.specialty_key) as specialty_key, null as band
from published as p
full outer join {{ ref('dist_specialty') }} as m
    on m.performance_year = p.performance_year and m.specialty_key = p.specialty_key
where coalesce(p.performance_year, m.performance_year) not in (select performance_year from held_back)
  and (
      p.clinicians is distinct from m.clinicians
      or not (abs(p.mean_score - m.mean_score) <= 0.0600001)
      or not (
          (p.median_score is null and m.clinicians < {{ var('quantile_min_group') }})
          or abs(p.median_score - m.median_score) <= 0.5100001
      )
  )
union all
select 'band', p.performance_year, p.specialty_key, p.band
from published_bands as p
full outer join mart_bands as m
    on m.performance_year = p.performance_year and m.specialty_key = p.specialty_key and m.band = p.band
where coalesce(p.performance_year, m.performance_year) not in (select performance_year from held_back)
  and p.band_count is distinct from m.band_count
