"""Decide, per performance year, whether CMS published something new, and fetch it if so.

Light on purpose (standard library + the HTTP adapter): the checker Lambda imports this and must
cold-start without pandas or pyarrow.

- ``new``: never published;
- ``corrected``: same year, CMS ``modified`` or ``downloadURL`` changed, or (metadata unchanged) the
  downloaded bytes hash differently;
- ``unchanged``: nothing to do (a conditional GET answering 304 counts as unchanged);
- ``forced``: a person asked to re-download and re-publish the year.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

from ..adapters.http import Download, HttpClient, normalise_url
from ..core.catalog import Release
from ..errors import MipsProfilesError
from ..ports import ReleaseRecord

PUBLISHABLE = frozenset({"new", "corrected", "forced"})


@dataclass
class CheckResult:
    release: Release
    decision: str
    reason: str
    download: Download | None = None  # set (with a local file) when the year is to be published

    @property
    def publishable(self) -> bool:
        return self.decision in PUBLISHABLE

    @property
    def fetched(self) -> Download:
        """The download of a year to be published (the checker sets it with every publishable decision)."""
        if self.download is None:
            raise MipsProfilesError(f"PY{self.release.performance_year}: {self.decision} but nothing downloaded")
        return self.download


def decide(release: Release, record: ReleaseRecord | None) -> tuple[str, str]:
    if record is None:
        return "new", "not published before"
    if (release.modified or None) != (record.get("modified") or None):
        return "corrected", f"CMS modified date {record.get('modified')} -> {release.modified}"
    if normalise_url(release.download_url) != normalise_url(record.get("download_url") or ""):
        return "corrected", "download URL changed"
    return "unchanged", "catalog entry unchanged"


def check_release(
    release: Release,
    record: ReleaseRecord | None,
    http: HttpClient,
    directory: str,
    *,
    force: bool = False,
    hash_check: bool = True,
) -> CheckResult:
    """Decide and, when there is something to publish, download it into ``directory``.

    Raises :class:`~mips_profiles.adapters.http.DownloadError` when the download fails (nothing kept)."""
    decision, reason = ("forced", "manual re-run") if force else decide(release, record)
    if decision == "unchanged" and not hash_check:
        return CheckResult(release, decision, reason)
    conditional = record if decision == "unchanged" and record else {}
    download = http.download(
        release.download_url, directory, etag=conditional.get("etag"), last_modified=conditional.get("last_modified")
    )
    if download.not_modified:
        return CheckResult(release, "unchanged", "not modified (HTTP 304)", download)
    if decision == "unchanged":
        if record and download.sha256 == record.get("sha256"):
            discard(download)
            return CheckResult(release, "unchanged", "content hash unchanged", download)
        decision, reason = "corrected", "content hash changed"
    return CheckResult(release, decision, reason, download)


def discard(download: Download | None) -> None:
    if download and download.path:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(download.path)
        download.path = None


def published_record(
    release: Release, download: Download, rows: int, release_id: str, checked_at: str
) -> ReleaseRecord:
    """The state record written after a publish succeeded."""
    return {
        "source": release.source,
        "performance_year": release.performance_year,
        "modified": release.modified,
        "download_url": release.download_url,
        "api_uuid": release.api_uuid,
        "title": release.title,
        "row_count": rows,
        "sha256": download.sha256,
        "size_bytes": download.size,
        "etag": download.etag,
        "last_modified": download.last_modified,
        "release_id": release_id,
        "last_checked": checked_at,
    }


def checked_record(record: ReleaseRecord, checked_at: str, download: Download | None) -> ReleaseRecord:
    """The state record after an unchanged check: the check time, and validators the server now offers."""
    updated: ReleaseRecord = {**record, "last_checked": checked_at}
    if download is not None and not download.not_modified and (download.etag or download.last_modified):
        updated["etag"], updated["last_modified"] = download.etag, download.last_modified
    return updated
