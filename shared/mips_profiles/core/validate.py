"""Row and file verdicts for one CMS file.

Every check is vectorised (pyarrow.compute + numpy over whole columns); Python strings are built
only for the rows that fail, so a clean national file costs a few column passes.

Row rules (a failing row goes to the quarantine report and does not stop the file):
- ``npi``: 10 digits, first digit 1 or 2, valid check digit;
- ``final score`` and the four category scores: a plain decimal in [0, 100], or empty (not scored);
- ``payment adjustment percentage``: a plain decimal within the year's statutory bounds, or empty;
- ``participation option``: one of the values known for the year's layout (any case);
- the category weights (PY2023+): a plain decimal fraction in [0, 1], or empty;
- a second row with the same ``provider key`` as an earlier row is a duplicate.

The file rules (the share of rejected rows, the drop from the last release) are the publish gates' (``gates``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..npi import valid_check_digits
from ..text import printable
from .categories import CATEGORIES, any_true, reweighting_flags
from .methodology import Methodology, load_methodology
from .reader import LINE_COLUMN, SourceTable

SCORE_FIELDS = (
    "final_score",
    "quality_category_score",
    "pi_category_score",
    "ia_category_score",
    "cost_category_score",
)
DECIMAL_FIELDS = (*SCORE_FIELDS, "payment_adjustment_pct")
WEIGHT_FIELDS = tuple(c.weight for c in CATEGORIES)
FLAG_COLUMNS = tuple(name for c in CATEGORIES for name in (c.flag, c.euc))

# Human names for messages: the CMS column wording users will search for.
LABELS = {
    "npi": "npi",
    "final_score": "final score",
    "payment_adjustment_pct": "payment adjustment percentage",
    "quality_category_score": "quality category score",
    "pi_category_score": "promoting interoperability category score",
    "ia_category_score": "improvement activities category score",
    "cost_category_score": "cost category score",
    "participation_option": "participation option",
    "quality_category_weight": "quality category weight",
    "pi_category_weight": "promoting interoperability category weight",
    "ia_category_weight": "improvement activities category weight",
    "cost_category_weight": "cost category weight",
}

_DECIMAL = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$"
_NPI_SHAPE = r"^[12][0-9]{9}$"

RECORD_SCHEMA = pa.schema(
    [
        ("npi", pa.string()),
        *[(name, pa.float64()) for name in DECIMAL_FIELDS],
        ("participation_option", pa.string()),
        *[(name, pa.float64()) for name in WEIGHT_FIELDS],
        *[(name, pa.bool_()) for name in FLAG_COLUMNS],
        # write-locked inputs of the final-score check (categories.display), reduced to what it needs
        ("complex_patient_bonus", pa.float64()),
        ("small_practice", pa.bool_()),
        (LINE_COLUMN, pa.int64()),
    ]
)
REJECT_SCHEMA = pa.schema([("line", pa.int64()), ("npi", pa.string()), ("reason", pa.string())])


@dataclass
class Validated:
    """Outcome of validating one file: accepted rows (as text, for audit), typed records, rejects."""

    source: SourceTable
    accepted_text: pa.Table  # canonical text columns of accepted rows, with _line
    records: pa.Table  # RECORD_SCHEMA, one per accepted row
    rejected: pa.Table  # REJECT_SCHEMA

    @property
    def rows_read(self) -> int:
        return self.source.rows

    @property
    def rows_rejected(self) -> int:
        return int(self.rejected.num_rows)


class _Checks:
    """Accumulates (mask, message-builder) pairs and renders messages for failing rows only."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.items: list[tuple[np.ndarray, str | Callable[[int], str]]] = []
        self.any = np.zeros(n, dtype=bool)

    def add(self, mask: np.ndarray, message: str | Callable[[int], str]) -> None:
        if mask.any():
            self.items.append((mask, message))
            self.any |= mask

    def reasons(self) -> dict[int, str]:
        out: dict[int, list[str]] = {}
        for mask, message in self.items:
            for i in np.flatnonzero(mask):
                text = message(int(i)) if callable(message) else message
                out.setdefault(int(i), []).append(text)
        return {i: "; ".join(parts) for i, parts in out.items()}


def _mask(arr: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(arr, False).to_numpy(zero_copy_only=False), dtype=bool)


def _npi_shape(npi: pa.ChunkedArray) -> np.ndarray:
    """10 ASCII digits starting with 1 or 2 (byte length, then ASCII-decimal: no regex per value)."""
    shape = pc.and_(pc.equal(pc.binary_length(npi), 10), pc.ascii_is_decimal(npi))
    first = pc.utf8_slice_codeunits(npi, 0, 1)
    return _mask(pc.and_(shape, pc.or_(pc.equal(first, "1"), pc.equal(first, "2"))))


