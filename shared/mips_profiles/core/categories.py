"""The four MIPS performance categories, and the one rule for how a category is displayed.

CMS reweights a category to 0% for many reasons (extreme and uncontrollable circumstances, a hardship
exception, a special status or clinician type, too few cost cases) and moves its weight to the others.
Its score in the file is then empty or ``0``; CMS's own feedback says the clinician is *exempt* from a
score for that category. A profile must never show that as a score of 0, so each category of a document
entry carries a status:

- ``reweighted``: CMS published weight 0 for it (PY2023+ files have weight columns), or, for years
  without weight columns, a reweighting flag of the category is ``True``. Its score is shown as null.
- ``not_scored``: not reweighted, and CMS published no score.
- ``scored``: a published score, shown as published.

Weights: the fractions CMS published (PY2023+); for earlier years the year's standard weights when every
category that carries weight that year was scored (nothing was redistributed), else null (unknown: the
redistribution depends on rules the file does not record).

>>> one_entry(2024, {"promoting_interoperability": (0.0, 0.0, True)})["promoting_interoperability"]
('reweighted', None, 0.0)
>>> one_entry(2019, {"quality": (80.0, None, None), "promoting_interoperability": (90.0, None, None),
...                  "improvement_activities": (100.0, None, None), "cost": (50.0, None, None)})["quality"]
('scored', 80.0, 0.45)
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .methodology import Methodology


@dataclass(frozen=True)
class Category:
    name: str  # public name, in category_scores / category_status / category_weights
    score: str  # canonical field of the score
    weight: str  # canonical field of the published weight (PY2023+)
    flag: str  # record/entry column: any reweighting flag of the category was True


CATEGORIES = (
    Category("quality", "quality_category_score", "quality_category_weight", "quality_reweighted_flag"),
    Category("promoting_interoperability", "pi_category_score", "pi_category_weight", "pi_reweighted_flag"),
    Category("improvement_activities", "ia_category_score", "ia_category_weight", "ia_reweighted_flag"),
    Category("cost", "cost_category_score", "cost_category_weight", "cost_reweighted_flag"),
)
STATUSES = ("scored", "reweighted", "not_scored")


def reweighted_flags(columns: dict[str, pa.ChunkedArray], methodology: Methodology) -> dict[str, pa.ChunkedArray]:
    """Per category, whether any of its reweighting flags reads ``True`` (any case, any padding); ``False``
    if one reads false and none true; null when none is readable. ``columns`` hold the flags as text with
    missing values as "". Flags are write-locked: only this one bit of them is used, to decide the status."""
    out = {}
    for category in CATEGORIES:
        texts = [
            pc.utf8_lower(pc.utf8_trim_whitespace(columns[name]))
            for name in methodology.reweighting_flags[category.name]
        ]
        any_true = functools.reduce(pc.or_, [pc.equal(t, "true") for t in texts])
        any_false = functools.reduce(pc.or_, [pc.equal(t, "false") for t in texts])
        out[category.flag] = pc.if_else(pc.or_(any_true, any_false), any_true, pa.scalar(None, pa.bool_()))
    return out


@dataclass(frozen=True)
class CategoryDisplay:
    """Column-wise, per category (in ``CATEGORIES`` order): the score shown (NaN = null), the status (an index
    into ``STATUSES``) and the weight (a fraction; NaN = null)."""

    scores: dict[str, np.ndarray]
    status: dict[str, np.ndarray]
    weights: dict[str, np.ndarray]

    def row(self, i: int) -> dict[str, tuple[str, float | None, float | None]]:
        """One entry as name -> (status, shown score, weight), for messages and tests."""

        def value(v: float) -> float | None:
            return None if np.isnan(v) else float(v)

        return {
            c.name: (STATUSES[self.status[c.name][i]], value(self.scores[c.name][i]), value(self.weights[c.name][i]))
            for c in CATEGORIES
        }


SCORED, REWEIGHTED, NOT_SCORED = range(len(STATUSES))


def display(
    entries: pa.Table, years: np.ndarray, years_with_weights: set[int], methodology: Methodology
) -> CategoryDisplay:
    """For each entry and category: the status, the score shown and the weight. Column-wise (numpy)."""
    published_weights = np.isin(years, sorted(years_with_weights))
    scores, statuses, weights = {}, {}, {}
    for c in CATEGORIES:
        score = entries.column(c.score).to_numpy(zero_copy_only=False).astype(np.float64)
        weight = entries.column(c.weight).to_numpy(zero_copy_only=False).astype(np.float64)
        flag = np.asarray(pc.fill_null(entries.column(c.flag), False).to_numpy(zero_copy_only=False), dtype=bool)
        reweighted = np.where(published_weights, weight == 0, flag)
        statuses[c.name] = np.where(reweighted, REWEIGHTED, np.where(np.isnan(score), NOT_SCORED, SCORED)).astype(
            np.int8
        )
        scores[c.name] = np.where(reweighted, np.nan, score)
        weights[c.name] = np.where(reweighted, 0.0, weight)
    # Years without weight columns: the standard weights, where nothing was redistributed.
    for year in np.unique(years[~published_weights]).tolist():
        standard = methodology.parameters(int(year)).weights  # percent, every category
        intact = years == year
        for c in CATEGORIES:
            if standard[c.name] > 0:  # a category without weight that year (PY2017 cost) need not be scored
                intact &= statuses[c.name] == SCORED
        for c in CATEGORIES:
            weights[c.name] = np.where(intact, standard[c.name] / 100, weights[c.name])
    return CategoryDisplay(scores, statuses, weights)


def one_entry(
    year: int, cells: dict[str, tuple[float | None, float | None, bool | None]], methodology: Methodology | None = None
) -> dict[str, tuple[str, float | None, float | None]]:
    """One entry through :func:`display` (the same code the builder runs): ``cells`` maps a category
    name to its (score, weight, flag) as published; returns name -> (status, shown score, weight)."""
    from .contract import load_contract
    from .methodology import load_methodology

    methodology = methodology or load_methodology()
    row = {}
    for c in CATEGORIES:
        score, weight, flag = cells.get(c.name, (None, None, None))
        row[c.score], row[c.weight], row[c.flag] = [score], [weight], [flag]
    table = pa.table({k: pa.array(v, pa.bool_() if k.endswith("_flag") else pa.float64()) for k, v in row.items()})
    with_weights = {year} if "quality_category_weight" in load_contract().candidate_columns(year) else set()
    return display(table, np.array([year]), with_weights, methodology).row(0)
