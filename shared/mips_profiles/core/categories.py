"""The four MIPS performance categories, and the one rule for how each is shown: its score exactly as CMS
published it, and whether it counted toward the final score.

A reweighting flag in CMS's file says the clinician *qualified* for reweighting, not that the category was
reweighted: with a qualifying submission CMS scored the data and the category kept its weight (PY2024
feedback FAQ, "Why Did I Receive a Performance Category Score of 0 Out of 25 Points When I Qualified for
Reweighting?"; the PY2017 feedback guide says the same). So a published score is never hidden, and each
category of a document entry carries a status:

- ``scored``: it carried weight in the final score; its score is shown as published (a real 0 stays 0);
- ``reweighted``: it carried 0% (CMS reweighted it, or the year's or the APM scoring rules gave it no
  weight). Its score is shown as published when CMS published one above 0 (it did not count); where CMS
  published no score or 0, the clinician was exempt and the score is null, never a 0;
- ``not_scored``: no score published, and the category carried weight;
- ``unknown``: no weighting of the year's rules reproduces the published final score (an APM Entity's
  scoring, a bonus the file does not carry): whether the category counted is not known, so not guessed.

Weights: the fractions CMS published (PY2023+). For earlier years, the weights among the year's rules
(``methodology.category_weighting``) that reproduce the published final score within the rounding of what
CMS printed (``half_unit``), the one the flags predict tried first; none does: every weight is null and every
status ``unknown``. The check itself is public: ``final_score_reproduced`` says whether the shown scores and
weights (with the bonuses the file carries) add up to the published final score, and
``category_weights_basis`` where the weights come from.

>>> from mips_profiles.core.one_entry import one_entry
>>> one_entry(2022, {"quality": (75, None, False), "promoting_interoperability": (100, None, True),
...                  "improvement_activities": (40, None, False), "cost": (61.0461, None, False)},
...           final=80.81)["promoting_interoperability"]
('scored', 100.0, 0.25)
>>> one_entry(2024, {"quality": (90, 0.55, False), "promoting_interoperability": (0.0, 0.0, True),
...                  "improvement_activities": (40, 0.15, False), "cost": (70, 0.3, False)},
...           final=85.5)["promoting_interoperability"]
('reweighted', None, 0.0)
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .methodology import Methodology, Weighting


@dataclass(frozen=True)
class Category:
    name: str  # public name, in category_scores / category_status / category_weights
    score: str  # canonical field of the score
    weight: str  # canonical field of the published weight (PY2023+)
    flag: str  # record/entry column: any reweighting flag of the category was True (it qualified)
    euc: str  # record/entry column: an extreme-and-uncontrollable-circumstances flag of it was True


CATEGORIES = (
    Category(
        "quality", "quality_category_score", "quality_category_weight", "quality_reweighted_flag", "quality_euc_flag"
    ),
    Category(
        "promoting_interoperability", "pi_category_score", "pi_category_weight", "pi_reweighted_flag", "pi_euc_flag"
    ),
    Category("improvement_activities", "ia_category_score", "ia_category_weight", "ia_reweighted_flag", "ia_euc_flag"),
    Category("cost", "cost_category_score", "cost_category_weight", "cost_reweighted_flag", "cost_euc_flag"),
)
STATUSES = ("scored", "reweighted", "not_scored", "unknown")
SCORED, REWEIGHTED, NOT_SCORED, UNKNOWN = range(len(STATUSES))
WEIGHTS_BASES = (
    "published",  # the file's weight columns (PY2023+)
    "reproduces_final_score",  # the weighting of the year's rules that reproduces the published final score
    "performance_threshold",  # at most one category carried weight: the final score is the year's threshold
    "final_score_not_reproduced",  # no weighting of the year's rules reproduces it: weights unknown (null)
    "no_final_score",  # nothing to reproduce: weights unknown (null)
)
PUBLISHED, REPRODUCED, THRESHOLD, NOT_REPRODUCED, NO_FINAL = range(len(WEIGHTS_BASES))
ENTRY_INPUTS = ("final_score", "complex_patient_bonus", "small_practice", "participation_option")
"""Entry columns the rule reads besides each category's score, weight and flags."""


