"""``mips-profiles report``: score histograms (SVG) and a band-share table (Markdown) from a published tree.

Reads only what the CDN serves (``v1/manifest.json`` and ``v1/stats/{PY}/national.json``), so the report
shows exactly the published, suppressed aggregates. The SVG is written by hand: no plotting library.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import orjson

from ..core.documents import DISCLAIMER
from ..core.years import SUPPORTED_YEARS
from ..errors import ConfigurationError
from ..keys import MANIFEST_KEY, national_key
from ..ports import BlobStore
from ..text import printable

BAND_LABELS = {
    "exceptional": "Exceptional",
    "above_average": "Above average",
    "meeting_threshold": "Meeting threshold",
    "below_threshold": "Below threshold",
}
WIDTH, HEIGHT = 720, 400
LEFT, RIGHT, TOP, BOTTOM = 64, 24, 48, 84


@dataclass
class ReportFiles:
    histograms: list[Path]
    table: Path


def _load(store: BlobStore, key: str) -> dict[str, Any]:
    data = store.read(key)
    if data is None:
        raise ConfigurationError(f"{store.describe()}: no {key}; is this a published tree?")
    try:
        parsed: dict[str, Any] = orjson.loads(data)
        return parsed
    except orjson.JSONDecodeError as exc:
        raise ConfigurationError(f"{store.describe()}/{key}: not JSON ({exc})") from None


def national_stats(store: BlobStore) -> list[dict[str, Any]]:
    """The national aggregates of every published year, newest first. The tree is read like any other input:
    a release's year must be a supported performance year, its ``stats`` key the one this program names for that
    year (never a path the manifest chooses), and each document what :func:`parse_national` accepts."""
    manifest = _load(store, MANIFEST_KEY)
    releases = manifest.get("releases", []) if isinstance(manifest, dict) else None
    if not isinstance(releases, list) or not all(isinstance(r, dict) for r in releases):
        raise ConfigurationError(f"{store.describe()}/{MANIFEST_KEY}: releases is not a list of releases")
    out = []
    for release in releases:
        if not release.get("stats"):
            continue
        year = release.get("performance_year")
        if type(year) is not int or year not in SUPPORTED_YEARS:
            raise ConfigurationError(
                f"{MANIFEST_KEY}: a release's performance_year is not a performance year: {year!r:.40}"
            )
        if release["stats"] != national_key(year):
            raise ConfigurationError(
                f"{MANIFEST_KEY}: PY{year}'s stats key is {printable(repr(release['stats']), 80)}, "
                f"not {national_key(year)}"
            )
        out.append(parse_national(_load(store, national_key(year)), year))
    if not out:
        raise ConfigurationError(f"{store.describe()}: the manifest lists no aggregates; publish a year first")
    return out


def _number(value: Any, where: str, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if type(value) not in (int, float) or not math.isfinite(value):
        raise ConfigurationError(f"national aggregates: {where} is not a number: {printable(repr(value), 40)}")


def parse_national(stats: Any, year: int) -> dict[str, Any]:
    """A national aggregates document as the report draws it, each field of its type, or one line naming the
    field (a text year would go into the SVG and the file name; a text count into the table)."""
    where = national_key(year)
    if (
        not isinstance(stats, dict)
        or stats.get("performance_year") != year
        or type(stats["performance_year"]) is not int
    ):
        raise ConfigurationError(f"{where}: not the national aggregates of PY{year}")
    if not isinstance(stats.get("suppressed"), bool) or not isinstance(stats.get("attribution"), str):
        raise ConfigurationError(f"{where}: suppressed or attribution is missing")
    if stats["suppressed"]:
        return stats
    for name in ("clinicians", "mean", "median", "top_decile_min_score"):
        _number(stats.get(name), f"{where} {name}", optional=name != "clinicians")
    bands, histogram = stats.get("bands"), stats.get("histogram")
    if not isinstance(bands, list) or not all(isinstance(b, dict) and isinstance(b.get("band"), str) for b in bands):
        raise ConfigurationError(f"{where}: bands is not a list of bands")
    for b in bands:
        _number(b.get("min_score"), f"{where} bands min_score")
        _number(b.get("count"), f"{where} bands count", optional=True)
        _number(b.get("share_pct"), f"{where} bands share_pct", optional=True)
    if not isinstance(histogram, dict) or not isinstance(histogram.get("bins"), list):
        raise ConfigurationError(f"{where}: histogram is not a histogram")
    _number(histogram.get("bin_width"), f"{where} histogram bin_width")
    for b in histogram["bins"]:
        if not isinstance(b, dict):
            raise ConfigurationError(f"{where}: a histogram bin is not an object")
        for name in ("min", "max"):
            _number(b.get(name), f"{where} histogram {name}")
        _number(b.get("count"), f"{where} histogram count", optional=True)
    if not isinstance(stats.get("suppression"), dict) or not isinstance(stats["suppression"].get("rule"), str):
        raise ConfigurationError(f"{where}: suppression.rule is missing")
    return stats


def _nice_step(top: int) -> int:
    raw = max(1, top) / 5
    magnitude = 10 ** math.floor(math.log10(raw))
    return int(next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw))


def histogram_svg(stats: dict[str, Any]) -> str:
    """Bars of the 5-point histogram, band edges as dashed lines; withheld bins drawn as outlined stubs."""
    year = stats["performance_year"]
    bins = stats["histogram"]["bins"]
    counts = [b["count"] for b in bins]
    top = max([c for c in counts if c is not None] + [1])
    step = _nice_step(top)
    y_max = step * math.ceil(top / step)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(score: float) -> float:
        return LEFT + plot_w * score / 100

    def y(count: float) -> float:
        return float(TOP + plot_h * (1 - count / y_max))

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        'font-family="system-ui, sans-serif" font-size="12" role="img">',
        f"<title>MIPS final scores, Performance Year {year}</title>",
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
        f'<text x="{LEFT}" y="22" font-size="15" font-weight="600">MIPS final scores, Performance Year {year} '
        f"({stats['clinicians']:,} scored clinicians)</text>",
    ]
    for tick in range(0, y_max + 1, step):
        out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" stroke="#eaecf0"/>')
        out.append(f'<text x="{LEFT - 6}" y="{y(tick) + 4:.1f}" text-anchor="end" fill="#475467">{tick:,}</text>')
    for b in bins:
        x0, x1 = x(b["min"]) + 1, x(b["max"]) - 1
        if b["count"] is None:
            out.append(
                f'<rect class="withheld" x="{x0:.1f}" y="{y(0) - 6:.1f}" width="{x1 - x0:.1f}" height="6" '
                f'fill="none" stroke="#98a2b3" stroke-dasharray="2 2"><title>{b["min"]}-{b["max"]}: '
                "withheld (fewer than 11)</title></rect>"
            )
        else:
            out.append(
                f'<rect class="bar" data-count="{b["count"]}" x="{x0:.1f}" y="{y(b["count"]):.1f}" '
                f'width="{x1 - x0:.1f}" height="{y(0) - y(b["count"]):.1f}" fill="#2e90fa">'
                f"<title>{b['min']}-{b['max']}: {b['count']:,}</title></rect>"
            )
    for band in stats["bands"]:
        edge = band["min_score"]
        if 0 < edge < 100:
            out.append(
                f'<line class="band-edge" data-score="{edge:g}" x1="{x(edge):.1f}" x2="{x(edge):.1f}" '
                f'y1="{TOP}" y2="{y(0):.1f}" stroke="#d92d20" stroke-dasharray="5 4"/>'
            )
        label = BAND_LABELS.get(band["band"], band["band"])
        out.append(f'<text x="{x(edge) + 4:.1f}" y="{TOP + 12}" fill="#b42318" font-size="11">{escape(label)}</text>')
    out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(0):.1f}" y2="{y(0):.1f}" stroke="#344054"/>')
    for tick in range(0, 101, 10):
        out.append(f'<text x="{x(tick):.1f}" y="{y(0) + 16:.1f}" text-anchor="middle" fill="#475467">{tick}</text>')
    out.append(
        f'<text x="{LEFT + plot_w / 2:.1f}" y="{y(0) + 36:.1f}" text-anchor="middle">Final score '
        f"(bins of {stats['histogram']['bin_width']} points)</text>"
    )
    out.append(
        f'<text x="{LEFT}" y="{HEIGHT - 24}" fill="#475467" font-size="11">{escape(stats["attribution"])}</text>'
    )
    out.append(f'<text x="{LEFT}" y="{HEIGHT - 9}" fill="#475467" font-size="10">{escape(DISCLAIMER)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def band_table_markdown(years: list[dict[str, Any]]) -> str:
    bands = [b["band"] for b in next(s for s in years if not s["suppressed"])["bands"]]
    head = [
        "Performance year",
        "Scored clinicians",
        "Mean",
        "Median",
        "Top decile from",
        *(BAND_LABELS.get(b, b) for b in bands),
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in years:
        if s["suppressed"]:
            lines.append(f"| {s['performance_year']} | " + " | ".join(["withheld"] * (len(head) - 1)) + " |")
            continue
        shares = {b["band"]: b for b in s["bands"]}
        cells = [
            f"{shares[b]['share_pct']:.1f}% ({shares[b]['count']:,})" if shares[b]["count"] is not None else "withheld"
            for b in bands
        ]
        lines.append(
            f"| {s['performance_year']} | {s['clinicians']:,} | {s['mean']:.2f} | {s['median']:.2f} | "
            f"{s['top_decile_min_score']:.2f} | " + " | ".join(cells) + " |"
        )
    notes = [
        "",
        f"Band shares of scored clinicians (headline score per NPI). {years[0]['suppression']['rule']}",
        "",
        "Source: CMS QPP MIPS · Performance Year"
        + ("s " if len(years) > 1 else " ")
        + ", ".join(str(s["performance_year"]) for s in years)
        + ".",
        "",
        DISCLAIMER,
    ]
    return "\n".join(lines + notes) + "\n"


def write_report(store: BlobStore, out: str | Path) -> ReportFiles:
    years = national_stats(store)
    if all(s["suppressed"] for s in years):
        raise ConfigurationError(f"{store.describe()}: every year has fewer than 11 scored clinicians; nothing to plot")
    target = Path(out)
    target.mkdir(parents=True, exist_ok=True)
    histograms = []
    for stats in years:
        if stats["suppressed"]:
            continue
        path = target / f"scores-{stats['performance_year']}.svg"
        path.write_text(histogram_svg(stats), encoding="utf-8")
        histograms.append(path)
    table = target / "bands.md"
    table.write_text(band_table_markdown(years), encoding="utf-8")
    return ReportFiles(histograms, table)
