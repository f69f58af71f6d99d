"""Reconciliation with what CMS shows on its own clinician profiles (the PDC score file), shared by the
local ``refresh`` and the shard Lambda: ingest a PDC file into the private store, then compare a
year's published headline scores with it. The counts go into the manifest; the differing NPIs into a
private CSV. Names and Org PAC ids of the PDC file stay private.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ..core import mart
from ..core.pdc import read_pdc, reconcile
from ..keys import pdc_file_key, pdc_scores_key, raw_key, reconciliation_key
from ..keys import release_id as make_release_id
from ..ports import BlobStore
from .ledger import Ledger, csv_bytes, parquet_bytes
from .manifest import Manifest

RECONCILIATION_KEY = "cms_profile_reconciliation"


@dataclass
class IngestedPdc:
    performance_year: int
    release_id: str
    rows: int
    skipped_rows: int


class ProfileReconciler:
    """The PDC file kept privately, and each year's published entries compared with it (``Publisher.reconciler``)."""

    def __init__(self, private: BlobStore, ledger: Ledger, manifest: Manifest) -> None:
        self.private = private
        self.ledger = ledger
        self.manifest = manifest

    def ingest(self, path: str | os.PathLike[str], year: int, sha256: str) -> IngestedPdc:
        """Read a PDC file (refused whole if it is not one) and keep it privately."""
        scores = read_pdc(path)
        release_id = make_release_id(year, sha256)
        private = self.private
        private.write(pdc_file_key(year, release_id), parquet_bytes(scores.table))
        private.write(pdc_scores_key(year), parquet_bytes(scores.scores))
        self.ledger.write_mart("pdc_scores", year, scores.scores.cast(mart.arrow_schema(mart.PDC_SCHEMA)))
        private.put_file(raw_key("pdc", year, sha256), path)
        return IngestedPdc(year, release_id, scores.rows, scores.skipped_rows)

    def reconcile_year(self, year: int) -> dict[str, Any] | None:
        """Compare the published headline scores of ``year`` with the PDC scores, if both exist."""
        data = self.private.read(pdc_scores_key(year))
        if data is None:
            return None
        entries = self.ledger.year_entries(year)
        if entries.num_rows == 0:
            return None
        result = reconcile(entries, pq.read_table(pa.BufferReader(data)))
        report_key = reconciliation_key(year)
        self.private.write(report_key, csv_bytes(result.mismatches))
        self.manifest.annotate_release(year, RECONCILIATION_KEY, result.summary())
        return {**result.summary(), "mismatch_report": "private:" + report_key}
