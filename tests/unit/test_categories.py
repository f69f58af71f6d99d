"""The reweighted-category display rule, one entry at a time, through the same code the documents use."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from mips_profiles.core.categories import CATEGORIES, display, one_entry, reweighted_flags
from mips_profiles.core.methodology import load_methodology


@pytest.mark.parametrize(
    ("year", "cells", "expected"),
    [
        # the real PY2023 group row: PI score 0, weight 0, special-status flag True -> exempt, never 0
        (2023, {"promoting_interoperability": (0.0, 0.0, True)}, ("reweighted", None, 0.0)),
        (2024, {"cost": (None, 0.0, None)}, ("reweighted", None, 0.0)),  # too few cases: weight 0, no flag
        (2024, {"cost": (61.2, 0.3, False)}, ("scored", 61.2, 0.3)),
        (2024, {"quality": (0.0, 0.55, False)}, ("scored", 0.0, 0.55)),  # a real score of 0 stays 0
        (2022, {"promoting_interoperability": (0.0, None, True)}, ("reweighted", None, 0.0)),  # flags only
        (2022, {"promoting_interoperability": (None, None, False)}, ("not_scored", None, None)),
        (2019, {"promoting_interoperability": (None, None, True)}, ("reweighted", None, 0.0)),
    ],
)
def test_the_display_rule_for_one_category(year, cells, expected):
    (name,) = cells
    assert one_entry(year, cells)[name] == expected


def test_standard_weights_only_where_nothing_was_redistributed():
    scored = {c.name: (80.0, None, False) for c in CATEGORIES}
    assert [w for _, _, w in one_entry(2021, scored).values()] == [0.4, 0.25, 0.15, 0.2]
    one_out = {**scored, "cost": (None, None, True)}
    assert [w for _, _, w in one_entry(2021, one_out).values()] == [None, None, None, 0.0]


def test_only_a_true_flag_counts_whatever_its_case_and_padding():
    flags = {
        name: pa.chunked_array([pa.array(values)])
        for name, values in {
            "pi_reweighting_euc": [" TRUE ", "false", "", "maybe", "False"],
            "pi_reweighting_hardship": ["", "", "", "", "true"],
        }.items()
    }
    columns = {
        name: flags.get(name, pa.chunked_array([pa.array([""] * 5)]))
        for names in load_methodology().reweighting_flags.values()
        for name in names
    }
    out = reweighted_flags(columns, load_methodology())
    assert out["pi_reweighted_flag"].to_pylist() == [True, False, None, None, True]
    assert out["quality_reweighted_flag"].to_pylist() == [None] * 5


def test_the_rule_runs_column_wise_over_many_entries_of_mixed_years():
    table = pa.table(
        {
            **{c.score: pa.array([80.0, None, 0.0], pa.float64()) for c in CATEGORIES},
            **{c.weight: pa.array([0.3, None, 0.0], pa.float64()) for c in CATEGORIES},
            **{c.flag: pa.array([False, True, None], pa.bool_()) for c in CATEGORIES},
        }
    )
    shown = display(table, np.array([2024, 2019, 2023]), {2023, 2024}, load_methodology())
    rows = [shown.row(i) for i in range(3)]
    assert [r["quality"][0] for r in rows] == ["scored", "reweighted", "reweighted"]
    assert [r["cost"][1] for r in rows] == [80.0, None, None]
    assert [r["cost"][2] for r in rows] == [0.3, 0.0, 0.0]


def test_an_unreadable_flag_does_not_make_a_category_reweighted():
    assert one_entry(2022, {"quality": (80.0, None, None)})["quality"] == ("scored", 80.0, None)


def test_a_category_without_weight_that_year_need_not_be_scored_for_the_standard_weights():
    """PY2017 weighted cost 0%: an unscored cost does not make the other weights unknown."""
    cells = {c.name: (70.0, None, False) for c in CATEGORIES if c.name != "cost"}
    assert [w for _, _, w in one_entry(2017, cells).values()] == [0.6, 0.25, 0.15, 0.0]