def reweighting_flags(columns: Mapping[str, pa.ChunkedArray], methodology: Methodology) -> dict[str, pa.ChunkedArray]:
    """Per category, whether any of its reweighting flags reads ``True`` (any case, any padding) and whether an
    EUC flag does; ``False`` if one reads false and none true; null when none is readable. ``columns`` hold
    the flags as text with missing values as "". The flags are write-locked: only these bits of them are
    used, to decide the status."""
    out = {}
    for category in CATEGORIES:
        for column, names in (
            (category.flag, methodology.reweighting_flags[category.name]),
            (category.euc, methodology.weighting.euc_flags[category.name]),
        ):
            out[column] = any_true(columns, names)
    return out


def any_true(columns: Mapping[str, pa.ChunkedArray], names: tuple[str, ...]) -> pa.ChunkedArray:
    """True if any of ``names`` reads true, False if one reads false and none true, else null."""
    texts = [pc.utf8_lower(pc.utf8_trim_whitespace(columns[name])) for name in names]
    is_true = functools.reduce(pc.or_, [pc.equal(t, "true") for t in texts])
    is_false = functools.reduce(pc.or_, [pc.equal(t, "false") for t in texts])
    return pc.if_else(pc.or_(is_true, is_false), is_true, pa.scalar(None, pa.bool_()))


@dataclass(frozen=True)
class ShownEntry:
    """One entry as shown: per category (status, shown score, weight), and the final-score check."""

    categories: dict[str, tuple[str, float | None, float | None]]
    final_score_reproduced: bool | None
    weights_basis: str

    def __getitem__(self, name: str) -> tuple[str, float | None, float | None]:
        return self.categories[name]


@dataclass(frozen=True)
class CategoryDisplay:
    """Column-wise, per category (in ``CATEGORIES`` order): the score shown (NaN = null), the status (an index
    into ``STATUSES``) and the weight (a fraction; NaN = null); per entry whether the final score is reproduced
    (1, 0, or -1 for null: no final score) and the basis of the weights (an index into ``WEIGHTS_BASES``)."""

    scores: dict[str, np.ndarray]
    status: dict[str, np.ndarray]
    weights: dict[str, np.ndarray]
    reproduced: np.ndarray
    basis: np.ndarray
    tolerance: np.ndarray  # how far from the printed final score rounding allowed the reproduced sum (NaN: none)

    def row(self, i: int) -> ShownEntry:
        """One entry, for messages and tests."""

        def value(v: float) -> float | None:
            return None if np.isnan(v) else float(v)

        return ShownEntry(
            {
                c.name: (
                    STATUSES[self.status[c.name][i]],
                    value(self.scores[c.name][i]),
                    value(self.weights[c.name][i]),
                )
                for c in CATEGORIES
            },
            None if self.reproduced[i] < 0 else bool(self.reproduced[i]),
            WEIGHTS_BASES[self.basis[i]],
        )


@dataclass(frozen=True)
class _Inputs:
    """The published values of a set of entries, as numpy columns (category order of ``CATEGORIES``)."""

    final: np.ndarray  # (n,) NaN = none
    scores: np.ndarray  # (n, 4) NaN = none
    weights: np.ndarray  # (n, 4) published weights, NaN = none
    flagged: np.ndarray  # (n, 4) bool: a reweighting flag True (the clinician qualified)
    euc: np.ndarray  # (n, 4) bool: an EUC flag True
    bonus: np.ndarray  # (n,) the complex patient bonus, 0 where none
    small: np.ndarray  # (n,) bool: small practice
    participation: np.ndarray  # (n,) object: the participation option


def _floats(table: pa.Table, name: str) -> np.ndarray:
    if name not in table.column_names:
        return np.full(table.num_rows, np.nan)
    return np.asarray(table.column(name).to_numpy(zero_copy_only=False), dtype=np.float64)


def _bools(table: pa.Table, name: str) -> np.ndarray:
    if name not in table.column_names:
        return np.zeros(table.num_rows, dtype=bool)
    return np.asarray(pc.fill_null(table.column(name), False).to_numpy(zero_copy_only=False), dtype=bool)


def _inputs(entries: pa.Table) -> _Inputs:
    participation = (
        entries.column("participation_option").to_numpy(zero_copy_only=False)
        if "participation_option" in entries.column_names
        else np.full(entries.num_rows, None, dtype=object)
    )
    return _Inputs(
        final=_floats(entries, "final_score"),
        scores=np.column_stack([_floats(entries, c.score) for c in CATEGORIES]),
        weights=np.column_stack([_floats(entries, c.weight) for c in CATEGORIES]),
        flagged=np.column_stack([_bools(entries, c.flag) for c in CATEGORIES]),
        euc=np.column_stack([_bools(entries, c.euc) for c in CATEGORIES]),
        bonus=np.nan_to_num(_floats(entries, "complex_patient_bonus"), nan=0.0),
        small=_bools(entries, "small_practice"),
        participation=participation,
    )


