"""The national benchmark's command at a tiny size: every step runs, the peer sits beside the project, each
target gets a verdict, and the tables between the markers are regenerated from its summary."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
BENCH = ROOT / "benchmarks" / "national.py"


def test_the_benchmark_runs_the_peer_interleaved_and_rewrites_the_table(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "before\n<!-- national-table:start (benchmarks/national.py --markdown) -->\nold\n"
        "<!-- national-table:end -->\nafter\n"
    )
    summary_path = tmp_path / "summary.json"
    done = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            "--rows",
            "1500",
            "--repeat",
            "2",
            "--reference-repeat",
            "0",
            "--settle",
            "0",
            "--work",
            str(tmp_path / "work"),
            "--out",
            str(summary_path),
            "--markdown",
            str(page),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(summary_path.read_text())
    assert summary["runs"]["peer_publish"] == summary["runs"]["publish_first"] == 2  # side by side, every run
    assert summary["medians"]["peer_publish"]["documents"] == summary["medians"]["publish_first"]["docs_written"]
    assert set(summary["targets"]) >= {
        "publish_first_over_peer_publish",
        "correction_over_build",
        "unchanged_over_build",
        "publish_peak_rss_mb",
    }
    assert all(v.split(":")[0] in {"met", "missed", "not judged"} for v in summary["targets"].values())
    text = page.read_text()
    assert text.startswith("before\n") and text.endswith("after\n") and "old" not in text
    assert "| **peer** + one file per NPI" in text and "`correction_over_build`" in text
    # the table comes back the same from the summary alone (the README is regenerated without re-measuring)
    page.write_text(text.replace("| **peer**", "| edited"))
    subprocess.run([sys.executable, str(BENCH), "--from-json", str(summary_path), "--markdown", str(page)], check=True)
    assert page.read_text() == text


LAMBDA = ROOT / "benchmarks" / "lambda_path.py"


def run_lambda_path(tmp_path: Path, *args: str) -> dict:
    out = tmp_path / "lambda.json"
    done = subprocess.run(
        [sys.executable, str(LAMBDA), *args, "--work", str(tmp_path / "work"), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(out.read_text())


def check_lambda_path(result: dict) -> None:
    first, fix = result["first_publish"], result["correction"]
    npis = first["finalize"]["output"]["docs_written"]
    assert first["partition"]["documents_written"] == npis > 0  # every partition ran, one measured against moto
    assert first["partition"]["measured"] >= 1 and first["partition"]["s3_requests"] > 0
    assert 0 < fix["finalize"]["output"]["docs_written"] < npis / 10  # the correction wrote what changed
    assert result["ingest_pdc"]["output"]["cms_profile_reconciliation"]["mismatches"] == 0
    for step in (first["stage"], first["finalize"], result["ingest_pdc"]):
        assert step["seconds"] > 0 and step["peak_rss_mb"] > 0 and step["state_bytes"] < 256 * 1024
    assert first["projected_wall_seconds"] >= first["stage"]["seconds"] + first["finalize"]["seconds"]
    assert result["sizing"]["breaks_first"]["at_volume_factor"] > 0


def test_the_lambda_path_benchmark_runs_every_step_through_the_aws_adapters(tmp_path):
    check_lambda_path(run_lambda_path(tmp_path, "--rows", "2000", "--pdc-rows", "3000", "--latency-ms", "1"))


@pytest.mark.slow
def test_the_lambda_path_at_national_scale_fits_the_template_with_room_to_double(tmp_path):
    """The README's figures: a national year and a PDC file of the real size through the Lambda steps."""
    result = run_lambda_path(tmp_path, "--rows", "500000", "--pdc-rows", "930000", "--latency-ms", "20")
    check_lambda_path(result)
    assert result["sizing"]["breaks_first"]["at_volume_factor"] >= 2


COLD = ROOT / "benchmarks" / "cold_start.py"


def test_the_cold_start_benchmark_measures_both_handlers_and_rewrites_its_table(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("a\n<!-- cold-start:begin -->\nSTALE\n<!-- cold-start:end -->\nb\n")
    out = tmp_path / "cold.json"
    cmd = [sys.executable, str(COLD), "--runs", "1", "--out", str(out), "--markdown", str(page)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    result = json.loads(out.read_text())
    variants = result["variants"]
    assert set(variants) == {"check_release", "shard_scores", "shard_scores, pandas imported (before)"}
    assert all(v["cpu_s"]["median"] > 0 for v in variants.values())
    text = page.read_text()
    assert "STALE" not in text and "| shard_scores |" in text and text.endswith("<!-- cold-start:end -->\nb\n")


def test_the_performance_page_shows_the_committed_cold_start_figures(tmp_path):
    """The page's table is what the committed results render: a figure edited by hand, or a re-measure whose
    table was not regenerated, fails here."""
    page = tmp_path / "performance.md"
    committed = (ROOT / "docs" / "performance.md").read_text()
    page.write_text(committed)
    results = ROOT / "benchmarks" / "results-cold-start.json"
    subprocess.run([sys.executable, str(COLD), "--from-json", str(results), "--markdown", str(page)], check=True)
    assert page.read_text() == committed


CHECKER = ROOT / "benchmarks" / "checker_path.py"


def test_the_checker_benchmark_downloads_hashes_and_puts_through_the_adapters(tmp_path):
    out = tmp_path / "checker.json"
    cmd = [sys.executable, str(CHECKER), "--mb", "2", "--runs", "1", "--work", str(tmp_path / "w"), "--out", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["file_mb"] >= 1 and result["cpu_s"]["median"] > 0 and result["peak_rss_mb"]["median"] > 0
    assert result["projected_first_run_s_by_memory_mb"]["512"] >= result["projected_first_run_s_by_memory_mb"]["1769"]
