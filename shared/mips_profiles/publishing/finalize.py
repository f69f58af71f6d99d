"""Step 3 of a publish, once every partition is done: the fixed objects (the document schema, the 404 body),
the year's aggregates, its bulk files, the run's change object and, last, ``v1/manifest.json``. Each is written
only when its bytes changed, so a rerun converges and a correction costs what it changed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..clock import iso
from ..core.documents import CONTENT_TYPE, NOT_FOUND, DocumentBuilder, dumps
from ..core.profile_schema import profile_schema
from ..errors import PublishError
from ..keys import CACHE_DOCUMENT, CACHE_MANIFEST, NOT_FOUND_KEY, SCHEMA_KEY, bulk_prefix, change_key
from ..ports import BlobStore, content_hash
from .bulk import BULK_FORMATS, CONTENT_ENCODING, BulkBuilder, BulkFile, Changes, change_object
from .bulk_year import BulkAssembler
from .ledger import Ledger, PartitionResult, StagedRun
from .manifest import Manifest, PublishedRelease, ReleaseInfo
from .records import PublicRecords
from .shards import builder_fingerprint

__all__ = ["Finalizer", "PublishResult"]


@dataclass
class PublishResult:
    performance_year: int
    release_id: str
    source_sha256: str
    rows_read: int
    rows_rejected: int
    npis: int
    docs_written: int
    docs_unchanged: int
    docs_deleted: int
    audit_key: str
    quarantine_key: str | None
    unknown_columns: list[str] = field(default_factory=list)
    bytes_written: int = 0
    final_score_check: dict[str, Any] | None = None  # documents.FinalScoreCheck.as_dict()
    warnings: list[str] = field(default_factory=list)  # said, never blocking: a sharp drop of the check's share

    def counts(self) -> dict[str, int]:
        return {
            "rows_read": self.rows_read,
            "rows_rejected": self.rows_rejected,
            "docs_written": self.docs_written,
            "docs_unchanged": self.docs_unchanged,
            "docs_deleted": self.docs_deleted,
        }


class Finalizer:
    """What the Finalize step writes, through the public store; what it read and recorded, through the ledger."""

    def __init__(
        self,
        public: BlobStore,
        ledger: Ledger,
        manifest: Manifest,
        builder: DocumentBuilder,
        clock: Callable[[], datetime],
        records: PublicRecords,
    ) -> None:
        self.public = public
        self.records = records
        self.ledger = ledger
        self.manifest = manifest
        self.builder = builder
        self.assembler = BulkAssembler(ledger, BulkBuilder(builder), self.builder_fingerprint)
        self.clock = clock
        self._fingerprint: str | None = None

    def builder_fingerprint(self) -> str:
        if self._fingerprint is None:
            self._fingerprint = builder_fingerprint(self.builder)
        return self._fingerprint

    def finalize(self, run: StagedRun, results: list[PartitionResult], *, rebuilt: bool) -> PublishResult:
        """The release made visible: the fixed objects, the aggregates, the bulk files of the year (of every year
        when the documents were ``rebuilt``), the change object, the manifest last."""
        self.write_fixed_objects()
        self._publish_stats(run)
        result = PublishResult(
            performance_year=run.performance_year,
            release_id=run.release_id,
            source_sha256=run.source_sha256,
            rows_read=run.rows_read,
            rows_rejected=run.rows_rejected,
            npis=run.npis,
            docs_written=sum(r.docs_written for r in results),
            docs_unchanged=sum(r.docs_unchanged for r in results),
            docs_deleted=sum(r.docs_deleted for r in results),
            audit_key=run.audit_key,
            quarantine_key=run.quarantine_key,
            unknown_columns=run.unknown_columns,
            bytes_written=sum(r.bytes_written for r in results),
            final_score_check=run.final_score_check,
        )
        release = ReleaseInfo(**run.release)
        manifest = self.manifest.read()
        result.warnings += self.manifest.final_score_check_drop(manifest, run.performance_year, run.final_score_check)
        # documents first (the partitions), then the bulk files and the change object, the manifest last
        years = {run.performance_year} | (
            {int(r["performance_year"]) for r in manifest.get("releases", [])} if rebuilt else set()
        )
        self.ledger.promote_mart(run.run_id, run.performance_year)
        bulk = {year: self._publish_bulk(year, manifest) for year in sorted(years)}
        changes = self._publish_changes(run, manifest)
        published = PublishedRelease(
            result.release_id,
            result.source_sha256,
            run.layout,
            result.rows_read,
            result.rows_rejected,
            result.npis,
            result.unknown_columns,
            run.final_score_check,
        )
        documents = sum(r.documents for r in results)
        self.manifest.publish_release(manifest, release, published, documents, self.clock(), bulk=bulk, changes=changes)
        self.ledger.set_unpublished_runs(run.performance_year, [])  # their changes are listed now
        return result

    def _publish_bulk(self, year: int, manifest: dict[str, Any]) -> dict[str, Any]:
        """The year's bulk files, written only when their content changed, and the mart's headlines of the
        year from the same pass over its entries (private, as the documents have them); the manifest entries."""
        recorded: dict[str, Any] = (self.manifest.release_entry(manifest, year) or {}).get("bulk", {})
        files, headlines = self.assembler.files(year)
        self.ledger.write_mart("profile_headlines", year, headlines)
        present = self.public.md5_listing(bulk_prefix(year))  # one LIST: deleted since?
        out = {}
        for fmt, file in zip(BULK_FORMATS, files, strict=True):
            if recorded.get(fmt, {}).get("sha256") != file.sha256 or file.key not in present:
                self.write_bulk_file(file)
            out[fmt] = file.manifest_entry()
        return out

    def bulk_files(self, year: int) -> list[BulkFile]:
        """Both bulk files of ``year``, assembled from its published entries (the private state)."""
        return self.assembler.files(year)[0]

    def write_bulk_file(self, file: BulkFile) -> None:
        self.public.write(
            file.key,
            file.data,
            content_type=BULK_FORMATS[file.key.rsplit(".", 1)[1]],
            cache_control=CACHE_DOCUMENT,
            content_encoding=CONTENT_ENCODING,
        )

    def _publish_changes(self, run: StagedRun, manifest: dict[str, Any]) -> dict[str, Any] | None:
        """The change object of every document changed since the year's last listed change object: this run's
        and those of runs that were interrupted after writing documents (none if nothing changed); the
        manifest's entry for it."""
        year = run.performance_year
        listed = int((manifest.get("changes") or {}).get("latest") or 0)
        runs = [r for r in self.ledger.unpublished_runs(year) if r != run.run_id] + [run.run_id]
        # a run whose change object the manifest lists already (its finalize got past the manifest's record but
        # not to the end) carries the runs before it: only the runs after it are still unlisted
        covered = [i for i, r in enumerate(runs) if (n := self.ledger.reserved_sequence(r)) is not None and n <= listed]
        runs = runs[covered[-1] + 1 :] if covered else runs
        changes = Changes.merged(self.ledger.run_changes(r) for r in runs)
        if not changes:
            return None
        previous = (self.manifest.release_entry(manifest, year) or {}).get("release_id")
        cms_modified = run.release.get("cms_modified")

        def data(sequence: int) -> bytes:
            return change_object(sequence, year, run.release_id, previous, cms_modified, changes)

        def choose() -> int:
            """The next number after the highest ever written (recorded privately: a lost manifest never makes a
            number used twice), or the highest itself when it was never listed and an interrupted attempt of
            this same publish wrote it with these very bytes."""
            highest = self.records.highest_change()
            if highest > listed and self.records.recorded(change_key(highest)) == data(highest):
                return highest
            return max(listed, highest) + 1

        sequence = self.ledger.change_sequence(run.run_id, choose)
        key, body = change_key(sequence), data(sequence)
        recorded = self.records.recorded(key)
        if recorded is not None and recorded != body:  # a retried finalize makes the same bytes, or refuses
            raise PublishError(f"change object {key} was recorded with other contents: it is never rewritten")
        self.records.record(key, body)
        self.public.write(key, body, content_type=CONTENT_TYPE, cache_control=CACHE_DOCUMENT)
        return {
            "sequence": sequence,
            "key": key,
            "performance_year": year,
            "release_id": run.release_id,
            "published_at": iso(self.clock()),
            "counts": changes.counts(),
        }

    def _publish_stats(self, run: StagedRun) -> None:
        """The year's aggregates: only those whose bytes changed since the last publish (compared with the
        private record of what was published, not by reading objects back); those of groups a correction
        emptied are deleted. The record is written last, so a rerun after a crash converges."""
        staged = self.ledger.staged_stats(run.run_id)
        if staged is None:
            return
        fresh = {key: dumps(body) for key, body in staged.items()}
        before = self.ledger.published_stats(run.performance_year)
        digests = {key: content_hash(data).hex() for key, data in fresh.items()}
        for key, data in fresh.items():
            if before.get(key) != digests[key]:
                self.records.record(key, data)  # recorded first, so repair can restore it
                self.public.write(key, data, content_type=CONTENT_TYPE, cache_control=CACHE_DOCUMENT)
        # an emptied group's record stays (the role may not delete private objects); repair restores only what
        # the stats record lists as published
        self.public.delete_many(key for key in before if key not in fresh)
        # renewed specialty and state aggregates are public now: the next correction is compared with their basis
        self.ledger.breakdowns.promote(run.run_id, run.performance_year)
        if digests != before:
            self.ledger.record_stats(run.performance_year, digests)

    def write_fixed_objects(self) -> list[str]:
        """The document schema and the 404 body, where their bytes differ from what is there; the keys written."""
        written = []
        for key, body in ((SCHEMA_KEY, profile_schema(self.builder)), (NOT_FOUND_KEY, NOT_FOUND)):
            data = dumps(body)
            if self.public.read(key) != data:
                self.public.write(key, data, content_type=CONTENT_TYPE, cache_control=CACHE_MANIFEST)
                written.append(key)
        return written
