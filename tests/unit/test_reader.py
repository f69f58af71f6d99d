"""Reading CMS files of every layout, and refusing files that are not what they claim to be."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pyarrow as pa
import pytest

from mips_profiles.core.reader import read_source
from mips_profiles.errors import SourceFileError
from mips_profiles.sandbox.generator import generate_table, header_for, write_csv

from helpers import YEARS_WITH_FILES

EXPECTED_COLUMNS = {2017: 92, 2018: 92, 2019: 92, 2020: 92, 2021: 92, 2022: 165, 2023: 204, 2024: 212}  # as CMS


@pytest.mark.parametrize("year", YEARS_WITH_FILES)
def test_every_performance_year_layout_reads_into_canonical_fields(year, sample_file, sample_table):
    # Given a file in the year's real layout
    source_table = sample_table(year)
    assert source_table.num_columns == EXPECTED_COLUMNS[year]
    assert source_table.column_names == header_for(year)  # the real header, names and order
    # When it is read
    source = read_source(sample_file(year), year)
    # Then every row is there, keyed by canonical names, values exactly as written
    assert source.rows == source_table.num_rows
    names = {c.lower(): c for c in source_table.column_names}
    for canonical, column in [("npi", "npi"), ("final_score", "final score")]:
        assert source.table.column(canonical).to_pylist() == source_table.column(names[column]).to_pylist()
    option_column = "participation type" if year <= 2021 else "participation option"
    assert source.table.column("participation_option").to_pylist() == source_table.column(option_column).to_pylist()
    assert source.unknown_columns == []
    assert source.table.column("_line").to_pylist()[:2] == [2, 3]


def _write(tmp_path: Path, data: bytes, name: str = "f.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _csv_bytes(table: pa.Table, tmp_path: Path) -> bytes:
    path = tmp_path / "gen.csv"
    write_csv(table, path)
    return path.read_bytes()


def test_header_case_stray_spaces_and_bom_are_matched_by_name(tmp_path, sample_table):
    table = sample_table(2019, 50)
    messy = table.rename_columns([f"  {c.title()} " for c in table.column_names])
    path = _write(tmp_path, b"\xef\xbb\xbf" + _csv_bytes(messy, tmp_path))
    source = read_source(path, 2019)
    assert source.table.column("final_score").to_pylist() == table.column("final score").to_pylist()


def test_columns_are_matched_by_name_never_by_position(tmp_path, sample_table):
    table = sample_table(2024, 50)
    shuffled = table.select(list(reversed(table.column_names)))
    path = _write(tmp_path, _csv_bytes(shuffled, tmp_path))
    source = read_source(path, 2024)
    assert source.table.column("npi").to_pylist() == table.column("npi").to_pylist()
    assert source.table.column("cost_category_score").to_pylist() == table.column("cost category score").to_pylist()


def test_crlf_line_endings_and_quoted_commas_and_newlines_are_fine(tmp_path, sample_table):
    table = sample_table(2023, 20)
    data = _csv_bytes(table, tmp_path).decode()
    lines = data.split("\n")
    header = lines[0].split(",")
    row = lines[1].split(",")
    row[header.index("clinician specialty")] = '"Surgery, General\nand Trauma"'
    lines[1] = ",".join(row)
    path = _write(tmp_path, "\r\n".join(lines).encode())
    source = read_source(path, 2023)
    assert source.rows == table.num_rows
    assert source.table.column("clinician_specialty")[0].as_py() == "Surgery, General\nand Trauma"


def test_unknown_extra_columns_are_listed_and_kept_out(tmp_path, sample_table):
    table = sample_table(2024, 20).append_column("brand new cms column", pa.array(["x"] * 20))
    source = read_source(_write(tmp_path, _csv_bytes(table, tmp_path)), 2024)
    assert source.unknown_columns == ["brand new cms column"]
    assert "brand new cms column" not in source.table.column_names


def test_optional_columns_missing_from_a_file_read_as_empty(tmp_path, sample_table):
    table = sample_table(2024, 20)
    table = table.drop_columns(["safety-net status"])
    source = read_source(_write(tmp_path, _csv_bytes(table, tmp_path)), 2024)
    assert "safety_net_status" in source.absent_columns
    assert source.table.column("safety_net_status").null_count == 20


def _header_only(tmp_path, year=2024) -> bytes:
    return _csv_bytes(generate_table(year, 5), tmp_path).split(b"\n", 1)[0] + b"\n"


FILE_FAILURES = {
    "empty file": (lambda tp, good: b"", "empty file"),
    "header only": (lambda tp, good: _header_only(tp), "no data rows"),
    "HTML error page": (lambda tp, good: b"<!DOCTYPE html><html><body>Unavailable</body></html>\n", "HTML page"),
    "JSON error body": (lambda tp, good: b'{"error": "rate limited"}\n', "JSON document"),
    "gzip bytes": (lambda tp, good: gzip.compress(good), "gzip-compressed"),
    "gzip bomb": (lambda tp, good: gzip.compress(bytes(1 << 22)), "gzip-compressed"),  # NUL-heavy: not "UTF-16"
    "bad UTF-8 on line 2": (
        lambda tp, good: good.split(b"\n", 1)[0] + b"\n\xff\xfe" + good.split(b"\n", 1)[1],
        "not UTF-8 text: invalid bytes on line 2 (byte offset",
    ),
    "truncated last line": (lambda tp, good: good[: len(good) - 7], "truncated file"),
    "short row in the middle": (
        lambda tp, good: good.replace(b"\n", b"\n1234567893,1\n", 3).replace(b"\n1234567893,1\n", b"\n", 2),
        "malformed CSV",
    ),
    "non UTF-8 bytes": (lambda tp, good: good.replace(b"Internal Medicine", b"Internal M\xe9decine"), "not UTF-8"),
    "not a QPP file": (lambda tp, good: b"a,b,c\n1,2,3\n", "unrecognised column layout"),
}


@pytest.mark.parametrize("case", list(FILE_FAILURES))
def test_file_level_failures_raise_one_line_named_errors(case, tmp_path, sample_file):
    make, expected = FILE_FAILURES[case]
    good = sample_file(2024).read_bytes()
    path = _write(tmp_path, make(tmp_path, good))
    with pytest.raises(SourceFileError) as err:
        read_source(path, 2024)
    assert expected in str(err.value)
    assert "\n" not in str(err.value)


def test_missing_required_column_is_named(tmp_path, sample_table):
    table = sample_table(2024, 20).drop_columns(["final score"])
    with pytest.raises(SourceFileError, match=r"missing required column.*'final score'"):
        read_source(_write(tmp_path, _csv_bytes(table, tmp_path)), 2024)


def test_duplicate_header_names_are_refused(tmp_path, sample_table):
    table = sample_table(2024, 20)
    renamed = ["final score" if c == "complex patient bonus" else c for c in table.column_names]
    with pytest.raises(SourceFileError, match="duplicate column 'final score'"):
        read_source(_write(tmp_path, _csv_bytes(table.rename_columns(renamed), tmp_path)), 2024)


@pytest.mark.parametrize(
    ("file_year", "asked_year", "layout"),
    [(2019, 2024, "PY2017-2021"), (2022, 2023, "PY2022"), (2024, 2020, "PY2023-2025")],
)
def test_a_file_of_another_layout_than_the_year_asked_is_refused(file_year, asked_year, layout, sample_file):
    expected = f"columns belong to the {layout} layout, not to performance year {asked_year}"
    with pytest.raises(SourceFileError, match=expected):
        read_source(sample_file(file_year), asked_year)


def test_the_hash_recorded_is_of_exactly_the_bytes_parsed(tmp_path, sample_file, monkeypatch):
    """Issue 38: the SHA-256 was taken by a second read after the parse, so a same-size rewrite in place between
    the two (mtime put back) recorded the hash of bytes never parsed. The parser's own stream is hashed now."""
    import hashlib

    from mips_profiles.core import reader

    original = sample_file(2024).read_bytes()
    path = _write(tmp_path, original)
    real = reader._parse_body

    def rewritten_right_after_the_parse(*args, **kwargs):
        parsed = real(*args, **kwargs)
        info = os.stat(path)
        with open(path, "r+b") as fh:  # the same size, other scores, the mtime put back
            fh.write(original.replace(b",9", b",8"))
        os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))
        return parsed

    monkeypatch.setattr(reader, "_parse_body", rewritten_right_after_the_parse)
    source = read_source(path, 2024)
    assert source.sha256 == hashlib.sha256(original).hexdigest() != hashlib.sha256(path.read_bytes()).hexdigest()
