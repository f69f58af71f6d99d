"""Is this file the performance year it is published as?

Within a layout family the column check cannot tell: PY2023 and PY2024 share their layout, and PY2017 to PY2021
even share their header exactly. Two checks, each from what CMS itself fixes:

- **The header.** CMS's real header of every year it published is recorded (``data/cms_headers.json``). A file
  whose header is exactly another known year's and not this year's is refused, naming both: PY2024's adds
  ``cost measure id 25``-``28`` and their points (212 columns against PY2023's 204).
- **The year's rules, in the data.** Each year fixes its payment-adjustment range and its performance
  threshold (``data/methodology.json``): a clinician below the threshold gets a negative adjustment, at or
  above it none or a positive one (42 CFR 414.1405: the adjustment is 0 at the threshold, negative on a sliding
  scale below it). A file where more than 1% of the rows with both values break the year's
  rules (an adjustment outside the range, or on the wrong side of the threshold) is refused, naming the years
  whose rules it does fit. This tells apart the years whose headers are the same.

A person who has checked the file publishes it with ``--force`` (a forced re-run), as with the other gates.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np
import pyarrow as pa

from ..errors import PublishRefused
from .contract import normalise_column_name
from .methodology import Methodology
from .reader import SourceTable
from .validate import plain_decimals

MAX_MISFIT_SHARE = 0.01
"""The share of the judged rows (below the highest threshold, see ``year_fit``) that may break the year's rules: as
the rejected share's limit, a stray row does not refuse a file, a file of another year does."""
THRESHOLD_MARGIN = 0.5
"""Points either side of the performance threshold where a row's side is not judged: CMS prints scores rounded,
and a score that rounds to the threshold may sit either side of it."""
MIN_MISFITS = 3
"""Fewer misfit rows than this never decide a file's year, whatever their share."""
RANGE_MARGIN = 0.005
"""Adjustments are printed to two decimals: half a unit of the last digit."""


@cache
def known_headers() -> dict[int, tuple[str, ...]]:
    """Every year's real header, each name as the contract matches it (case and spacing folded)."""
    raw = json.loads(resources.files("mips_profiles").joinpath("data/cms_headers.json").read_text("utf-8"))
    return {int(y): tuple(normalise_column_name(h) for h in names) for y, names in raw["headers"].items()}


def header_years(header: list[str]) -> tuple[int, ...]:
    """The known years whose real header is exactly this one (names in order)."""
    names = tuple(normalise_column_name(h) for h in header)
    return tuple(year for year, known in sorted(known_headers().items()) if known == names)


@dataclass(frozen=True)
class YearFit:
    """How a file's rows fit one year's payment-adjustment rules."""

    year: int
    checked: int  # rows with a final score and an adjustment where some known year's rules would differ
    outside_range: int
    wrong_side: int

    @property
    def misfits(self) -> int:
        return self.outside_range + self.wrong_side

    @property
    def fits(self) -> bool:
        return self.misfits < MIN_MISFITS or self.misfits <= MAX_MISFIT_SHARE * self.checked


def year_fit(source: SourceTable, year: int, methodology: Methodology) -> YearFit:
    """How the file's published final scores and adjustments fit ``year``'s range and threshold.

    Counted over the rows where the years' rules can disagree: a final score below the highest threshold of any
    known year, or an adjustment outside this year's range. Above every threshold each year wants an adjustment
    of zero or more, so a share of all rows would let the many high scores of any year hide a wrong year."""
    final = _numbers(source.table, "final_score")
    adjustment = _numbers(source.table, "payment_adjustment_pct")
    params = methodology.parameters(year)
    lo, hi = params.max_negative_adjustment_pct, params.max_positive_adjustment_pct
    outside = (adjustment < lo - RANGE_MARGIN) | (adjustment > hi + RANGE_MARGIN)
    contested = (final < _highest_threshold(methodology) + THRESHOLD_MARGIN) | outside
    judged = ~np.isnan(final) & ~np.isnan(adjustment) & contested
    final, adjustment, outside = final[judged], adjustment[judged], outside[judged]
    threshold = params.performance_threshold
    below, above = final < threshold - THRESHOLD_MARGIN, final > threshold + THRESHOLD_MARGIN
    wrong = ~outside & ((below & (adjustment >= 0)) | (above & (adjustment < 0)))
    return YearFit(year, int(judged.sum()), int(outside.sum()), int(wrong.sum()))


