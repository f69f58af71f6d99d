{#- The sources of models/sources.yml, made queryable where the engine cannot see them as tables.

    Athena: they are the Glue tables of template.yaml; nothing to do.
    DuckDB: one view per dataset in schema `mart_files`, over its Hive-partitioned Parquet files under
    var('mart_root'). A dataset with no file yet (pdc_scores before any PDC file is ingested) is an empty view
    with the columns and types sources.yml declares: an empty source, not a "No files found" error.
    Run by the project's on-run-start hook, before any model reads a source. -#}
{% macro create_source_views() -%}
  {{ return(adapter.dispatch('create_source_views', 'qpp_mart')()) }}
{%- endmacro %}

{% macro default__create_source_views() -%}
  select 1
{%- endmacro %}

{% macro duckdb__create_source_views() -%}
  {%- if execute -%}
    {%- set sources = graph.sources.values() | selectattr('source_name', 'equalto', 'qpp') | list -%}
    {%- if sources -%}
      {%- do run_query('create schema if not exists ' ~ sources[0].schema) -%}
    {%- endif -%}
    {%- for source in sources -%}
      {%- set files = var('mart_root') ~ '/' ~ source.name ~ '/*/*.parquet' -%}
      {%- set found = run_query("select count(*) from glob(" ~ quoted_text(files) ~ ")").columns[0].values()[0] -%}
      {%- set view = source.schema ~ '.' ~ adapter.quote(source.identifier) -%}
      {%- if found > 0 -%}
        {%- do run_query('create or replace view ' ~ view ~ ' as select * replace (cast(performance_year as integer) as performance_year) from read_parquet('
            ~ quoted_text(files) ~ ', hive_partitioning = true)') -%}
      {%- else -%}
        {%- set columns = [] -%}
        {%- for column in source.columns.values() -%}
          {%- do columns.append('cast(null as ' ~ column.data_type ~ ') as ' ~ adapter.quote(column.name)) -%}
        {%- endfor -%}
        {%- do run_query('create or replace view ' ~ view ~ ' as select ' ~ columns | join(', ') ~ ' where false') -%}
      {%- endif -%}
    {%- endfor -%}
  {%- endif -%}
  select 1
{%- endmacro %}

{#- A text literal (a path from the environment may hold a quote). -#}
{% macro quoted_text(text) -%}
  '{{ text | replace("'", "''") }}'
{%- endmacro %}

{#- The public aggregates a singular test ties the mart to (v1/stats/...json under var('public_root')), or an
    empty relation of `empty_columns` where none is published (a year too small for any specialty cohort). -#}
{% macro published_json(pattern, empty_columns) -%}
  {%- set files = var('public_root') ~ '/' ~ pattern -%}
  {%- set found = run_query("select count(*) from glob(" ~ quoted_text(files) ~ ")").columns[0].values()[0]
      if execute else 1 -%}
  {%- if found > 0 -%}
    read_json_auto({{ quoted_text(files) }}, union_by_name = true)
  {%- else -%}
    (select {{ empty_columns }} where false)
  {%- endif -%}
{%- endmacro %}
