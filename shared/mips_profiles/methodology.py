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
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from .errors import ConfigurationError


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
    reweighting_flags: dict[str, tuple[str, ...]] | None = None  # category -> canonical flag fields

    def parameters(self, year: int) -> YearParameters:
        try:
            return self.years[year]
        except KeyError:
            known = f"{min(self.years)}-{max(self.years)}"
            raise ConfigurationError(
                f"performance year {year} is not supported by methodology {self.version} (supported: {known})"
            ) from None

    def payment_year(self, year: int) -> int:
        return year + self.payment_year_offset

    def score_band(self, score: float | None) -> str | None:
        if score is None:
            return None
        for band, lower in self.bands:
            if score >= lower:
                return band
        return self.bands[-1][0]

    def payment_outcome(self, year: int, adjustment: float | None) -> str | None:
        if adjustment is None:
            return None
        if adjustment > 0:
            return "positive"
        if adjustment == 0:
            return "neutral"
        if adjustment <= self.parameters(year).max_negative_adjustment_pct:
            return "maximum_negative"
        return "negative"


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
