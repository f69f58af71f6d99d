"""The curated dataset behind the QPP mart (``warehouse/``): every published year as typed Parquet, for
analysts in DuckDB locally and Athena on AWS. Private, never under ``v1/``: it keeps the write-locked fields.

Three datasets, Hive-partitioned by ``performance_year`` (the partition column is in the path, not in the
files, as Athena's partition projection and DuckDB's ``hive_partitioning`` expect), one file per year:

- ``clinician_scores``: one row per TIN/NPI row CMS published and we accepted, every scalar field of the
  display contract typed by its contract type (text, integer, decimal, boolean), plus where it came from;
- ``profile_headlines``: one row per NPI, exactly the year's entry of its public document;
- ``pdc_scores``: the Provider Data Catalog score per NPI, for reconciliation queries.

The columns and their types are ``schemas()`` below (the one place); ``python -m mips_profiles.core.mart``
writes the dbt sources (``warehouse/models/sources.yml``) from them, ``... parameters`` the seed of MIPS
parameters per year, and tests hold the files, the sources and the Glue tables of ``template.yaml`` to them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from . import jsoncolumns as jc
from .categories import CATEGORIES
from .contract import Contract, load_contract

DECIMAL = pa.decimal128(18, 6)
"""CMS publishes scores and adjustments with at most 2-4 decimals; six keep every one exactly."""

ARROW_TYPES = {
    "npi": pa.string(),
    "text": pa.string(),
    "integer": pa.int64(),
    "decimal": DECIMAL,
    "boolean": pa.bool_(),
}
_INTEGER = r"^\s*[+-]?\d+\s*$"
_DECIMAL = r"^\s*[+-]?(\d+\.?\d*|\.\d+)\s*$"


def scalar_fields(contract: Contract) -> list[tuple[str, str, str]]:
    """(name, type, description) of every scalar contract field but the partition column, in contract order."""
    return [
        (f.name, f.type, f.description)
        for f in contract.fields
        if not f.is_slot_pattern and f.name != "performance_year"
    ]


PROVENANCE = [
    ("release_id", pa.string(), "The release the row was published in: performance year and source hash."),
    ("source_sha256", pa.string(), "SHA-256 of the CMS file the row came from."),
    ("cms_modified", pa.string(), "CMS's modified date of that file in its catalog (ISO date)."),
    ("source_line", pa.int64(), "The row's line in that file (the header is line 1)."),
]


def clinician_scores_schema(contract: Contract) -> list[tuple[str, pa.DataType, str]]:
    fields = [(name, ARROW_TYPES[kind], description) for name, kind, description in scalar_fields(contract)]
    return fields + PROVENANCE


def _category_columns() -> list[tuple[str, pa.DataType, str]]:
    out = []
    for c in CATEGORIES:
        out += [
            (
                f"{c.name}_score",
                pa.float64(),
                f"The {c.name.replace('_', ' ')} category score as published (null when none was published, or "
                "when CMS published 0 for a category it reweighted: exempt).",
            ),
            (
                f"{c.name}_status",
                pa.string(),
                "Whether it counted toward the final score: scored, reweighted (0%: did not count), not_scored or "
                "unknown.",
            ),
            (
                f"{c.name}_weight",
                pa.float64(),
                "The category's weight in the final score (0 when reweighted; null when unknown).",
            ),
        ]
    return out


HEADLINE_SCHEMA = [
    ("npi", pa.string(), "National Provider Identifier."),
    ("payment_year", pa.int32(), "The year the payment adjustment applies (performance year + 2)."),
    ("final_score", pa.float64(), "The headline final score, 0-100, exactly as the profile document shows it."),
    ("payment_adjustment_pct", pa.float64(), "The payment adjustment in percent, as shown."),
    ("payment_outcome", pa.string(), "positive, neutral, negative or maximum_negative."),
    ("score_band", pa.string(), "exceptional, above_average, meeting_threshold or below_threshold."),
    ("participation_option", pa.string(), "Individual, Group, Virtual Group, APM Entity..."),
    *_category_columns(),
    (
        "category_weights_basis",
        pa.string(),
        "Where the weights come from: published, reproduces_final_score, performance_threshold, "
        "final_score_not_reproduced or no_final_score.",
    ),
    (
        "final_score_reproduced",
        pa.bool_(),
        "Whether the shown category scores and weights add up to the published final score (null: none published).",
    ),
    ("scored_practices", pa.int32(), "How many TIN/NPI rows of the NPI were scored that year."),
    (
        "comparable_to_prior_year",
        pa.bool_(),
        "Whether the year before used the same performance threshold and standard weights (measures still change).",
    ),
    ("attribution", pa.string(), "Source: CMS QPP MIPS · Performance Year {YYYY}."),
]

PDC_SCHEMA = [
    ("npi", pa.string(), "National Provider Identifier."),
    (
        "pdc_final_score",
        pa.float64(),
        "The final score CMS shows on its own clinician profile (Provider Data Catalog).",
    ),
]


def schemas(contract: Contract | None = None) -> dict[str, list[tuple[str, pa.DataType, str]]]:
    """Every dataset's columns: (name, Arrow type, description)."""
    return {
        "clinician_scores": clinician_scores_schema(contract or load_contract()),
        "profile_headlines": HEADLINE_SCHEMA,
        "pdc_scores": PDC_SCHEMA,
    }


