"""``mips-profiles report``: histograms and the band table show exactly the published aggregates."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

SVG = "{http://www.w3.org/2000/svg}"


def test_report_draws_the_published_histogram_with_band_edges(run_cli, published_tree, tmp_path):
    result = run_cli("report", "--tree", published_tree, "--out", tmp_path / "report")
    assert result.code == 0, result.err
    for year in (2023, 2024):
        stats = json.loads((published_tree / f"v1/stats/{year}/national.json").read_text())
        svg = ET.parse(tmp_path / "report" / f"scores-{year}.svg").getroot()
        bars = [r for r in svg.iter(f"{SVG}rect") if r.get("class") in ("bar", "withheld")]
        assert len(bars) == len(stats["histogram"]["bins"]) == 20
        for bar, published in zip(bars, stats["histogram"]["bins"], strict=True):
            if published["count"] is None:
                assert bar.get("class") == "withheld"
            else:
                assert int(bar.get("data-count")) == published["count"]
        heights = [float(b.get("height")) for b in bars if b.get("class") == "bar"]
        counts = [b["count"] for b in stats["histogram"]["bins"] if b["count"] is not None]
        tallest = counts.index(max(counts))
        assert heights[tallest] == max(heights)  # bar heights follow the counts
        edges = sorted(float(e.get("data-score")) for e in svg.iter(f"{SVG}line") if e.get("class") == "band-edge")
        assert edges == [50.0, 75.0, 90.0]
        assert f"Performance Year {year}" in ET.tostring(svg, encoding="unicode")


def test_band_table_lists_every_year_with_published_shares(run_cli, published_tree, tmp_path):
    assert run_cli("report", "--tree", published_tree, "--out", tmp_path).code == 0
    table = (tmp_path / "bands.md").read_text()
    rows = {line.split("|")[1].strip(): line for line in table.splitlines() if line.startswith("| 20")}
    assert list(rows) == ["2024", "2023"]
    for year, row in rows.items():
        stats = json.loads((published_tree / f"v1/stats/{year}/national.json").read_text())
        assert f"{stats['clinicians']:,}" in row
        for band in stats["bands"]:
            cell = "withheld" if band["count"] is None else f"{band['share_pct']:.1f}% ({band['count']:,})"
            assert cell in row
    assert "not a rating of clinical quality" in table


def test_report_refuses_what_is_not_a_tree(run_cli, tmp_path: Path):
    missing = run_cli("report", "--tree", tmp_path / "nope", "--out", tmp_path / "r")
    assert missing.code == 1 and missing.err.startswith("error: ") and "no such directory" in missing.err
    empty = run_cli("report", "--tree", tmp_path, "--out", tmp_path / "r")
    assert empty.code == 1 and "no v1/manifest.json" in empty.err
    assert not (tmp_path / "r").exists()
