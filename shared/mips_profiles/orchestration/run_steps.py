"""The steps of a refresh run that the shard function performs for the state machine
(``statemachine/refresh.asl.json``), one method per step:

- ``stage``: read and validate a QPP plan item's raw file as a whole (a bad file is refused here, before
  anything public is written) and stage it in partition groups;
- ``publish_partition``: publish one group of NPI storage shards;
- ``finalize``: aggregates, the manifest last, the release state, reconciliation with the PDC file of the
  year, one CDN invalidation;
- ``ingest_pdc``: keep the CMS profile score file privately and reconcile its year;
- ``record_check_dates``: the manifest's ``last_checked`` of the years checked and not republished.

The state machine does the ordering, the fan-out, the retries and the lock; each step here is safe to run
twice (at-least-once invocation): a finished partition answers its recorded result, a finalize rewrites
the same manifest. A partition or finalize of a run that is no longer the current one for its year raises
``StaleRelease``: it never puts an older release back.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson

from ..adapters.http import Download
from ..core.catalog import Release
from ..core.reader import sha256_file
from ..errors import InvalidInput, MipsProfilesError
from ..keys import check_record_key
from ..ports import BlobStore, Cdn, StateStore
from ..publishing.publish import Publisher, ReleaseInfo
from .checker import published_record
from .messages import (
    CheckDates,
    PartitionOutcome,
    PlanItem,
    PublishedOutcome,
    ReconciledOutcome,
    RefusedOutcome,
    Source,
    StagedOutcome,
    StepOutcome,
    parse_plan_item,
)

INVALIDATION_PATHS = ["/v1/*"]


class RunSteps:
    def __init__(
        self,
        publisher: Publisher,
        *,
        raw: BlobStore,
        state: StateStore,
        cdn: Cdn,
        partitions: int,
        work_dir: str | None = None,
    ) -> None:
        self.publisher = publisher
        self.raw = raw
        self.state = state
        self.cdn = cdn
        self.partitions = partitions
        self.work_dir = work_dir
        self.reconciler = publisher.reconciler

    @contextmanager
    def _raw_file(self, item: PlanItem, name: str) -> Iterator[str | None]:
        """The plan item's raw file in a scratch directory (None if the raw store lost it), removed after. The
        item is parsed first: its raw key is the one its source, year and SHA-256 name (under ``raw/``), and the
        file's bytes must hash to that SHA-256, or the step refuses it: a step never takes an item's word."""
        with tempfile.TemporaryDirectory(dir=self.work_dir, prefix="mips-step-") as tmp:
            path = os.path.join(tmp, name)
            if not self.raw.get_file(item["raw_key"], path):
                yield None
                return
            actual, claimed = sha256_file(path), item["download"]["sha256"]
            if actual != claimed:
                raise InvalidInput(
                    f"raw file {item['raw_key']}: its bytes hash to {actual}, not to the plan's {claimed}: refused"
                )
            yield path

    def stage(self, item: PlanItem) -> StagedOutcome | RefusedOutcome:
        item = parse_plan_item(item)
        release = Release.from_dict(item["release"])
        year = release.performance_year
        try:
            with self._raw_file(item, "source.csv") as path:
                if path is None:
                    return _refused(year, f"raw file {item['raw_key']} is missing")
                validated = self.publisher.read_and_check(
                    path, year, sha256=item["download"]["sha256"], force=item["decision"] == "forced"
                )
        except MipsProfilesError as exc:
            return _refused(year, str(exc))
        run = self.publisher.stage(
            validated,
            ReleaseInfo(
                year, source_url=release.download_url, cms_modified=release.modified, api_uuid=release.api_uuid
            ),
            partitions=self.partitions,
        )
        return {
            "status": "staged",
            "source": "qpp",
            "performance_year": year,
            "run_id": run.run_id,
            "groups": list(range(len(run.groups))),
            "rows_rejected": run.rows_rejected,
            "unknown_columns": run.unknown_columns,
            "error": None,
        }

    def publish_partition(self, run_id: str, group: int) -> PartitionOutcome:
        run = self.publisher.load_run(run_id)
        if not 0 <= group < len(run.groups):
            raise MipsProfilesError(f"run {run_id} has no partition group {group}")
        done = self.publisher.publish_partition(run, group)
        return {
            "group": done.group,
            "docs_written": done.docs_written,
            "docs_unchanged": done.docs_unchanged,
            "docs_deleted": done.docs_deleted,
            "bytes_written": done.bytes_written,
            "documents": done.documents,
        }

    def _as_checked(self, run_id: str, item: PlanItem, staged: dict[str, Any]) -> PlanItem:
        """The item, if every field is what the Check step recorded beside the raw file and what Stage staged;
        else refused naming the field (an old file finalized with the current release's validators would roll
        the score back and make the daily conditional GET answer 304 for good)."""
        year, sha256 = int(item["release"]["performance_year"]), item["download"]["sha256"]
        data = self.raw.read(check_record_key("qpp", year, sha256))
        if data is None:
            raise InvalidInput(f"finalize of run {run_id}: no Check record of the file {sha256}: refused")
        differing = _differing_field(item, orjson.loads(data), staged)
        if differing:
            raise InvalidInput(
                f"finalize of run {run_id}: the item's {differing} is not what the Check step recorded of the file "
                "or what Stage staged: refused, nothing written"
            )
        return item

    def finalize(self, run_id: str, item: PlanItem) -> PublishedOutcome:
        item = parse_plan_item(item)
        run = self.publisher.load_run(run_id)
        staged = (run.performance_year, run.source_sha256)
        claimed = (int(item["release"]["performance_year"]), item["download"]["sha256"])
        if claimed != staged or item["source"] != "qpp":
            raise InvalidInput(
                f"finalize of run {run_id}: the item (PY{claimed[0]}, {claimed[1]}) is not what the run staged "
                f"(PY{staged[0]}, {staged[1]}): refused, nothing written"
            )
        item = self._as_checked(run_id, item, run.release)  # every field as Check recorded it, or refused
        results = []
        for g in range(len(run.groups)):
            recorded = self.publisher.partition_result(run_id, g)
            if recorded is None:
                raise MipsProfilesError(f"run {run_id}: partition {g} has no recorded result")
            results.append(recorded)
        result = self.publisher.finalize(run, results)  # refuses a stale run before writing anything
        release = Release.from_dict(item["release"])
        self.state.put(
            "qpp",
            run.performance_year,
            published_record(
                release, _download(release, item), result.rows_read, result.release_id, self.publisher.now()
            ),
        )
        summary = self.reconciler.reconcile_year(run.performance_year)  # against the year's PDC file, if any
        if result.docs_written or result.docs_deleted:
            self.cdn.invalidate(INVALIDATION_PATHS, reference=run_id)
        return {
            "status": "published",
            "source": "qpp",
            "performance_year": run.performance_year,
            "run_id": run_id,
            "release_id": result.release_id,
            "rows_read": result.rows_read,
            "rows_rejected": result.rows_rejected,
            "docs_written": result.docs_written,
            "docs_unchanged": result.docs_unchanged,
            "docs_deleted": result.docs_deleted,
            "bytes_written": result.bytes_written,
            "unknown_columns": result.unknown_columns,
            "quarantine_key": result.quarantine_key,
            "final_score_check": result.final_score_check,
            "warnings": result.warnings,
            "cms_profile_reconciliation": summary,
        }

    def ingest_pdc(self, item: PlanItem) -> ReconciledOutcome | RefusedOutcome:
        item = parse_plan_item(item)
        release = Release.from_dict(item["release"])
        year = release.performance_year
        try:
            with self._raw_file(item, "ec_score_file.csv") as path:
                if path is None:
                    return _refused(year, f"raw file {item['raw_key']} is missing", source="pdc")
                ingested = self.reconciler.ingest(path, year, item["download"]["sha256"])
        except MipsProfilesError as exc:  # the QPP years stand: only the PDC file was refused
            return _refused(year, str(exc), source="pdc")
        self.state.put(
            "pdc",
            year,
            published_record(
                release, _download(release, item), ingested.rows, ingested.release_id, self.publisher.now()
            ),
        )
        summary = self.reconciler.reconcile_year(year)
        return {
            "status": "reconciled",
            "source": "pdc",
            "performance_year": year,
            "rows_read": ingested.rows,
            "rows_skipped": ingested.skipped_rows,
            "cms_profile_reconciliation": summary,
        }

    def record_check_dates(self, checked: list[int], outcomes: list[StepOutcome]) -> CheckDates:
        """A published year's manifest entry carries its check date already; a refused year keeps the date
        of its last good check, so that the manifest never says a refused file was checked fine."""
        done = {
            int(o["performance_year"])
            for o in outcomes
            if o.get("source") == "qpp" and o.get("status") in ("published", "refused")
        }
        touched = sorted({int(y) for y in checked} - done)
        self.publisher.touch_last_checked(set(touched))
        return {"touched": touched}


def _refused(year: int, error: str, *, source: Source = "qpp") -> RefusedOutcome:
    return {
        "status": "refused",
        "source": source,
        "performance_year": year,
        "run_id": None,
        "groups": [],
        "error": error,
    }


def _differing_field(item: PlanItem, record: dict[str, Any], staged: dict[str, Any]) -> str | None:
    """The first field in which a finalize item is not what Check recorded of its file or what Stage staged."""
    for part in ("release", "download"):
        recorded = record.get(part) or {}
        given = item[part]
        for name in sorted(set(recorded) | set(given)):
            if given.get(name) != recorded.get(name):
                return f"{part}.{name}"
    staged_as = {"download_url": "source_url", "modified": "cms_modified", "api_uuid": "api_uuid"}
    for name, key in staged_as.items():
        if item["release"].get(name) != staged.get(key):
            return f"release.{name}"
    return None


def _download(release: Release, item: PlanItem) -> Download:
    """What the checker recorded of a download, for the state record."""
    info = item["download"]
    return Download(
        release.download_url,
        None,
        info["sha256"],
        int(info.get("size") or 0),
        etag=info.get("etag"),
        last_modified=info.get("last_modified"),
    )