def arrow_schema(columns: list[tuple[str, pa.DataType, str]]) -> pa.Schema:
    return pa.schema([(name, kind) for name, kind, _ in columns])


def _typed(text: pa.ChunkedArray | pa.Array, kind: str) -> pa.Array | pa.ChunkedArray:
    """Text as CMS wrote it -> the contract type; empty or unparseable -> null (the audit keeps the text)."""
    trimmed = pc.utf8_trim_whitespace(text)
    empty = pc.equal(trimmed, "")
    if kind in ("text", "npi"):
        return pc.if_else(empty, pa.scalar(None, pa.string()), text)
    if kind == "boolean":
        lower = pc.utf8_lower(trimmed)
        return pc.if_else(
            pc.equal(lower, "true"),
            True,
            pc.if_else(pc.equal(lower, "false"), pa.scalar(False), pa.scalar(None, pa.bool_())),
        )
    target = pa.int64() if kind == "integer" else pa.decimal128(38, 18)  # any plain decimal, then scale 6
    nullable = pc.if_else(empty, pa.scalar(None, pa.string()), trimmed)
    try:  # fast path: the whole column casts (CMS's numbers); the regex only finds the odd ones out
        if kind == "decimal" and pc.any(pc.match_substring(trimmed, "e", ignore_case=True)).as_py():
            raise pa.ArrowInvalid("an exponent: CMS writes plain decimals")  # a cast would take 1e5
        typed = pc.cast(nullable, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        ok = pc.fill_null(pc.match_substring_regex(trimmed, _INTEGER if kind == "integer" else _DECIMAL), False)
        typed = pc.cast(pc.if_else(ok, trimmed, pa.scalar(None, pa.string())), target)
    return typed if kind == "integer" else pc.cast(pc.round(typed, 6), DECIMAL)


def clinician_scores(audit: pa.Table, contract: Contract, *, cms_modified: str | None) -> pa.Table:
    """The typed rows of one release from its audit table (the accepted rows as text, with
    ``source_line``, ``release_id`` and ``source_sha256``). A field the year's layout lacks is null."""
    n = audit.num_rows
    columns: dict[str, Any] = {}
    for name, kind, _ in scalar_fields(contract):
        if name in audit.column_names:
            columns[name] = _typed(audit.column(name), kind)
        else:
            columns[name] = pa.nulls(n, ARROW_TYPES[kind])
    columns["release_id"] = pc.cast(audit.column("release_id"), pa.string())
    columns["source_sha256"] = pc.cast(audit.column("source_sha256"), pa.string())
    columns["cms_modified"] = pa.array([cms_modified] * n, pa.string())
    columns["source_line"] = pc.cast(audit.column("source_line"), pa.int64())
    return pa.table(columns, schema=arrow_schema(clinician_scores_schema(contract)))


def profile_headlines(npis: pa.Array, entry_columns: Sequence[tuple[str, jc.Column]]) -> pa.Table:
    """One row per NPI from its document entry of the year, as the documents have them (the entry's typed
    columns, ``DocumentBuilder.entry_columns``); a field the contract does not publish is null."""
    schema = arrow_schema(HEADLINE_SCHEMA)
    paths = {f"{c.name}_{suffix}": f"{group}.{c.name}" for group, suffix in _GROUPS for c in CATEGORIES}
    arrays = []
    for f in schema:
        if f.name == "npi":
            arrays.append(npis.cast(f.type))
            continue
        column = jc.field(entry_columns, paths.get(f.name) or f.name)
        arrays.append(pa.nulls(len(npis), f.type) if column is None else jc.to_arrow(column).cast(f.type))
    return pa.table(arrays, schema=schema)


_GROUPS = (("category_scores", "score"), ("category_status", "status"), ("category_weights", "weight"))


_DBT_TYPES = {
    pa.string(): "varchar",
    pa.int64(): "bigint",
    pa.int32(): "integer",
    pa.float64(): "double",
    pa.bool_(): "boolean",
    DECIMAL: "decimal(18,6)",
}
_GLUE_TYPES = {
    pa.string(): "string",
    pa.int64(): "bigint",
    pa.int32(): "int",
    pa.float64(): "double",
    pa.bool_(): "boolean",
    DECIMAL: "decimal(18,6)",
}


def sql_type(kind: pa.DataType, *, dialect: str = "duckdb") -> str:
    return (_DBT_TYPES if dialect == "duckdb" else _GLUE_TYPES)[kind]


def dbt_sources_yaml() -> str:
    """``warehouse/models/sources.yml``: the datasets as dbt sources, each column with its type and meaning."""
    import yaml  # a dev dependency: only the generator and its test need it

    tables = []
    for name, columns in schemas().items():
        tables.append(
            {
                "name": name,
                "description": _DESCRIPTIONS[name],
                "columns": [
                    {
                        "name": "performance_year",
                        "data_type": "integer",
                        "description": "The performance year (the Hive partition of the file).",
                    }
                ]
                + [{"name": c, "data_type": sql_type(k), "description": re.sub(r"\s+", " ", d)} for c, k, d in columns],
            }
        )
    body = {
        "version": 2,
        "sources": [
            {
                "name": "qpp",
                "description": "The curated QPP dataset every publish writes (private store, mart/). On DuckDB, "
                "views over its Parquet files (macros/sources.sql creates them at the start of every run; a "
                "dataset with no file yet, such as pdc_scores before any PDC file, is an empty view of these "
                "columns); on Athena, the Glue tables of template.yaml.",
                "schema": "{{ 'mart_files' if target.type == 'duckdb' else "
                "env_var('QPP_MART_GLUE_DATABASE', 'mips_profiles_mart') }}",
                "tables": tables,
            }
        ],
    }
    header = (
        "# Generated by `python -m mips_profiles.core.mart > warehouse/models/sources.yml`; edit\n"
        "# shared/mips_profiles/core/mart.py (or the display contract), not this file.\n"
    )
    return header + yaml.safe_dump(body, sort_keys=False, allow_unicode=True, width=110)


def glue_columns(dataset: str) -> list[dict[str, str]]:
    """The Glue table's columns of ``dataset`` (the partition column apart), as ``template.yaml`` lists them."""
    return [{"Name": c, "Type": sql_type(k, dialect="glue")} for c, k, _ in schemas()[dataset]]


def mips_parameters_csv() -> str:
    """``warehouse/seeds/mips_parameters.csv``: the MIPS parameters of each performance year (the
    methodology's data), for the mart's comparability flags."""
    from .methodology import load_methodology

    methodology = load_methodology()
    lines = [
        "performance_year,payment_year,performance_threshold,exceptional_threshold,"
        "max_negative_adjustment_pct,max_positive_adjustment_pct,"
        + ",".join(f"{c.name}_weight_pct" for c in CATEGORIES)
    ]
    for year in sorted(methodology.years):
        p = methodology.parameters(year)
        values = [
            year,
            methodology.payment_year(year),
            p.performance_threshold,
            p.exceptional_threshold,
            p.max_negative_adjustment_pct,
            p.max_positive_adjustment_pct,
            *(p.weights[c.name] for c in CATEGORIES),
        ]
        lines.append(",".join("" if v is None else f"{v:g}" for v in values))
    return "\n".join(lines) + "\n"


_DESCRIPTIONS = {
    "clinician_scores": "One row per TIN/NPI row CMS published and the publisher accepted, every scalar field "
    "of the display contract typed (write-locked fields included: internal analysis only).",
    "profile_headlines": "One row per NPI and performance year: exactly the year's entry of the public profile "
    "document (the headline score, band, payment outcome, categories).",
    "pdc_scores": "CMS's own clinician-profile final score per NPI (Provider Data Catalog), for reconciliation.",
}


if __name__ == "__main__":  # python -m mips_profiles.core.mart [sources|parameters]
    import sys

    print(mips_parameters_csv() if sys.argv[1:] == ["parameters"] else dbt_sources_yaml(), end="")
