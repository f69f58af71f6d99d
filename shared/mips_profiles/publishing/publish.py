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
import io
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ..clock import iso, utc_now
from ..core.contract import Contract, load_contract
from ..core.documents import (
    CONTENT_TYPE,
    DISCLAIMER,
    ENTRY_SCHEMA,
    NOT_FOUND,
    SCHEMA_VERSION,
    DocumentBuilder,
    attribution,
    concat_entries,
    dumps,
    year_entries,
)
from ..core.gates import GateLimits, enforce_gates
from ..core.methodology import Methodology, load_methodology
from ..core.reader import LINE_COLUMN, read_source
from ..core.stats import StatsBuilder, clinicians
from ..core.validate import Validated, validate
from ..errors import PublishError, StaleRelease
from ..keys import (
    CACHE_DOCUMENT,
    CACHE_MANIFEST,
    CHANGE_KEY_PATTERN,
    ENTRIES_ROOT,
    FINGERPRINT_KEY,
    MANIFEST_KEY,
    NOT_FOUND_KEY,
    NPI_KEY_PATTERN,
    SCHEMA_KEY,
    audit_key,
    bulk_prefix,
    change_key,
    change_sequence_key,
    changes_stage_key,
    changes_stage_prefix,
    current_run_key,
    entries_key,
    entries_prefix,
    index_key,
    national_key,
    npi_key,
    quarantine_key,
    result_key,
    run_key,
    staged_key,
    stats_record_key,
    stats_stage_key,
)
from ..keys import release_id as make_release_id
from ..ports import NO_PROGRESS, BlobStore, Progress, content_hash
from .bulk import BULK_FORMATS, CONTENT_ENCODING, RECENT_CHANGES, BulkBuilder, BulkFile, Changes, change_object

SHARDS = 64
"""Storage shards of the private state (entries and index), by ``int(npi) % SHARDS``. Fixed: it is
part of the private layout. Lambda partitions are groups of shards, so their count can change freely."""

INDEX_SCHEMA = pa.schema([("npi", pa.string()), ("hash", pa.binary(16))])


def shard_groups(partitions: int) -> list[list[int]]:
    """Split the storage shards into ``partitions`` contiguous groups (one per Lambda invocation)."""
    partitions = max(1, min(partitions, SHARDS))
    return [list(map(int, g)) for g in np.array_split(np.arange(SHARDS), partitions)]


def shard_of(npis: pa.Array | pa.ChunkedArray) -> np.ndarray:
    values: np.ndarray = pc.cast(npis, pa.int64()).to_numpy(zero_copy_only=False)
    return values % SHARDS


@dataclass
class ReleaseInfo:
    """What is known about where a file came from (the checker fills in the CMS side)."""

    performance_year: int
    source_url: str | None = None
    cms_modified: str | None = None
    api_uuid: str | None = None


@dataclass
class StagedRun:
    """A validated release waiting to be published; stored as ``runs/{run_id}/run.json``."""

    run_id: str
    performance_year: int
    release_id: str
    release: dict[str, Any]
    source_sha256: str
    layout: str
    rows_read: int
    rows_rejected: int
    npis: int
    audit_key: str
    quarantine_key: str | None
    groups: list[list[int]]
    unknown_columns: list[str] = field(default_factory=list)

    def to_json(self) -> bytes:
        return orjson.dumps(asdict(self))

    @classmethod
    def from_json(cls, data: bytes) -> StagedRun:
        return cls(**orjson.loads(data))


