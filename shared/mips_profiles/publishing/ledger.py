"""The private ledger: what the publisher keeps in the private store so that publishing is incremental,
resumable and auditable. Every private object the publisher reads or writes goes through here, under the
keys of ``keys.py``:

- per year and storage shard, the published entries (``entries/``) and per shard the content-hash index
  of the documents (``index/``): what makes a correction rewrite only what changed;
- per run, the staged entries, the run record, each partition's result, the changes per shard and the
  reserved change sequence (``runs/``), and per year the current run (a stale run is refused);
- the audit Parquet and quarantine report of each release; the aggregates staged per run and the record
  of those published, with the scored clinicians the specialty and state aggregates are of (the basis a
  correction is compared with); the document builder's fingerprint.

Parquet here is Snappy-compressed, the one codec every reader of it has (see ``PARQUET_COMPRESSION``).
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ..core.documents import ENTRY_SCHEMA, concat_entries
from ..core.stats import CLINICIANS_SCHEMA
from ..errors import PublishError
from ..keys import (
    ENTRIES_ROOT,
    FINGERPRINT_KEY,
    audit_key,
    breakdowns_basis_key,
    breakdowns_stage_key,
    bulk_part_key,
    bulk_summary_key,
    change_sequence_key,
    changes_stage_key,
    changes_stage_prefix,
    current_run_key,
    entries_key,
    entries_prefix,
    index_key,
    mart_key,
    mart_stage_key,
    quarantine_key,
    result_key,
    run_key,
    staged_key,
    stats_record_key,
    stats_stage_key,
    unpublished_key,
)
from ..ports import BlobStore
from .bulk import Changes

SHARDS = 64
"""Storage shards of the private state (entries and index), by ``int(npi) % SHARDS``. Fixed: it is
part of the private layout. Lambda partitions are groups of shards, so their count can change freely."""

INDEX_SCHEMA = pa.schema([("npi", pa.string()), ("hash", pa.binary(16))])

# The AWS SDK for pandas Lambda layer builds pyarrow with Snappy and zlib only (ZSTD, LZ4, Brotli and
# BZ2 off: aws/aws-sdk-pandas building/lambda/build-lambda-layer.sh); its pyarrow cannot write or read
# zstd ("Support for codec 'zstd' not built"). tests/lambda_runtime.py holds every path to that set.
PARQUET_COMPRESSION = "snappy"


def shard_groups(partitions: int) -> list[list[int]]:
    """Split the storage shards into ``partitions`` contiguous groups (one per Lambda invocation)."""
    partitions = max(1, min(partitions, SHARDS))
    return [list(map(int, g)) for g in np.array_split(np.arange(SHARDS), partitions)]


def shard_of(npis: pa.Array | pa.ChunkedArray) -> np.ndarray:
    values: np.ndarray = pc.cast(npis, pa.int64()).to_numpy(zero_copy_only=False)
    return values % SHARDS


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
    final_score_check: dict[str, Any] | None = None  # documents.FinalScoreCheck.as_dict() of the staged entries

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


class BreakdownsBasis:
    """The scored clinicians (``stats.CLINICIANS_SCHEMA``) a year's specialty and state aggregates are of: staged
    with a run that renews them, promoted by its finalize once they are public, read by the next correction's
    stage (``stats.breakdowns_for``)."""

    def __init__(self, store: BlobStore) -> None:
        self.store = store

    def stage(self, run_id: str, clinicians: pa.Table, release_id: str) -> None:
        """The scored clinicians a run's renewed specialty and state aggregates are computed from."""
        table = clinicians.cast(CLINICIANS_SCHEMA).replace_schema_metadata({"release_id": release_id})
        self.store.write(breakdowns_stage_key(run_id), parquet_bytes(table))

    def promote(self, run_id: str, year: int) -> bool:
        """Once its aggregates are public, the run's clinicians become the basis of the year's next correction."""
        data = self.store.read(breakdowns_stage_key(run_id))
        if data is None:
            return False
        self.store.write(breakdowns_basis_key(year), data)
        return True

    def read(self, year: int) -> tuple[str, pa.Table] | None:
        """``(release_id, clinicians)`` the year's published specialty and state aggregates were computed from;
        ``None`` before the first. Parsed: the columns and types of ``stats.CLINICIANS_SCHEMA`` and a release id
        of the year, or a ``PublishError`` naming the object."""
        key = breakdowns_basis_key(year)
        data = self.store.read(key)
        if data is None:
            return None
        try:
            table = pq.read_table(pa.BufferReader(data))
        except (pa.ArrowException, OSError) as e:
            raise PublishError(f"{key}: not a Parquet file ({' '.join(str(e).split())[:120]})") from e
        release = (table.schema.metadata or {}).get(b"release_id", b"").decode("ascii", "replace")
        if not re.fullmatch(rf"{year}-[0-9a-f]{{16}}", release):
            raise PublishError(f"{key}: its release_id {release[:40]!r} is not a release of PY{year}")
        if table.schema.remove_metadata() != CLINICIANS_SCHEMA:
            raise PublishError(f"{key}: its columns are not {', '.join(CLINICIANS_SCHEMA.names)}")
        return release, table.replace_schema_metadata(None)


