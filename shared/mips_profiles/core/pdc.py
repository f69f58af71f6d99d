"""The Provider Data Catalog clinician score file (``ec_score_file.csv``): what CMS shows on its own
clinician profiles. A second source keyed by NPI, used to reconcile our headline scores; its names
and Org PAC ids are write-locked (kept privately, never published).

Headers can carry leading spaces and vary by year; values can be ``N/A`` (PY2020).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from ..errors import SourceFileError
from .contract import normalise_column_name
from .reader import read_header, sniff

NPI_COLUMNS = ("npi",)
SCORE_COLUMNS = ("final_mips_score", "final mips score", "final_score")
PAC_COLUMNS = ("org_pac_id", "org pac id")
TOLERANCE = 0.005  # scores are published to two decimals


@dataclass
class PdcScores:
    table: pa.Table  # every column as text, normalised names (write-locked: private only)
    scores: pa.Table  # npi, pdc_final_score (highest per NPI)
    rows: int
    skipped_rows: int


def _pick(names: list[str], candidates: tuple[str, ...], what: str) -> str:
    for c in candidates:
        if c in names:
            return c
    raise SourceFileError(f"PDC score file has no {what} column (looked for {', '.join(candidates)})")


def read_pdc(path: str | os.PathLike[str]) -> PdcScores:
    with open(path, "rb") as fh:
        sniff(fh.read(4096))
    header = read_header(path)
    try:
        table = pacsv.read_csv(  # every column as text: Org PAC ids and NPIs keep their digits as published
            path,
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
                column_types={name: pa.string() for name in header},
            ),
            read_options=pacsv.ReadOptions(block_size=8 << 20),
        )
    except pa.ArrowInvalid as exc:
        raise SourceFileError(f"malformed PDC CSV: {str(exc).splitlines()[0]}") from None
    table = table.rename_columns([normalise_column_name(c) for c in table.column_names])
    if table.num_rows == 0:
        raise SourceFileError("no data rows: the PDC file has a header only")
    names = table.column_names
    npi_col = _pick(names, NPI_COLUMNS, "NPI")
    score_col = _pick(names, SCORE_COLUMNS, "final MIPS score")
    npi = pc.utf8_trim_whitespace(table.column(npi_col))
    text = pc.utf8_trim_whitespace(table.column(score_col))
    is_number = pc.match_substring_regex(text, r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$")
    score = pc.cast(pc.if_else(is_number, text, pa.scalar(None, pa.string())), pa.float64())
    ok = pc.match_substring_regex(npi, r"^[12][0-9]{9}$")
    scores = pa.table({"npi": npi, "pdc_final_score": score}).filter(ok)
    best = scores.group_by("npi").aggregate([("pdc_final_score", "max")]).rename_columns(["npi", "pdc_final_score"])
    return PdcScores(
        table=table,
        scores=best,
        rows=table.num_rows,
        skipped_rows=table.num_rows - int(pc.sum(pc.cast(ok, pa.int64())).as_py() or 0),
    )


@dataclass
class Reconciliation:
    npis_compared: int
    matches: int
    mismatches: pa.Table  # npi, qpp_final_score, pdc_final_score
    only_in_qpp: int
    only_in_pdc: int

    def summary(self) -> dict[str, int]:
        return {
            "npis_compared": self.npis_compared,
            "matches": self.matches,
            "mismatches": self.mismatches.num_rows,
            "only_in_qpp": self.only_in_qpp,
            "only_in_pdc": self.only_in_pdc,
        }


def reconcile(qpp_entries: pa.Table, pdc: pa.Table) -> Reconciliation:
    """Compare our headline final score per NPI with the highest score CMS shows for that NPI."""
    qpp = qpp_entries.select(["npi", "final_score"]).rename_columns(["npi", "qpp_final_score"])
    joined = qpp.join(pdc, "npi", join_type="full outer")
    q = joined.column("qpp_final_score")
    p = joined.column("pdc_final_score")
    in_qpp = pc.is_in(joined.column("npi"), value_set=qpp.column("npi").combine_chunks())
    in_pdc = pc.is_in(joined.column("npi"), value_set=pdc.column("npi").combine_chunks())
    both = pc.and_(in_qpp, in_pdc)
    diff = pc.abs(pc.subtract(q, p))
    one_null = pc.xor(pc.is_null(q), pc.is_null(p))
    mismatch = pc.and_(both, pc.or_(pc.fill_null(pc.greater(diff, TOLERANCE), False), one_null))
    mismatches = joined.filter(mismatch).sort_by("npi")
    n_both = int(np.count_nonzero(both.to_numpy(zero_copy_only=False)))
    return Reconciliation(
        npis_compared=n_both,
        matches=n_both - mismatches.num_rows,
        mismatches=mismatches.select(["npi", "qpp_final_score", "pdc_final_score"]),
        only_in_qpp=int(pc.sum(pc.cast(pc.and_(in_qpp, pc.invert(in_pdc)), pa.int64())).as_py() or 0),
        only_in_pdc=int(pc.sum(pc.cast(pc.and_(in_pdc, pc.invert(in_qpp)), pa.int64())).as_py() or 0),
    )
