"""What the checker Lambda does as the state machine's ``Check`` step: check each performance year, put
new or corrected files into the raw store, and answer the plan the state machine then publishes.

Light on purpose (no pandas, no pyarrow): this module, ``checker``, ``catalog`` and ``http`` are all
the checker Lambda imports.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from typing import Any, Literal

from ..adapters.http import HttpClient
from ..clock import iso, utc_now
from ..core.catalog import Release, pdc_release, qpp_releases, split_supported, unsupported_reason
from ..errors import CatalogError, MipsProfilesError
from ..keys import check_record_key, raw_key
from ..ports import BlobStore, StateStore
from ..text import printable
from .checker import CheckResult, check_release, checked_record, discard
from .messages import CheckAnswer, PlanItem, YearDecision, parse_run_request

MAX_ERROR = 500
"""Characters of an error kept in the Check step's answer (it carries CMS's text; the answer must stay far
under Step Functions' 256 KiB, however many years fail)."""


@dataclass(frozen=True)
class CheckRequest:
    """A scheduled check (no year) or a manual re-run for one year."""

    performance_year: int | None = None
    force: bool = False
    reason: str = "scheduled check"

    @classmethod
    def from_event(cls, event: Any) -> CheckRequest:
        """Parsed, never coerced (``messages.parse_run_request``): ``force`` is a JSON boolean, the year a whole
        number the methodology supports, and an unknown field (``performanceYear``) is refused by name."""
        year, force, reason = parse_run_request(event)
        return cls(year, force, reason or ("manual re-run" if year else "scheduled check"))


def check_for_releases(
    request: CheckRequest,
    *,
    http: HttpClient,
    state: StateStore,
    raw: BlobStore,
    catalog_url: str,
    work_dir: str | None = None,
    pdc_url: str | None = None,
    hash_check: bool = True,
) -> CheckAnswer:
    """Check the catalog (and the PDC score file) and answer the plan: the new or corrected files, already
    in the raw store, in the order they must be published. The state machine holds the run lock around
    this step; a catalog failure raises (the run fails), a year's failure is that year's decision."""
    releases = qpp_releases(http.get_json(catalog_url))
    if request.performance_year is not None:
        releases = [r for r in releases if r.performance_year == request.performance_year]
        if not releases:
            raise CatalogError(f"performance year {request.performance_year} is not in the catalog")
    plan: list[PlanItem] = []
    years: dict[str, YearDecision] = {}
    checked: list[int] = []
    releases, unsupported = split_supported(releases)
    for release in unsupported:
        years[str(release.performance_year)] = {
            "decision": "failed",
            "error": unsupported_reason(release.performance_year),
        }
    with tempfile.TemporaryDirectory(dir=work_dir, prefix="mips-check-") as tmp:
        for release in sorted(releases, key=lambda r: r.performance_year):
            year = release.performance_year
            try:
                item = _check_one(request, release, state, http, raw, tmp, hash_check)
            except Exception as exc:  # that year's failure, named; the other years go on
                error = str(exc) if isinstance(exc, MipsProfilesError) else f"unexpected {type(exc).__name__}: {exc}"
                error = printable(error, MAX_ERROR)  # CMS's text inside: one line, and the answer stays small
                years[str(year)] = {"decision": "failed", "error": error}
                continue
            checked.append(year)
            years[str(year)] = {"decision": item.decision, "reason": item.reason}
            if item.plan_item:
                plan.append(item.plan_item)
        pdc = _check_pdc(request, http, state, raw, pdc_url, tmp, plan, hash_check) if pdc_url else None
    return {
        "status": "publishing" if plan else "unchanged",
        "years": years,
        "pdc": pdc,
        "plan": plan,
        "checked": checked,
    }


@dataclass
class _Checked:
    decision: str
    reason: str
    plan_item: PlanItem | None


def _check_one(
    request: CheckRequest,
    release: Release,
    state: StateStore,
    http: HttpClient,
    raw: BlobStore,
    tmp: str,
    hash_check: bool,
) -> _Checked:
    year = release.performance_year
    record = state.get("qpp", year)
    check = check_release(release, record, http, tmp, force=request.force, hash_check=hash_check)
    try:
        if not check.publishable:
            if record is not None:
                state.put("qpp", year, checked_record(record, iso(utc_now()), check.download))
            return _Checked(check.decision, check.reason, None)
        path, sha256 = check.fetched.file
        key = raw_key("qpp", year, sha256)
        raw.put_file(key, path)
        item = _plan_item(key, check)
        raw.write(check_record_key("qpp", year, sha256), check_record(item))  # what Finalize will trust
        return _Checked(check.decision, check.reason, item)
    finally:
        discard(check.download)  # the store took the file (moved or uploaded); nothing may be left behind


def check_record(item: PlanItem) -> bytes:
    """The Check step's own record of a download: the plan item's release and download, as JSON."""
    return json.dumps({"release": item["release"], "download": item["download"]}, sort_keys=True).encode()


def _plan_item(raw_key: str, check: CheckResult) -> PlanItem:
    download = check.fetched
    source: Literal["qpp", "pdc"] = "pdc" if check.release.source == "pdc" else "qpp"
    return {
        "source": source,
        "raw_key": raw_key,
        "decision": check.decision,
        "reason": check.reason,
        "release": check.release.to_dict(),
        "download": {
            "sha256": download.file[1],
            "size": download.size,
            "etag": download.etag,
            "last_modified": download.last_modified,
        },
    }


def _check_pdc(
    request: CheckRequest,
    http: HttpClient,
    state: StateStore,
    raw: BlobStore,
    pdc_url: str,
    tmp: str,
    plan: list[PlanItem],
    hash_check: bool = True,
) -> YearDecision:
    """The PDC score file: a new or corrected one joins the end of the plan (after the QPP years it is
    compared with). Its failure is reported and changes nothing else."""
    try:
        release = pdc_release(http.get_item(pdc_url))
    except MipsProfilesError as exc:
        return {"decision": "failed", "error": printable(exc, MAX_ERROR)}
    year = release.performance_year
    if request.performance_year is not None and year != request.performance_year:
        return {"performance_year": year, "decision": "skipped", "reason": f"run is for PY{request.performance_year}"}
    record = state.get("pdc", year)
    try:
        check = check_release(release, record, http, tmp, force=request.force, hash_check=hash_check)
    except MipsProfilesError as exc:
        return {"performance_year": year, "decision": "failed", "error": printable(exc, MAX_ERROR)}
    try:
        if check.publishable:
            path, sha256 = check.fetched.file
            key = raw_key("pdc", year, sha256)
            raw.put_file(key, path)
            plan.append(_plan_item(key, check))
        elif record is not None:
            state.put("pdc", year, checked_record(record, iso(utc_now()), check.download))
    except Exception as exc:
        error = printable(f"unexpected {type(exc).__name__}: {exc}", MAX_ERROR)
        return {"performance_year": year, "decision": "failed", "error": error}
    finally:
        discard(check.download)
    return {"performance_year": year, "decision": check.decision, "reason": check.reason}
