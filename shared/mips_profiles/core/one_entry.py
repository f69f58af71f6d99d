"""One entry through the category rule (:func:`categories.display`), written by hand: for the docs' examples
and the tests that state the rule one row at a time. The same code the documents run; nothing here decides."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from .categories import CATEGORIES, CategoryDisplay, ShownEntry, display
from .contract import load_contract
from .methodology import Methodology, load_methodology


def one_entry(
    year: int,
    cells: dict[str, tuple[float | None, float | None, bool | None]],
    *,
    final: float | None = None,
    euc: tuple[str, ...] = (),
    bonus: float | None = None,
    small: bool = False,
    participation: str = "Group",
    methodology: Methodology | None = None,
) -> ShownEntry:
    """One entry through :func:`display` (the same code the builder runs): ``cells`` maps a category name to
    its (score, weight, any reweighting flag) as published; ``euc`` names the categories with an EUC flag."""
    return one_entry_display(
        year,
        cells,
        final=final,
        euc=euc,
        bonus=bonus,
        small=small,
        participation=participation,
        methodology=methodology,
    ).row(0)


def one_entry_display(
    year: int,
    cells: dict[str, tuple[float | None, float | None, bool | None]],
    *,
    final: float | None = None,
    euc: tuple[str, ...] = (),
    bonus: float | None = None,
    small: bool = False,
    participation: str = "Group",
    methodology: Methodology | None = None,
) -> CategoryDisplay:
    """:func:`one_entry`, column-wise: the whole :class:`CategoryDisplay` of the one entry (its tolerance too)."""
    methodology = methodology or load_methodology()
    row: dict[str, list[object]] = {
        "final_score": [final],
        "complex_patient_bonus": [bonus],
        "small_practice": [small],
        "participation_option": [participation],
    }
    for c in CATEGORIES:
        score, weight, flag = cells.get(c.name, (None, None, None))
        row[c.score], row[c.weight], row[c.flag] = [score], [weight], [flag]
        row[c.euc] = [c.name in euc]
    types = {"participation_option": pa.string()}
    table = pa.table(
        {
            k: pa.array(v, types.get(k, pa.bool_() if k.endswith(("_flag", "small_practice")) else pa.float64()))
            for k, v in row.items()
        }
    )
    with_weights = {year} if "quality_category_weight" in load_contract().candidate_columns(year) else set()
    return display(table, np.array([year]), with_weights, methodology)