def _highest_threshold(methodology: Methodology) -> float:
    return max(float(methodology.parameters(y).performance_threshold) for y in known_headers())


def _numbers(table: pa.Table, name: str) -> np.ndarray:
    if name not in table.column_names:
        return np.full(table.num_rows, np.nan)
    return np.asarray(plain_decimals(table.column(name)).to_numpy(zero_copy_only=False), dtype=np.float64)


@dataclass(frozen=True)
class YearIdentity:
    """What the file says about its year: the known years whose header it has, how it fits the claimed year's
    rules, and (when it does not) which known years' rules it fits."""

    year: int
    header_years: tuple[int, ...]
    header_known: bool  # this year's real header is recorded
    fit: YearFit
    fitting_years: tuple[int, ...]

    def refusal(self) -> str | None:
        """One line naming the problem, or None when the file may be this year's."""
        if self.header_known and self.header_years and self.year not in self.header_years:
            other = _years(self.header_years)
            columns = len(known_headers()[self.header_years[0]])
            mine = len(known_headers()[self.year])
            return (
                f"the file's header is {other}'s ({columns} columns), not PY{self.year}'s ({mine}): "
                f"published under the wrong --performance-year? (--force publishes it after a person checked)"
            )
        if not self.fit.fits:
            fits = f"; it fits the rules of {_years(self.fitting_years)}" if self.fitting_years else ""
            params = (
                f"{self.fit.outside_range:,} outside the year's adjustment range, "
                f"{self.fit.wrong_side:,} on the wrong side of its performance threshold"
            )
            return (
                f"the file does not follow PY{self.year}'s payment-adjustment rules: {self.fit.misfits:,} of "
                f"{self.fit.checked:,} rows ({self.fit.misfits / self.fit.checked:.1%}, limit "
                f"{MAX_MISFIT_SHARE:.0%}): {params}{fits}. Another year's file? (--force publishes it after a "
                f"person checked)"
            )
        return None

    def note(self) -> str | None:
        """For a year whose header is not recorded yet: which known year's header the file has."""
        if self.header_known:
            return None
        if self.header_years:
            return f"PY{self.year}'s header is not recorded yet; the file has {_years(self.header_years)}'s header"
        return f"PY{self.year}'s header is not recorded yet, and the file's header is no known year's"


def _years(years: tuple[int, ...]) -> str:
    return " / ".join(f"PY{y}" for y in years)


def identify(source: SourceTable, methodology: Methodology) -> YearIdentity:
    year = source.performance_year
    fit = year_fit(source, year, methodology)
    fitting: tuple[int, ...] = ()
    if not fit.fits:  # which other years' rules it fits: the same header first, then any the methodology has
        candidates = header_years(source.header) or tuple(sorted(known_headers()))
        fitting = tuple(y for y in candidates if y != year and year_fit(source, y, methodology).fits)
    return YearIdentity(year, header_years(source.header), year in known_headers(), fit, fitting)


def refuse_another_years_file(source: SourceTable, methodology: Methodology, *, force: bool = False) -> YearIdentity:
    """Raise ``PublishRefused`` (gate ``year_identity``) unless the file may be its claimed year's, or ``force``."""
    identity = identify(source, methodology)
    problem = identity.refusal()
    if problem and not force:
        raise PublishRefused("year_identity", f"refused: {problem}")
    return identity