class Ledger:
    """The publisher's private state on one blob store."""

    def __init__(self, store: BlobStore) -> None:
        self.store = store
        self.breakdowns = BreakdownsBasis(store)

    # -- runs ----------------------------------------------------------------------------------------
    def write_run(self, run: StagedRun) -> None:
        """Record the run, then make it the current run of its year (any other run of the year is stale)."""
        self.store.write(run_key(run.run_id), run.to_json())
        pending = self.unpublished_runs(run.performance_year)
        self.set_unpublished_runs(run.performance_year, [*pending, run.run_id])
        current = {"run_id": run.run_id, "release_id": run.release_id}
        self.store.write(current_run_key(run.performance_year), orjson.dumps(current))

    def load_run(self, run_id: str) -> StagedRun:
        data = self.store.read(run_key(run_id))
        if data is None:
            raise PublishError(f"no staged run {run_id!r}")
        return StagedRun.from_json(data)

    def current_run(self, year: int) -> str | None:
        data = self.store.read(current_run_key(year))
        return str(orjson.loads(data)["run_id"]) if data is not None else None

    def write_staged(self, run_id: str, shard: int, entries: pa.Table) -> None:
        self.store.write(staged_key(run_id, shard), parquet_bytes(entries))

    def staged(self, run_id: str, shard: int) -> pa.Table:
        """The run's new entries of one shard (empty when the release has none there)."""
        return read_parquet(self.store, staged_key(run_id, shard), ENTRY_SCHEMA)

    def partition_result(self, run_id: str, group: int) -> PartitionResult | None:
        recorded = self.store.read(result_key(run_id, group))
        return PartitionResult(**orjson.loads(recorded)) if recorded is not None else None

    def record_partition(self, run_id: str, result: PartitionResult) -> None:
        self.store.write(result_key(run_id, result.group), orjson.dumps(asdict(result)))

    def record_changes(self, run_id: str, shard: int, changes: Changes) -> None:
        self.store.write(changes_stage_key(run_id, shard), changes.to_json())

    def run_changes(self, run_id: str) -> Changes:
        """Every shard's recorded changes of the run, merged."""
        parts = [
            Changes.from_json(data)
            for key in sorted(self.store.md5_listing(changes_stage_prefix(run_id)))
            if (data := self.store.read(key)) is not None
        ]
        return Changes.merged(parts)

    def reserved_sequence(self, run_id: str) -> int | None:
        """The change-feed sequence the run reserved at its finalize, if it got that far."""
        taken = self.store.read(change_sequence_key(run_id))
        return None if taken is None else int(orjson.loads(taken)["sequence"])

    def change_sequence(self, run_id: str, choose: Callable[[], int]) -> int:
        """The change-feed sequence of the run: ``choose()`` reserved the first time, the same one after."""
        taken = self.reserved_sequence(run_id)
        if taken is not None:  # a retried finalize: the same sequence, the same bytes
            return taken
        sequence = choose()
        self.store.write(change_sequence_key(run_id), orjson.dumps({"sequence": sequence}))
        return sequence

    def unpublished_runs(self, year: int) -> list[str]:
        """The runs of ``year`` staged since its last change object was listed in the manifest: an interrupted
        run's documents are public, so its changes belong to the next change object of the year."""
        data = self.store.read(unpublished_key(year))
        return list(orjson.loads(data)) if data else []

    def set_unpublished_runs(self, year: int, runs: list[str]) -> None:
        self.store.write(unpublished_key(year), orjson.dumps(runs))

    # -- published entries and the document index --------------------------------------------------------
    def entries(self, year: int, shard: int, only: pa.Array | None = None) -> pa.Table:
        """The published entries of one year and shard, optionally only those of the NPIs in ``only``."""
        table = read_parquet(self.store, entries_key(year, shard), ENTRY_SCHEMA)
        if only is not None and table.num_rows:
            table = table.filter(pc.is_in(table.column("npi"), value_set=only))
        return table

    def year_entries(self, year: int) -> pa.Table:
        """Every published entry of ``year`` (all shards)."""
        return concat_entries([self.entries(year, shard) for shard in range(SHARDS)])

    def entry_shards(self, year: int) -> Iterable[pa.Table]:
        """The year's entries shard by shard, skipping the shards it has none in (one LIST)."""
        stored = self.store.md5_listing(entries_prefix(year))
        return (self.entries(year, shard) for shard in range(SHARDS) if entries_key(year, shard) in stored)

    def entry_tags(self, year: int) -> dict[int, str]:
        """Storage shard -> the MD5 of its stored entries of ``year`` (one LIST; "" where the store has none to
        give): what a shard's bulk part was built from."""
        stored = self.store.md5_listing(entries_prefix(year))
        return {
            shard: stored[entries_key(year, shard)] or ""
            for shard in range(SHARDS)
            if entries_key(year, shard) in stored
        }

    def bulk_part(self, year: int, shard: int) -> bytes | None:
        return self.store.read(bulk_part_key(year, shard))

    def write_bulk_part(self, year: int, shard: int, data: bytes) -> None:
        self.store.write(bulk_part_key(year, shard), data)

    def bulk_summary(self, year: int) -> dict[str, Any] | None:
        data = self.store.read(bulk_summary_key(year))
        try:
            summary = orjson.loads(data) if data is not None else None
        except orjson.JSONDecodeError:
            return None  # unreadable: the files are hashed again, as if it were absent
        return summary if isinstance(summary, dict) else None

    def write_bulk_summary(self, year: int, summary: dict[str, Any]) -> None:
        self.store.write(bulk_summary_key(year), orjson.dumps(summary, option=orjson.OPT_SORT_KEYS))

    def years(self) -> set[int]:
        """The years with published entries (found by listing, not by the manifest)."""
        return {
            int(key.split("/")[1].removeprefix("py="))
            for key in self.store.md5_listing(ENTRIES_ROOT)
            if key.count("/") == 2 and key.split("/")[1].startswith("py=")
        }

    def index(self, shard: int) -> dict[str, bytes]:
        """NPI -> content hash of its published document, for one shard."""
        table = read_parquet(self.store, index_key(shard), INDEX_SCHEMA)
        return dict(zip(table.column("npi").to_pylist(), table.column("hash").to_pylist(), strict=True))

    def commit_shard(self, year: int, shard: int, index: dict[str, bytes], entries: pa.Table) -> None:
        """Index first: after a crash between the two writes, the rerun finds the same changed entries,
        rebuilds them, and sees their bytes already recorded."""
        self.store.write(index_key(shard), parquet_bytes(_index_table(index)))
        self.store.write(entries_key(year, shard), parquet_bytes(entries))

    # -- audit, aggregates, fingerprint -----------------------------------------------------------------
    def write_audit(self, year: int, release_id: str, table: pa.Table) -> str:
        key = audit_key(year, release_id)
        self.store.write(key, parquet_bytes(table))
        return key

    def write_quarantine(self, year: int, release_id: str, rejected: pa.Table) -> str:
        key = quarantine_key(year, release_id)
        self.store.write(key, csv_bytes(rejected))
        return key

    def stage_stats(self, run_id: str, aggregates: dict[str, Any]) -> None:
        self.store.write(stats_stage_key(run_id), orjson.dumps(aggregates))

    def staged_stats(self, run_id: str) -> dict[str, Any] | None:
        staged = self.store.read(stats_stage_key(run_id))
        return orjson.loads(staged) if staged is not None else None

    def published_stats(self, year: int) -> dict[str, str]:
        """Public aggregate key -> content hash (hex) of what was last published for ``year``."""
        recorded = self.store.read(stats_record_key(year))
        return orjson.loads(recorded) if recorded else {}

    def record_stats(self, year: int, digests: dict[str, str]) -> None:
        self.store.write(stats_record_key(year), orjson.dumps(digests, option=orjson.OPT_SORT_KEYS))

    # -- the curated dataset (core/mart.py) -------------------------------------------------------------
    def stage_mart(self, run_id: str, clinician_scores: pa.Table) -> None:
        self.store.write(mart_stage_key(run_id), parquet_bytes(clinician_scores))

    def promote_mart(self, run_id: str, year: int) -> bool:
        """The run's typed rows become the year's ``clinician_scores`` (one object, replaced whole)."""
        data = self.store.read(mart_stage_key(run_id))
        if data is None:
            return False
        self.store.write(mart_key("clinician_scores", year), data)
        return True

    def write_mart(self, dataset: str, year: int, table: pa.Table) -> None:
        self.store.write(mart_key(dataset, year), parquet_bytes(table))

    def fingerprint(self) -> str | None:
        stored = self.store.read(FINGERPRINT_KEY)
        return stored.decode() if stored is not None else None

    def record_fingerprint(self, fingerprint: str) -> None:
        self.store.write(FINGERPRINT_KEY, fingerprint.encode())


def read_parquet(store: BlobStore, key: str, schema: pa.Schema) -> pa.Table:
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


def parquet_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression=PARQUET_COMPRESSION)
    return bytes(sink.getvalue().to_pybytes())


def csv_bytes(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pacsv.write_csv(table, buf)
    return buf.getvalue()
