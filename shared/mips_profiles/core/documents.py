"""Per-NPI public documents (schema version 1): headline selection, allow-list projection through
the display contract, one deterministic serialiser and one key function.

A *year entry* is the headline of one NPI in one performance year: the highest-scoring of its
TIN/NPI rows. The per-NPI document holds the entries of every published year, newest first.

Only what the contract allows reaches a document: canonical fields need ``display_allowed`` and a
``public_path``; derived fields are listed in the contract and dropped when an input they are
derived from is write-locked.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from . import jsoncolumns as jc
from .categories import CATEGORIES, STATUSES, WEIGHTS_BASES, CategoryDisplay, display
from .contract import Contract, load_contract
from .methodology import Methodology, load_methodology

SCHEMA_VERSION = 1
SOURCE_NAME = "CMS QPP MIPS"
LICENSE = "U.S. government public-domain work (17 U.S.C. § 105)"
DISCLAIMER = (
    "A MIPS score is a Medicare payment-program measure used to set payment adjustments; "
    "it is not a rating of clinical quality."
)
CONTENT_TYPE = "application/json; charset=utf-8"

ENTRY_SCHEMA = pa.schema(
    [
        ("npi", pa.string()),
        ("performance_year", pa.int32()),
        ("final_score", pa.float64()),
        ("payment_adjustment_pct", pa.float64()),
        ("participation_option", pa.string()),
        ("quality_category_score", pa.float64()),
        ("pi_category_score", pa.float64()),
        ("ia_category_score", pa.float64()),
        ("cost_category_score", pa.float64()),
        *[(c.weight, pa.float64()) for c in CATEGORIES],
        *[(c.flag, pa.bool_()) for c in CATEGORIES],
        *[(c.euc, pa.bool_()) for c in CATEGORIES],
        ("complex_patient_bonus", pa.float64()),
        ("small_practice", pa.bool_()),
        ("scored_practices", pa.int32()),
    ]
)

# Derived field -> canonical fields it is computed from (dropped if any of them is write-locked).
DERIVED_INPUTS = {
    "payment_year": ("performance_year",),
    "payment_outcome": ("payment_adjustment_pct",),
    "score_band": ("final_score",),
    "scored_practices": (),
    "attribution": ("performance_year",),
    "provenance": ("performance_year",),
    "category_status": ("final_score", *(c.score for c in CATEGORIES), *(c.weight for c in CATEGORIES)),
    "category_weights": ("final_score", *(c.score for c in CATEGORIES), *(c.weight for c in CATEGORIES)),
    "category_weights_basis": ("final_score", *(c.weight for c in CATEGORIES)),
    "final_score_reproduced": ("final_score", *(c.score for c in CATEGORIES), *(c.weight for c in CATEGORIES)),
    "comparable_to_prior_year": ("performance_year",),
}
# Write-locked inputs a derived field may use, reduced to what it shows: the status says only *whether* a
# category counted toward the final score, never why (the flags name hardships and special statuses); the
# check says only whether the parts add up (the bonus and the small-practice status stay private).
REDUCED_WRITE_LOCKED_INPUTS = {
    "category_status": ("the reweighting flags of methodology.reweighting_flags",),
    "category_weights": ("the reweighting flags", "complex_patient_bonus", "small_practice_status"),
    "final_score_reproduced": ("the reweighting flags", "complex_patient_bonus", "small_practice_status"),
}


@cache
def _labels(texts: tuple[str, ...]) -> pa.Array:
    """A dictionary of labels, built on first use: ``pa.array`` asks pyarrow's pandas shim whether its argument is
    a DataFrame, which imports pandas where it is importable (1.5-2.5 s of CPU), so nothing builds one at import."""
    return pa.array(texts, pa.string())


DOCUMENT_CHUNK_ROWS = 32_768
"""Entries per chunk of documents built at once: about 70 MB of document bytes at a time."""

NOT_FOUND = {
    "schema_version": SCHEMA_VERSION,
    "error": "not_found",
    "message": "No MIPS score is published for this NPI.",
}


def dumps(obj: Any) -> bytes:
    """The one serialiser: compact UTF-8 JSON, keys in insertion order (fixed by the builders)."""
    return orjson.dumps(obj)


def attribution(year: int) -> str:
    return f"Source: {SOURCE_NAME} · Performance Year {year}"


@dataclass(frozen=True)
class FinalScoreCheck:
    """A release's fidelity self-check: of its entries with a final score, how many are reproduced by the
    category scores and weights their documents show (with the bonuses CMS's file carries)."""

    entries_with_final_score: int
    reproduced: int
    largest_tolerance: float | None = None  # the widest rounding allowance a reproduced entry needed

    @property
    def share(self) -> float | None:
        return None if not self.entries_with_final_score else self.reproduced / self.entries_with_final_score

    @classmethod
    def of(cls, shown: CategoryDisplay) -> FinalScoreCheck:
        used = shown.tolerance[shown.reproduced == 1]
        largest = round(float(np.nanmax(used)), 6) if used.size and not np.isnan(used).all() else None
        return cls(int((shown.reproduced >= 0).sum()), int((shown.reproduced == 1).sum()), largest)

    def as_dict(self) -> dict[str, Any]:
        share = self.share
        return {
            "entries_with_final_score": self.entries_with_final_score,
            "reproduced": self.reproduced,
            "share": None if share is None else round(share, 4),
            "tolerance": {"rule": TOLERANCE_RULE, "largest": self.largest_tolerance},
        }


TOLERANCE_RULE = (
    "an entry is reproduced when its category scores times the weights shown, plus the bonuses, are within the "
    "rounding of what CMS printed of the published final score: half a unit of each part's last printed digit "
    "times its weight, plus the bonus's and the final score's own (at least 0.01)"
)


# -- year entries ----------------------------------------------------------------------------


def year_entries(records: pa.Table, performance_year: int) -> pa.Table:
    """One headline entry per NPI from validated records (``validate.RECORD_SCHEMA``).

    Headline: highest final score (unscored last); ties by higher payment adjustment, then by
    higher category scores and participation option, so the choice depends on content only,
    never on row order.
    """
    if records.num_rows == 0:
        return ENTRY_SCHEMA.empty_table()
    ordered = records.sort_by(
        [
            ("npi", "ascending"),
            ("final_score", "descending"),
            ("payment_adjustment_pct", "descending"),
            ("quality_category_score", "descending"),
            ("pi_category_score", "descending"),
            ("ia_category_score", "descending"),
            ("cost_category_score", "descending"),
            ("participation_option", "ascending"),
        ],  # nulls sort last in both directions (pyarrow's default placement)
    )
    npis = ordered.column("npi").combine_chunks()
    starts = group_starts(npis)
    counts = np.diff(np.append(starts, ordered.num_rows)).astype(np.int32)
    head = ordered.take(pa.array(starts))
    return pa.table(
        {
            "npi": head.column("npi"),
            "performance_year": pa.array(np.full(len(starts), performance_year, dtype=np.int32)),
            **{name: head.column(name) for name in ENTRY_SCHEMA.names[2:-1]},
            "scored_practices": pa.array(counts),
        },
        schema=ENTRY_SCHEMA,
    )


def sort_entries(entries: pa.Table) -> pa.Table:
    """Entries in document order: by NPI, newest year first."""
    return entries.sort_by([("npi", "ascending"), ("performance_year", "descending")])


def group_starts(sorted_keys: pa.Array) -> np.ndarray:
    n = len(sorted_keys)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    changed = pc.not_equal(sorted_keys.slice(1), sorted_keys.slice(0, n - 1))
    return np.flatnonzero(np.concatenate(([True], changed.to_numpy(zero_copy_only=False))))


# -- documents -------------------------------------------------------------------------------


class DocumentBuilder:
    """Builds per-NPI documents from year entries, projecting through the display contract."""

    def __init__(self, contract: Contract | None = None, methodology: Methodology | None = None) -> None:
        self.contract = contract or load_contract()
        self.methodology = methodology or load_methodology()
        public = self.contract.public_fields()
        self.public = public
        self.derived = [
            name
            for name in self.contract.derived_public_fields
            if all(inp in public for inp in DERIVED_INPUTS.get(name, ("<unknown>",)))
        ]
        # Entry field order is fixed here: it is part of the byte-for-byte contract.
        self.category_paths = [
            (field, path.split(".", 1)[1]) for field, path in public.items() if path.startswith("category_scores.")
        ]
        # every document's ``source`` block (the manifest carries it too, for consumers who build documents
        # from the bulk files)
        self.source = {
            "name": SOURCE_NAME,
            "license": LICENSE,
            "methodology_version": self.methodology.version,
            "disclaimer": DISCLAIMER,
        }

    def provenance(self, year: int, practices: int) -> str:
        rule = f"highest final score of {practices} TIN/NPI records" if practices > 1 else "single TIN/NPI record"
        if "category_status" in self.derived:
            rule += "; category scores as published, each marked whether it counted toward the final score"
        return f"{attribution(year)} · Methodology {self.methodology.version} · Display rule: {rule}"

    def entry_columns(self, ordered: pa.Table) -> list[tuple[str, jc.Column]]:
        """Every public entry field of ``ordered`` as one typed column, in the fixed output order (part of
        the byte-for-byte contract), allowed fields only, derived fields computed column-wise. Both the
        dict rows (:meth:`entry_rows`) and the rendered documents (:meth:`documents`) come from these."""
        years = ordered.column("performance_year").to_numpy(zero_copy_only=False).astype(np.int64)
        practices = ordered.column("scored_practices").to_numpy(zero_copy_only=False).astype(np.int64)
        pub, derived = self.public, self.derived

        def floats(name: str) -> jc.Floats:
            return jc.Floats(ordered.column(name).to_numpy(zero_copy_only=False).astype(np.float64))

        cols: list[tuple[str, jc.Column]] = []
        if "performance_year" in pub:
            cols.append(("performance_year", jc.Ints(years)))
        if "payment_year" in derived:
            cols.append(("payment_year", jc.Ints(self.methodology.payment_years(years))))
        if "final_score" in pub:
            cols.append(("final_score", floats("final_score")))
        if "payment_adjustment_pct" in pub:
            cols.append(("payment_adjustment_pct", floats("payment_adjustment_pct")))
        if "payment_outcome" in derived:
            adjustments = ordered.column("payment_adjustment_pct").to_numpy(zero_copy_only=False)
            outcomes = self.methodology.payment_outcomes(years, adjustments)
            cols.append(("payment_outcome", jc.Texts(pa.array(outcomes, pa.string()))))
        if "score_band" in derived:
            bands = self.methodology.score_bands(ordered.column("final_score").to_numpy(zero_copy_only=False))
            cols.append(("score_band", jc.Texts(pa.array(bands, pa.string()))))
        if "participation_option" in pub:
            cols.append(("participation_option", jc.Texts(ordered.column("participation_option").combine_chunks())))
        if self.category_paths:
            cols.extend(self._category_columns(ordered, years))
        if "scored_practices" in derived:
            cols.append(("scored_practices", jc.Ints(practices)))
        if "comparable_to_prior_year" in derived:
            cols.append(("comparable_to_prior_year", jc.Bools(self.methodology.comparable_to_prior_year(years))))
        if "attribution" in derived:
            cols.append(("attribution", jc.texts_by_key(years, attribution)))
        if "provenance" in derived:
            cols.append(("provenance", jc.texts_by_key(years << 32 | practices, self._provenance_of_key)))
        return cols

    def _category_columns(self, ordered: pa.Table, years: np.ndarray) -> list[tuple[str, jc.Column]]:
        """The category fields of an entry, in the fixed output order: scores as published, then whether each
        counted, its weight, the basis of the weights and whether the final score is reproduced."""
        cols: list[tuple[str, jc.Column]] = []
        shown, derived = self.display(ordered, years), self.derived
        allowed = {p for _, p in self.category_paths}
        names = [c.name for c in CATEGORIES if c.name in allowed]  # a write-locked category is left out
        cols.append(("category_scores", jc.Struct(tuple((n, jc.Floats(shown.scores[n])) for n in names))))
        if "category_status" in derived:
            status = tuple(
                (c.name, jc.Texts(pa.DictionaryArray.from_arrays(shown.status[c.name], _labels(tuple(STATUSES)))))
                for c in CATEGORIES
            )
            cols.append(("category_status", jc.Struct(status)))
        if "category_weights" in derived:
            weights = tuple((c.name, jc.Floats(shown.weights[c.name])) for c in CATEGORIES)
            cols.append(("category_weights", jc.Struct(weights)))
        if "category_weights_basis" in derived:
            basis = pa.DictionaryArray.from_arrays(pa.array(shown.basis), _labels(tuple(WEIGHTS_BASES)))
            cols.append(("category_weights_basis", jc.Texts(basis)))
        if "final_score_reproduced" in derived:
            cols.append(("final_score_reproduced", jc.Bools(shown.reproduced)))
        return cols

    def display(self, entries: pa.Table, years: np.ndarray | None = None) -> CategoryDisplay:
        """How each entry's categories are shown, and whether its final score is reproduced (``categories``)."""
        if years is None:
            years = entries.column("performance_year").to_numpy(zero_copy_only=False).astype(np.int64)
        return display(entries, years, self._years_with_weights(years), self.methodology)

    def _provenance_of_key(self, key: int) -> str:
        return self.provenance(key >> 32, key & 0xFFFFFFFF)

    def _years_with_weights(self, years: np.ndarray) -> set[int]:
        """The years whose files publish category weights (the contract has weight columns for them)."""
        return {
            y
            for y in np.unique(years).tolist()
            if all(c.weight in self.contract.candidate_columns(y) for c in CATEGORIES)
        }

    def entry_rows(self, entries: pa.Table) -> tuple[list[str], list[dict[str, Any]]]:
        """The NPIs and public entries of ``entries``, sorted by NPI, newest year first: one dict per row,
        exactly what goes into a document's ``history`` (and into the bulk files)."""
        ordered = sort_entries(entries)
        return ordered.column("npi").to_pylist(), jc.pylist(jc.Struct(tuple(self.entry_columns(ordered))))

    def rendered_entries(self, ordered: pa.Table, prefix: tuple[tuple[str, jc.Column], ...] = ()) -> pa.Array:
        """The JSON bytes of each entry of ``ordered`` (``pa.binary()``), equal to ``dumps`` of its dict row
        (``prefix``: fields put before the entry's own, as the bulk NDJSON puts ``npi``)."""
        return jc.render(jc.Struct((*prefix, *self.entry_columns(ordered))))

    def documents(self, entries: pa.Table, chunk_rows: int = DOCUMENT_CHUNK_ROWS) -> Iterator[tuple[str, bytes]]:
        """(npi, document bytes) for every NPI in ``entries`` (any years), in NPI order, history newest first.

        Built column-wise, ``chunk_rows`` entries at a time (whole NPIs): memory stays at one chunk's
        documents, whatever the size of the year."""
        if entries.num_rows == 0:
            return
        ordered = sort_entries(entries)
        starts = group_starts(ordered.column("npi").combine_chunks())
        # chunks end at the first NPI starting at or after each multiple of chunk_rows
        cuts = np.searchsorted(starts, np.arange(chunk_rows, ordered.num_rows, max(1, chunk_rows)))
        bounds = [*np.unique(starts[cuts[cuts < len(starts)]]).tolist(), ordered.num_rows]
        head = dumps({"schema_version": SCHEMA_VERSION})[:-1]
        tail = b',"source":' + dumps(self.source) + b"}"
        first = 0
        for end in bounds:
            chunk = ordered.slice(first, end - first)
            local = starts[(starts >= first) & (starts < end)] - first
            rendered = self.rendered_entries(chunk)
            npis = chunk.column("npi").combine_chunks().take(pa.array(local))
            parts: list[bytes | pa.Array] = [head]
            if "npi" in self.public:
                parts += [b',"npi":', jc.render(jc.Texts(npis))]
            parts += [b',"latest":', rendered.take(pa.array(local)), b',"history":', jc.join_groups(rendered, local)]
            yield from zip(npis.to_pylist(), jc.concat(*parts, tail).to_pylist(), strict=True)
            first = end


def concat_entries(tables: Iterable[pa.Table]) -> pa.Table:
    tables = [t.cast(ENTRY_SCHEMA) for t in tables if t.num_rows]
    return pa.concat_tables(tables) if tables else ENTRY_SCHEMA.empty_table()
