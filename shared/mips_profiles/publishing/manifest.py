"""``v1/manifest.json``: the one object that says what is published. Written last by every publish (a
reader who sees a release in it finds every document, aggregate and bulk file of that release), and
rewritten in place for the check dates and the reconciliation notes."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from ..clock import iso
from ..core.contract import Contract
from ..core.documents import CONTENT_TYPE, DISCLAIMER, SCHEMA_VERSION, attribution
from ..core.methodology import Methodology
from ..errors import InvalidInput, PublishError
from ..keys import CACHE_MANIFEST, CHANGE_KEY_PATTERN, MANIFEST_KEY, NPI_KEY_PATTERN, SCHEMA_KEY, national_key
from ..ports import BlobStore
from ..text import printable
from .bulk import RECENT_CHANGES
from .records import PublicRecords

SOURCE = {
    "name": "CMS QPP MIPS",
    "dataset": "Quality Payment Program Experience",
    "publisher": "Centers for Medicare & Medicaid Services",
}


PROVENANCE_URL = re.compile(r"https?://[A-Za-z0-9.-]+(?::[0-9]{1,5})?(?:/[!#-~]*)?")  # printable ASCII, no space
API_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
MAX_URL = 1000


@dataclass
class ReleaseInfo:
    """What is known about where a file came from (the checker fills in the CMS side). It becomes the manifest's
    provenance, links given to every consumer: a ``source_url`` is an http(s) link (never ``javascript:``,
    ``data:`` or a relative path), an ``api_uuid`` a UUID (never ``../``), or the release is refused by name."""

    performance_year: int
    source_url: str | None = None
    cms_modified: str | None = None
    api_uuid: str | None = None

    def __post_init__(self) -> None:
        url, uuid = self.source_url, self.api_uuid
        if url is not None and (not isinstance(url, str) or len(url) > MAX_URL or not PROVENANCE_URL.fullmatch(url)):
            raise InvalidInput(f"the release's source_url is not an http(s) link: {printable(repr(url), 80)}")
        if uuid is not None and (not isinstance(uuid, str) or not API_UUID.fullmatch(uuid)):
            raise InvalidInput(f"the release's api_uuid is not a UUID: {printable(repr(uuid), 80)}")


@dataclass
class PublishedRelease:
    """What a finished publish tells the manifest about its release."""

    release_id: str
    source_sha256: str
    layout: str
    rows_read: int
    rows_rejected: int
    npis: int
    unknown_columns: list[str]
    final_score_check: dict[str, Any] | None = None


FINAL_SCORE_CHECK_DROP = 0.10
"""A release whose share of reproduced final scores is this much (absolute) below the performance year before's
is named in the output and in a metric: the alarm for the next misreading of a real file. It never blocks."""


class Manifest:
    """Reads and writes ``v1/manifest.json`` on the public store."""

    def __init__(
        self,
        public: BlobStore,
        *,
        records: PublicRecords | None = None,
        contract: Contract,
        methodology: Methodology,
        documents_source: dict[str, Any],
        clock: Callable[[], datetime],
    ) -> None:
        self.public = public
        self.records = records
        self.contract = contract
        self.methodology = methodology
        self.documents_source = documents_source
        self.clock = clock

    def read(self) -> dict[str, Any]:
        """What is published: the private record of the manifest (the public one is derived from it), or the
        public manifest of a tree published before records were kept; {} when there is neither."""
        where, data = f"the private record of {MANIFEST_KEY}", self.recorded()
        if data is None:
            where, data = MANIFEST_KEY, self.public.read(MANIFEST_KEY)
        if not data:
            return {}
        try:
            parsed = orjson.loads(data)
        except orjson.JSONDecodeError:
            parsed = None
        if not isinstance(parsed, dict) or not isinstance(parsed.get("releases", []), list):
            raise PublishError(
                f"{where} is damaged (not a manifest: truncated or overwritten) and nothing rebuilds it: restore it "
                f"from the bucket's previous object version"
            )
        return parsed

    def recorded(self) -> bytes | None:
        """The bytes of the manifest as last written, from the private record."""
        return self.records.recorded(MANIFEST_KEY) if self.records else None

    def release_entry(self, manifest: dict[str, Any], year: int) -> dict[str, Any] | None:
        return next((r for r in manifest.get("releases", []) if int(r["performance_year"]) == year), None)

    def final_score_check_drop(self, manifest: dict[str, Any], year: int, check: dict[str, Any] | None) -> list[str]:
        """A warning when ``year``'s share of reproduced final scores fell sharply below the nearest earlier
        published year's (``FINAL_SCORE_CHECK_DROP``); none otherwise."""
        share = (check or {}).get("share")
        earlier = sorted(
            (int(r["performance_year"]), r["final_score_check"]["share"])
            for r in manifest.get("releases", [])
            if int(r["performance_year"]) < year and (r.get("final_score_check") or {}).get("share") is not None
        )
        if share is None or not earlier:
            return []
        before_year, before = earlier[-1]
        if before - share <= FINAL_SCORE_CHECK_DROP:
            return []
        return [
            f"PY{year}: the shown category scores and weights reproduce the published final score for {share:.1%} "
            f"of entries, down from {before:.1%} for PY{before_year}: a layout or a scoring rule may be misread "
            "(published all the same; see final_score_check in the manifest)"
        ]

    def publish_release(
        self,
        manifest: dict[str, Any],
        release: ReleaseInfo,
        published: PublishedRelease,
        documents: int,
        now: datetime,
        *,
        bulk: dict[int, dict[str, Any]],
        changes: dict[str, Any] | None,
    ) -> None:
        """The manifest with ``release`` as the year's current release, its bulk files and change."""
        year = release.performance_year
        releases = {int(r["performance_year"]): r for r in manifest.get("releases", [])}
        previous = releases.get(year, {})
        same_release = previous.get("release_id") == published.release_id
        releases[year] = {
            "performance_year": year,
            "payment_year": self.methodology.payment_year(year),
            "release_id": published.release_id,
            "cms_modified": release.cms_modified,
            "source_url": release.source_url,
            "api_uuid": release.api_uuid,
            "source_sha256": published.source_sha256,
            "layout": published.layout,
            "retrieved_at": previous.get("retrieved_at") if same_release else iso(now),
            "published_at": previous.get("published_at") if same_release else iso(now),
            "last_checked": iso(now),
            "rows_read": published.rows_read,
            "rows_rejected": published.rows_rejected,
            "rows_accepted": published.rows_read - published.rows_rejected,
            "npis": published.npis,
            "attribution": attribution(year),
            "stats": national_key(year),
        }
        if published.final_score_check is not None:  # the fidelity self-check (documents.FinalScoreCheck)
            releases[year]["final_score_check"] = published.final_score_check
        if published.unknown_columns:  # drift: columns the contract does not know, kept privately in the audit
            releases[year]["unknown_columns"] = list(published.unknown_columns)
        for y, files in bulk.items():
            if y in releases:
                releases[y]["bulk"] = files
        feed = dict(manifest.get("changes") or {})
        if changes:
            recent = [c for c in feed.get("recent", []) if c["sequence"] != changes["sequence"]]
            feed = {"latest": changes["sequence"], "recent": [changes, *recent][:RECENT_CHANGES]}
        self.write(releases.values(), documents, now, changes=feed)

    def write(
        self,
        releases: Iterable[dict[str, Any]],
        documents: int,
        now: datetime,
        keep_dates: dict[str, Any] | None = None,
        *,
        changes: dict[str, Any] | None = None,
    ) -> None:
        body = {
            "schema_version": SCHEMA_VERSION,
            "methodology_version": self.methodology.version,
            "contract_version": self.contract.version,
            "generated_at": iso(now),
            "last_checked": keep_dates.get("last_checked", iso(now)) if keep_dates else iso(now),
            "source": SOURCE,
            "disclaimer": DISCLAIMER,
            "documents": {
                "key_pattern": NPI_KEY_PATTERN,
                "schema": SCHEMA_KEY,
                "count": documents,
                "source": self.documents_source,
            },
            "releases": sorted(releases, key=lambda r: -int(r["performance_year"])),
            "changes": {
                "key_pattern": CHANGE_KEY_PATTERN,
                "latest": (changes or {}).get("latest", 0),
                "recent": (changes or {}).get("recent", []),
            },
        }
        data = orjson.dumps(body, option=orjson.OPT_INDENT_2)
        if self.records:  # recorded first: a manifest made public was recorded
            self.records.record(MANIFEST_KEY, data)
        self.public.write(MANIFEST_KEY, data, content_type=CONTENT_TYPE, cache_control=CACHE_MANIFEST)

    def touch_last_checked(self, years: set[int], now: datetime | None = None) -> None:
        """Record that CMS was checked: only the manifest's last-checked dates change."""
        manifest = self.read()
        if not manifest or not years:
            return
        now = now or self.clock()
        for release in manifest.get("releases", []):
            if int(release["performance_year"]) in years:
                release["last_checked"] = iso(now)
        self.write(manifest["releases"], manifest["documents"]["count"], now, changes=manifest.get("changes"))

    def annotate_release(self, year: int, key: str, value: Any) -> bool:
        """Attach ``value`` under ``key`` to the manifest entry of ``year`` (False if not published)."""
        manifest = self.read()
        entry = self.release_entry(manifest, year)
        if entry is None:
            return False
        entry[key] = value
        self.write(
            manifest["releases"],
            manifest["documents"]["count"],
            self.clock(),
            keep_dates=manifest,
            changes=manifest.get("changes"),
        )
        return True
