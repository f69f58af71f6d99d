"""The score-bands page (docs/report/) is what `make report` gives on a fresh demo: every number on it from a
command, marked synthetic; a page left stale after the demo's data or the aggregates change fails here."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "docs_report.py"


def check(directory: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(TOOL), "--check", "--dir", str(directory)], capture_output=True, text=True, timeout=600
    )


def test_the_committed_page_is_what_a_fresh_demo_gives():
    done = check(ROOT / "docs" / "report")
    assert done.returncode == 0, done.stderr
    page = (ROOT / "docs" / "report" / "bands.md").read_text()
    assert "Synthetic data" in page.split("| Performance year", 1)[0]


def test_a_stale_number_is_named(tmp_path):
    stale = tmp_path / "report"
    shutil.copytree(ROOT / "docs" / "report", stale)
    page = stale / "bands.md"
    page.write_text(page.read_text().replace("| 2024 | ", "| 2024 | 1", 1))
    done = check(stale)
    assert done.returncode == 1
    assert done.stderr.strip() == f"{stale}: differs from a fresh demo (bands.md): run make report"
