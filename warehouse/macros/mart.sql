{#- The SQL that differs between the engines, one macro each, dispatched on the adapter (dbt's
    adapter.dispatch): `duckdb__` for the embedded default, `athena__` (Trino SQL) on AWS. -#}

{#- A specialty's key, as core/stats.py slugify() makes it for the public aggregates' URLs. -#}
{% macro specialty_slug(column) -%}
  {{ return(adapter.dispatch('specialty_slug', 'qpp_mart')(column)) }}
{%- endmacro %}

{% macro duckdb__specialty_slug(column) -%}
  trim(regexp_replace(lower(trim({{ column }})), '[^a-z0-9]+', '-', 'g'), '-')
{%- endmacro %}

{% macro athena__specialty_slug(column) -%}
  trim(BOTH '-' FROM regexp_replace(lower(trim({{ column }})), '[^a-z0-9]+', '-'))
{%- endmacro %}

{#- A quantile of the scores, the public aggregates' way: continuous for the median, the inverted CDF for the
    top decile (numpy method="inverted_cdf"). Athena has only approximate percentiles. -#}
{% macro quantile_cont(column, q) -%}
  {{ return(adapter.dispatch('quantile_cont', 'qpp_mart')(column, q)) }}
{%- endmacro %}

{% macro duckdb__quantile_cont(column, q) -%} quantile_cont({{ column }}, {{ q }}) {%- endmacro %}

{% macro athena__quantile_cont(column, q) -%} approx_percentile({{ column }}, {{ q }}) {%- endmacro %}

{% macro quantile_disc(column, q) -%}
  {{ return(adapter.dispatch('quantile_disc', 'qpp_mart')(column, q)) }}
{%- endmacro %}

{% macro duckdb__quantile_disc(column, q) -%} quantile_disc({{ column }}, {{ q }}) {%- endmacro %}

{% macro athena__quantile_disc(column, q) -%} approx_percentile({{ column }}, {{ q }}) {%- endmacro %}

{#- Small-cell suppression of a count: 1 to min_cell - 1 is withheld (null). The same SQL on both engines. -#}
{% macro withheld(count) -%}
  case when {{ count }} > 0 and {{ count }} < {{ var('min_cell') }} then null else {{ count }} end
{%- endmacro %}

{#- A two-letter state code, as core/stats.py accepts it for the state aggregates. -#}
{% macro is_state_code(column) -%}
  {{ return(adapter.dispatch('is_state_code', 'qpp_mart')(column)) }}
{%- endmacro %}

{% macro duckdb__is_state_code(column) -%} regexp_matches({{ column }}, '^[A-Z]{2}$') {%- endmacro %}

{% macro athena__is_state_code(column) -%} regexp_like({{ column }}, '^[A-Z]{2}$') {%- endmacro %}
