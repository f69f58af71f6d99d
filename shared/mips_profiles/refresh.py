"""The release checker: watch CMS for new performance years and corrections, refresh the tree.

Per performance year of the QPP Experience dataset the decision is:

- ``new``: never published;
- ``corrected``: same year, CMS ``modified`` or ``downloadURL`` changed, or (metadata unchanged)
  the downloaded bytes hash differently;
- ``unchanged``: nothing to do (a conditional GET answering 304 counts as unchanged);
- ``forced``: a person asked to re-download and re-publish the year (``--force``);
- ``failed``: download or file refused; the tree and the recorded state for that year are untouched.

State is written only after a publish succeeds, so a crash means the next run simply tries again.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from .catalog import DEFAULT_CATALOG_URL, DEFAULT_PDC_URL, CatalogError, Release, pdc_release, qpp_releases
from .errors import MipsProfilesError
from .http import Download, HttpClient, normalise_url
from .publish import Publisher, PublishResult, ReleaseInfo, _csv_bytes, _parquet_bytes, iso

RECONCILIATION_KEY = "cms_profile_reconciliation"


@dataclass
class YearOutcome:
    source: str
    performance_year: int
    decision: str
    reason: str
    publish: PublishResult | None = None
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"decision": self.decision, "reason": self.reason}
        if self.publish:
            out.update(self.publish.counts())
            out["release_id"] = self.publish.release_id
        if self.error:
            out["error"] = self.error
        out.update(self.extra)
        return out


@dataclass
class RefreshReport:
    outcomes: list[YearOutcome]

    @property
    def ok(self) -> bool:
        return all(o.decision != "failed" for o in self.outcomes)

    def as_dict(self) -> dict[str, Any]:
        qpp = {str(o.performance_year): o.as_dict() for o in self.outcomes if o.source == "qpp"}
        pdc = {str(o.performance_year): o.as_dict() for o in self.outcomes if o.source == "pdc"}
        return {"ok": self.ok, "years": qpp, "pdc": pdc}


def decide(release: Release, record: dict[str, Any] | None) -> tuple[str, str]:
    if record is None:
        return "new", "not published before"
    if (release.modified or None) != (record.get("modified") or None):
        return "corrected", f"CMS modified date {record.get('modified')} -> {release.modified}"
    if normalise_url(release.download_url) != normalise_url(record.get("download_url") or ""):
        return "corrected", "download URL changed"
    return "unchanged", "catalog entry unchanged"


class Refresher:
    def __init__(self, http: HttpClient, publisher: Publisher, state: Any, *, hash_check: bool = True,
                 work_dir: str | None = None) -> None:
        self.http = http
        self.publisher = publisher
        self.state = state
        self.hash_check = hash_check
        self.work_dir = work_dir

    # -- entry point -------------------------------------------------------------------------------
    def run(self, catalog_url: str = DEFAULT_CATALOG_URL, pdc_url: str | None = DEFAULT_PDC_URL, *,
            performance_year: int | None = None, force: bool = False) -> RefreshReport:
        if force and performance_year is None:
            raise MipsProfilesError("--force needs --performance-year: a forced re-run is for one named year")
        releases = qpp_releases(self.http.get_json(catalog_url))
        if performance_year is not None:
            releases = [r for r in releases if r.performance_year == performance_year]
            if not releases:
                raise CatalogError(f"performance year {performance_year} is not in the catalog")
        outcomes = []
        with tempfile.TemporaryDirectory(dir=self.work_dir, prefix="mips-refresh-") as tmp:
            for release in sorted(releases, key=lambda r: r.performance_year):
                outcomes.append(self._qpp_year(release, tmp, force=force))
            if pdc_url:
                outcomes.append(self._pdc(pdc_url, tmp, only_year=performance_year, force=force))
        checked = {o.performance_year for o in outcomes if o.source == "qpp" and o.decision != "failed"}
        self.publisher.touch_last_checked(checked)
        return RefreshReport([o for o in outcomes if o is not None])

    # -- QPP -------------------------------------------------------------------------------------------
    def _qpp_year(self, release: Release, tmp: str, *, force: bool) -> YearOutcome:
        year = release.performance_year
        record = self.state.get("qpp", year)
        decision, reason = ("forced", "manual re-run") if force else decide(release, record)
        if decision == "unchanged" and not self.hash_check:
            return self._unchanged("qpp", year, record, reason)
        download: Download | None = None
        try:
            conditional = record if decision == "unchanged" and record else {}
            download = self.http.download(release.download_url, tmp, etag=conditional.get("etag"),
                                          last_modified=conditional.get("last_modified"))
            if download.not_modified:
                return self._unchanged("qpp", year, record, "not modified (HTTP 304)")
            if decision == "unchanged":
                if record and download.sha256 == record.get("sha256"):
                    return self._unchanged("qpp", year, record, "content hash unchanged", download)
                decision, reason = "corrected", "content hash changed"
            result = self.publisher.publish_file(
                download.path,
                ReleaseInfo(year, source_url=release.download_url, cms_modified=release.modified,
                            api_uuid=release.api_uuid),
                sha256=download.sha256,
            )
            self.publisher.private.put_file(f"raw/qpp/py={year}/{download.sha256}.csv", download.path)
            self.state.put("qpp", year, self._record(release, download, result.rows_read, result.release_id))
            outcome = YearOutcome("qpp", year, decision, reason, publish=result)
            recon = self._reconcile_year(year)
            if recon:
                outcome.extra[RECONCILIATION_KEY] = recon
            return outcome
        except MipsProfilesError as exc:
            return YearOutcome("qpp", year, "failed", reason, error=str(exc))
        finally:
            if download and download.path:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(download.path)

    def _unchanged(self, source: str, year: int, record: dict[str, Any] | None, reason: str,
                   download: Download | None = None) -> YearOutcome:
        """Nothing to publish: only the check itself is recorded (and validators the server now offers)."""
        if record is not None:
            updated = {**record, "last_checked": iso(self.publisher.clock())}
            if download is not None and (download.etag or download.last_modified):
                updated["etag"], updated["last_modified"] = download.etag, download.last_modified
            self.state.put(source, year, updated)
        return YearOutcome(source, year, "unchanged", reason)

    def _record(self, release: Release, download: Download, rows: int, release_id: str) -> dict[str, Any]:
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
            "last_checked": iso(self.publisher.clock()),
        }

    # -- PDC -------------------------------------------------------------------------------------------
    def _pdc(self, url: str, tmp: str, *, only_year: int | None, force: bool) -> YearOutcome:
        from .pdc import read_pdc

        try:
            release = pdc_release(self.http.get_json(url))
        except MipsProfilesError as exc:
            return YearOutcome("pdc", only_year or 0, "failed", "metastore", error=str(exc))
        year = release.performance_year
        if only_year is not None and year != only_year:
            return YearOutcome("pdc", year, "skipped", f"PDC file is PY{year}, run is for PY{only_year}")
        record = self.state.get("pdc", year)
        decision, reason = ("forced", "manual re-run") if force else decide(release, record)
        if decision == "unchanged" and not self.hash_check:
            return self._unchanged("pdc", year, record, reason)
        download: Download | None = None
        try:
            conditional = record if decision == "unchanged" and record else {}
            download = self.http.download(release.download_url, tmp, etag=conditional.get("etag"),
                                          last_modified=conditional.get("last_modified"))
            if download.not_modified:
                return self._unchanged("pdc", year, record, "not modified (HTTP 304)")
            if decision == "unchanged":
                if record and download.sha256 == record.get("sha256"):
                    return self._unchanged("pdc", year, record, "content hash unchanged", download)
                decision, reason = "corrected", "content hash changed"
            scores = read_pdc(download.path)
            release_id = f"{year}-{download.sha256[:16]}"
            private = self.publisher.private
            private.write(f"pdc/py={year}/release={release_id}/ec_score_file.parquet", _parquet_bytes(scores.table))
            private.write(f"pdc/py={year}/scores.parquet", _parquet_bytes(scores.scores))
            private.put_file(f"raw/pdc/py={year}/{download.sha256}.csv", download.path)
            self.state.put("pdc", year, self._record(release, download, scores.rows, release_id))
            outcome = YearOutcome("pdc", year, decision, reason, extra={"rows_read": scores.rows,
                                                                         "rows_skipped": scores.skipped_rows})
            recon = self._reconcile_year(year)
            if recon:
                outcome.extra[RECONCILIATION_KEY] = recon
            return outcome
        except MipsProfilesError as exc:
            return YearOutcome("pdc", year, "failed", reason, error=str(exc))
        finally:
            if download and download.path:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(download.path)

    def _reconcile_year(self, year: int) -> dict[str, Any] | None:
        """Compare the published QPP headline scores of ``year`` with the PDC scores, if both exist."""
        import pyarrow.parquet as pq

        from .pdc import reconcile

        data = self.publisher.private.read(f"pdc/py={year}/scores.parquet")
        entries = self.publisher.read_entries(year)
        if data is None or entries.num_rows == 0:
            return None
        result = reconcile(entries, pq.read_table(pa.BufferReader(data)))
        report_key = f"reconciliation/py={year}/mismatches.csv"
        self.publisher.private.write(report_key, _csv_bytes(result.mismatches))
        summary = {**result.summary(), "mismatch_report": "private:" + report_key}
        self.publisher.annotate_release(year, RECONCILIATION_KEY, result.summary())
        return summary
