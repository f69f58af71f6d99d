"""Local orchestration of a refresh: check every year (``checker``), publish what is new or corrected
(``publish``) and record it in the state store only after the publish succeeded. A year that fails
(download or file refused) leaves its tree and state untouched; the other years go on.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..adapters.http import HttpClient
from ..clock import iso
from ..core.catalog import (
    DEFAULT_CATALOG_URL,
    DEFAULT_PDC_URL,
    Release,
    pdc_release,
    qpp_releases,
    split_supported,
    unsupported_reason,
)
from ..errors import CatalogError, MipsProfilesError
from ..keys import raw_key
from ..ports import StateStore
from ..publishing.publish import Publisher, PublishResult, ReleaseInfo
from ..publishing.reconcile import RECONCILIATION_KEY, ProfileReconciler
from .checker import CheckResult, check_release, checked_record, discard, published_record

__all__ = ["RECONCILIATION_KEY", "RefreshReport", "Refresher", "YearOutcome"]


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
            out["unknown_columns"] = self.publish.unknown_columns
            out["final_score_check"] = self.publish.final_score_check
            if self.publish.warnings:
                out["warnings"] = self.publish.warnings
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


class Refresher:
    def __init__(
        self,
        http: HttpClient,
        publisher: Publisher,
        state: StateStore,
        *,
        hash_check: bool = True,
        work_dir: str | None = None,
    ) -> None:
        self.http = http
        self.publisher = publisher
        self.state = state
        self.hash_check = hash_check
        self.work_dir = work_dir
        self.reconciler = ProfileReconciler(publisher)

    def run(
        self,
        catalog_url: str = DEFAULT_CATALOG_URL,
        pdc_url: str | None = DEFAULT_PDC_URL,
        *,
        performance_year: int | None = None,
        force: bool = False,
    ) -> RefreshReport:
        if force and performance_year is None:
            raise MipsProfilesError("--force needs --performance-year: a forced re-run is for one named year")
        releases = qpp_releases(self.http.get_json(catalog_url))
        if performance_year is not None:
            releases = [r for r in releases if r.performance_year == performance_year]
            if not releases:
                raise CatalogError(f"performance year {performance_year} is not in the catalog")
        releases, unsupported = split_supported(releases)
        outcomes = [
            YearOutcome(
                "qpp", r.performance_year, "failed", "not supported", error=unsupported_reason(r.performance_year)
            )
            for r in unsupported
        ]
        with tempfile.TemporaryDirectory(dir=self.work_dir, prefix="mips-refresh-") as tmp:
            for release in sorted(releases, key=lambda r: r.performance_year):
                outcomes.append(self._year(release, tmp, force=force, publish=self._publish_qpp))
            if pdc_url:
                try:
                    pdc = pdc_release(self.http.get_item(pdc_url))
                except MipsProfilesError as exc:
                    outcomes.append(YearOutcome("pdc", performance_year or 0, "failed", "metastore", error=str(exc)))
                else:
                    if performance_year is not None and pdc.performance_year != performance_year:
                        why = f"PDC file is PY{pdc.performance_year}, run is for PY{performance_year}"
                        outcomes.append(YearOutcome("pdc", pdc.performance_year, "skipped", why))
                    else:
                        outcomes.append(self._year(pdc, tmp, force=force, publish=self._ingest_pdc))
        checked = {o.performance_year for o in outcomes if o.source == "qpp" and o.decision != "failed"}
        self.publisher.manifest.touch_last_checked(checked)
        return RefreshReport(outcomes)

    def _year(
        self, release: Release, tmp: str, *, force: bool, publish: Callable[[CheckResult], YearOutcome]
    ) -> YearOutcome:
        year, source = release.performance_year, release.source
        record = self.state.get(source, year)
        check: CheckResult | None = None
        try:
            check = check_release(release, record, self.http, tmp, force=force, hash_check=self.hash_check)
            if not check.publishable:
                if record is not None:
                    self.state.put(source, year, checked_record(record, iso(self.publisher.clock()), check.download))
                return YearOutcome(source, year, check.decision, check.reason)
            return publish(check)
        except MipsProfilesError as exc:
            reason = check.reason if check else "download"
            return YearOutcome(source, year, "failed", reason, error=str(exc))
        except Exception as exc:  # one year's failure, whatever it is: the other years go on
            reason = check.reason if check else "download"
            return YearOutcome(source, year, "failed", reason, error=f"unexpected {type(exc).__name__}: {exc}")
        finally:
            if check:
                discard(check.download)

    def _publish_qpp(self, check: CheckResult) -> YearOutcome:
        release, download = check.release, check.fetched
        path, sha256 = download.file
        year = release.performance_year
        result = self.publisher.publish_file(
            path,
            ReleaseInfo(
                year, source_url=release.download_url, cms_modified=release.modified, api_uuid=release.api_uuid
            ),
            sha256=sha256,
            force=check.decision == "forced",
        )
        self.publisher.private.put_file(raw_key("qpp", year, sha256), path)
        self.state.put(
            "qpp",
            year,
            published_record(release, download, result.rows_read, result.release_id, iso(self.publisher.clock())),
        )
        outcome = YearOutcome("qpp", year, check.decision, check.reason, publish=result)
        recon = self.reconciler.reconcile_year(year)
        if recon:
            outcome.extra[RECONCILIATION_KEY] = recon
        return outcome

    def _ingest_pdc(self, check: CheckResult) -> YearOutcome:
        release, download = check.release, check.fetched
        year = release.performance_year
        path, sha256 = download.file
        ingested = self.reconciler.ingest(path, year, sha256)
        self.state.put(
            "pdc",
            year,
            published_record(release, download, ingested.rows, ingested.release_id, iso(self.publisher.clock())),
        )
        outcome = YearOutcome(
            "pdc",
            year,
            check.decision,
            check.reason,
            extra={"rows_read": ingested.rows, "rows_skipped": ingested.skipped_rows},
        )
        recon = self.reconciler.reconcile_year(year)
        if recon:
            outcome.extra[RECONCILIATION_KEY] = recon
        return outcome
