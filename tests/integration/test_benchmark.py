"""The national benchmark's command at a tiny size: every step runs, the peer sits beside the project, each
target gets a verdict, and the tables between the markers are regenerated from its summary."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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
