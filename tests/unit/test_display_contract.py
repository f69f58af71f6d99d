"""Property: whatever CMS puts in a write-locked field, neither its value nor its name reaches v1/."""

from __future__ import annotations

import gzip
import json
import string
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mips_profiles.adapters.local_store import LocalDirStore
from mips_profiles.core.contract import load_contract
from mips_profiles.core.profile_schema import profile_schema
from mips_profiles.publishing.publish import Publisher, ReleaseInfo
from mips_profiles.sandbox.generator import generate_table, write_csv

from helpers import YEARS_WITH_FILES

CONTRACT = load_contract()
YEARS = (2018, 2022, 2024)
BASE = {year: generate_table(year, 12, seed=year) for year in YEARS}
ALPHABET = string.ascii_letters + string.digits + " -_.,'\"/\\<>{}:é漢"


def locked_columns(year: int) -> dict[str, str]:
    """Source column -> canonical name, for every write-locked field of ``year``."""
    allowed = set(CONTRACT.public_fields())
    return {cands[0]: name for name, cands in CONTRACT.candidate_columns(year).items() if name not in allowed}


def locked_names() -> set[str]:
    names: set[str] = set()
    for year in YEARS:
        for column, canonical in locked_columns(year).items():
            names |= {column, canonical}
    return names


def keys_of(obj) -> set[str]:
    if isinstance(obj, dict):
        return set(obj) | {k for v in obj.values() for k in keys_of(v)}
    if isinstance(obj, list):
        return {k for v in obj for k in keys_of(v)}
    return set()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(year=st.sampled_from(YEARS), tail=st.text(alphabet=ALPHABET, min_size=1, max_size=12), data=st.data())
def test_no_write_locked_name_or_value_ever_appears_under_v1(tmp_path_factory, year, tail, data):
    # Given a file whose every write-locked cell holds a unique sentinel
    table = BASE[year]
    columns = locked_columns(year)
    chosen = data.draw(st.lists(st.sampled_from(sorted(columns)), min_size=1, max_size=8, unique=True))
    sentinels: list[str] = []
    for column in table.column_names:
        if column in columns and (column in chosen or column == "provider key"):
            values = [f"ZQX{len(sentinels) + i}ZQX{tail}" for i in range(table.num_rows)]
            sentinels += values
            table = table.set_column(table.column_names.index(column), column, pa.array(values, pa.string()))
    root = tmp_path_factory.mktemp("prop")
    source = root / "in.csv"
    write_csv(table, source)
    # When it is published
    tree = root / "tree"
    Publisher(LocalDirStore(tree), LocalDirStore(root / "private")).publish_file(source, ReleaseInfo(year))
    # Then no public byte carries a sentinel, and no public JSON key is a write-locked name
    forbidden = locked_names()
    public = [p for p in Path(tree).rglob("*") if p.is_file()]
    assert public
    assert {p.parent.parent.name for p in public if p.suffix in (".ndjson", ".csv")} == {"bulk"}
    for path in public:
        raw = path.read_bytes()
        if path.parent.parent.name == "bulk":  # stored gzip-compressed: look at what a reader gets
            raw = gzip.decompress(raw)
        assert b"ZQX" not in raw, path
        if path.parent.name == "npi" or path.parent.name == "changes":
            assert not keys_of(json.loads(raw)) & forbidden
        if path.suffix == ".ndjson":
            assert not set().union(*(keys_of(json.loads(line)) for line in raw.splitlines())) & forbidden
        if path.suffix == ".csv":
            assert not set(raw.splitlines()[0].decode().split(",")) & forbidden
    # And the audit store did keep them (so the sentinels were really read)
    audit = pq.read_table(next((root / "private" / "audit").rglob("*.parquet")))
    kept = {v for name in set(columns.values()) & set(audit.column_names) for v in audit.column(name).to_pylist()}
    assert set(sentinels) <= kept
    # And the mart's writes went to the private store only: its text columns carry the sentinels there
    mart_files = list((root / "private" / "mart").rglob("*.parquet"))
    assert {f.parts[-3] for f in mart_files} == {"clinician_scores", "profile_headlines"}
    scores = pq.read_table(next(f for f in mart_files if f.parts[-3] == "clinician_scores"))
    in_mart = {
        v
        for name in set(columns.values()) & set(scores.column_names)
        if pa.types.is_string(scores.schema.field(name).type)
        for v in scores.column(name).to_pylist()
    }
    assert in_mart & set(sentinels), "the mart carries the write-locked text it was given"


CORE_YEARS = YEARS_WITH_FILES
CORE_BASE = {year: generate_table(year, 6, seed=year) for year in CORE_YEARS}
BUILDER = None


def _builder():
    global BUILDER
    if BUILDER is None:
        import jsonschema

        from mips_profiles.core.documents import DocumentBuilder

        builder = DocumentBuilder()
        BUILDER = (builder, jsonschema.Draft202012Validator(profile_schema(builder)))
    return BUILDER


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    year=st.sampled_from(CORE_YEARS),
    tail=st.text(alphabet=ALPHABET, min_size=1, max_size=10),
    number=st.integers(min_value=10**11, max_value=10**12 - 1),
    numeric=st.booleans(),
)
def test_every_write_locked_field_carries_a_sentinel_and_none_reaches_a_document(
    tmp_path_factory, year, tail, number, numeric
):
    # Given a file where every write-locked cell of every row holds a sentinel
    from mips_profiles.core.documents import year_entries
    from mips_profiles.core.reader import read_source
    from mips_profiles.core.validate import validate

    table = CORE_BASE[year]
    columns = locked_columns(year)
    sentinels = []
    for column in table.column_names:
        if column in columns:
            values = [str(number + i) if numeric else f"ZQX{len(sentinels) + i}{tail}" for i in range(table.num_rows)]
            sentinels += values
            table = table.set_column(table.column_names.index(column), column, pa.array(values, pa.string()))
    path = tmp_path_factory.mktemp("core") / "in.csv"
    write_csv(table, path)
    # When it goes through the transform core
    validated = validate(read_source(path, year))
    assert validated.rows_rejected == 0
    builder, validator = _builder()
    documents = list(builder.documents(year_entries(validated.records, year)))
    # Then no document carries a sentinel or a write-locked name, and every one validates
    forbidden = locked_names()
    assert documents
    for _, data in documents:
        text = data.decode()
        assert "ZQX" not in text and not (numeric and any(v in text for v in sentinels))
        doc = json.loads(data)
        assert not keys_of(doc) & forbidden
        validator.validate(doc)
    # And the audit view kept every sentinel
    kept = {v for name in set(columns.values()) for v in validated.accepted_text.column(name).to_pylist()}
    assert set(sentinels) <= kept
