"""Publish one CMS release (one performance year) into the public tree, incrementally and safely.

Publishing is three steps, so that AWS can fan the middle one out across Lambda invocations and the
local CLI can run all three in one process with the very same code. ``Publisher`` is their front: it
reads and gates a file, and refuses a stale run; each step's writing lives in its own module:

1. ``stage.Stager``: the audit Parquet, the quarantine report, the mart rows, the aggregates and the
   new per-NPI entries split into storage shards under ``runs/{run_id}/``, all private;
2. ``shards.ShardWriter`` (one group of shards, independent of every other group): rebuild the documents
   of the NPIs this year touches there (old and new), write only those whose bytes changed (by content
   hash, without reading objects back), delete documents left with no year, then record the shard's
   entries and content-hash index; a retried partition returns its recorded result;
3. ``finalize.Finalizer``: the JSON Schema, the aggregates, the bulk files, the change object, then
   ``v1/manifest.json`` last, only when every partition is done.

A crash anywhere leaves a tree a reader can trust (the old manifest, documents that are either old or
new), and running the same release again converges to the same bytes.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from datetime import datetime

import pyarrow as pa

from ..clock import iso, utc_now
from ..core.contract import Contract, load_contract
from ..core.documents import (
    DocumentBuilder,
    concat_entries,
)
from ..core.gates import GateLimits, enforce_gates
from ..core.methodology import Methodology, load_methodology
from ..core.reader import read_source
from ..core.stats import StatsBuilder
from ..core.validate import Validated, validate
from ..core.year_identity import refuse_another_years_file
from ..errors import PublishError, StaleRelease
from ..keys import (
    DOCUMENT_PREFIX,
)
from ..ports import NO_PROGRESS, BlobStore, Progress
from .bulk import BulkFile
from .finalize import Finalizer, PublishResult
from .ledger import Ledger, PartitionResult, StagedRun
from .manifest import Manifest, ReleaseInfo
from .reconcile import ProfileReconciler
from .records import PublicRecords
from .repair import Repairer
from .shards import ShardWriter, changed_npis
from .stage import Stager

logger = logging.getLogger(__name__)

__all__ = ["PartitionResult", "PublishResult", "Publisher", "ReleaseInfo", "StagedRun", "changed_npis"]


class Publisher:
    def __init__(
        self,
        public: BlobStore,
        private: BlobStore,
        *,
        contract: Contract | None = None,
        methodology: Methodology | None = None,
        clock: Callable[[], datetime] = utc_now,
        limits: GateLimits | None = None,
        progress: Progress = NO_PROGRESS,
    ) -> None:
        self.progress = progress
        self.public = public
        self.private = private
        self.ledger = Ledger(private)
        self.contract = contract or load_contract()
        self.methodology = methodology or load_methodology()
        self.builder = DocumentBuilder(self.contract, self.methodology)
        self.records = PublicRecords(private)
        self.manifest = Manifest(
            public,
            records=self.records,
            contract=self.contract,
            methodology=self.methodology,
            documents_source=self.builder.source,
            clock=clock,
        )
        self.stats = StatsBuilder(self.methodology)
        self.clock = clock
        self.limits = limits or GateLimits()
        self.stager = Stager(private, self.ledger, self.builder, self.stats, self.contract, clock)
        self.shards = ShardWriter(public, self.ledger, self.builder)
        self.finalizer = Finalizer(public, self.ledger, self.manifest, self.builder, clock, self.records)
        self.reconciler = ProfileReconciler(private, self.ledger, self.manifest)

    # -- entry point ---------------------------------------------------------------------------
    def publish_file(
        self, path: str | os.PathLike[str], release: ReleaseInfo, *, sha256: str | None = None, force: bool = False
    ) -> PublishResult:
        return self.publish_validated(
            self.read_and_check(path, release.performance_year, sha256=sha256, force=force), release
        )

    def read_and_check(
        self, path: str | os.PathLike[str], year: int, *, sha256: str | None = None, force: bool = False
    ) -> Validated:
        """Read, validate and pass the publish gates, or raise; nothing is written either way."""
        self.methodology.parameters(year)  # unsupported year: fail before reading
        task = self.progress.task(f"PY{year}: read and validate {os.path.basename(path)}")
        try:
            source = read_source(path, year, self.contract, sha256=sha256)
            identity = refuse_another_years_file(source, self.methodology, force=force)  # before any work
            if identity.note():
                logger.warning("PY%s: %s", year, identity.note())
            validated = validate(source, self.methodology)
        except BaseException:
            task.close(f"PY{year}: file refused")
            raise
        task.close(f"PY{year}: {validated.rows_read:,} rows read, {validated.rows_rejected:,} rejected")
        previous = self.manifest.release_entry(self.manifest.read(), year)
        enforce_gates(validated, previous, self.limits, force=force)
        return validated

    def publish_validated(self, validated: Validated, release: ReleaseInfo) -> PublishResult:
        """All three steps in this process (the local CLI)."""
        run = self.stage(validated, release, partitions=1)
        del validated  # the file's text (the largest object): the partitions read the staged entries
        results = [self.publish_partition(run, g) for g in range(len(run.groups))]
        return self.finalize(run, results)

    # -- step 1 ------------------------------------------------------------------------------------
    def stage(
        self, validated: Validated, release: ReleaseInfo, *, partitions: int = 1, run_id: str | None = None
    ) -> StagedRun:
        return self.stager.stage(validated, release, partitions=partitions, run_id=run_id)

    def load_run(self, run_id: str) -> StagedRun:
        return self.ledger.load_run(run_id)

    def refuse_if_stale(self, run: StagedRun) -> None:
        """Raise ``StaleRelease`` unless ``run`` is the run staged last for its year. A partition or a
        finalize of an older run (a retry or redrive arriving after a newer release was staged) would
        otherwise put old scores back over newer ones."""
        current = self.ledger.current_run(run.performance_year)
        if current != run.run_id:
            raise StaleRelease(
                f"run {run.run_id} of PY{run.performance_year} is no longer current "
                f"(the current run is {current}): refused, nothing written"
            )

    # -- step 2 ------------------------------------------------------------------------------------
    def publish_partition(self, run: StagedRun, group: int) -> PartitionResult:
        self.refuse_if_stale(run)
        recorded = self.ledger.partition_result(run.run_id, group)
        if recorded is not None:  # a retried partition that had finished: same answer, no work
            return recorded
        year = run.performance_year
        manifest = self.manifest.read()
        years = sorted({int(r["performance_year"]) for r in manifest.get("releases", [])} | {year})
        totals = PartitionResult(group, 0, 0, 0, 0, 0)
        rebuild_all = self._builder_changed()  # documents built differently than when published: every NPI
        task = self.progress.task(f"PY{year}: publish", total=len(run.groups[group]), unit="shards")
        # A first publish into an empty tree: the store may make every document visible at once at the end
        # (locally, one directory rename instead of one per file). The shards' ledger commits then wait for
        # that moment: an index must never record a document that is not visible.
        deferred: list[Callable[[], None]] = []
        with self.public.publish_together(DOCUMENT_PREFIX) as together:
            for shard in run.groups[group]:
                commit = self.shards.publish_shard(run, shard, years, totals, rebuild_all=rebuild_all)
                if together:
                    deferred.append(commit)
                else:
                    commit()
                task.advance()
        for commit in deferred:
            commit()
        task.close(f"PY{year}: {totals.docs_written:,} documents written, {totals.docs_deleted:,} deleted")
        self.ledger.record_partition(run.run_id, totals)
        return totals

    def builder_fingerprint(self) -> str:
        return self.finalizer.builder_fingerprint()

    def _builder_changed(self) -> bool:
        return self.ledger.fingerprint() != self.builder_fingerprint()

    # -- step 3 ------------------------------------------------------------------------------------
    def finalize(self, run: StagedRun, results: list[PartitionResult]) -> PublishResult:
        """Refused unless every partition finished and the run is still current; then the Finalizer."""
        done = {r.group for r in results}
        missing = [g for g in range(len(run.groups)) if g not in done]
        if missing:
            raise PublishError(f"run {run.run_id}: partitions {missing} have not finished; manifest not written")
        self.refuse_if_stale(run)
        rebuilt = self._builder_changed()
        if rebuilt:  # every shard has been rebuilt with this builder
            self.ledger.record_fingerprint(self.builder_fingerprint())
        return self.finalizer.finalize(run, results, rebuilt=rebuilt)

    def write_fixed_objects(self) -> list[str]:
        """The document schema and the 404 body where they differ (repair); the keys written."""
        return self.finalizer.write_fixed_objects()

    def bulk_files(self, year: int) -> list[BulkFile]:
        """Both bulk files of ``year``, built from its published entries (the private state)."""
        return self.finalizer.bulk_files(year)

    def write_bulk_file(self, file: BulkFile) -> None:
        self.finalizer.write_bulk_file(file)

    def repairer(self) -> Repairer:
        """Repair of the public tree from this publisher's private state (``repair.py``)."""
        return Repairer(self.public, self.manifest, self, self.records)

    def probe_private(self, key: str) -> str:
        """Self-test: write and read back ``key`` in the private store; the store's description."""
        self.private.write(key, b"selftest")
        if self.private.read(key) != b"selftest":
            raise AssertionError("the private store did not return what was written")
        return self.private.describe()

    def probe_public(self) -> str:
        """Self-test: read the manifest (a GET under v1/; a missing one is a 404 only with ListBucket on v1/)."""
        self.manifest.read()
        return self.public.describe()

    # -- the private state, for repair and reconciliation ---------------------------------------------
    def read_entries(self, year: int) -> pa.Table:
        """Every published entry of ``year`` (all shards)."""
        return self.ledger.year_entries(year)

    def partition_result(self, run_id: str, group: int) -> PartitionResult | None:
        """What a finished partition of ``run_id`` recorded (None if it has not finished)."""
        return self.ledger.partition_result(run_id, group)

    def now(self) -> str:
        """The publisher's clock as an ISO timestamp (what the state records as published or checked)."""
        return iso(self.clock())

    def touch_last_checked(self, years: set[int]) -> None:
        """The manifest's last-checked date of ``years`` (checked, and not republished)."""
        self.manifest.touch_last_checked(years)

    def private_years(self) -> set[int]:
        return self.ledger.years()

    def shard_documents(self, shard: int, years: list[int]) -> Iterator[tuple[str, bytes]]:
        """(npi, bytes) of every published document of one storage shard, rebuilt from the private entries."""
        return self.builder.documents(concat_entries([self.ledger.entries(y, shard) for y in years]))

    def recorded_stats(self, years: list[int]) -> dict[str, str]:
        """Public aggregate key -> content hash (hex) of what was last published, for ``years``."""
        out: dict[str, str] = {}
        for year in years:
            out.update(self.ledger.published_stats(year))
        return out
