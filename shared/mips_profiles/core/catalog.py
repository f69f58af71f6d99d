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

from ..errors import MipsProfilesError

QPP_DATASET_TITLE = "Quality Payment Program Experience"
DEFAULT_CATALOG_URL = "https://data.cms.gov/data.json"
PDC_DATASET_ID = "a174-a962"
DEFAULT_PDC_URL = f"https://data.cms.gov/provider-data/api/1/metastore/schemas/dataset/items/{PDC_DATASET_ID}"

_TEMPORAL = re.compile(r"^\s*(\d{4})-01-01\s*/\s*(\d{4})-12-31\s*$")
_UUID = re.compile(r"/dataset/([0-9a-fA-F-]{36})(?:/|$)")
_PDC_YEAR = re.compile(r"\bPY\s*(\d{4})\b", re.IGNORECASE)


class CatalogError(MipsProfilesError):
    """The catalog does not have what we look for, or not in the expected shape."""


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


def year_from_temporal(temporal: str | None) -> int | None:
    match = _TEMPORAL.match(temporal or "")
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
    dataset = matches[0]
    csv: dict[int, dict[str, Any]] = {}
    api: dict[int, dict[str, Any]] = {}
    for dist in dataset.get("distribution") or []:
        if not isinstance(dist, dict):
            continue
        year = year_from_temporal(dist.get("temporal"))
        if year is None:
            continue
        if str(dist.get("format", "")).upper() == "API":
            api.setdefault(year, dist)
        elif "csv" in str(dist.get("mediaType", "")).lower() and dist.get("downloadURL"):
            csv.setdefault(year, dist)  # newest first: the first one of a year wins
    if not csv:
        raise CatalogError(f"dataset {title!r} has no CSV distribution with a yearly temporal")
    releases = []
    for year, dist in csv.items():
        api_dist = api.get(year, {})
        uuid_match = _UUID.search(str(api_dist.get("accessURL", "")))
        releases.append(
            Release(
                source="qpp",
                performance_year=year,
                modified=dist.get("modified") or api_dist.get("modified") or dataset.get("modified"),
                download_url=str(dist["downloadURL"]),
                api_uuid=uuid_match.group(1) if uuid_match else None,
                title=dist.get("title"),
            )
        )
    return sorted(releases, key=lambda r: -r.performance_year)


def pdc_release(item: Any) -> Release:
    """The single current release of the PDC clinician score file."""
    if not isinstance(item, dict):
        raise CatalogError("PDC metastore item is not a JSON object")
    title = str(item.get("title", ""))
    match = _PDC_YEAR.search(title)
    if not match:
        raise CatalogError(f"no performance year in the PDC dataset title {title!r}")
    csvs = [
        d
        for d in item.get("distribution") or []
        if isinstance(d, dict) and d.get("downloadURL") and "csv" in str(d.get("mediaType", "csv")).lower()
    ]
    if not csvs:
        raise CatalogError("PDC metastore item has no CSV distribution")
    return Release(
        source="pdc",
        performance_year=int(match.group(1)),
        modified=item.get("modified"),
        download_url=str(csvs[0]["downloadURL"]),
        title=title,
    )
