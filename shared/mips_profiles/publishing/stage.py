"""Step 1 of a publish: the file was read and validated as a whole (a file-level problem raised before this).
Write the audit Parquet and the quarantine report under release-specific private keys, the mart's typed rows, the
year's aggregates, and the new per-NPI entries split into storage shards under ``runs/{run_id}/``. A stage that
fails half-way takes back what it wrote."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..core import mart
from ..core.contract import Contract
from ..core.documents import DocumentBuilder, FinalScoreCheck, year_entries
from ..core.reader import LINE_COLUMN
from ..core.stats import StatsBuilder, breakdowns_for, category_counts, clinicians
from ..core.validate import Validated
from ..keys import audit_key, parent_prefix, quarantine_key, run_prefix
from ..keys import release_id as make_release_id
from ..ports import BlobStore
from .ledger import Ledger, StagedRun, shard_groups, shard_of
from .manifest import ReleaseInfo

__all__ = ["Stager"]


class Stager:
    """What the Stage step writes, all of it private."""

    def __init__(
        self,
        private: BlobStore,
        ledger: Ledger,
        builder: DocumentBuilder,
        stats: StatsBuilder,
        contract: Contract,
        clock: Callable[[], datetime],
    ) -> None:
        self.private = private
        self.ledger = ledger
        self.builder = builder
        self.stats = stats
        self.contract = contract
        self.clock = clock

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
        scored = clinicians(validated.records, validated.accepted_text)
        breakdowns = breakdowns_for(scored, release_id, self.ledger.breakdowns.read(year))
        aggregates = self.stats.build(
            scored,
            year,
            release_id,
            categories=category_counts(shown, pc.is_valid(entries.column("final_score"))),
            breakdowns=breakdowns,
        )
        self.ledger.stage_stats(run_id, aggregates)
        if breakdowns.renewed:
            self.ledger.breakdowns.stage(run_id, scored, release_id)
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


def _audit_table(validated: Validated, release_id: str) -> pa.Table:
    """The accepted rows as CMS published them (text), with their line and the release they came in."""
    table = validated.accepted_text
    n = table.num_rows
    source = validated.source
    table = table.rename_columns(["source_line" if c == LINE_COLUMN else c for c in table.column_names])
    table = table.append_column("performance_year", pa.array([source.performance_year] * n, pa.int32()))
    table = table.append_column("release_id", pa.array([release_id] * n, pa.string()).dictionary_encode())
    return table.append_column("source_sha256", pa.array([source.sha256] * n, pa.string()).dictionary_encode())
