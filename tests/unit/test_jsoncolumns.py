"""Column-wise JSON must be byte-for-byte what orjson writes for the same values: the documents' hashes, the
bulk files' SHA-256 and every consumer's diff depend on the bytes, not only on the parsed JSON."""

from __future__ import annotations

import itertools
import math

import numpy as np
import orjson
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from mips_profiles.core import jsoncolumns as jc
from mips_profiles.core.documents import SCHEMA_VERSION, DocumentBuilder, concat_entries, dumps, year_entries
from mips_profiles.core.validate import RECORD_SCHEMA

floats = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 100.0, 85.5, 1e-7, 1e16, 123456789.123, -9.0, 0.1 + 0.2]),
)
texts = st.one_of(st.none(), st.text(), st.sampled_from(["Group", 'a "quoted" \\ value', "tab\there", "é ✓ 𝄞"]))


def rendered(column: jc.Column) -> list[bytes]:
    return jc.render(column).to_pylist()


@settings(max_examples=200, deadline=None)
@given(st.lists(floats, max_size=40))
def test_floats_render_as_orjson_renders_each_value_and_nan_as_null(values):
    column = jc.Floats(np.array(values, dtype=np.float64))
    assert rendered(column) == [orjson.dumps(v) for v in values]
    # the Python values a dict row holds: null where NaN, the same float otherwise (sign of zero included)
    for value, got in zip(values, jc.pylist(column), strict=True):
        assert (got is None) if math.isnan(value) else (orjson.dumps(got) == orjson.dumps(value))


@settings(max_examples=200, deadline=None)
@given(st.lists(texts, max_size=40))
def test_texts_render_as_orjson_renders_them_whatever_they_contain(values):
    for column in (
        jc.Texts(pa.array(values, pa.string())),
        jc.Texts(pa.array(values, pa.string()).dictionary_encode()),
    ):
        assert rendered(column) == [orjson.dumps(v) for v in values]
        assert jc.pylist(column) == values


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(-(2**62), 2**62), floats, texts), min_size=1, max_size=30))
def test_nested_objects_render_as_orjson_renders_the_dicts(rows):
    ints, fls, txts = (list(c) for c in zip(*rows, strict=True))
    inner = jc.Struct((("score", jc.Floats(np.array(fls))), ("label", jc.Texts(pa.array(txts, pa.string())))))
    column = jc.Struct(
        (("n", jc.Ints(np.array(ints, dtype=np.int64))), ("inner", inner), ("again", jc.Ints(np.array(ints))))
    )
    dicts = jc.pylist(column)
    assert [list(d) for d in dicts] == [["n", "inner", "again"]] * len(rows)
    assert rendered(column) == [orjson.dumps(d) for d in dicts]


def test_groups_join_into_arrays_and_buffers_come_back_in_one_piece():
    values = pa.array([b"1", b"2", b"3", b"4"], pa.binary())
    assert jc.join_groups(values, np.array([0, 1, 3])).to_pylist() == [b"[1]", b"[2,3]", b"[4]"]
    assert jc.buffer_bytes(values.slice(1, 2)) == b"23"
    assert jc.buffer_bytes(values.slice(0, 0)) == b""


def _entries(years_per_npi: list[int], seed: int = 7) -> pa.Table:
    """Entries for NPIs with 1..n years each, with scores that exercise nulls, reweighting and ties."""
    rng = np.random.default_rng(seed)
    npis = ["1376745471", "1003000126", "1234567893", "1497758544", "1528060837", "1841293990"]
    tables = []
    for year in range(2017, 2025):
        rows = []
        for i, (npi, count) in enumerate(zip(npis, itertools.cycle(years_per_npi))):
            if year < 2025 - count:
                continue

            def score() -> float | None:
                return None if rng.random() < 0.2 else round(float(rng.uniform(0, 100)), 2)

            rows.append(
                {
                    "npi": npi,
                    "final_score": score(),
                    "payment_adjustment_pct": None if i == 2 else round(float(rng.uniform(-9, 9)), 4),
                    "quality_category_score": score(),
                    "pi_category_score": 0.0 if i == 3 else score(),
                    "ia_category_score": score(),
                    "cost_category_score": score(),
                    "quality_category_weight": 0.3 if year >= 2023 else None,
                    "pi_category_weight": 0.0 if year >= 2023 and i == 3 else (0.25 if year >= 2023 else None),
                    "ia_category_weight": 0.15 if year >= 2023 else None,
                    "cost_category_weight": 0.3 if year >= 2023 else None,
                    "pi_reweighted_flag": i == 3,
                    "participation_option": ["Group", "Individual", 'APM "Entity"'][i % 3],
                    "_line": 2 + i,
                }
            )
        if rows:
            tables.append(year_entries(pa.Table.from_pylist(rows, schema=RECORD_SCHEMA), year))
    return concat_entries(tables)


def test_documents_are_byte_for_byte_dumps_of_the_dict_rows_whatever_the_chunking():
    """The rendered documents against the plainest way to build them: dumps of dicts from ``entry_rows``."""
    builder = DocumentBuilder()
    entries = _entries([1, 8, 3, 2, 5, 1])
    npis, rows = builder.entry_rows(entries)
    expected = []
    for npi, group in itertools.groupby(zip(npis, rows, strict=True), key=lambda pair: pair[0]):
        history = [row for _, row in group]
        doc = {"schema_version": SCHEMA_VERSION, "npi": npi, "latest": history[0], "history": history}
        expected.append((npi, dumps({**doc, "source": builder.source})))
    assert len({len(orjson.loads(d)["history"]) for _, d in expected}) == 5  # histories of 1, 2, 3, 5 and 8 years
    for chunk_rows in (1, 3, 8, 10_000):  # chunks end inside and between NPIs' histories
        assert list(builder.documents(entries, chunk_rows=chunk_rows)) == expected
