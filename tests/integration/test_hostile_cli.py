"""The CLI's own outputs under hostile or careless arguments: overlapping public and private locations,
formula cells in the quarantine report, special files as sources. Each is a one-line error (exit 1, no
traceback) that changes nothing, or a report a spreadsheet cannot be attacked through."""

from __future__ import annotations

import csv
import io
import os

import pyarrow as pa
import pytest

from mips_profiles.sandbox.generator import generate_table, write_csv

from helpers import snapshot


@pytest.mark.parametrize(
    ("out", "private"),
    [
        ("{t}/tree", "{t}/tree"),
        ("{t}/tree", "{t}/tree/private"),
        ("{t}/tree/public", "{t}/tree"),
        ("{t}/tree", "{t}/./tree/../tree/v1"),
    ],
)
def test_overlapping_local_locations_are_refused(run_cli, sample_file, tmp_path, out, private):
    out, private = out.format(t=tmp_path), private.format(t=tmp_path)
    result = run_cli(
        "publish", "--performance-year", 2024, "--source", sample_file(2024), "--out", out, "--private", private
    )
    assert result.code == 1
    assert result.err.startswith("error: --private") and "overlaps --out" in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert snapshot(tmp_path) == {}


@pytest.mark.parametrize(
    ("out", "private"),
    [
        ("s3://bucket/public", "s3://bucket/public"),
        ("s3://bucket/public", "s3://bucket/public/private"),
        ("s3://bucket", "s3://bucket/private"),
        ("s3://bucket/a/b", "s3://bucket/a"),
    ],
)
def test_overlapping_s3_locations_are_refused(run_cli, sample_file, out, private):
    result = run_cli(
        "publish", "--performance-year", 2024, "--source", sample_file(2024), "--out", out, "--private", private
    )
    assert result.code == 1 and "overlaps --out" in result.err


def test_separate_s3_prefixes_of_one_bucket_are_not_an_overlap():
    from mips_profiles.orchestration.local import overlap as _overlap

    assert not _overlap("s3://bucket/public", "s3://bucket/public-private")
    assert not _overlap("s3://a/x", "s3://b/x")


HOSTILE = [
    '=HYPERLINK("http://evil.example","click")',
    "@SUM(1+1)",
    "+1+1",
    "-2+3",
    "\t=1+1",
    "\r=1+1",
    "=" + "A" * 3_000_000,
]


def test_the_quarantine_report_cannot_run_formulas_and_stays_small(run_cli, tmp_path):
    table = generate_table(2024, 400, seed=9)
    npi = table.column("npi").to_pylist()
    for i, value in enumerate(HOSTILE):
        npi[i] = value
    write_csv(table.set_column(table.column_names.index("npi"), "npi", pa.array(npi)), tmp_path / "cms.csv")
    tree = tmp_path / "tree"
    result = run_cli("publish", "--performance-year", 2024, "--source", tmp_path / "cms.csv", "--out", tree, "--force")
    assert result.code == 0, result.err
    (report,) = (tmp_path / "tree.private" / "quarantine").rglob("rejected.csv")
    assert report.stat().st_size < 20_000  # a 3 MB cell is not echoed whole
    rows = list(csv.DictReader(io.StringIO(report.read_text())))
    assert len(rows) == len(HOSTILE)
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), value
    assert rows[0]["npi"].startswith("'=HYPERLINK")
    assert "more characters" in rows[-1]["reason"]


@pytest.mark.parametrize("kind", ["directory", "fifo", "device", "missing", "symlink-to-directory"])
def test_a_source_that_is_not_a_regular_file_is_a_one_line_error(run_cli, tmp_path, kind):
    source = tmp_path / "source.csv"
    if kind == "directory":
        source.mkdir()
    elif kind == "fifo":
        os.mkfifo(source)
    elif kind == "device":
        source = "/dev/zero"
    elif kind == "symlink-to-directory":
        (tmp_path / "d").mkdir()
        source.symlink_to(tmp_path / "d")
    result = run_cli("publish", "--performance-year", 2024, "--source", source, "--out", tmp_path / "tree")
    assert result.code == 1
    assert result.err.startswith(f"error: cannot read source file '{source}'")
    assert len(result.err.strip().splitlines()) == 1
    assert not (tmp_path / "tree").exists()


def test_a_state_path_that_is_a_directory_is_a_one_line_error(run_cli, tmp_path):
    (tmp_path / "state").mkdir()
    result = run_cli(
        "refresh",
        "--catalog-url",
        "https://data.cms.gov/data.json",
        "--out",
        tmp_path / "tree",
        "--state",
        tmp_path / "state",
        "--no-pdc",
    )
    assert result.code == 1 and result.err.startswith("error: --state") and "not a regular file" in result.err


@pytest.mark.parametrize("target", ["dir", "missing-parent/x.csv"])
def test_generate_refuses_an_output_it_cannot_write(run_cli, tmp_path, target):
    (tmp_path / "dir").mkdir()
    result = run_cli("generate", "--performance-year", 2024, "--rows", 10, "--out", tmp_path / target)
    assert result.code == 1 and result.err.startswith("error: --out")


def test_an_out_path_that_is_a_file_is_refused(run_cli, sample_file, tmp_path):
    (tmp_path / "tree").write_text("not a directory")
    result = run_cli("publish", "--performance-year", 2024, "--source", sample_file(2024), "--out", tmp_path / "tree")
    assert result.code == 1 and "is not a directory" in result.err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["serve", "tree", "--port", "99999"], "argument --port: 99999 is not from 0 to 65535"),
        (["serve", "tree", "--port", "-1"], "argument --port: -1 is not from 0 to 65535"),
        (["generate", "--performance-year", "2024", "--rows", "0", "--out", "x.csv"], "--rows: 0 is not from 1"),
        (["publish", "--performance-year", "24", "--source", "x", "--out", "t"], "24 is not from 2017 to 2100"),
        (["refresh", "--out", "t", "--performance-year", "twenty"], "'twenty' is not a whole number"),
    ],
)
def test_an_integer_option_out_of_range_is_a_usage_error_not_a_traceback(argv, message, capsys, tmp_path, monkeypatch):
    """Exit status 2 (usage), the usage line and one error naming the option and its range; nothing runs."""
    from mips_profiles.cli import main

    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as caught:
        main(argv)
    err = capsys.readouterr().err
    assert caught.value.code == 2 and message in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_version_prints_the_package_version(capsys):
    from mips_profiles import __version__
    from mips_profiles.cli import main

    with pytest.raises(SystemExit) as caught:
        main(["--version"])
    assert caught.value.code == 0 and capsys.readouterr().out == f"mips-profiles {__version__}\n"