@dataclass
class PartitionResult:
    group: int
    docs_written: int
    docs_unchanged: int
    docs_deleted: int
    bytes_written: int
    documents: int  # documents in the tree for this group's shards after publishing


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
        self.contract = contract or load_contract()
        self.methodology = methodology or load_methodology()
        self.builder = DocumentBuilder(self.contract, self.methodology)
        self.bulk = BulkBuilder(self.builder)
        self.stats = StatsBuilder(self.methodology)
        self.clock = clock
        self.limits = limits or GateLimits()
        self._fingerprint: str | None = None

    # -- entry point ---------------------------------------------------------------------------
    def publish_file(
        self, path: str | os.PathLike[str], release: ReleaseInfo, *, sha256: str | None = None, force: bool = False
    ) -> PublishResult:
        validated = self.read_and_check(path, release.performance_year, sha256=sha256, force=force)
        return self.publish_validated(validated, release)

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
        previous = next(
            (r for r in self.read_manifest().get("releases", []) if int(r["performance_year"]) == year), None
        )
        enforce_gates(validated, previous, self.limits, force=force)
        return validated

    def publish_validated(self, validated: Validated, release: ReleaseInfo) -> PublishResult:
        """All three steps in this process (the local CLI)."""
        run = self.stage(validated, release, partitions=1)
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
        a_key = audit_key(year, release_id)
        self.private.write(a_key, self._audit_bytes(validated, release_id))
        q_key = None
        if validated.rows_rejected:
            q_key = quarantine_key(year, release_id)
            self.private.write(q_key, csv_bytes(validated.rejected))
        aggregates = self.stats.build(clinicians(validated.records, validated.accepted_text), year, release_id)
        self.private.write(stats_stage_key(run_id), orjson.dumps(aggregates))
        entries = year_entries(validated.records, year)
        shards = shard_of(entries.column("npi"))
        for shard in np.unique(shards).tolist():  # an absent shard file reads as empty
            part = entries.filter(pa.array(shards == shard))
            self.private.write(staged_key(run_id, int(shard)), parquet_bytes(part))
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
        )
        self.private.write(run_key(run_id), run.to_json())
        self.private.write(current_run_key(year), orjson.dumps({"run_id": run_id, "release_id": release_id}))
        return run

    def load_run(self, run_id: str) -> StagedRun:
        data = self.private.read(run_key(run_id))
        if data is None:
            raise PublishError(f"no staged run {run_id!r}")
        return StagedRun.from_json(data)

    def refuse_if_stale(self, run: StagedRun) -> None:
        """Raise ``StaleRelease`` unless ``run`` is the run staged last for its year. A partition or a
        finalize of an older run (a retry or redrive arriving after a newer release was staged) would
        otherwise put old scores back over newer ones."""
        data = self.private.read(current_run_key(run.performance_year))
        current = orjson.loads(data)["run_id"] if data is not None else None
        if current != run.run_id:
            raise StaleRelease(
                f"run {run.run_id} of PY{run.performance_year} is no longer current "
                f"(the current run is {current}): refused, nothing written"
            )

    # -- step 2 ------------------------------------------------------------------------------------
    def publish_partition(self, run: StagedRun, group: int) -> PartitionResult:
        self.refuse_if_stale(run)
        recorded = self.private.read(result_key(run.run_id, group))
        if recorded is not None:  # a retried partition that had finished: same answer, no work
            return PartitionResult(**orjson.loads(recorded))
        year = run.performance_year
        manifest = self.read_manifest()
        years = sorted({int(r["performance_year"]) for r in manifest.get("releases", [])} | {year})
        totals = PartitionResult(group, 0, 0, 0, 0, 0)
        task = self.progress.task(f"PY{year}: publish", total=len(run.groups[group]), unit="shards")
        for shard in run.groups[group]:
            self._publish_shard(run, shard, years, totals)
            task.advance()
        task.close(f"PY{year}: {totals.docs_written:,} documents written, {totals.docs_deleted:,} deleted")
        self.private.write(result_key(run.run_id, group), orjson.dumps(asdict(totals)))
        return totals

    def _publish_shard(self, run: StagedRun, shard: int, years: list[int], totals: PartitionResult) -> None:
        year = run.performance_year
        new_entries = _read_parquet(self.private, staged_key(run.run_id, shard), ENTRY_SCHEMA)
        old_entries = self._read_entries(year, shard)
        index = self._read_index(shard)
        if self._builder_changed():
            # Documents are built differently than when they were published: rebuild every NPI here.
            every = [new_entries, *(self._read_entries(y, shard) for y in years if y != year)]
            affected = pa.concat_arrays(
                [t.column("npi").combine_chunks() for t in every] + [pa.array(list(index), pa.string())]
            ).unique()
        else:
            # Only NPIs whose entry for this year changed (or appeared, or vanished) can change bytes.
            affected = changed_npis(old_entries, new_entries)
        others = [self._read_entries(y, shard, only=affected) for y in years if y != year]
        mine = new_entries.filter(pc.is_in(new_entries.column("npi"), value_set=affected))
        combined = concat_entries([mine, *others])
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
                yield npi_key(npi), data

        self.public.write_many(changed_documents(), content_type=CONTENT_TYPE, cache_control=CACHE_DOCUMENT)
        still_published = set(combined.column("npi").to_pylist())
        vanished = [npi for npi in affected.to_pylist() if npi not in still_published and npi in index]
        deleted = self.public.delete_many(npi_key(npi) for npi in vanished)
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
        # Commit the shard, index first: after a crash between the two writes, the rerun finds the same
        # changed entries, rebuilds them, and sees their bytes already recorded.
        if changes:  # recorded before the commit: a rerun after the commit finds nothing left to record
            self.private.write(changes_stage_key(run.run_id, shard), changes.to_json())
        if len(affected) or vanished or written:
            self.private.write(index_key(shard), parquet_bytes(_index_table(index)))
            self.private.write(entries_key(year, shard), parquet_bytes(new_entries))

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
        stored = self.private.read(FINGERPRINT_KEY)
        return stored is None or stored.decode() != self.builder_fingerprint()

    # -- step 3 ------------------------------------------------------------------------------------
    def finalize(self, run: StagedRun, results: list[PartitionResult]) -> PublishResult:
        done = {r.group for r in results}
        missing = [g for g in range(len(run.groups)) if g not in done]
        if missing:
            raise PublishError(f"run {run.run_id}: partitions {missing} have not finished; manifest not written")
        self.refuse_if_stale(run)
        rebuilt = self._builder_changed()
        if rebuilt:  # every shard has been rebuilt with this builder
            self.private.write(FINGERPRINT_KEY, self.builder_fingerprint().encode())
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
        )
        release = ReleaseInfo(**run.release)
        manifest = self.read_manifest()
        # documents first (the partitions), then the bulk files and the change object, the manifest last
        years = {run.performance_year} | (
            {int(r["performance_year"]) for r in manifest.get("releases", [])} if rebuilt else set()
        )
        bulk = {year: self._publish_bulk(year, manifest) for year in sorted(years)}
        changes = self._publish_changes(run, manifest)
        self._write_manifest(
            manifest,
            release,
            result,
            run.layout,
            sum(r.documents for r in results),
            self.clock(),
            bulk=bulk,
            changes=changes,
        )
        return result

    def _publish_bulk(self, year: int, manifest: dict[str, Any]) -> dict[str, Any]:
        """The year's bulk files, written only when their content changed; their manifest entries."""
        recorded: dict[str, Any] = next(
            (r.get("bulk", {}) for r in manifest.get("releases", []) if int(r["performance_year"]) == year), {}
        )
        files = self.bulk_files(year)
        present = self.public.md5_listing(bulk_prefix(year))  # one LIST: deleted since?
        out = {}
        for fmt, file in zip(BULK_FORMATS, files, strict=True):
            if recorded.get(fmt, {}).get("sha256") != file.sha256 or file.key not in present:
                self.write_bulk_file(file)
            out[fmt] = file.manifest_entry()
        return out

    def bulk_files(self, year: int) -> list[BulkFile]:
        """Both bulk files of ``year``, built from its published entries (the private state)."""
        stored = self.private.md5_listing(entries_prefix(year))  # one LIST; absent shards are empty
        return self.bulk.build(
            year, (self._read_entries(year, shard) for shard in range(SHARDS) if entries_key(year, shard) in stored)
        )

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
        parts = [
            Changes.from_json(data)
            for key in sorted(self.private.md5_listing(changes_stage_prefix(run.run_id)))
            if (data := self.private.read(key)) is not None
        ]
        changes = Changes.merged(parts)
        if not changes:
            return None
        feed = manifest.get("changes") or {}
        taken = self.private.read(change_sequence_key(run.run_id))
        if taken is not None:  # a retried finalize: the same sequence, the same bytes
            sequence = int(orjson.loads(taken)["sequence"])
        else:
            sequence = int(feed.get("latest") or 0) + 1
            self.private.write(change_sequence_key(run.run_id), orjson.dumps({"sequence": sequence}))
        previous = next(
            (
                r.get("release_id")
                for r in manifest.get("releases", [])
                if int(r["performance_year"]) == run.performance_year
            ),
            None,
        )
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
        staged = self.private.read(stats_stage_key(run.run_id))
        if staged is None:
            return
        fresh = {key: dumps(body) for key, body in orjson.loads(staged).items()}
        record_key = stats_record_key(run.performance_year)
        recorded = self.private.read(record_key)
        before: dict[str, str] = orjson.loads(recorded) if recorded else {}
        digests = {key: content_hash(data).hex() for key, data in fresh.items()}
        for key, data in fresh.items():
            if before.get(key) != digests[key]:
                self.public.write(key, data, content_type=CONTENT_TYPE, cache_control=CACHE_DOCUMENT)
        self.public.delete_many(key for key in before if key not in fresh)
        if digests != before:
            self.private.write(record_key, orjson.dumps(digests, option=orjson.OPT_SORT_KEYS))

    # -- manifest -------------------------------------------------------------------------------
    def read_manifest(self) -> dict[str, Any]:
        data = self.public.read(MANIFEST_KEY)
        return orjson.loads(data) if data else {}

    def _write_manifest(
        self,
        manifest: dict[str, Any],
        release: ReleaseInfo,
        result: PublishResult,
        layout: str,
        documents: int,
        now: datetime,
        *,
        bulk: dict[int, dict[str, Any]],
        changes: dict[str, Any] | None,
    ) -> None:
        year = release.performance_year
        releases = {int(r["performance_year"]): r for r in manifest.get("releases", [])}
        previous = releases.get(year, {})
        same_release = previous.get("release_id") == result.release_id
        releases[year] = {
            "performance_year": year,
            "payment_year": self.methodology.payment_year(year),
            "release_id": result.release_id,
            "cms_modified": release.cms_modified,
            "source_url": release.source_url,
            "api_uuid": release.api_uuid,
            "source_sha256": result.source_sha256,
            "layout": layout,
            "retrieved_at": previous.get("retrieved_at") if same_release else iso(now),
            "published_at": previous.get("published_at") if same_release else iso(now),
            "last_checked": iso(now),
            "rows_read": result.rows_read,
            "rows_rejected": result.rows_rejected,
            "rows_accepted": result.rows_read - result.rows_rejected,
            "npis": result.npis,
            "attribution": attribution(year),
            "stats": national_key(year),
        }
        if result.unknown_columns:  # drift: columns the contract does not know, kept privately in the audit
            releases[year]["unknown_columns"] = list(result.unknown_columns)
        for y, files in bulk.items():
            if y in releases:
                releases[y]["bulk"] = files
        feed = dict(manifest.get("changes") or {})
        if changes:
            recent = [c for c in feed.get("recent", []) if c["sequence"] != changes["sequence"]]
            feed = {"latest": changes["sequence"], "recent": [changes, *recent][:RECENT_CHANGES]}
        self.write_manifest(releases.values(), documents, now, changes=feed)

    def write_manifest(
        self,
        releases: Any,
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
            "source": {
                "name": "CMS QPP MIPS",
                "dataset": "Quality Payment Program Experience",
                "publisher": "Centers for Medicare & Medicaid Services",
            },
            "disclaimer": DISCLAIMER,
            "documents": {
                "key_pattern": NPI_KEY_PATTERN,
                "schema": SCHEMA_KEY,
                "count": documents,
                "source": self.builder.source,
            },
            "releases": sorted(releases, key=lambda r: -int(r["performance_year"])),
            "changes": {
                "key_pattern": CHANGE_KEY_PATTERN,
                "latest": (changes or {}).get("latest", 0),
                "recent": (changes or {}).get("recent", []),
            },
        }
        self.public.write(
            MANIFEST_KEY,
            orjson.dumps(body, option=orjson.OPT_INDENT_2),
            content_type=CONTENT_TYPE,
            cache_control=CACHE_MANIFEST,
        )

    def touch_last_checked(self, years: set[int], now: datetime | None = None) -> None:
        """Record that CMS was checked: only the manifest's last-checked dates change."""
        manifest = self.read_manifest()
        if not manifest or not years:
            return
        now = now or self.clock()
        for release in manifest.get("releases", []):
            if int(release["performance_year"]) in years:
                release["last_checked"] = iso(now)
        self.write_manifest(manifest["releases"], manifest["documents"]["count"], now, changes=manifest.get("changes"))

    def annotate_release(self, year: int, key: str, value: Any) -> bool:
        """Attach ``value`` under ``key`` to the manifest entry of ``year`` (False if not published)."""
        manifest = self.read_manifest()
        releases = manifest.get("releases", [])
        hit = [r for r in releases if int(r["performance_year"]) == year]
        if not hit:
            return False
        hit[0][key] = value
        self.write_manifest(
            releases, manifest["documents"]["count"], self.clock(), keep_dates=manifest, changes=manifest.get("changes")
        )
        return True

    # -- private state ----------------------------------------------------------------------------
    def read_entries(self, year: int) -> pa.Table:
        """Every published entry of ``year`` (all shards)."""
        return concat_entries([self._read_entries(year, shard) for shard in range(SHARDS)])

    def private_years(self) -> set[int]:
        """The years with published entries in the private store (found by listing, not by the manifest)."""
        return {
            int(key.split("/")[1].removeprefix("py="))
            for key in self.private.md5_listing(ENTRIES_ROOT)
            if key.count("/") == 2 and key.split("/")[1].startswith("py=")
        }

    def shard_documents(self, shard: int, years: list[int]) -> Iterator[tuple[str, bytes]]:
        """(npi, bytes) of every published document of one storage shard, rebuilt from the private entries."""
        return self.builder.documents(concat_entries([self._read_entries(y, shard) for y in years]))

    def recorded_stats(self, years: list[int]) -> dict[str, str]:
        """Public aggregate key -> content hash (hex) of what was last published, for ``years``."""
        out: dict[str, str] = {}
        for year in years:
            recorded = self.private.read(stats_record_key(year))
            out.update(orjson.loads(recorded) if recorded else {})
        return out

    def _read_entries(self, year: int, shard: int, only: pa.Array | None = None) -> pa.Table:
        table = _read_parquet(self.private, entries_key(year, shard), ENTRY_SCHEMA)
        if only is not None and table.num_rows:
            table = table.filter(pc.is_in(table.column("npi"), value_set=only))
        return table

    def _read_index(self, shard: int) -> dict[str, bytes]:
        table = _read_parquet(self.private, index_key(shard), INDEX_SCHEMA)
        return dict(zip(table.column("npi").to_pylist(), table.column("hash").to_pylist(), strict=True))

    def _audit_bytes(self, validated: Validated, release_id: str) -> bytes:
        table = validated.accepted_text
        n = table.num_rows
        source = validated.source
        table = table.rename_columns(["source_line" if c == LINE_COLUMN else c for c in table.column_names])
        table = table.append_column("performance_year", pa.array([source.performance_year] * n, pa.int32()))
        table = table.append_column("release_id", pa.array([release_id] * n, pa.string()).dictionary_encode())
        table = table.append_column("source_sha256", pa.array([source.sha256] * n, pa.string()).dictionary_encode())
        return parquet_bytes(table)


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


