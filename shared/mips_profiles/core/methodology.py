"""Methodology ``cms-qpp-mips/v3``: score bands, payment outcome, the category weighting rule (which
weights reproduce a published final score) and per-year MIPS parameters, loaded from
``data/methodology.json`` so that a change of rules is a change of data and version.

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
from typing import Any

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
class Weighting:
    """One way CMS weights the four categories (percent, in ``WEIGHTING_ORDER``): a year's standard weights, a
    redistribution when categories are reweighted, an alternative scoring standard, or one where at most one
    category carries weight (the final score is then the performance threshold)."""

    weights: tuple[float, ...]  # four, in WEIGHTING_ORDER
    kind: str  # standard | redistribution | scoring_standard | threshold
    small_practice: bool = False  # applies to small practices only
    participation: tuple[str, ...] = ()  # applies to these participation options only (empty: any)

    @property
    def single(self) -> bool:
        """At most one category carries weight: the final score is the performance threshold."""
        return sum(1 for w in self.weights if w > 0) <= 1


WEIGHTING_ORDER = ("quality", "promoting_interoperability", "improvement_activities", "cost")


@dataclass(frozen=True)
class CategoryWeighting:
    """``methodology.json``'s ``category_weighting``: what a final score is made of, per performance year."""

    ia_points_max: float
    final_score_tolerance: float
    euc_flags: dict[str, tuple[str, ...]]
    euc_overrides_data_years: frozenset[int]
    small_practice_final_score_bonus: dict[int, float]
    sets: tuple[tuple[int, int, Weighting], ...]  # (first year, last year, weighting)

    def candidates(self, year: int, standard: dict[str, float]) -> list[Weighting]:
        """Every weighting CMS may have used in ``year``: the standard weights first, then the year's
        redistributions and scoring standards as listed, then the threshold weightings (one category, or none)."""
        first = Weighting(tuple(standard[c] for c in WEIGHTING_ORDER), "standard")
        listed = [w for lo, hi, w in self.sets if lo <= year <= hi]
        singles = [Weighting(tuple(100.0 if i == j else 0.0 for i in range(4)), "threshold") for j in range(4)]
        return [first, *listed, *singles, Weighting((0.0, 0.0, 0.0, 0.0), "threshold")]


@dataclass(frozen=True)
class Methodology:
    version: str
    payment_year_offset: int
    bands: tuple[tuple[str, float], ...]  # (band, min_score), highest first
    years: dict[int, YearParameters]
    participation_options: dict[str, tuple[str, ...]]  # layout name -> allowed values
    weighting: CategoryWeighting
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

    def weightings(self, year: int) -> list[Weighting]:
        """The weightings CMS may have used in ``year``, in the order the rule tries them."""
        return self.weighting.candidates(year, self.parameters(year).weights)

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

    def comparable_to_prior_year(self, years: np.ndarray) -> np.ndarray:
        """Per performance year: whether the year before was scored with the same performance threshold and the
        same standard category weights (False for the first year). Measures and benchmarks change every year
        even then: CMS's scores are never directly comparable across years."""
        years = np.asarray(years, dtype=np.int64)
        out = np.zeros(len(years), dtype=bool)
        for year in np.unique(years).tolist():
            now, before = self.years.get(int(year)), self.years.get(int(year) - 1)
            same = (
                before is not None
                and now is not None
                and (now.performance_threshold, now.weights)
                == (
                    before.performance_threshold,
                    before.weights,
                )
            )
            out[years == year] = same
        return out

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
        weighting=_weighting(raw["category_weighting"]),
        version=raw["version"],
        payment_year_offset=int(raw["payment_year_offset"]),
        bands=bands,
        years=years,
        participation_options={k: tuple(v) for k, v in raw["participation_options"].items()},
        categories=tuple(raw["categories"]),
        reweighting_flags={k: tuple(v) for k, v in raw["reweighting_flags"].items()},
    )


def _weighting(raw: dict[str, Any]) -> CategoryWeighting:
    """Parse and check ``category_weighting``: each set's key names exactly its categories weighted 0%, and
    its weights add up to 100."""
    order = tuple(raw["weight_sets_order"])
    if order != WEIGHTING_ORDER:
        raise ConfigurationError(f"category_weighting.weight_sets_order must be {list(WEIGHTING_ORDER)}, not {order}")
    sets: list[tuple[int, int, Weighting]] = []
    for group in raw["weight_sets"]:
        lo, hi = (int(y) for y in group["years"])
        for key, values in group["sets"].items():
            weights = tuple(float(v) for v in values)
            if len(weights) != len(WEIGHTING_ORDER):
                raise ConfigurationError(f"weight set {key!r} of PY{lo}-{hi} has {len(weights)} weights, not 4")
            zero = {c for c, w in zip(WEIGHTING_ORDER, weights, strict=True) if w == 0}
            if zero != set(key.split("+")) or abs(sum(weights) - 100) > 1e-9:
                raise ConfigurationError(f"weight set {key!r} of PY{lo}-{hi} is {values}: its zeros or its sum is off")
            weighting = Weighting(
                weights,
                group["kind"],
                small_practice=bool(group.get("small_practice", False)),
                participation=tuple(group.get("participation", ())),
            )
            sets.append((lo, hi, weighting))
    return CategoryWeighting(
        ia_points_max=float(raw["ia_points_max"]),
        final_score_tolerance=float(raw["final_score_tolerance"]),
        euc_flags={k: tuple(v) for k, v in raw["euc_flags"].items()},
        euc_overrides_data_years=frozenset(int(y) for y in raw["euc_overrides_data_years"]),
        small_practice_final_score_bonus={int(y): float(v) for y, v in raw["small_practice_final_score_bonus"].items()},
        sets=tuple(sets),
    )
