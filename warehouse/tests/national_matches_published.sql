-- The mart's national figures are the published ones (v1/stats/{PY}/national.json): clinicians, the
-- top-decile minimum and each band's count exactly; the mean and the median to the cent (both round the same
-- double to 2 decimals, but a value at exactly half a cent can round either way: Python rounds the binary
-- value, DuckDB rounds half away from zero). A band count the statistics withhold (1 to min_cell - 1, or its
-- complement) is null there: only the shown counts are compared, and a withheld one must be a count the mart
-- has (above 0). A row here is a disagreement.
{{ config(enabled=target.type == 'duckdb') }}

with published as (
    select
        performance_year,
        clinicians,
        mean as mean_score,
        median as median_score,
        top_decile_min_score,
        bands
    from {{ published_json('v1/stats/*/national.json', "cast(null as integer) as performance_year, "
        ~ "cast(null as bigint) as clinicians, cast(null as double) as mean, cast(null as double) as median, "
        ~ "cast(null as double) as top_decile_min_score, cast(null as struct(band varchar, count bigint)[]) as bands") }}
),

published_bands as (
    select performance_year, b.band as band, b.count as band_count
    from published, unnest(bands) as t(b)
),

mart as (
    select
        performance_year,
        count(*) as clinicians,
        round(avg(cast(final_score as double)), 2) as mean_score,
        round(quantile_cont(cast(final_score as double), 0.5), 2) as median_score,
        round(quantile_disc(cast(final_score as double), 0.9), 2) as top_decile_min_score
    from {{ ref('fct_clinician_year') }}
    where is_scored
    group by performance_year
),

mart_bands as (
    select performance_year, score_band as band, count(*) as band_count
    from {{ ref('fct_clinician_year') }}
    where is_scored
    group by performance_year, score_band
)

select 'summary' as what, p.performance_year, cast(p.clinicians as varchar) as published, cast(m.clinicians as varchar) as mart
from published as p
full outer join mart as m on m.performance_year = p.performance_year
where p.clinicians is distinct from m.clinicians
   or abs(p.mean_score - m.mean_score) > 0.0100001
   or abs(p.median_score - m.median_score) > 0.0100001
   or p.top_decile_min_score is distinct from m.top_decile_min_score
union all
select 'band ' || p.band, p.performance_year, cast(p.band_count as varchar), cast(m.band_count as varchar)
from published_bands as p
left join mart_bands as m on m.performance_year = p.performance_year and m.band = p.band
where (p.band_count is not null and p.band_count is distinct from coalesce(m.band_count, 0))
   or (p.band_count is null and coalesce(m.band_count, 0) = 0)
