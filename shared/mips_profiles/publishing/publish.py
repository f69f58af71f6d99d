"""Publish one CMS release (one performance year) into the public tree, incrementally and safely.

Publishing is three steps, so that AWS can fan the middle one out across Lambda invocations and the
local CLI can run all three in one process with the very same code:

1. ``stage``: the file was read and validated as a whole (a file-level problem raised before this);
   write the audit Parquet and quarantine report under release-specific private keys, and the new
   per-NPI entries split into storage shards under ``runs/{run_id}/``;
2. ``publish_partition`` (one group of shards, independent of every other group): rebuild the
   documents of the NPIs this year touches there (old and new), write only those whose bytes changed
   (by content hash, without reading objects back), delete documents left with no year, then record
   the shard's entries and content-hash index; a retried partition returns its recorded result;
3. ``finalize``: the JSON Schema, then ``v1/manifest.json`` last, only when every partition is done.

A crash anywhere leaves a tree a reader can trust (the old manifest, documents that are either old or
new), and running the same release again converges to the same bytes.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..clock import iso, utc_now
from ..core import jsoncolumns as jc
from ..core import mart
from ..core.contract import Contract, load_contract
from ..core.documents import (
    CONTENT_TYPE,
    ENTRY_SCHEMA,
    NOT_FOUND,
    DocumentBuilder,
    FinalScoreCheck,
    concat_entries,
    dumps,
    year_entries,
)
from ..core.gates import GateLimits, enforce_gates
from ..core.methodology import Methodology, load_methodology
from ..core.reader import LINE_COLUMN, read_source
from ..core.stats import StatsBuilder, category_counts, clinicians
from ..core.validate import Validated, validate
from ..errors import PublishError, StaleRelease
from ..keys import (
    CACHE_DOCUMENT,
    CACHE_MANIFEST,
    DOCUMENT_PREFIX,
    NOT_FOUND_KEY,
    SCHEMA_KEY,
    audit_key,
    bulk_prefix,
    change_key,
    npi_keys,
    parent_prefix,
    quarantine_key,
    run_prefix,
)
from ..keys import release_id as make_release_id
from ..ports import NO_PROGRESS, BlobStore, Progress, content_hash
from .bulk import BULK_FORMATS, CONTENT_ENCODING, BulkBuilder, BulkFile, Changes, change_object
from .ledger import Ledger, PartitionResult, StagedRun, shard_groups, shard_of
from .manifest import Manifest, PublishedRelease, ReleaseInfo

__all__ = ["PartitionResult", "PublishResult", "Publisher", "ReleaseInfo", "StagedRun", "changed_npis"]


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
        self.manifest = Manifest(
            public,
            contract=self.contract,
            methodology=self.methodology,
            documents_source=self.builder.source,
            clock=clock,
        )
        self.bulk = BulkBuilder(self.builder)
        self.stats = StatsBuilder(self.methodology)
        self.clock = clock
        self.limits = limits or GateLimits()
        self._fingerprint: str | None = None

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
            validated = validate(source, self.methodology, max_rejected_share=None)
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
        year = release.performance_year
        source = validated.source
        release_id = make_release_id(year, source.sha256)
        run_id = run_id or f"{release_id}-{self.clock().strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
        # a stage that fails half-way takes back what it wrote: the private data is as it was
        # (listed, not read: the shard function may write the audit records but not read them back)
        mine = (audit_key(year, release_id), quarantine_key(year, release_id))
        fresh = [k for k in mine if k not in self.private.md5_listing(parent_prefix(k))]
        try:
            return self._stage(validated, release, partitions, run_id)
        except BaseException:
            self.private.delete_many([*fresh, *self.private.md5_listing(run_prefix(run_id))])
            raise

    def _stage(self, validated: Validated, release: ReleaseInfo, partitions: int, run_id: str) -> StagedRun:
        year = release.performance_year
        source = validated.source
        release_id = make_release_id(year, source.sha256)
        audit = _audit_table(validated, release_id)
        # The audit's Parquet encoding (C++, without the GIL) overlaps the typing of the mart rows.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="audit") as pool:
            audit_written = pool.submit(self.ledger.write_audit, year, release_id, audit)
            typed = mart.clinician_scores(audit, self.contract, cms_modified=release.cms_modified)
            a_key = audit_written.result()
        self.ledger.stage_mart(run_id, typed)
        del audit, typed
        q_key = self.ledger.write_quarantine(year, release_id, validated.rejected) if validated.rows_rejected else None
        entries = year_entries(validated.records, year)
        shown = self.builder.display(entries)
        check = FinalScoreCheck.of(shown)
        aggregates = self.stats.build(
            clinicians(validated.records, validated.accepted_text),
            year,
            release_id,
            categories=category_counts(shown, pc.is_valid(entries.column("final_score"))),
        )
        self.ledger.stage_stats(run_id, aggregates)
        shards = shard_of(entries.column("npi"))
        for shard in np.unique(shards).tolist():  # an absent shard file reads as empty
            self.ledger.write_staged(run_id, int(shard), entries.filter(pa.array(shards == shard)))
        run = StagedRun(
            run_id=run_id,
            performance_year=year,
            release_id=release_id,
            release=asdict(release),
            source_sha256=source.sha256,
            layout=source.layout.name,
            rows_read=validated.rows_read,
            rows_rejected=validated.rows_rejected,
            npis=entries.num_rows,
            audit_key=a_key,
            quarantine_key=q_key,
            groups=shard_groups(partitions),
            unknown_columns=source.unknown_columns,
            final_score_check=check.as_dict(),
        )
        self.ledger.write_run(run)
        return run

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
        task = self.progress.task(f"PY{year}: publish", total=len(run.groups[group]), unit="shards")
        # A first publish into an empty tree: the store may make every document visible at once at the end
        # (locally, one directory rename instead of one per file). The shards' ledger commits then wait for
        # that moment: an index must never record a document that is not visible.
        deferred: list[Callable[[], None]] = []
        with self.public.publish_together(DOCUMENT_PREFIX) as together:
            for shard in run.groups[group]:
                commit = self._publish_shard(run, shard, years, totals)
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

    def _publish_shard(
        self, run: StagedRun, shard: int, years: list[int], totals: PartitionResult
    ) -> Callable[[], None]:
        """Write the shard's changed documents and delete its vanished ones; returns the ledger commit of the
        shard, to run once those writes are visible."""
        year = run.performance_year
        new_entries = self.ledger.staged(run.run_id, shard)
        old_entries = self.ledger.entries(year, shard)
        index = self.ledger.index(shard)
        if self._builder_changed():
            # Documents are built differently than when they were published: rebuild every NPI here.
            every = [new_entries, *(self.ledger.entries(y, shard) for y in years if y != year)]
            affected = pa.concat_arrays(
                [t.column("npi").combine_chunks() for t in every] + [pa.array(list(index), pa.string())]
            ).unique()
        else:
            # Only NPIs whose entry for this year changed (or appeared, or vanished) can change bytes.
            affected = changed_npis(old_entries, new_entries)
        others = [self.ledger.entries(y, shard, only=affected) for y in years if y != year]
        mine = new_entries.filter(pc.is_in(new_entries.column("npi"), value_set=affected))
        combined = concat_entries([mine, *others])
        npis = combined.column("npi").unique().to_pylist()
        key_of = dict(zip(npis, npi_keys(npis), strict=True))  # every NPI checked in one pass
        written = 0
        changes = Changes()

        def changed_documents() -> Iterator[tuple[str, bytes]]:
            nonlocal written
            for npi, data in self.builder.documents(combined):
                digest = content_hash(data)
                before = index.get(npi)
                if before == digest:
                    continue
                (changes.changed if before is not None else changes.added).append(npi)
                index[npi] = digest
                written += 1
                totals.bytes_written += len(data)
                yield key_of[npi], data

        self.public.write_many(changed_documents(), content_type=CONTENT_TYPE, cache_control=CACHE_DOCUMENT)
        still_published = set(combined.column("npi").to_pylist())
        vanished = [npi for npi in affected.to_pylist() if npi not in still_published and npi in index]
        deleted = self.public.delete_many(npi_keys(vanished))
        for npi in vanished:
            del index[npi]
        changes.removed.extend(vanished)
        touched = len(
            pa.concat_arrays(
                [old_entries.column("npi").combine_chunks(), new_entries.column("npi").combine_chunks()]
            ).unique()
        )
        totals.docs_written += written
        totals.docs_deleted += deleted
        totals.docs_unchanged += max(0, touched - written - deleted)
        totals.documents += len(index)

        def commit() -> None:
            if changes:  # recorded before the commit: a rerun after the commit finds nothing left to record
                self.ledger.record_changes(run.run_id, shard, changes)
            if len(affected) or vanished or written:
                self.ledger.commit_shard(year, shard, index, new_entries)

        return commit

    def builder_fingerprint(self) -> str:
        """Changes whenever document bytes would: the schema and a sample document built now."""
        if self._fingerprint is None:
            sample = pa.Table.from_pylist(
                [
                    {
                        "npi": "1376745471",
                        "performance_year": 2024,
                        "final_score": 94.79,
                        "payment_adjustment_pct": 1.05,
                        "participation_option": "Group",
                        "quality_category_score": 93.1,
                        "pi_category_score": None,
                        "ia_category_score": 40.0,
                        "cost_category_score": 0.0,
                        "scored_practices": 2,
                    },
                    {
                        "npi": "1376745471",
                        "performance_year": 2019,
                        "final_score": None,
                        "payment_adjustment_pct": -7.0,
                        "participation_option": "MIPS APM",
                        "quality_category_score": None,
                        "pi_category_score": 100.0,
                        "ia_category_score": None,
                        "cost_category_score": None,
                        "scored_practices": 1,
                    },
                ],
                schema=ENTRY_SCHEMA,
            )
            digest = hashlib.sha256(dumps(self.builder.json_schema()))
            for _, data in self.builder.documents(sample):
                digest.update(data)
            self._fingerprint = digest.hexdigest()
        return self._fingerprint

    def _builder_changed(self) -> bool:
        return self.ledger.fingerprint() != self.builder_fingerprint()

    # -- step 3 ------------------------------------------------------------------------------------
    def finalize(self, run: StagedRun, results: list[PartitionResult]) -> PublishResult:
        done = {r.group for r in results}
        missing = [g for g in range(len(run.groups)) if g not in done]
        if missing:
            raise PublishError(f"run {run.run_id}: partitions {missing} have not finished; manifest not written")
        self.refuse_if_stale(run)
        rebuilt = self._builder_changed()
        if rebuilt:  # every shard has been rebuilt with this builder
            self.ledger.record_fingerprint(self.builder_fingerprint())
        for key, body in ((SCHEMA_KEY, self.builder.json_schema()), (NOT_FOUND_KEY, NOT_FOUND)):
            data = dumps(body)
            if self.public.read(key) != data:
                self.public.write(key, data, content_type=CONTENT_TYPE, cache_control=CACHE_MANIFEST)
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
        return result

    def _publish_bulk(self, year: int, manifest: dict[str, Any]) -> dict[str, Any]:
        """The year's bulk files, written only when their content changed, and the mart's headlines of the
        year from the same pass over its entries (private, as the documents have them); the manifest entries."""
        recorded: dict[str, Any] = (self.manifest.release_entry(manifest, year) or {}).get("bulk", {})
        headlines: list[pa.Table] = []
        files = self.bulk_files(year, on_rows=lambda npis, cols: headlines.append(mart.profile_headlines(npis, cols)))
        none = mart.profile_headlines(pa.array([], pa.string()), [])
        self.ledger.write_mart("profile_headlines", year, pa.concat_tables(headlines or [none]))
        present = self.public.md5_listing(bulk_prefix(year))  # one LIST: deleted since?
        out = {}
        for fmt, file in zip(BULK_FORMATS, files, strict=True):
            if recorded.get(fmt, {}).get("sha256") != file.sha256 or file.key not in present:
                self.write_bulk_file(file)
            out[fmt] = file.manifest_entry()
        return out

    def bulk_files(
        self, year: int, on_rows: Callable[[pa.Array, list[tuple[str, jc.Column]]], None] | None = None
    ) -> list[BulkFile]:
        """Both bulk files of ``year``, built from its published entries (the private state)."""
        return self.bulk.build(year, self.ledger.entry_shards(year), on_rows)

    def write_bulk_file(self, file: BulkFile) -> None:
        self.public.write(
            file.key,
            file.data,
            content_type=BULK_FORMATS[file.key.rsplit(".", 1)[1]],
            cache_control=CACHE_DOCUMENT,
            content_encoding=CONTENT_ENCODING,
        )

    def _publish_changes(self, run: StagedRun, manifest: dict[str, Any]) -> dict[str, Any] | None:
        """The run's change object (none if no document changed); the manifest's entry for it."""
        changes = self.ledger.run_changes(run.run_id)
        if not changes:
            return None
        feed = manifest.get("changes") or {}
        sequence = self.ledger.change_sequence(run.run_id, int(feed.get("latest") or 0) + 1)
        previous = (self.manifest.release_entry(manifest, run.performance_year) or {}).get("release_id")
        key = change_key(sequence)
        self.public.write(
            key,
            change_object(
                sequence, run.performance_year, run.release_id, previous, run.release.get("cms_modified"), changes
            ),
            content_type=CONTENT_TYPE,
            cache_control=CACHE_DOCUMENT,
        )
        return {
            "sequence": sequence,
            "key": key,
            "performance_year": run.performance_year,
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
                self.public.write(key, data, content_type=CONTENT_TYPE, cache_control=CACHE_DOCUMENT)
        self.public.delete_many(key for key in before if key not in fresh)
        if digests != before:
            self.ledger.record_stats(run.performance_year, digests)

    # -- the private state, for repair and reconciliation (the manifest: self.manifest) -----------------
    def read_entries(self, year: int) -> pa.Table:
        """Every published entry of ``year`` (all shards)."""
        return self.ledger.year_entries(year)

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


def _audit_table(validated: Validated, release_id: str) -> pa.Table:
    """The accepted rows as CMS published them (text), with their line and the release they came in."""
    table = validated.accepted_text
    n = table.num_rows
    source = validated.source
    table = table.rename_columns(["source_line" if c == LINE_COLUMN else c for c in table.column_names])
    table = table.append_column("performance_year", pa.array([source.performance_year] * n, pa.int32()))
    table = table.append_column("release_id", pa.array([release_id] * n, pa.string()).dictionary_encode())
    return table.append_column("source_sha256", pa.array([source.sha256] * n, pa.string()).dictionary_encode())


def changed_npis(old: pa.Table, new: pa.Table) -> pa.Array:
    """NPIs whose entry differs between two entry tables of one year (nulls equal to nulls), plus those
    in only one of them. Column-wise: one join and one comparison per column."""
    if old.num_rows == 0 or new.num_rows == 0:
        return pa.concat_arrays([old.column("npi").combine_chunks(), new.column("npi").combine_chunks()]).unique()
    joined = old.join(new, keys="npi", join_type="full outer", left_suffix="_old", right_suffix="_new")
    differs = pa.array(np.zeros(joined.num_rows, dtype=bool))  # an NPI on one side only: its columns differ
    for name in ENTRY_SCHEMA.names[1:]:
        a, b = joined.column(f"{name}_old"), joined.column(f"{name}_new")
        same = pc.or_(pc.fill_null(pc.equal(a, b), False), pc.and_(pc.is_null(a), pc.is_null(b)))
        differs = pc.or_(differs, pc.invert(same))
    return joined.filter(differs).column("npi").combine_chunks()