def _read_parquet(store: BlobStore, key: str, schema: pa.Schema) -> pa.Table:
    data = store.read(key)
    if data is None:
        return schema.empty_table()
    table = pq.read_table(pa.BufferReader(data))
    for f in schema:  # written before the schema grew a column: the column is unknown (null) there
        if f.name not in table.column_names:
            table = table.append_column(f, pa.nulls(table.num_rows, f.type))
    return table.select(schema.names).cast(schema)


def _index_table(index: dict[str, bytes]) -> pa.Table:
    keys = sorted(index)
    return pa.table(
        {"npi": pa.array(keys, pa.string()), "hash": pa.array([index[k] for k in keys], pa.binary(16))},
        schema=INDEX_SCHEMA,
    )


# The AWS SDK for pandas Lambda layer builds pyarrow with Snappy and zlib only (ZSTD, LZ4, Brotli and
# BZ2 off: aws/aws-sdk-pandas building/lambda/build-lambda-layer.sh); its pyarrow cannot write or read
# zstd ("Support for codec 'zstd' not built"). tests/lambda_runtime.py holds every path to that set.
PARQUET_COMPRESSION = "snappy"


def parquet_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression=PARQUET_COMPRESSION)
    return bytes(sink.getvalue().to_pybytes())


def csv_bytes(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pacsv.write_csv(table, buf)
    return buf.getvalue()