def _decimals(text: pa.ChunkedArray, empty: np.ndarray) -> tuple[pa.ChunkedArray, np.ndarray]:
    """Parse plain decimals (``-4.36``, ``60``, ``.5``). Fast path: one cast of the whole column, then
    refuse what a cast accepts but CMS never writes (NaN, infinity, exponents). If the cast fails, a
    row-by-row regex finds the offending values."""
    nullable = pc.if_else(pa.array(empty), pa.scalar(None, pa.string()), text)
    try:
        number = pc.cast(nullable, pa.float64())
    except pa.ArrowInvalid:
        ok = _mask(pc.match_substring_regex(text, _DECIMAL))
        return pc.cast(pc.if_else(pa.array(ok), text, pa.scalar(None, pa.string())), pa.float64()), ok
    odd = pc.invert(pc.is_finite(number))
    for letter in "eExX":  # exponents and hex: plain substring search, no regex
        odd = pc.or_(odd, pc.match_substring(text, letter))
    odd_mask = _mask(odd) & ~empty
    if odd_mask.any():
        number = pc.if_else(pa.array(odd_mask), pa.scalar(None, pa.float64()), number)
    return number, ~odd_mask & ~empty


ECHO_CHARS = 64
_FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")


def echo(value: str) -> str:
    """A published value quoted in a reject reason: at most ECHO_CHARS characters (a 3 MB cell must not
    make a 9 MB report)."""
    return repr(value if len(value) <= ECHO_CHARS else value[:ECHO_CHARS]) + (
        f" (+{len(value) - ECHO_CHARS} more characters)" if len(value) > ECHO_CHARS else ""
    )


def cell(value: str, limit: int) -> str:
    """A quarantine-report cell that a spreadsheet will not run (OWASP CSV injection: a cell starting with
    = + - @ tab or CR gets a leading apostrophe), truncated to ``limit`` characters, control characters escaped."""
    if len(value) > limit:
        value = value[:limit] + "..."
    if value.startswith(_FORMULA_LEADS):
        value = "'" + value
    return printable(value)  # a control character (an escape sequence) would reach whoever opens the report


def _column(table: pa.Table, name: str) -> pa.ChunkedArray:
    """A canonical column; all null where the year's layout has no such column (weights before PY2023)."""
    if name in table.column_names:
        return table.column(name)
    return pa.chunked_array([pa.nulls(table.num_rows, pa.string())])


def _text(col: pa.ChunkedArray) -> pa.ChunkedArray:
    return pc.utf8_trim_whitespace(pc.fill_null(col, ""))


