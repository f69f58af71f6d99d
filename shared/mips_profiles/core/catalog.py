"""What CMS says it has published: the data.cms.gov DCAT catalog and the Provider Data Catalog
metastore item of the clinician score file. Pure parsing; fetching is the HTTP adapter's job.

DCAT (``data.json``): the dataset is found by title; each performance year has one ``format: API``
distribution and one ``mediaType: text/csv`` distribution, paired by ``temporal``
(``YYYY-01-01/YYYY-12-31``). The year comes from ``temporal``, never from the title (title dates
are irregular).

PDC metastore (``a174-a962``): CMS reuses the dataset id every year and swaps the file; the year is
in the title ("PY 2023 Clinician Public Reporting: Overall MIPS Performance").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..errors import CatalogError
from ..text import printable
from .years import SUPPORTED_YEARS

QPP_DATASET_TITLE = "Quality Payment Program Experience"
DEFAULT_CATALOG_URL = "https://data.cms.gov/data.json"
PDC_DATASET_ID = "a174-a962"
DEFAULT_PDC_URL = f"https://data.cms.gov/provider-data/api/1/metastore/schemas/dataset/items/{PDC_DATASET_ID}"

_TEMPORAL = re.compile(r"^\s*([0-9]{4})-01-01\s*/\s*([0-9]{4})-12-31\s*$")  # ASCII digits: \d takes any
_UUID = re.compile(r"/dataset/([0-9a-fA-F-]{36})(?:/|$)")
_PDC_YEAR = re.compile(r"\bPY\s*([0-9]{4})\b", re.IGNORECASE | re.ASCII)


@dataclass(frozen=True)
class Release:
    """One performance year as a catalog announces it."""

    source: str  # "qpp" or "pdc"
    performance_year: int
    modified: str | None
    download_url: str
    api_uuid: str | None = None
    title: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Release:
        return cls(
            source=data.get("source", "qpp"),
            performance_year=int(data["performance_year"]),
            modified=data.get("modified"),
            download_url=data["download_url"],
            api_uuid=data.get("api_uuid"),
            title=data.get("title"),
        )


MAX_YEARS = 50
"""A catalog listing more performance years than this for the dataset is refused: the real one lists one per
year since 2017. Each listed year costs a download, and the Check step's answer must stay under 256 KiB."""


MAX_TEXT = 1000
"""A catalog's text field (a date, a title, a URL) is at most this long and printable, exactly what the state
machine's messages carry: a value the Check step takes is one every later step takes too."""


