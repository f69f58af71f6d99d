"""What the shard-scores Lambda does with each work message:

- ``run``: take the next year of the plan, read and validate its raw file as a whole (a bad file is
  refused here, before anything is written), stage it, and fan out one ``partition`` message per
  group of NPI shards; with an empty plan, record the check dates and release the run lock;
- ``partition``: publish one group of shards; the caller that completes the run finalizes it
  (schema, manifest last, release state, reconciliation with the PDC file, one CDN invalidation), then
  hands the rest of the plan on;
- a PDC plan item (last in the plan): keep the file privately and reconcile its year.

Every step is safe to retry: a staged run, a finished partition and a finalize are idempotent.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from typing import Any

from .catalog import Release
from .checker import published_record
from .clock import iso
from .errors import MipsProfilesError
from .http import Download
from .publish import PartitionResult, Publisher, PublishResult, ReleaseInfo, result_key
from .reconcile import RECONCILIATION_KEY, ProfileReconciler

INVALIDATION_PATHS = ["/v1/*"]


@dataclass
class WorkOutcome:
    kind: str
    status: str
    performance_year: int | None = None
    run_id: str | None = None
    publish: PublishResult | None = None
    partition: PartitionResult | None = None
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


class ShardWorker:
    def __init__(self, publisher: Publisher, *, raw: Any, state: Any, lock: Any, tracker: Any, queue: Any,
                 cdn: Any, partitions: int, work_dir: str | None = None) -> None:
        self.publisher = publisher
        self.raw = raw
        self.state = state
        self.lock = lock
        self.tracker = tracker
        self.queue = queue
        self.cdn = cdn
        self.partitions = partitions
        self.work_dir = work_dir
        self.reconciler = ProfileReconciler(publisher)

    def handle(self, message: dict[str, Any]) -> WorkOutcome:
        kind = message.get("kind")
        if kind == "run":
            return self.run(message)
        if kind == "partition":
            return self.partition(message["run_id"], int(message["group"]))
        raise MipsProfilesError(f"unknown work message kind {kind!r}")

    # -- run: prepare the next year ------------------------------------------------------------------
    def run(self, message: dict[str, Any]) -> WorkOutcome:
        plan, owner, checked = list(message.get("plan", [])), message["owner"], list(message.get("checked", []))
        if not plan:
            self.publisher.touch_last_checked(set(checked))
            self.lock.release(owner)
            return WorkOutcome("run", "done")
        item, rest = plan[0], plan[1:]
        release = Release.from_dict(item["release"])
        year = release.performance_year
        if item.get("source") == "pdc":
            return self.ingest_pdc(message, item, rest)
        with tempfile.TemporaryDirectory(dir=self.work_dir, prefix="mips-shard-") as tmp:
            path = os.path.join(tmp, "source.csv")
            if not self.raw.get_file(item["raw_key"], path):
                return self._skip(message, rest, checked, year, f"raw file {item['raw_key']} is missing")
            try:
                validated = self.publisher.read_and_check(path, year, sha256=item["download"]["sha256"],
                                                          force=item["decision"] == "forced")
            except MipsProfilesError as exc:
                return self._skip(message, rest, checked, year, str(exc))
        run = self.publisher.stage(validated, ReleaseInfo(year, source_url=release.download_url,
                                                          cms_modified=release.modified,
                                                          api_uuid=release.api_uuid),
                                   partitions=self.partitions)
        self.tracker.start(run.run_id, len(run.groups), {"item": item, "rest": rest, "checked": checked,
                                                         "owner": owner})
        self.queue.send_many([{"kind": "partition", "run_id": run.run_id, "group": g}
                              for g in range(len(run.groups))])
        return WorkOutcome("run", "staged", year, run.run_id,
                           details={"partitions": len(run.groups), "rows_rejected": run.rows_rejected,
                                    "unknown_columns": run.unknown_columns})

    def ingest_pdc(self, message: dict[str, Any], item: dict[str, Any], rest: list[dict[str, Any]]) -> WorkOutcome:
        """The PDC score file: keep it privately and reconcile the year's published scores with it."""
        release = Release.from_dict(item["release"])
        year = release.performance_year
        with tempfile.TemporaryDirectory(dir=self.work_dir, prefix="mips-pdc-") as tmp:
            path = os.path.join(tmp, "ec_score_file.csv")
            if not self.raw.get_file(item["raw_key"], path):
                self.queue.send_many([{**message, "plan": rest}])
                return WorkOutcome("run", "refused", year, error=f"raw file {item['raw_key']} is missing")
            try:
                ingested = self.reconciler.ingest(path, year, item["download"]["sha256"])
            except MipsProfilesError as exc:  # the QPP years stay checked: only the PDC file was refused
                self.queue.send_many([{**message, "plan": rest}])
                return WorkOutcome("run", "refused", year, error=str(exc))
        self.state.put("pdc", year, published_record(release, _download(release, item), ingested.rows,
                                                     ingested.release_id, iso(self.publisher.clock())))
        summary = self.reconciler.reconcile_year(year)
        self.queue.send_many([{**message, "plan": rest}])
        return WorkOutcome("run", "reconciled", year, details={"rows_read": ingested.rows,
                                                               RECONCILIATION_KEY: summary})

    def _skip(self, message: dict[str, Any], rest: list[dict[str, Any]], checked: list[int], year: int,
              error: str) -> WorkOutcome:
        """A refused year changes nothing; the rest of the plan goes on."""
        remaining = [y for y in checked if y != year]
        self.queue.send_many([{**message, "plan": rest, "checked": remaining}])
        return WorkOutcome("run", "refused", year, error=error)

    # -- partition ----------------------------------------------------------------------------------
    def partition(self, run_id: str, group: int) -> WorkOutcome:
        run = self.publisher.load_run(run_id)
        result = self.publisher.publish_partition(run, group)
        outcome = WorkOutcome("partition", "published", run.performance_year, run_id, partition=result)
        if self.tracker.partition_done(run_id, group):
            outcome.publish = self.finalize(run_id)
            outcome.status = "finalized"
        return outcome

    def finalize(self, run_id: str) -> PublishResult:
        import orjson

        run = self.publisher.load_run(run_id)
        results = []
        for g in range(len(run.groups)):
            data = self.publisher.private.read(result_key(run_id, g))
            if data is None:
                raise MipsProfilesError(f"run {run_id}: partition {g} has no recorded result")
            results.append(PartitionResult(**orjson.loads(data)))
        result = self.publisher.finalize(run, results)
        context = self.tracker.context(run_id)
        item = context["item"]
        release = Release.from_dict(item["release"])
        self.state.put("qpp", run.performance_year, published_record(
            release, _download(release, item), result.rows_read, result.release_id, iso(self.publisher.clock())))
        self.reconciler.reconcile_year(run.performance_year)  # against the PDC file of the year, if any
        if result.docs_written or result.docs_deleted:
            self.cdn.invalidate(INVALIDATION_PATHS, reference=run_id)
        self.tracker.finish(run_id, "published")
        # The manifest already carries this year's check date: only the other years remain to touch.
        remaining = [y for y in context["checked"] if y != run.performance_year]
        self.queue.send_many([{"kind": "run", "owner": context["owner"], "plan": context["rest"],
                               "checked": remaining}])
        return result


def _download(release: Release, item: dict[str, Any]) -> Download:
    """What the checker recorded of a download, for the state record."""
    info = item["download"]
    return Download(release.download_url, None, info["sha256"], int(info.get("size") or 0),
                    etag=info.get("etag"), last_modified=info.get("last_modified"))
