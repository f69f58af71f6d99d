"""Column-wise JSON must be byte-for-byte what orjson writes for the same values: the documents' hashes, the
bulk files' SHA-256 and every consumer's diff depend on the bytes, not only on the parsed JSON."""

from __future__ import annotations

import itertools
import math

import numpy as np
import orjson
import pyarrow as pa
import pytest
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


def test_empty_columns_render_as_empty_binary_arrays():
    empty = np.array([], dtype=np.float64)
    for column in (jc.Floats(empty), jc.Ints(empty.astype(np.int64)), jc.Texts(pa.array([], pa.string()))):
        out = jc.render(column)
        assert out.type == pa.binary() and len(out) == 0
    assert len(jc.Struct(())) == 0
    assert len(jc.Struct((("a", jc.Ints(np.array([1, 2]))),))) == 2
    with pytest.raises(ValueError, match=r"^an object column needs at least one field$"):
        jc.render(jc.Struct(()))


def test_arrow_arrays_keep_the_json_types_and_nulls():
    """What the mart's headlines are made of: float64 with null where JSON has null, int64, text, structs."""
    floats = jc.to_arrow(jc.Floats(np.array([1.5, np.nan], dtype=np.float32)))
    assert floats.type == pa.float64() and floats.to_pylist() == [1.5, None]
    assert jc.to_arrow(jc.Ints(np.array([2024], dtype=np.int32))).type == pa.int64()
    chunked = pa.chunked_array([pa.array(["a"]), pa.array([None, "b"])])
    assert jc.to_arrow(jc.Texts(chunked)).to_pylist() == ["a", None, "b"]
    assert jc.render(jc.Texts(chunked)).to_pylist() == [b'"a"', b"null", b'"b"']
    coded = jc.to_arrow(jc.Texts(pa.array(["x", None, "x"]).dictionary_encode()))
    assert coded.type == pa.string() and coded.to_pylist() == ["x", None, "x"]
    nested = jc.to_arrow(jc.Struct((("n", jc.Ints(np.array([1]))), ("s", jc.Floats(np.array([np.nan]))))))
    assert nested.type == pa.struct([("n", pa.int64()), ("s", pa.float64())])
    assert nested.to_pylist() == [{"n": 1, "s": None}]
    texts = jc.to_arrow(jc.Struct((("t", jc.Texts(pa.chunked_array([pa.array(["a"])]))),)))  # a table's column
    assert texts.to_pylist() == [{"t": "a"}]


def test_spreadsheet_cells_are_json_numbers_and_plain_text_with_nulls_empty():
    assert jc.cells(jc.Floats(np.array([85.0, np.nan, -0.0]))) == ["85.0", "", "-0.0"]
    assert jc.pylist(jc.Floats(np.array([85.0, np.nan]))) == [85.0, None]  # a dict row holds None, never NaN
    assert jc.cells(jc.Ints(np.array([2024, 7]))) == ["2024", "7"]
    assert jc.cells(jc.Texts(pa.array(['say "hi", ok', None]))) == ['say "hi", ok', ""]


def test_a_field_is_found_by_its_dotted_path_and_only_there():
    scores = jc.Struct((("quality", jc.Floats(np.array([80.0]))),))
    columns = [("final_score", jc.Floats(np.array([90.0]))), ("category_scores", scores)]
    assert jc.pylist(jc.field(columns, "final_score")) == [90.0]
    assert jc.pylist(jc.field(columns, "category_scores.quality")) == [80.0]
    assert jc.field(columns, "category_scores") is scores
    assert jc.field(columns, "category_scores.cost") is None
    assert jc.field(columns, "final_score.quality") is None  # a number has no fields
    assert jc.field(columns, "score") is None


def test_misaligned_columns_are_refused_not_zipped_short():
    with pytest.raises(ValueError):
        jc.pylist(jc.Struct((("a", jc.Ints(np.array([1, 2]))), ("b", jc.Ints(np.array([1]))))))


def test_buffer_bytes_of_one_value_and_of_empty_values():
    assert jc.buffer_bytes(pa.array([b"only"], pa.binary())) == b"only"
    assert jc.buffer_bytes(pa.array([b"", b""], pa.binary())) == b""
    assert jc.buffer_bytes(pa.array([None], pa.binary())) == b""


def test_texts_by_key_names_each_distinct_key_once():
    calls = []

    def label(key: int) -> str:
        calls.append(key)
        return f"PY{key}"

    column = jc.texts_by_key(np.array([2024, 2023, 2024]), label)
    assert jc.pylist(column) == ["PY2024", "PY2023", "PY2024"] and sorted(calls) == [2023, 2024]
    assert jc.to_arrow(jc.texts_by_key(np.array([], dtype=np.int64), label)).type == pa.string()


@given(st.lists(st.sampled_from([True, False, None]), max_size=30))
def test_booleans_render_as_json_true_false_and_null_in_every_form(values):
    """``final_score_reproduced`` and ``comparable_to_prior_year``: -1 is null, as a numpy bool array is never."""
    codes = np.array([-1 if v is None else int(v) for v in values], dtype=np.int8)
    column = jc.Bools(codes)
    assert jc.render(column).to_pylist() == [orjson.dumps(v) for v in values]
    assert jc.pylist(column) == values
    arrow = jc.to_arrow(column)
    assert arrow.type == pa.bool_() and arrow.to_pylist() == values
    assert jc.cells(column) == ["" if v is None else orjson.dumps(v).decode() for v in values]
    plain = [bool(v) for v in values]  # a bool array: never null
    assert jc.pylist(jc.Bools(np.array(plain, dtype=bool))) == plain
    assert jc.render(jc.Bools(np.array(plain, dtype=bool))).to_pylist() == [orjson.dumps(v) for v in plain]
    assert len(jc.Bools(codes)) == len(values)