def _optional_text(value: Any, where: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise CatalogError(
            f"catalog field {where} is not text of at most {MAX_TEXT} characters: {printable(repr(value), 60)}"
        )
    if printable(value) != value:
        raise CatalogError(f"catalog field {where} has control characters: {printable(repr(value), 60)}")
    return value


def year_from_temporal(temporal: Any) -> int | None:
    if not isinstance(temporal, str):
        return None
    match = _TEMPORAL.match(temporal)
    if not match or match.group(1) != match.group(2):
        return None
    return int(match.group(1))


def qpp_releases(catalog: Any, title: str = QPP_DATASET_TITLE) -> list[Release]:
    """Per-year releases of the QPP Experience dataset in a DCAT catalog, newest year first."""
    datasets = catalog.get("dataset") if isinstance(catalog, dict) else None
    if not isinstance(datasets, list):
        raise CatalogError("catalog has no 'dataset' list (not a DCAT data.json?)")
    wanted = title.strip().lower()
    matches = [d for d in datasets if isinstance(d, dict) and str(d.get("title", "")).strip().lower() == wanted]
    if not matches:
        raise CatalogError(f"dataset {title!r} not found in the catalog ({len(datasets)} datasets)")
    if len(matches) > 1:
        raise CatalogError(f"the catalog lists {len(matches)} datasets titled {title!r}: ambiguous, none is read")
    dataset = matches[0]
    csv: dict[int, dict[str, Any]] = {}
    api: dict[int, dict[str, Any]] = {}
    distributions = dataset.get("distribution") or []
    if not isinstance(distributions, list):
        raise CatalogError(f"dataset {title!r}: 'distribution' is not a list")
    for dist in distributions:
        if not isinstance(dist, dict):
            continue
        year = year_from_temporal(dist.get("temporal"))
        if year is None:
            continue
        if str(dist.get("format", "")).upper() == "API":
            _one_per_year(api, year, dist, "accessURL", title)
        elif "csv" in str(dist.get("mediaType", "")).lower() and dist.get("downloadURL"):
            _one_per_year(csv, year, dist, "downloadURL", title)
    if not csv:
        raise CatalogError(f"dataset {title!r} has no CSV distribution with a yearly temporal")
    if len(csv) > MAX_YEARS:
        raise CatalogError(f"dataset {title!r} lists {len(csv):,} performance years; at most {MAX_YEARS} are read")
    releases = []
    for year, dist in csv.items():
        api_dist = api.get(year, {})
        access = api_dist.get("accessURL")
        uuid_match = _UUID.search(access) if isinstance(access, str) else None
        modified = [_optional_text(d.get("modified"), f"modified of PY{year}") for d in (dist, api_dist, dataset)]
        releases.append(
            Release(
                source="qpp",
                performance_year=year,
                modified=next((m for m in modified if m), None),
                download_url=_text(dist["downloadURL"], f"downloadURL of PY{year}"),
                api_uuid=uuid_match.group(1) if uuid_match else None,
                title=_optional_text(dist.get("title"), f"title of PY{year}"),
            )
        )
    return sorted(releases, key=lambda r: -r.performance_year)


def _one_per_year(found: dict[int, dict[str, Any]], year: int, dist: dict[str, Any], link: str, title: str) -> None:
    """A year has one distribution of each kind: a second one with another link is not "the newest", it is a
    catalog that says two things (an old file listed again would roll the year back), refused by name."""
    kept = found.setdefault(year, dist)
    if kept is not dist and kept.get(link) != dist.get(link):
        raise CatalogError(
            f"dataset {title!r} lists two distributions of PY{year} with different {link}s: ambiguous, none is read"
        )


def pdc_release(item: Any) -> Release:
    """The single current release of the PDC clinician score file."""
    if not isinstance(item, dict):
        raise CatalogError("PDC metastore item is not a JSON object")
    title = _optional_text(item.get("title"), "title of the PDC item") or ""
    match = _PDC_YEAR.search(title)
    if not match:
        raise CatalogError(f"no performance year in the PDC dataset title {title!r}")
    distributions = item.get("distribution") or []
    if not isinstance(distributions, list):
        raise CatalogError("PDC metastore item: 'distribution' is not a list")
    csvs = [
        d
        for d in distributions
        if isinstance(d, dict) and d.get("downloadURL") and "csv" in str(d.get("mediaType", "csv")).lower()
    ]
    if not csvs:
        raise CatalogError("PDC metastore item has no CSV distribution")
    if len({str(d["downloadURL"]) for d in csvs}) > 1:
        raise CatalogError(f"PDC metastore item lists {len(csvs)} CSV distributions: ambiguous, none is read")
    return Release(
        source="pdc",
        performance_year=int(match.group(1)),
        modified=_optional_text(item.get("modified"), "modified of the PDC item"),
        download_url=_text(csvs[0]["downloadURL"], "downloadURL of the PDC item"),
        title=title,
    )


def _text(value: Any, where: str) -> str:
    text = _optional_text(value, where)
    if text is None:
        raise CatalogError(f"catalog field {where} is empty")
    return text


def split_supported(releases: list[Release]) -> tuple[list[Release], list[Release]]:
    """The releases of performance years the methodology supports, and the others (refused before anything is
    downloaded: a year nobody can publish costs no request)."""
    return (
        [r for r in releases if r.performance_year in SUPPORTED_YEARS],
        [r for r in releases if r.performance_year not in SUPPORTED_YEARS],
    )


def unsupported_reason(year: int) -> str:
    return (
        f"performance year {year} is not supported by the methodology (supported: {SUPPORTED_YEARS[0]}-"
        f"{SUPPORTED_YEARS[-1]}): not downloaded; add the year (docs/architecture.md)"
    )