def _lenient_decimals(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A write-locked number the rules only read (a bonus): a plain decimal, else null (never a reject: the row's
    published scores stand; the final-score check then cannot use the bonus and says so)."""
    text = _text(column)
    number, ok = _decimals(text, _mask(pc.equal(text, "")))
    return pc.if_else(pa.array(ok), number, pa.scalar(None, pa.float64()))


def plain_decimals(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A column of published numbers as float64: each plain decimal as CMS writes it, anything else null."""
    return _lenient_decimals(column)


def validate(source: SourceTable, methodology: Methodology | None = None) -> Validated:
    """Verdicts for every row. Whether the file as a whole may be published (its share of rejected rows, its
    drop from the last release) is the publish gates' rule (``gates.enforce_gates``), which a forced re-run
    may override."""
    methodology = methodology or load_methodology()
    table = source.table
    checks = _Checks(table.num_rows)
    raw = {name: _column(table, name) for name in ("npi", *DECIMAL_FIELDS, *WEIGHT_FIELDS, "participation_option")}
    npi = _check_npi(raw, checks)
    typed = _check_decimals(raw, checks, methodology, source.performance_year)
    option = _check_participation(raw, checks, methodology.participation_options.get(source.layout.name, ()))
    _check_duplicates(table, checks)

    bad = checks.any
    reasons = checks.reasons()
    lines = table.column(LINE_COLUMN)
    bad_rows = np.flatnonzero(bad)
    rejected = pa.table(
        {
            "line": pa.array([lines[int(i)].as_py() for i in bad_rows], pa.int64()),
            "npi": pa.array([cell(raw["npi"][int(i)].as_py() or "", ECHO_CHARS) for i in bad_rows], pa.string()),
            "reason": pa.array([cell(reasons[int(i)], 2000) for i in bad_rows], pa.string()),
        },
        schema=REJECT_SCHEMA,
    )
    records = _records(table, npi, typed, option, methodology)
    accepted_text = table
    if len(bad_rows):  # filtering copies every column: only when a row was rejected
        keep = pa.array(~bad)
        records, accepted_text = records.filter(keep), table.filter(keep)
    return Validated(source=source, accepted_text=accepted_text, records=records, rejected=rejected)


def _given(column: pa.ChunkedArray) -> Callable[[int], str]:
    """A row's cell as published, escaped and cut for a reason (built only for rows that fail)."""
    return lambda i: echo(column[i].as_py() or "")


def _check_npi(raw: dict[str, pa.ChunkedArray], checks: _Checks) -> pa.ChunkedArray:
    """10 digits, first 1 or 2, a valid check digit; the NPIs as text."""
    given = _given(raw["npi"])
    npi = _text(raw["npi"])
    npi_missing = _mask(pc.equal(npi, ""))
    npi_shape = _npi_shape(npi)
    checks.add(npi_missing, "npi is missing")
    checks.add(~npi_missing & ~npi_shape, lambda i: f"npi {given(i)} is not 10 digits starting with 1 or 2")
    numeric_npi = pc.cast(pc.if_else(pa.array(npi_shape), npi, pa.scalar(None, pa.string())), pa.int64())
    values = np.asarray(pc.fill_null(numeric_npi, 0).to_numpy(zero_copy_only=False), dtype=np.int64)
    digits = (values[:, None] // (10 ** np.arange(9, -1, -1, dtype=np.int64))) % 10
    checks.add(npi_shape & ~valid_check_digits(digits), lambda i: f"npi {given(i)} has a wrong check digit")
    return npi


def _check_decimals(
    raw: dict[str, pa.ChunkedArray], checks: _Checks, methodology: Methodology, year: int
) -> dict[str, pa.ChunkedArray]:
    """Scores in [0, 100], weights in [0, 1], the adjustment within the year's bounds; each as a float64."""
    params = methodology.parameters(year)
    typed: dict[str, pa.ChunkedArray] = {}
    for name in (*DECIMAL_FIELDS, *WEIGHT_FIELDS):
        given = _given(raw[name])
        text = _text(raw[name])
        empty = _mask(pc.equal(text, ""))
        number, ok = _decimals(text, empty)

        def not_a_number(i: int, name: str = name, given: Callable[[int], str] = given) -> str:
            return f"{LABELS[name]} is not a number: {given(i)}"

        checks.add(~ok & ~empty, not_a_number)
        typed[name] = number
        if name in SCORE_FIELDS:
            lo, hi = 0.0, 100.0
        elif name in WEIGHT_FIELDS:
            lo, hi = 0.0, 1.0
        else:
            lo, hi = params.max_negative_adjustment_pct, params.max_positive_adjustment_pct
        out = _mask(pc.or_(pc.less(number, lo), pc.greater(number, hi)))

        def out_of_range(
            i: int, name: str = name, lo: float = lo, hi: float = hi, given: Callable[[int], str] = given
        ) -> str:
            return f"{LABELS[name]} {given(i)} is outside {lo:g} to {hi:g} for PY{year}"

        checks.add(out, out_of_range)
    return typed


def _check_participation(
    raw: dict[str, pa.ChunkedArray], checks: _Checks, allowed: tuple[str, ...]
) -> pa.ChunkedArray | pa.Array:
    """One of the values the layout allows (any case); the canonical spelling of each."""
    given = _given(raw["participation_option"])
    option = _text(raw["participation_option"])
    index = pc.index_in(pc.utf8_lower(option), value_set=pa.array([a.lower() for a in allowed], pa.string()))
    option_missing = _mask(pc.equal(option, ""))
    checks.add(option_missing, "participation option is missing")
    checks.add(
        ~option_missing & _mask(pc.is_null(index)),
        lambda i: f"participation option {given(i)} is not one of {', '.join(allowed)}",
    )
    return pc.take(pa.array(allowed, pa.string()), index) if allowed else option


def _check_duplicates(table: pa.Table, checks: _Checks) -> None:
    """A second row with an earlier row's provider key is a duplicate."""
    if "provider_key" not in table.column_names:
        return
    key = _text(table.column("provider_key"))
    given = _given(key)
    codes = pc.dictionary_encode(key.combine_chunks()).indices.to_numpy(zero_copy_only=False)
    _, first = np.unique(codes, return_index=True)
    first_of_row = first[codes]
    nonempty = ~_mask(pc.equal(key, ""))
    dup = nonempty & (first_of_row != np.arange(table.num_rows))
    checks.add(dup, lambda i: f"duplicate row: provider key {given(i)} first seen on line {int(first_of_row[i]) + 2}")


def _records(
    table: pa.Table,
    npi: pa.ChunkedArray,
    typed: dict[str, pa.ChunkedArray],
    option: pa.ChunkedArray | pa.Array,
    methodology: Methodology,
) -> pa.Table:
    """Every row typed: the scores, the canonical participation option, the weights and the reweighting flags
    reduced to what the category rule needs."""
    flags = {name: _text(_column(table, name)) for names in methodology.reweighting_flags.values() for name in names}
    return pa.table(
        {
            "npi": npi,
            **{name: typed[name] for name in DECIMAL_FIELDS},
            "participation_option": option,
            **{name: typed[name] for name in WEIGHT_FIELDS},
            **reweighting_flags(flags, methodology),
            "complex_patient_bonus": _lenient_decimals(_column(table, "complex_patient_bonus")),
            "small_practice": any_true({"s": _text(_column(table, "small_practice_status"))}, ("s",)),
            LINE_COLUMN: table.column(LINE_COLUMN),
        },
        schema=RECORD_SCHEMA,
    )
