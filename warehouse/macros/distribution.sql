{#- The score distribution of the scored clinicians of `relation` per `groups`, as the public aggregates
    compute it (core/stats.py _summary): count, mean and median rounded to 2, the top-decile minimum, the
    deciles, and the four band counts with small cells withheld and, where exactly one count of a group
    would be withheld, the next smallest withheld too (complementary suppression). A group of fewer than
    var('min_cell') clinicians is left out, name and all. -#}
{% macro score_distribution(relation, groups) %}
{%- set bands = [('exceptional', 90), ('above_average', 75), ('meeting_threshold', 50), ('below_threshold', 0)] -%}
{%- set g = groups | join(', ') -%}
summary as (
    select
        {{ g }},
        count(*) as clinicians,
        round(avg(cast(final_score as double)), 2) as mean_score,
        round({{ quantile_cont('cast(final_score as double)', 0.5) }}, 2) as median_score,
        round({{ quantile_disc('cast(final_score as double)', 0.9) }}, 2) as top_decile_min_score,
        {%- for q in [1, 2, 3, 4, 5, 6, 7, 8, 9] %}
        round({{ quantile_cont('cast(final_score as double)', q / 10) }}, 2) as p{{ q }}0_score,
        {%- endfor %}
        {%- for band, lower in bands %}
        cast(sum(case when final_score >= {{ lower }}{% if not loop.first %} and final_score < {{ bands[loop.index0 - 1][1] }}{% endif %} then 1 else 0 end) as bigint)
            as {{ band }}_count_raw{{ "," if not loop.last }}
        {%- endfor %}
    from {{ relation }}
    where is_scored
    group by {{ g }}
    having count(*) >= {{ var('min_cell') }}
),

band_long as (
    {%- for band, lower in bands %}
    select {{ g }}, '{{ band }}' as band, {{ loop.index }} as band_order, {{ band }}_count_raw as band_count
    from summary
    {{ "union all" if not loop.last }}
    {%- endfor %}
),

band_flags as (
    select
        *,
        band_count > 0 and band_count < {{ var('min_cell') }} as small_cell,
        sum(case when band_count > 0 and band_count < {{ var('min_cell') }} then 1 else 0 end)
            over (partition by {{ g }}) as small_cells,
        row_number() over (
            partition by {{ g }}
            order by case when band_count >= {{ var('min_cell') }} then 0 else 1 end, band_count, band_order
        ) as complement_rank
    from band_long
),

band_shown as (
    select
        {{ g }},
        band,
        case
            when small_cell then null
            when small_cells = 1 and complement_rank = 1 and band_count >= {{ var('min_cell') }} then null
            else band_count
        end as shown_count
    from band_flags
),

distribution as (
    select
        s.{{ groups | join(', s.') }},
        s.clinicians,
        s.mean_score,
        s.median_score,
        s.top_decile_min_score,
        {%- for q in [1, 2, 3, 4, 5, 6, 7, 8, 9] %}
        s.p{{ q }}0_score,
        {%- endfor %}
        {%- for band, lower in bands %}
        max(case when b.band = '{{ band }}' then b.shown_count end) as {{ band }}_count,
        round(100.0 * max(case when b.band = '{{ band }}' then b.shown_count end) / s.clinicians, 1)
            as {{ band }}_share_pct{{ "," if not loop.last }}
        {%- endfor %}
    from summary as s
    join band_shown as b on {% for c in groups %}b.{{ c }} = s.{{ c }}{{ " and " if not loop.last }}{% endfor %}
    group by s.{{ groups | join(', s.') }}, s.clinicians, s.mean_score, s.median_score, s.top_decile_min_score,
        {%- for q in [1, 2, 3, 4, 5, 6, 7, 8, 9] %} s.p{{ q }}0_score{{ "," if not loop.last }}{% endfor %}
)
{% endmacro %}
