"""Methodology ``cms-qpp-mips/v2``: score bands, payment outcome, the reweighted-category display rule
and per-year MIPS parameters, loaded from ``data/methodology.json`` so that a change of rules is a change
of data and version.

>>> m = load_methodology()
>>> m.score_band(90.0), m.score_band(89.99), m.score_band(None)
('exceptional', 'above_average', None)
>>> m.payment_outcome(2024, -9.0), m.payment_outcome(2024, 0.0), m.payment_outcome(2024, 1.05)
('maximum_negative', 'neutral', 'positive')
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

import numpy as np

from ..errors import ConfigurationError


@dataclass(frozen=True)
class YearParameters:
    performance_year: int
    performance_threshold: float
    exceptional_threshold: float | None
    max_negative_adjustment_pct: float
    max_positive_adjustment_pct: float
    weights: dict[str, float]


@dataclass(frozen=True)
class Methodology:
    version: str
    payment_year_offset: int
    bands: tuple[tuple[str, float], ...]  # (band, min_score), highest first
    years: dict[int, YearParameters]
    participation_options: dict[str, tuple[str, ...]]  # layout name -> allowed values
    categories: tuple[str, ...] = ()  # public category names, in document order
    reweighting_flags: dict[str, tuple[str, ...]] = field(default_factory=dict)  # category -> canonical flags

    def parameters(self, year: int) -> YearParameters:
        try:
            return self.years[year]
        except KeyError:
            known = f"{min(self.years)}-{max(self.years)}"
            raise ConfigurationError(
                f"performance year {year} is not supported by methodology {self.version} (supported: {known})"
            ) from None

    def payment_year(self, year: int) -> int:
        return int(self.payment_years(np.array([year]))[0])

    def payment_years(self, years: np.ndarray) -> np.ndarray:
        """The year each performance year's payment adjustment applies (column-wise, as the documents use it)."""
        return np.asarray(years, dtype=np.int64) + self.payment_year_offset

    # One implementation of each rule, column-wise, as the documents use it; the scalar forms below call it.
    def score_bands(self, scores: np.ndarray) -> list[str | None]:
        """Band of each final score (NaN = unscored -> None): the highest band whose minimum it reaches."""
        values = np.asarray(scores, dtype=np.float64)
        names = np.array([band for band, _ in self.bands] + [None], dtype=object)
        choice = np.select(
            [values >= lower for _, lower in self.bands], list(range(len(self.bands))), default=len(self.bands) - 1
        )
        choice[np.isnan(values)] = len(self.bands)
        bands: list[str | None] = names[choice].tolist()
        return bands

    def payment_outcomes(self, years: np.ndarray, adjustments: np.ndarray) -> list[str | None]:
        """``positive`` (> 0), ``neutral`` (0), ``maximum_negative`` (at or below the year's maximum negative
        adjustment), else ``negative``; NaN (none published) -> None."""
        adj = np.asarray(adjustments, dtype=np.float64)
        years = np.asarray(years)
        floor = np.zeros(len(adj), dtype=np.float64)
        for year in np.unique(years).tolist():
            floor[years == year] = self.parameters(int(year)).max_negative_adjustment_pct
        names = np.array(["positive", "neutral", "maximum_negative", "negative", None], dtype=object)
        choice = np.select([adj > 0, adj == 0, adj <= floor], [0, 1, 2], default=3)
        choice[np.isnan(adj)] = 4
        outcomes: list[str | None] = names[choice].tolist()
        return outcomes

    def score_band(self, score: float | None) -> str | None:
        return self.score_bands(np.array([np.nan if score is None else score]))[0]

    def payment_outcome(self, year: int, adjustment: float | None) -> str | None:
        return self.payment_outcomes(np.array([year]), np.array([np.nan if adjustment is None else adjustment]))[0]


def load_methodology() -> Methodology:
    return _default_methodology()


@lru_cache(maxsize=1)
def _default_methodology() -> Methodology:
    raw = json.loads(resources.files("mips_profiles").joinpath("data/methodology.json").read_text("utf-8"))
    bands = tuple(sorted(((b["band"], float(b["min_score"])) for b in raw["score_bands"]), key=lambda b: -b[1]))
    years = {
        int(y): YearParameters(
            performance_year=int(y),
            performance_threshold=float(p["performance_threshold"]),
            exceptional_threshold=None if p["exceptional_threshold"] is None else float(p["exceptional_threshold"]),
            max_negative_adjustment_pct=float(p["max_negative_adjustment_pct"]),
            max_positive_adjustment_pct=float(p["max_positive_adjustment_pct"]),
            weights={k: float(v) for k, v in p["weights"].items()},
        )
        for y, p in raw["performance_years"].items()
    }
    return Methodology(
        version=raw["version"],
        payment_year_offset=int(raw["payment_year_offset"]),
        bands=bands,
        years=years,
        participation_options={k: tuple(v) for k, v in raw["participation_options"].items()},
        categories=tuple(raw["categories"]),
        reweighting_flags={k: tuple(v) for k, v in raw["reweighting_flags"].items()},
    )