def display(
    entries: pa.Table, years: np.ndarray, years_with_weights: set[int], methodology: Methodology
) -> CategoryDisplay:
    """For each entry and category: the status, the score shown and the weight; per entry the final-score
    check. Column-wise (numpy), one performance year at a time."""
    n = entries.num_rows
    data = _inputs(entries)
    status = np.zeros((n, len(CATEGORIES)), dtype=np.int8)  # every row is set below, one year at a time
    weights = np.zeros((n, len(CATEGORIES)))
    reproduced = np.zeros(n, dtype=np.int8)
    basis = np.zeros(n, dtype=np.int8)
    tolerance = np.full(n, np.nan)
    years = np.asarray(years)
    has_weights = np.all(~np.isnan(data.weights), axis=1)
    for year in np.unique(years).tolist():
        in_year = years == year
        published = in_year & has_weights & (year in years_with_weights)
        for at, method in ((published, _YearRule.published), (in_year & ~published, _YearRule.reproduce)):
            if at.any():
                rule = _YearRule(int(year), _take(data, np.flatnonzero(at)), methodology)
                status[at], weights[at], reproduced[at], basis[at], tolerance[at] = method(rule)
    exempt = (status == REWEIGHTED) & (np.isnan(data.scores) | (data.scores == 0))
    shown = np.where(exempt, np.nan, data.scores)  # a published score above 0 is always shown
    return CategoryDisplay(
        scores={c.name: shown[:, i] for i, c in enumerate(CATEGORIES)},
        status={c.name: status[:, i] for i, c in enumerate(CATEGORIES)},
        weights={c.name: weights[:, i] for i, c in enumerate(CATEGORIES)},
        reproduced=reproduced,
        basis=basis,
        tolerance=tolerance,
    )


def half_unit(values: np.ndarray) -> np.ndarray:
    """Half a unit of the last digit each value shows (``74.6`` -> 0.05, ``40`` -> 0.5, ``64.92`` -> 0.005), as the
    shortest decimal that is the value; 0 where there is none (NaN) and for 0 (no score or bonus: exact). A
    trailing zero CMS printed (``74.60``) is not in the number: it counts as ``74.6``, a bound a little wider than
    CMS's own rounding."""
    v = np.abs(np.nan_to_num(values, nan=0.0))  # 0 (no score, no bonus) is exact: nothing to round
    decimals = np.full(v.shape, 6)
    for k in range(6, -1, -1):  # the fewest decimals that represent the value
        scaled = v * 10.0**k
        decimals = np.where(np.abs(np.round(scaled) - scaled) < 1e-6, k, decimals)
    half: np.ndarray = np.where(np.isnan(values) | (v == 0), 0.0, 0.5 * 10.0 ** (-decimals.astype(float)))
    return half


def _take(data: _Inputs, rows: np.ndarray) -> _Inputs:
    return _Inputs(**{name: getattr(data, name)[rows] for name in _Inputs.__dataclass_fields__})


_Answer = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # status, weights, reproduced, basis,
# and the tolerance the final score was reproduced within (NaN where it was not)
_TIERS = {"standard": 1, "redistribution": 1, "threshold": 2, "scoring_standard": 3}


