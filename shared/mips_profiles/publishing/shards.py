"""Step 2 of a publish, one storage shard at a time: rebuild the documents of the NPIs the year touches there,
write those whose bytes changed (by content hash, without reading objects back), delete those left with no year,
and hand back the shard's ledger commit."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..core.documents import CONTENT_TYPE, ENTRY_SCHEMA, DocumentBuilder, concat_entries, dumps
from ..core.profile_schema import profile_schema
from ..keys import CACHE_DOCUMENT, npi_keys
from ..ports import BlobStore, content_hash
from .bulk import Changes
from .ledger import Ledger, PartitionResult, StagedRun

__all__ = ["ShardWriter", "builder_fingerprint", "changed_npis"]


class ShardWriter:
    """The documents of one storage shard, through the public store; its index and entries, through the ledger."""

    def __init__(self, public: BlobStore, ledger: Ledger, builder: DocumentBuilder) -> None:
        self.public = public
        self.ledger = ledger
        self.builder = builder

    def publish_shard(
        self, run: StagedRun, shard: int, years: list[int], totals: PartitionResult, *, rebuild_all: bool
    ) -> Callable[[], None]:
        """Write the shard's changed documents and delete its vanished ones; returns the ledger commit of the
        shard, to run once those writes are visible."""
        year = run.performance_year
        new_entries = self.ledger.staged(run.run_id, shard)
        old_entries = self.ledger.entries(year, shard)
        index = self.ledger.index(shard)
        if rebuild_all:
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


def builder_fingerprint(builder: DocumentBuilder) -> str:
    """Changes whenever document bytes would: the schema and a sample document built now."""
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
    digest = hashlib.sha256(dumps(profile_schema(builder)))
    for _, data in builder.documents(sample):
        digest.update(data)
    return digest.hexdigest()


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
