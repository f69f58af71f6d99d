"""``mips-profiles report``: histograms and the band table show exactly the published aggregates."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

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


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (lambda m, n: m["releases"][0].update(stats="v1/../../secret.json"), "stats key is 'v1/../../secret.json'"),
        (lambda m, n: m["releases"][0].update(performance_year="2024</text><script>"), "is not a performance year"),
        (lambda m, n: n.update(performance_year="2024'; rm -rf"), "not the national aggregates of PY2024"),
        (lambda m, n: n.update(clinicians="many"), "clinicians is not a number: 'many'"),
        (lambda m, n: n["bands"][0].update(count="<b>9</b>"), "bands count is not a number"),
        (lambda m, n: n.update(histogram=[]), "histogram is not a histogram"),
    ],
    ids=["stats-key-dot-dot", "text-year", "national-text-year", "text-count", "markup-count", "histogram-list"],
)
def test_report_parses_the_trees_json_like_any_input(run_cli, published_tree, tmp_path, tamper, message):
    """Issue 38: report trusted the tree's national.json (a text year went into the SVG and the file name) and the
    manifest's stats key (`..`). Each is parsed: one line naming the field, nothing written."""
    import shutil

    tree = tmp_path / "tree"
    shutil.copytree(published_tree, tree)
    manifest_path, national_path = tree / "v1" / "manifest.json", tree / "v1" / "stats" / "2024" / "national.json"
    manifest, national = json.loads(manifest_path.read_text()), json.loads(national_path.read_text())
    assert manifest["releases"][0]["performance_year"] == 2024
    tamper(manifest, national)
    manifest_path.write_text(json.dumps(manifest))
    national_path.write_text(json.dumps(national))
    result = run_cli("report", "--tree", tree, "--out", tmp_path / "r")
    assert result.code == 1 and result.err.startswith("error: ") and result.err.count("\n") == 1
    assert message in result.err
    assert not (tmp_path / "r").exists()
