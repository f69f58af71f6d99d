"""Row verdicts go to quarantine with a reason; too many bad rows fail the file."""

from __future__ import annotations

import pytest

from mips_profiles.core.gates import GateLimits, enforce_gates
from mips_profiles.core.reader import read_source
from mips_profiles.core.validate import validate
from mips_profiles.errors import PublishRefused

from helpers import set_cells, write

ROW_REJECTS = [
    ("npi", "1234567890", "npi '1234567890' has a wrong check digit"),
    ("npi", "123456789", "npi '123456789' is not 10 digits starting with 1 or 2"),
    ("npi", "12345A7893", "is not 10 digits"),
    ("npi", "1.23457E+09", "is not 10 digits"),
    ("npi", "", "npi is missing"),
    ("final score", "100.5", "final score '100.5' is outside 0 to 100 for PY2024"),
    ("final score", "-1", "final score '-1' is outside 0 to 100"),
    ("final score", "N/A", "final score is not a number: 'N/A'"),
    ("final score", "NaN", "final score is not a number: 'NaN'"),
    ("quality category score", "101", "quality category score '101' is outside 0 to 100"),
    ("cost category score", "abc", "cost category score is not a number: 'abc'"),
    ("payment adjustment percentage", "-9.5", "payment adjustment percentage '-9.5' is outside -9 to 27 for PY2024"),
    ("payment adjustment percentage", "1.05%", "payment adjustment percentage is not a number: '1.05%'"),
    ("participation option", "Solo", "participation option 'Solo' is not one of Individual, Group, APM Entity"),
    ("participation option", "", "participation option is missing"),
]


@pytest.mark.parametrize(("column", "value", "reason"), ROW_REJECTS, ids=[f"{c}={v!r}" for c, v, _ in ROW_REJECTS])
def test_a_bad_row_is_quarantined_with_line_npi_and_reason(column, value, reason, tmp_path, sample_table):
    # Given a good file with one bad cell on the 6th data row (line 7)
    table = set_cells(sample_table(2024, 600), column, {5: value})
    npi_as_given = table.column("npi")[5].as_py()
    # When it is validated
    result = validate(read_source(write(table, tmp_path / "f.csv"), 2024))
    # Then that row alone is rejected, with its line, the NPI as given and the reason
    assert result.rows_rejected == 1
    rejected = result.rejected.to_pylist()[0]
    assert rejected["line"] == 7
    assert rejected["npi"] == npi_as_given
    assert reason in rejected["reason"]
    assert result.records.num_rows == table.num_rows - 1
    assert 7 not in result.records.column("_line").to_pylist()


def test_empty_scores_mean_not_scored_and_are_accepted(tmp_path, sample_table):
    table = sample_table(2024, 600)
    for column in ("final score", "payment adjustment percentage", "cost category score"):
        table = set_cells(table, column, {3: ""})
    result = validate(read_source(write(table, tmp_path / "f.csv"), 2024))
    assert result.rows_rejected == 0
    assert result.records.column("final_score")[3].as_py() is None


def test_values_are_exactly_as_published(tmp_path, sample_table):
    table = set_cells(sample_table(2024, 600), "final score", {0: "94.79", 1: " 60 ", 2: "100.00"})
    table = set_cells(table, "payment adjustment percentage", {0: "-4.36", 1: "0", 2: "+1.05"})
    table = set_cells(table, "participation option", {0: "apm entity"})
    result = validate(read_source(write(table, tmp_path / "f.csv"), 2024))
    records = result.records.slice(0, 3).to_pylist()
    assert [r["final_score"] for r in records] == [94.79, 60.0, 100.0]
    assert [r["payment_adjustment_pct"] for r in records] == [-4.36, 0.0, 1.05]
    assert records[0]["participation_option"] == "APM Entity"


def test_legacy_years_know_their_participation_types(tmp_path, sample_table):
    table = set_cells(sample_table(2019, 600), "participation type", {0: "MIPS APM", 1: "APM Entity"})
    result = validate(read_source(write(table, tmp_path / "f.csv"), 2019))
    assert [r["line"] for r in result.rejected.to_pylist()] == [3]


def test_adjustment_bounds_follow_the_year(tmp_path, sample_table):
    table = set_cells(sample_table(2018, 600), "payment adjustment percentage", {0: "-5", 1: "-5.01"})
    result = validate(read_source(write(table, tmp_path / "f.csv"), 2018))
    assert [r["line"] for r in result.rejected.to_pylist()] == [3]


def test_the_same_row_twice_is_a_duplicate(tmp_path, sample_table):
    table = sample_table(2024, 600)
    import pyarrow as pa

    doubled = pa.concat_tables([table, table.slice(10, 1)])
    result = validate(read_source(write(doubled, tmp_path / "f.csv"), 2024))
    assert result.rows_rejected == 1
    rejected = result.rejected.to_pylist()[0]
    assert rejected["line"] == table.num_rows + 2
    assert "duplicate row" in rejected["reason"] and "first seen on line 12" in rejected["reason"]


def test_several_problems_in_one_row_are_all_named(tmp_path, sample_table):
    table = set_cells(sample_table(2024, 600), "final score", {0: "200"})
    table = set_cells(table, "npi", {0: "1234567890"})
    result = validate(read_source(write(table, tmp_path / "f.csv"), 2024))
    reason = result.rejected.to_pylist()[0]["reason"]
    assert "check digit" in reason and "final score '200'" in reason


def test_more_than_one_percent_rejected_fails_the_whole_file_at_the_gates(tmp_path, sample_table):
    """Validation gives every row its verdict; the share that refuses the file is the gates' rule, held once."""
    table = sample_table(2024, 600)
    bad = {i: "N/A" for i in range(0, 7)}  # 7 of 600 = 1.2%
    result = validate(read_source(write(set_cells(table, "final score", bad), tmp_path / "f.csv"), 2024))
    assert result.rows_rejected == 7
    with pytest.raises(PublishRefused, match=r"7 of 600 rows rejected \(1.2%, limit 1%\); first: line 2: final score"):
        enforce_gates(result, None, GateLimits())


def test_exactly_one_percent_rejected_is_still_accepted(tmp_path, sample_table):
    table = sample_table(2024, 600)
    bad = {i: "N/A" for i in range(0, 6)}  # 6 of 600 = 1.0%
    result = validate(read_source(write(set_cells(table, "final score", bad), tmp_path / "f.csv"), 2024))
    assert result.rows_rejected == 6
    enforce_gates(result, None, GateLimits())