class _YearRule:
    """The rule for the entries of one performance year (``data``: theirs only). Weights are fractions."""

    def __init__(self, year: int, data: _Inputs, methodology: Methodology) -> None:
        self.year = year
        self.data = data
        self.methodology = methodology
        rules = methodology.weighting
        self.tolerance = rules.final_score_tolerance
        self.threshold = methodology.parameters(year).performance_threshold
        self.override = year in rules.euc_overrides_data_years
        standard = methodology.parameters(year).weights
        self.standard_zero = np.array([standard[c.name] == 0 for c in CATEGORIES])
        # every category's score as a percentage (improvement activities are published as points)
        scale = np.array([100 / rules.ia_points_max if c.name == "improvement_activities" else 1 for c in CATEGORIES])
        self.percent = np.nan_to_num(data.scores) * scale  # no score published: it adds nothing
        self.bonus = data.bonus + np.where(data.small, rules.small_practice_final_score_bonus.get(year, 0.0), 0.0)
        # CMS computes from unrounded parts and prints each rounded: a part may be off by half a unit of its last
        # printed digit, which its weight carries into the sum; the bonus and the final score add their own.
        printed = half_unit(data.scores)
        ia = [c.name for c in CATEGORIES].index("improvement_activities")
        whole_points = np.nan_to_num(data.scores[:, ia]) % 1 == 0
        printed[:, ia] = np.where(whole_points, 0.0, printed[:, ia])  # activities earn whole points: nothing rounded
        self.part_rounding = printed * scale  # rows x 4, as percentages like ``percent``
        self.bonus_rounding = half_unit(data.bonus)
        self.final_rounding = half_unit(data.final)

    def _final_scores(self, total: np.ndarray, carrying: np.ndarray) -> np.ndarray:
        """The final score from the weighted sum (rows x weightings) and how many categories carry weight: the
        sum plus the bonuses the file carries, capped at 100; the performance threshold where at most one
        category carries weight (PY2024 FAQ, Appendix B, note)."""
        capped = np.minimum(total + self.bonus[:, None], 100.0)
        final: np.ndarray = np.where(carrying <= 1, self.threshold, capped)
        return final

    def candidate_finals(self, weights: np.ndarray) -> np.ndarray:
        """The final score each candidate weighting (``weights``: weightings x 4) gives each row."""
        return self._final_scores(self.percent @ weights.T, (weights > 0).sum(axis=1)[None, :])

    def candidate_tolerances(self, weights: np.ndarray) -> np.ndarray:
        """How far each candidate weighting's sum may be from the printed final score by rounding alone."""
        return self._tolerances(
            self.percent @ weights.T, (weights > 0).sum(axis=1)[None, :], self.part_rounding @ weights.T
        )

    def _tolerances(self, total: np.ndarray, carrying: np.ndarray, parts: np.ndarray) -> np.ndarray:
        """The parts' rounding carried by their weights, the bonus's and the final score's own; only the final
        score's where the rule fixes the value (capped at 100 whatever the rounding, or the threshold)."""
        final_only = self.final_rounding[:, None]
        fixed = (total + self.bonus[:, None] - parts - self.bonus_rounding[:, None] >= 100) | (carrying <= 1)
        tolerance = np.where(fixed, final_only, parts + self.bonus_rounding[:, None] + final_only)
        return np.maximum(tolerance, self.tolerance)

    def row_finals(self, weights: np.ndarray) -> np.ndarray:
        """The final score each row's own weighting (``weights``: rows x 4) gives it (rows x 1)."""
        total = np.einsum("ij,ij->i", self.percent, weights)[:, None]
        return self._final_scores(total, (weights > 0).sum(axis=1)[:, None])

    def row_tolerances(self, weights: np.ndarray) -> np.ndarray:
        """How far each row's own weighting's sum may be from its printed final score by rounding (rows x 1)."""
        w = np.nan_to_num(weights)
        total = np.einsum("ij,ij->i", self.percent, w)[:, None]
        parts = np.einsum("ij,ij->i", self.part_rounding, w)[:, None]
        return self._tolerances(total, (weights > 0).sum(axis=1)[:, None], parts)

    def _matches(self, estimate: np.ndarray, tolerance: np.ndarray) -> np.ndarray:
        """Within ``tolerance`` of the published final score (rounded to 1e-9: both sides are decimals)."""
        final = self.data.final[:, None]
        close: np.ndarray = ~np.isnan(final) & (np.round(np.abs(estimate - final) - tolerance, 9) <= 0)
        return close

    def _statuses(self, scores: np.ndarray, weights: np.ndarray) -> np.ndarray:
        carried = np.where(np.isnan(scores), NOT_SCORED, SCORED)
        statuses: np.ndarray = np.where(weights == 0, REWEIGHTED, carried)
        return statuses

    def published(self) -> _Answer:
        """PY2023+: the published weights decide the statuses; the final score is checked against them."""
        d = self.data
        tolerance = self.row_tolerances(d.weights)
        matched = self._matches(self.row_finals(d.weights), tolerance)[:, 0]
        reproduced = np.where(np.isnan(d.final), -1, matched)
        used = np.where(matched, tolerance[:, 0], np.nan)
        return self._statuses(d.scores, d.weights), d.weights, reproduced, np.full(len(d.final), PUBLISHED), used

    def predicted(self) -> np.ndarray:
        """The categories the rule predicts reweighted (rows x 4): no score (or 0) and a flag; no cost score at
        all (too few cases); an EUC flag in a year where an approved EUC application overrode the data; and
        those the year gives no weight."""
        d = self.data
        nothing = np.isnan(d.scores) | (d.scores == 0)
        no_cost = np.zeros_like(nothing)
        no_cost[:, -1] = np.isnan(d.scores[:, -1])
        predicted: np.ndarray = (nothing & d.flagged) | no_cost | (d.euc & self.override) | self.standard_zero
        return predicted

    def _allowed(self, candidates: list[Weighting], zero: np.ndarray) -> np.ndarray:
        """Which candidate weightings each row may have had (rows x weightings). A category may have carried 0%
        only with no score (or 0), a flag, or no weight that year; a small-practice weighting only for a small
        practice; a scoring standard (its zeros are its own rule) only for its participation options."""
        d = self.data
        possible = np.isnan(d.scores) | (d.scores == 0) | d.flagged | self.standard_zero
        allowed: np.ndarray = np.all(~zero[None, :, :] | possible[:, None, :], axis=2)
        for j, w in enumerate(candidates):
            if w.kind == "scoring_standard":
                allowed[:, j] = np.isin(d.participation, w.participation) if w.participation else True
            if w.small_practice:
                allowed[:, j] &= d.small
        return allowed

    def _priority(self, candidates: list[Weighting], zero: np.ndarray) -> np.ndarray:
        """The order the rule tries the weightings in, per row (lower first): the one the flags predict, then
        by kind and fewest categories at 0%; of two alike, a small-practice weighting for a small practice."""
        same = np.all(zero[None, :, :] == self.predicted()[:, None, :], axis=2)
        tier = np.array([_TIERS[w.kind] for w in candidates])
        predicted_first = same & (tier < _TIERS["scoring_standard"])[None, :]
        rank = np.where(predicted_first, 0, tier[None, :] * 10 + zero.sum(axis=1)[None, :])
        return rank - np.array([w.small_practice for w in candidates])[None, :] * 0.5

    def reproduce(self) -> _Answer:
        """Years without weight columns: of the weightings the year's rules allow for each entry, in the rule's
        order, the first that reproduces the published final score."""
        d = self.data
        n = len(d.final)
        candidates = self.methodology.weightings(self.year)
        weights = np.array([w.weights for w in candidates]) / 100.0
        zero = weights == 0  # weightings x 4
        tolerances = self.candidate_tolerances(weights)
        fits = self._matches(self.candidate_finals(weights), tolerances)
        fits &= self._allowed(candidates, zero)
        ranked = np.where(fits, self._priority(candidates, zero), np.inf)
        chosen = np.argmin(ranked, axis=1)
        found = np.isfinite(ranked[np.arange(n), chosen])
        has_final = ~np.isnan(d.final)
        threshold = found & np.array([w.single for w in candidates])[chosen]

        status = np.full((n, len(CATEGORIES)), UNKNOWN)
        shown_weights = np.full((n, len(CATEGORIES)), np.nan)
        status[found] = self._statuses(d.scores[found], weights[chosen][found])
        status[threshold] = REWEIGHTED  # the final score is the threshold: no category's data counted
        shown_weights[found] = weights[chosen][found]
        shown_weights[threshold] = 0.0
        # no final score: nothing to reproduce; the rule's prediction decides the statuses, the weights are unknown
        unscored = ~has_final
        carried = np.where(np.isnan(d.scores[unscored]), NOT_SCORED, SCORED)
        status[unscored] = np.where(self.predicted()[unscored], REWEIGHTED, carried)
        reproduced = np.where(has_final, found, -1)
        basis = np.select([~has_final, threshold, found], [NO_FINAL, THRESHOLD, REPRODUCED], NOT_REPRODUCED)
        used = np.where(found, tolerances[np.arange(n), chosen], np.nan)
        return status, shown_weights, reproduced, basis, used


__all__ = [
    "CATEGORIES",
    "STATUSES",
    "WEIGHTS_BASES",
    "Category",
    "CategoryDisplay",
    "ShownEntry",
    "Weighting",
    "display",
    "reweighting_flags",
]
