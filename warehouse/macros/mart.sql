{#- The curated dataset, read the way each engine reads it: DuckDB scans the Hive-partitioned Parquet files
    under var('mart_root'); Athena queries the Glue tables (sources.yml, with partition projection). -#}
{% macro mart_dataset(name) -%}
  {%- if target.type == 'duckdb' -%}
    read_parquet('{{ var("mart_root") }}/{{ name }}/*/*.parquet', hive_partitioning = true)
  {%- else -%}
    {{ source('qpp', name) }}
  {%- endif -%}
{%- endmacro %}

{#- A specialty's key, as core/stats.py slugify() makes it for the public aggregates' URLs. -#}
{% macro specialty_slug(column) -%}
  {%- if target.type == 'duckdb' -%}
    trim(regexp_replace(lower(trim({{ column }})), '[^a-z0-9]+', '-', 'g'), '-')
  {%- else -%}
    trim(BOTH '-' FROM regexp_replace(lower(trim({{ column }})), '[^a-z0-9]+', '-'))
  {%- endif -%}
{%- endmacro %}

{#- A quantile of the scores, the public aggregates' way: continuous for the median, the inverted CDF for the
    top decile (numpy method="inverted_cdf"). Athena has only approximate percentiles. -#}
{% macro quantile_cont(column, q) -%}
  {%- if target.type == 'duckdb' -%} quantile_cont({{ column }}, {{ q }})
  {%- else -%} approx_percentile({{ column }}, {{ q }}) {%- endif -%}
{%- endmacro %}

{% macro quantile_disc(column, q) -%}
  {%- if target.type == 'duckdb' -%} quantile_disc({{ column }}, {{ q }})
  {%- else -%} approx_percentile({{ column }}, {{ q }}) {%- endif -%}
{%- endmacro %}

{#- Small-cell suppression of a count: 1 to min_cell - 1 is withheld (null). -#}
{% macro withheld(count) -%}
  case when {{ count }} > 0 and {{ count }} < {{ var('min_cell') }} then null else {{ count }} end
{%- endmacro %}

{#- A two-letter state code, as core/stats.py accepts it for the state aggregates. -#}
{% macro is_state_code(column) -%}
  {%- if target.type == 'duckdb' -%} regexp_matches({{ column }}, '^[A-Z]{2}$')
  {%- else -%} regexp_like({{ column }}, '^[A-Z]{2}$') {%- endif -%}
{%- endmacro %}
