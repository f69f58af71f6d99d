"""The category rule, one entry at a time, through the same code the documents use: a published score is
never hidden, each category says whether it counted, and the published final score decides the weights."""

from __future__ import annotations

import dataclasses
import json
from importlib import resources

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mips_profiles.core.categories import CATEGORIES, STATUSES, display, reweighting_flags
from mips_profiles.core.methodology import _weighting, load_methodology
from mips_profiles.core.one_entry import one_entry
from mips_profiles.errors import ConfigurationError

ALL = tuple(c.name for c in CATEGORIES)
Q, PI, IA, COST = ALL


def cells(quality=None, pi=None, ia=None, cost=None, *, flags=(), weights=None):
    """Category cells as published: scores, the categories with a reweighting flag, PY2023+ weights."""
    scores = dict(zip(ALL, (quality, pi, ia, cost), strict=True))
    w = dict(zip(ALL, weights or (None,) * 4, strict=True))
    return {name: (scores[name], w[name], name in flags) for name in ALL}


def weights_of(entry):
    return [entry[name][2] for name in ALL]


def statuses_of(entry):
    return [entry[name][0] for name in ALL]


# -- the FAQ's rule: a flag is a qualification, the submission decides -------------------------------------


def test_a_flag_beside_a_published_score_is_a_qualification_and_the_category_counted():
    """The real PY2022 Group row: quality 75, PI 100 with the special-status flag, IA 40 of 40, cost 61.0461,
    no bonus, final 80.81 = 75x0.30 + 100x0.25 + 15 + 61.0461x0.30 (PY2024 FAQ: a qualifying submission is
    scored and the category is not reweighted)."""
    entry = one_entry(2022, cells(75, 100, 40, 61.0461, flags=(PI,)), final=80.81)
    assert entry[PI] == ("scored", 100.0, 0.25)
    assert weights_of(entry) == [0.30, 0.25, 0.15, 0.30]
    assert entry.final_score_reproduced is True
    assert entry.weights_basis == "reproduces_final_score"


def test_had_pi_been_reweighted_the_final_score_would_say_so_and_the_score_still_shows():
    """With PI reweighted quality carries 55%: 74.56. The published final score decides; PI's 100 stays shown."""
    entry = one_entry(2022, cells(75, 100, 40, 61.0461, flags=(PI,)), final=74.56)
    assert entry[PI] == ("reweighted", 100.0, 0.0)
    assert weights_of(entry) == [0.55, 0.0, 0.15, 0.30]
    assert entry.final_score_reproduced is True


def test_an_approved_euc_application_in_py2021_overrode_the_data_and_the_final_score_is_the_threshold():
    """The real PY2021 row: every EUC flag True, quality 45 published, final 60 = the PY2021 threshold (FAQ,
    Appendix B: with one category or none left carrying weight, the final score is the threshold)."""
    entry = one_entry(2021, cells(45, flags=ALL), final=60.0, euc=ALL)
    assert entry[Q] == ("reweighted", 45.0, 0.0)  # published, shown, and it did not count
    assert statuses_of(entry) == ["reweighted"] * 4
    assert weights_of(entry) == [0.0] * 4
    assert entry.weights_basis == "performance_threshold"
    assert entry.final_score_reproduced is True


def test_an_euc_flag_outside_the_override_years_is_a_qualification_like_any_other():
    entry = one_entry(2022, cells(80, 90, 40, 70, flags=(Q,)), euc=(Q,), final=0.3 * 80 + 0.25 * 90 + 15 + 0.3 * 70)
    assert entry[Q] == ("scored", 80.0, 0.30)


def test_a_reweighted_category_without_a_score_or_with_0_is_exempt_never_a_0():
    """The real PY2023 group row: PI score 0, weight 0, special-status flag True."""
    assert one_entry(2023, cells(90, 0.0, 40, 80, flags=(PI,), weights=(0.55, 0, 0.15, 0.3)))[PI] == (
        "reweighted",
        None,
        0.0,
    )
    no_cost = cells(90, 100, 40, None, weights=(0.55, 0.3, 0.15, 0))  # too few cases: no flag
    assert one_entry(2024, no_cost)[COST] == ("reweighted", None, 0.0)


def test_a_score_published_above_0_for_a_category_weighted_0_is_shown_and_said_not_to_count():
    assert one_entry(2024, cells(90, 100, 40, 61.2, weights=(0.55, 0.3, 0.15, 0)))[COST] == ("reweighted", 61.2, 0.0)


def test_a_real_0_that_carried_weight_stays_0():
    weights = (0.55, 0.3, 0.15, 0)
    assert one_entry(2024, cells(0.0, 100, 40, weights=weights))[Q] == ("scored", 0.0, 0.55)
    assert one_entry(2024, cells(None, 100, 40, weights=weights))[Q] == ("not_scored", None, 0.55)


# -- the published final score decides --------------------------------------------------------------------


def test_published_weights_are_checked_against_the_final_score():
    row = cells(80, 100, 40, 50, weights=(0.3, 0.25, 0.15, 0.3))
    good = one_entry(2024, row, final=24 + 25 + 15 + 15)
    assert good.final_score_reproduced is True and good.weights_basis == "published"
    # a point off: more than any rounding of the printed parts explains (80, 100 and 50 may each be half a unit
    # off, times their weights: 0.43; the activities' 40 points are whole)
    bad = one_entry(2024, row, final=79 + 1)
    assert bad.final_score_reproduced is False and bad.weights_basis == "published"
    assert weights_of(bad) == [0.3, 0.25, 0.15, 0.3]  # published weights stay, whatever the check says
    assert one_entry(2024, row).final_score_reproduced is None  # nothing to check


def test_no_weighting_of_the_years_rules_reproduces_it_so_every_status_is_unknown_and_no_weight_is_guessed():
    entry = one_entry(2022, cells(75, 100, 40, 61.0461), final=50.0)
    assert statuses_of(entry) == ["unknown"] * 4
    assert weights_of(entry) == [None] * 4
    assert [entry[n][1] for n in ALL] == [75.0, 100.0, 40.0, 61.0461]  # scores as published all the same
    assert entry.final_score_reproduced is False
    assert entry.weights_basis == "final_score_not_reproduced"


def test_a_category_with_a_score_and_no_flag_cannot_have_been_reweighted():
    """Reweighting PI would reproduce 83 (44 + 15 + 24), but nothing says PI could have been reweighted."""
    assert one_entry(2022, cells(80, 60, 40, 80), final=83.0).final_score_reproduced is False
    assert one_entry(2022, cells(80, 60, 40, 80, flags=(PI,)), final=83.0)[PI] == ("reweighted", 60.0, 0.0)


def test_within_the_rounding_of_what_cms_printed_and_no_further():
    """CMS computes from unrounded parts and prints each rounded: a part printed with two decimals may be off by
    0.005, times its weight; the final score by its own 0.005 (never less than 0.01 in all)."""
    row = cells(80.12, 99.87, 40, 50.03)  # 24.036 + 24.9675 + 15 + 15.009 = 79.0125
    # tolerance: 0.3 x 0.005 + 0.25 x 0.005 + 0 (whole activity points) + 0.3 x 0.005 + 0.005 = 0.00925 -> 0.01
    assert one_entry(2022, row, final=79.01).final_score_reproduced is True
    assert one_entry(2022, row, final=79.02).final_score_reproduced is True  # 0.0075 off
    assert one_entry(2022, row, final=79.03).final_score_reproduced is False  # 0.0175 off
    assert one_entry(2022, row, final=78.99).final_score_reproduced is False  # 0.0225 off


def test_parts_printed_as_whole_numbers_may_each_hide_half_a_unit():
    row = cells(80, 100, 40, 50)  # 24 + 25 + 15 + 15 = 79; tolerance 0.15 + 0.125 + 0 + 0.15 + the final's own
    assert one_entry(2022, row, final=79.4).final_score_reproduced is True  # 0.4 <= 0.425 + 0.05
    assert one_entry(2022, row, final=79.6).final_score_reproduced is False  # 0.6 > 0.475


def test_the_py2018_group_row_that_only_rounding_explains_is_reproduced():
    """The real PY2018 row: quality 74.6, PI 0, IA 40, cost 60.2, complex patient bonus 1.6, the small-practice
    bonus 5, final 64.9. The parts add up to 74.6 x 0.5 + 0 + 15 + 60.2 x 0.1 + 1.6 + 5 = 64.92, 0.02 from what
    CMS printed; each part printed to one decimal may be 0.05 off: 0.025 + 0.005 + 0.05 (bonus) + 0.05 (final)."""
    entry = one_entry(2018, cells(74.6, 0, 40, 60.2), final=64.9, bonus=1.6, small=True)
    assert entry.final_score_reproduced is True
    assert weights_of(entry) == [0.5, 0.25, 0.15, 0.1]
    assert one_entry(2018, cells(74.6, 0, 40, 60.2), final=65.2, bonus=1.6, small=True).final_score_reproduced is False


def test_improvement_activities_are_points_out_of_40():
    assert one_entry(2022, cells(100, 100, 20, 100), final=92.5).final_score_reproduced is True  # 85 + 7.5


def test_the_complex_patient_bonus_counts_and_the_final_score_is_capped_at_100():
    row = cells(90, 100, 40, 80)  # 27 + 25 + 15 + 24 = 91
    assert one_entry(2022, row, final=94.5, bonus=3.5).final_score_reproduced is True
    assert one_entry(2022, row, final=94.5).final_score_reproduced is False
    assert one_entry(2022, row, final=100.0, bonus=10).final_score_reproduced is True
    assert one_entry(2022, row, final=101.0, bonus=10).final_score_reproduced is False


def test_py2018s_small_practice_bonus_of_5_points_counts_for_small_practices_only():
    row = cells(80, 100, 40, 50)  # 40 + 25 + 15 + 5 = 85
    assert one_entry(2018, row, final=90.0, small=True).final_score_reproduced is True
    assert one_entry(2018, row, final=90.0).final_score_reproduced is False
    assert (
        one_entry(2019, cells(80, 100, 40, 50), final=36 + 25 + 15 + 7.5 + 5, small=True).final_score_reproduced
        is False
    )


def test_the_weighting_the_flags_predict_wins_where_several_reproduce_the_final_score():
    """Every category at 80%: the standard weights and PI reweighted both give 80. PI was published above 0, so
    the rule predicts it counted."""
    entry = one_entry(2022, cells(80, 80, 32, 80, flags=(PI,)), final=80.0)
    assert entry[PI] == ("scored", 80.0, 0.25)
    empty = one_entry(2022, cells(80, None, 32, 80, flags=(PI,)), final=80.0)  # no PI score: it was reweighted
    assert empty[PI] == ("reweighted", None, 0.0)


def test_no_cost_score_means_too_few_cases_and_its_weight_went_elsewhere():
    entry = one_entry(2021, cells(90, 100, 40), final=0.60 * 90 + 25 + 15)
    assert entry[COST] == ("reweighted", None, 0.0)
    assert weights_of(entry) == [0.60, 0.25, 0.15, 0.0]


def test_the_small_practice_redistribution_applies_to_small_practices_only():
    row = cells(80, None, 40, 50, flags=(PI,))  # PY2022+ small practice, PI reweighted: 40 / 0 / 30 / 30
    final = 0.40 * 80 + 30 + 0.30 * 50
    assert weights_of(one_entry(2023, row, final=final, small=True)) == [0.40, 0.0, 0.30, 0.30]
    assert one_entry(2022, row, final=final).final_score_reproduced is False


def test_the_apm_scoring_standard_is_tried_for_mips_apm_participants_only():
    row = cells(90, 100, 40, 70)  # 50 / 30 / 20 / 0: 45 + 30 + 20 = 95
    apm = one_entry(2019, row, final=95.0, participation="MIPS APM")
    assert weights_of(apm) == [0.5, 0.3, 0.2, 0.0]
    assert apm[COST] == ("reweighted", 70.0, 0.0)
    assert one_entry(2019, row, final=95.0, participation="Group").final_score_reproduced is False


def test_without_a_final_score_the_flags_decide_and_the_weights_are_unknown():
    entry = one_entry(2019, cells(None, None, 40, None, flags=(PI,)))
    assert statuses_of(entry) == ["not_scored", "reweighted", "scored", "reweighted"]
    assert weights_of(entry) == [None] * 4
    assert entry.final_score_reproduced is None and entry.weights_basis == "no_final_score"


def test_py2017_weighted_cost_0_so_cost_never_counted():
    entry = one_entry(2017, cells(70, 80, 40, 55), final=0.6 * 70 + 0.25 * 80 + 15)
    assert entry[COST] == ("reweighted", 55.0, 0.0)
    assert weights_of(entry) == [0.6, 0.25, 0.15, 0.0]


# -- flags as text, column-wise -------------------------------------------------------------------------------


def test_only_a_true_flag_counts_whatever_its_case_and_padding_and_euc_flags_are_told_apart():
    texts = {
        "pi_reweighting_euc": [" TRUE ", "false", "", "maybe", "False"],
        "pi_reweighting_hardship": ["", "", "", "", "true"],
    }
    methodology = load_methodology()
    names = {n for flags in methodology.reweighting_flags.values() for n in flags}
    columns = {n: pa.chunked_array([pa.array(texts.get(n, [""] * 5))]) for n in names}
    out = reweighting_flags(columns, methodology)
    assert out["pi_reweighted_flag"].to_pylist() == [True, False, None, None, True]
    assert out["pi_euc_flag"].to_pylist() == [True, False, None, None, False]
    assert out["quality_reweighted_flag"].to_pylist() == [None] * 5


def test_the_rule_runs_column_wise_over_entries_of_mixed_years():
    table = pa.table(
        {
            "final_score": pa.array([24 + 20 + 15 + 24, None, 75.0], pa.float64()),
            **{c.score: pa.array([80.0, None, 0.0], pa.float64()) for c in CATEGORIES},
            **{c.weight: pa.array([0.3 if c.name != PI else 0.25, None, 0.0], pa.float64()) for c in CATEGORIES},
            **{c.flag: pa.array([False, True, None], pa.bool_()) for c in CATEGORIES},
        }
    )
    for name, values in (("ia_category_score", [40.0, None, 0.0]), ("ia_category_weight", [0.15, None, 0.0])):
        table = table.set_column(table.column_names.index(name), name, pa.array(values))
    shown = display(table, np.array([2024, 2019, 2023]), {2023, 2024}, load_methodology())
    rows = [shown.row(i) for i in range(3)]
    assert [r[Q][0] for r in rows] == ["scored", "reweighted", "reweighted"]
    assert [r[COST][1] for r in rows] == [80.0, None, None]
    assert [r[COST][2] for r in rows] == [0.3, None, 0.0]
    assert [r.final_score_reproduced for r in rows] == [True, None, True]  # all weighted 0%: the threshold, 75
    assert [r.weights_basis for r in rows] == ["published", "no_final_score", "published"]


# -- what must hold for every row ----------------------------------------------------------------------------

score = st.one_of(st.none(), st.just(0.0), st.floats(0.01, 100, allow_nan=False).map(lambda v: round(v, 2)))


@settings(max_examples=300, deadline=None)
@given(
    year=st.integers(2017, 2025),
    scores=st.tuples(score, score, score, score),
    flags=st.lists(st.sampled_from(ALL), unique=True),
    euc=st.lists(st.sampled_from(ALL), unique=True),
    final=st.one_of(st.none(), st.floats(0, 100).map(lambda v: round(v, 2))),
    weights=st.one_of(st.none(), st.tuples(*[st.sampled_from([0.0, 0.15, 0.25, 0.3, 0.55])] * 4)),
    bonus=st.one_of(st.none(), st.floats(0, 10).map(lambda v: round(v, 2))),
    small=st.booleans(),
)
def test_every_published_score_above_0_is_shown_as_published_and_weights_are_never_a_mix(
    year, scores, flags, euc, final, weights, bonus, small
):
    ia = None if scores[2] is None else round(scores[2] * 0.4, 2)  # points out of 40
    row = cells(scores[0], scores[1], ia, scores[3], flags=flags, weights=weights if year >= 2023 else None)
    entry = one_entry(year, row, final=final, euc=tuple(euc), bonus=bonus, small=small)
    for name, (published, _, _) in row.items():
        if published is not None and published > 0:
            assert entry[name][1] == published, (name, entry)
        assert entry[name][0] in STATUSES
    shown_weights = weights_of(entry)
    assert all(w is None for w in shown_weights) or all(w is not None for w in shown_weights), entry
    if entry.final_score_reproduced is False:
        assert entry.weights_basis in ("published", "final_score_not_reproduced")
    if final is None:
        assert entry.final_score_reproduced is None


# -- the methodology's weightings ---------------------------------------------------------------------------


def test_every_weight_set_names_exactly_its_zeros_and_adds_up_to_100():
    raw = json.loads((resources.files("mips_profiles") / "data/methodology.json").read_text())
    weighting = raw["category_weighting"]
    _weighting(weighting)  # the shipped data parses
    broken = json.loads(json.dumps(weighting))
    broken["weight_sets"][0]["sets"]["cost"] = [55, 30, 14, 0]
    with pytest.raises(ConfigurationError, match="'cost'"):
        _weighting(broken)
    broken = json.loads(json.dumps(weighting))
    broken["weight_sets"][0]["sets"]["cost"] = [55, 30, 15, 0, 0]
    with pytest.raises(ConfigurationError, match="has 5 weights, not 4"):
        _weighting(broken)
    broken = json.loads(json.dumps(weighting))
    broken["weight_sets"][0]["sets"]["quality"] = [30, 25, 15, 30]
    with pytest.raises(ConfigurationError, match="'quality'"):
        _weighting(broken)


def test_the_standard_weights_are_the_first_weighting_tried_and_the_threshold_ones_come_last():
    weightings = load_methodology().weightings(2021)
    assert weightings[0].weights == (40.0, 25.0, 15.0, 20.0) and weightings[0].kind == "standard"
    assert [w.kind for w in weightings[-5:]] == ["threshold"] * 5
    assert all(w.single for w in weightings[-5:]) and not any(w.single for w in weightings[:-5])


def test_a_year_is_comparable_to_the_one_before_only_under_the_same_threshold_and_weights():
    comparable = load_methodology().comparable_to_prior_year(np.array([2017, 2018, 2022, 2023, 2024, 2025, 2023]))
    assert comparable.tolist() == [False, False, False, True, True, True, True]


# -- where the rule's order decides: two weightings reproduce the same final score ------------------------------


def test_an_euc_flag_in_an_override_year_makes_the_category_not_count_where_both_readings_add_up():
    """Quality equal to PI: with quality counted (40/25/15/20) or reweighted (0/65/15/20) the final score is the
    same, 77. In PY2021 an approved EUC application overrode the data: quality did not count. In PY2022 the
    same flag is a qualification and quality counted."""
    entry = one_entry(2021, cells(80, 80, 40, 50, flags=(Q,)), euc=(Q,), final=77.0)
    assert entry[Q] == ("reweighted", 80.0, 0.0)
    assert weights_of(entry) == [0.0, 0.65, 0.15, 0.2]
    counted = one_entry(2022, cells(80, 80, 40, 50, flags=(Q,)), euc=(Q,), final=24 + 20 + 15 + 15)
    assert counted[Q] == ("scored", 80.0, 0.3)


def test_a_0_with_a_flag_is_an_exemption_where_counting_it_as_0_would_add_up_too():
    """Quality 0 makes PI counted as 0 (30/25/15/30) and PI reweighted (55/0/15/30) both give 30: the flag and
    the 0 say CMS reweighted PI (the real PY2023 row's pattern)."""
    flagged = one_entry(2022, cells(0, 0, 40, 50, flags=(PI,)), final=30.0)
    assert flagged[PI] == ("reweighted", None, 0.0)
    assert weights_of(flagged) == [0.55, 0.0, 0.15, 0.3]
    assert one_entry(2022, cells(0, 0, 40, 50), final=30.0)[PI] == ("scored", 0.0, 0.25)  # no flag: a real 0


def test_a_flag_nobody_could_read_is_no_flag():
    table = pa.table(
        {
            "final_score": pa.array([30.0]),
            **{c.score: pa.array([0.0 if c.name != IA else 40.0]) for c in CATEGORIES},
            **{c.weight: pa.array([None], pa.float64()) for c in CATEGORIES},
            **{c.flag: pa.array([None if c.name == PI else False], pa.bool_()) for c in CATEGORIES},
            **{c.euc: pa.array([None], pa.bool_()) for c in CATEGORIES},
        }
    )
    table = table.set_column(table.column_names.index("cost_category_score"), "cost_category_score", pa.array([50.0]))
    entry = display(table, np.array([2022]), set(), load_methodology()).row(0)
    assert entry[PI] == ("scored", 0.0, 0.25)


def test_no_cost_score_predicts_cost_reweighted_where_counting_it_as_0_would_add_up_too():
    entry = one_entry(2022, cells(0, 0, 40, None), final=15.0)  # 15 either way
    assert entry[COST] == ("reweighted", None, 0.0)
    assert weights_of(entry) == [0.55, 0.3, 0.15, 0.0]


def test_a_category_the_year_does_not_weight_is_predicted_not_to_count():
    """PY2017 weighted cost 0%: with PI flagged and empty and quality 0, the standard weights and PI's weight
    moved to quality both give 15; the rule predicts PI exempt (cost 0% that year is part of the prediction)."""
    entry = one_entry(2017, cells(0, None, 40, None, flags=(PI,)), final=15.0)
    assert entry[PI] == ("reweighted", None, 0.0)
    assert weights_of(entry) == [0.85, 0.0, 0.15, 0.0]


def test_a_small_practice_gets_the_small_practice_weighting_where_both_add_up():
    row = cells(100, None, 40, 50, flags=(PI,))  # quality at 100% as IA: 55/0/15/30 and 40/0/30/30 both give 85
    assert weights_of(one_entry(2022, row, final=85.0, small=True)) == [0.40, 0.0, 0.30, 0.30]
    assert weights_of(one_entry(2022, row, final=85.0)) == [0.55, 0.0, 0.15, 0.30]


def test_a_small_practice_weighting_still_needs_the_category_to_have_been_reweightable():
    row = cells(80, 60, 40, 50)  # PI 60, no flag: PI cannot have been reweighted
    assert one_entry(2022, row, final=0.40 * 80 + 30 + 15, small=True).final_score_reproduced is False


# -- one category or two carrying weight -------------------------------------------------------------------


def test_with_one_category_left_carrying_weight_the_final_score_is_the_threshold_whatever_its_score():
    entry = one_entry(2021, cells(45, flags=(PI, IA, COST)), final=60.0)
    assert statuses_of(entry) == ["reweighted"] * 4 and entry[Q] == ("reweighted", 45.0, 0.0)
    assert entry.weights_basis == "performance_threshold"
    published = one_entry(2024, cells(45, weights=(1.0, 0, 0, 0)), final=75.0)  # PY2024's threshold
    assert published.final_score_reproduced is True
    assert one_entry(2024, cells(45, weights=(1.0, 0, 0, 0)), final=45.0).final_score_reproduced is False


def test_two_categories_carrying_weight_add_up_as_weighted_not_as_the_threshold():
    entry = one_entry(2022, cells(None, None, 40, 60, flags=(Q, PI)), final=0.5 * 100 + 0.5 * 60)
    assert weights_of(entry) == [0.0, 0.0, 0.5, 0.5] and entry.weights_basis == "reproduces_final_score"
    published = one_entry(2024, cells(None, None, 40, 60, weights=(0, 0, 0.5, 0.5)), final=80.0)
    assert published.final_score_reproduced is True


def test_published_weights_count_the_bonus_the_cap_and_a_category_with_no_score_as_0():
    weights = (0.55, 0.3, 0.15, 0)
    assert one_entry(2024, cells(None, 100, 40, weights=weights), final=45.0).final_score_reproduced is True
    row = cells(90, 100, 40, weights=weights)  # 49.5 + 30 + 15 = 94.5
    assert one_entry(2024, row, final=97.0, bonus=2.5).final_score_reproduced is True
    assert one_entry(2024, row, final=100.0, bonus=7.5).final_score_reproduced is True
    assert one_entry(2024, row, final=102.0, bonus=7.5).final_score_reproduced is False


def test_a_weighted_category_with_no_score_adds_nothing():
    """Quality carried weight but CMS published no quality score: it adds 0, not 1 (or anything else)."""
    entry = one_entry(2022, cells(None, 100, 40, 50), final=25 + 15 + 15)
    assert entry[Q] == ("not_scored", None, 0.3) and entry.final_score_reproduced is True


# -- the methodology's weightings, parsed (the cached copy is parsed once, before any test) -----------------


def fresh_methodology():
    raw = json.loads((resources.files("mips_profiles") / "data/methodology.json").read_text())
    return dataclasses.replace(load_methodology(), weighting=_weighting(raw["category_weighting"])), raw


def test_the_weighting_data_parses_into_what_the_rule_reads():
    methodology, raw = fresh_methodology()
    w = methodology.weighting
    assert (w.ia_points_max, w.final_score_tolerance) == (40.0, 0.01)
    assert w.euc_overrides_data_years == frozenset({2020, 2021})
    assert w.small_practice_final_score_bonus == {2018: 5.0}
    assert w.euc_flags[PI] == ("pi_reweighting_euc", "extreme_hardship_pi")
    listed = sum(len(group["sets"]) for group in raw["category_weighting"]["weight_sets"])
    assert len(w.sets) == listed and all(isinstance(s[2].weights, tuple) for s in w.sets)
    small = [s for lo, hi, s in w.sets if s.small_practice]
    assert small and all(lo == 2022 and hi == 2025 for lo, hi, s in w.sets if s.small_practice)
    assert {s.weights for s in small} == {(40.0, 0.0, 30.0, 30.0), (50.0, 0.0, 50.0, 0.0)}
    assert not any(s.small_practice for lo, hi, s in w.sets if lo < 2022)
    apm = [s for _, _, s in w.sets if s.kind == "scoring_standard"]
    assert [s.participation for s in apm] == [("MIPS APM",), ()]
    assert all(s.kind == "redistribution" for _, _, s in w.sets if s not in apm)
    # the freshly parsed rules give the same answers as the cached ones
    for year, row, final, extra in (
        (2018, cells(80, 100, 40, 50), 90.0, {"small": True}),
        (2021, cells(80, 80, 40, 50, flags=(Q,)), 77.0, {"euc": (Q,)}),
        (2019, cells(90, 100, 40, 70), 95.0, {"participation": "MIPS APM"}),
        (2023, cells(100, None, 40, 50, flags=(PI,)), 85.0, {"small": True}),
    ):
        assert one_entry(year, row, final=final, methodology=methodology, **extra) == one_entry(
            year, row, final=final, **extra
        )
        assert one_entry(year, row, final=final, methodology=methodology, **extra).final_score_reproduced


def test_a_weight_set_order_other_than_the_categories_is_refused_by_name():
    _, raw = fresh_methodology()
    weighting = json.loads(json.dumps(raw["category_weighting"]))
    weighting["weight_sets_order"] = ["cost", "quality", "promoting_interoperability", "improvement_activities"]
    with pytest.raises(ConfigurationError, match=r"^category_weighting.weight_sets_order must be \['quality'"):
        _weighting(weighting)


def test_the_threshold_weightings_are_each_category_alone_and_none():
    assert [w.weights for w in load_methodology().weightings(2024)[-5:]] == [
        (100.0, 0.0, 0.0, 0.0),
        (0.0, 100.0, 0.0, 0.0),
        (0.0, 0.0, 100.0, 0.0),
        (0.0, 0.0, 0.0, 100.0),
        (0.0, 0.0, 0.0, 0.0),
    ]


def test_comparability_is_a_boolean_column():
    assert load_methodology().comparable_to_prior_year(np.array([2023, 2022])).dtype == np.bool_


def test_a_0_without_a_flag_may_still_have_been_reweighted_where_only_that_adds_up():
    entry = one_entry(2022, cells(80, 0, 40, 50), final=0.55 * 80 + 15 + 15)  # counted as 0 it would be 54
    assert entry[PI] == ("reweighted", None, 0.0) and entry.final_score_reproduced is True


def test_the_apm_performance_pathway_is_tried_for_any_participation_from_py2021():
    entry = one_entry(2022, cells(90, 100, 40, 70), final=45 + 30 + 20, participation="APM Entity")
    assert weights_of(entry) == [0.5, 0.3, 0.2, 0.0] and entry[COST] == ("reweighted", 70.0, 0.0)


def test_of_two_weightings_the_flags_do_not_predict_the_one_with_fewer_categories_at_0_wins():
    """PY2021, an EUC flag on improvement activities (40 of 40, so predicted not to count) that does not add
    up; with quality and PI at 0 the standard weights and PI's weight moved to quality both give 15 + cost x 0.2:
    the standard weights, with fewer categories at 0, are the ones kept."""
    entry = one_entry(2021, cells(0, 0, 40, 50, flags=(IA,)), euc=(IA,), final=15 + 10)
    assert weights_of(entry) == [0.4, 0.25, 0.15, 0.2]


def test_a_redistribution_comes_before_a_scoring_standard_that_adds_up_the_same():
    """A MIPS APM row (PY2019) with no cost and no IA score: the APM standard (50/30/20/0) and cost and IA
    moved to quality and PI (75/25/0/0) both give 40 for quality 20 and PI 100."""
    entry = one_entry(2019, cells(20, 100, None, None), final=40.0, participation="MIPS APM")
    assert weights_of(entry) == [0.75, 0.25, 0.0, 0.0]
    assert entry[IA] == ("reweighted", None, 0.0)


def test_a_small_practice_weighting_is_preferred_only_among_alike_weightings():
    """A small practice whose standard weights (cost without a score, counted as 0) and the small-practice PI
    weighting both give 70: the standard weights, with fewer categories at 0, come first."""
    entry = one_entry(2022, cells(100, 100, 40, None, flags=(PI,)), final=70.0, small=True)
    assert weights_of(entry) == [0.3, 0.25, 0.15, 0.3] and entry[COST] == ("not_scored", None, 0.3)


# -- the rounding rule, case by case (each assertion pins one part of it) -------------------------------


def test_half_a_unit_of_the_last_digit_each_value_shows():
    from mips_profiles.core.categories import half_unit

    values = np.array([74.6, 40.0, 0.0, 64.92, np.nan, -4.36, 0.123456, 0.1234567, 0.123456789, 7.5])
    expected = [0.05, 0.5, 0.0, 0.005, 0.0, 0.005, 5e-7, 5e-7, 5e-7, 0.05]  # six places at most
    assert np.allclose(half_unit(values), expected, rtol=1e-9, atol=0)


def tolerance_of(year, cells_, **kw):
    from mips_profiles.core.one_entry import one_entry_display

    return float(one_entry_display(year, cells_, **kw).tolerance[0])


def test_whole_activity_points_are_exact_and_half_points_are_rounded():
    # PY2022, standard weights: 0.3 x 0.005 + 0.25 x 0.005 + 0.3 x 0.005 = 0.00425, plus the final's 0.005
    assert tolerance_of(2022, cells(80.12, 99.87, 35, 50.03), final=77.14) == pytest.approx(0.01)  # the floor
    assert one_entry(2022, cells(80.12, 99.87, 35, 50.03), final=77.16).final_score_reproduced is False
    # 7.5 points printed to one decimal: 0.05 points x 2.5 (points to percent) x 0.15 = 0.01875 more
    row = cells(80.12, 99.87, 7.5, 50.03)  # 24.036 + 24.9675 + 2.8125 + 15.009 = 66.825
    assert tolerance_of(2022, row, final=66.81) == pytest.approx(0.00425 + 0.005 + 0.01875)
    assert one_entry(2022, row, final=66.80).final_score_reproduced is True  # 0.025 off, within 0.028
    assert one_entry(2022, row, final=66.79).final_score_reproduced is False  # 0.035 off


def test_a_difference_of_exactly_the_tolerance_is_reproduced():
    row = cells(80.12, 99.87, 40, 50.03)  # 79.0125; the tolerance is the floor, 0.01
    assert one_entry(2022, row, final=79.0025).final_score_reproduced is True


def test_two_categories_carrying_weight_take_their_rounding_and_one_is_the_threshold_exactly():
    two = cells(80.5, 0, 0, 60.5, weights=(0.5, 0, 0, 0.5))  # 70.5; 0.5 x 0.05 x 2 + 0.005 = 0.055
    assert tolerance_of(2024, two, final=70.46) == pytest.approx(0.055)
    assert one_entry(2024, two, final=70.46).final_score_reproduced is True
    single = cells(90, 0, 0, 0, weights=(1, 0, 0, 0))  # one category: the final score is the threshold, 75
    assert one_entry(2024, single, final=75).final_score_reproduced is True
    assert one_entry(2024, single, final=75.3).final_score_reproduced is False  # only 75.3's own 0.05
    only_quality = cells(90, None, None, None, flags=("promoting_interoperability", "improvement_activities", "cost"))
    assert one_entry(2022, only_quality, final=75).final_score_reproduced is True
    assert one_entry(2022, only_quality, final=75.3).final_score_reproduced is False


def test_near_the_cap_the_rounding_decides_whether_the_sum_was_over_100():
    # 29.997 + 24.9975 + 15 + 29.931 = 99.9255, bonus 0.1: 100.0255 capped to 100. Its lowest, less the parts'
    # 0.00425 and the bonus's 0.05, is 99.97: maybe not over 100, so the full tolerance, 0.00425 + 0.05 + 0.005
    near = cells(99.99, 99.99, 40, 99.77)
    assert tolerance_of(2022, near, final=99.98, bonus=0.1) == pytest.approx(0.05925)
    assert weights_of(one_entry(2022, near, final=99.98, bonus=0.1)) == [0.3, 0.25, 0.15, 0.3]
    # 30 + 24.975 + 15 + 29.97 = 99.945, bonus 0.065: 100.01; less 0.0275 and 0.005 it is 99.98: the full tolerance
    wide = cells(100, 99.9, 40, 99.9)
    assert one_entry(2022, wide, final=99.98, bonus=0.065).final_score_reproduced is True
    # over 100 whatever the rounding: capped at exactly 100, only the final score's own rounding
    over = cells(100, 100, 40, 100)
    assert one_entry(2022, over, final=99.96, bonus=5).final_score_reproduced is False


def test_the_bonus_rounding_widens_the_tolerance():
    entry = one_entry(2018, cells(74.6, 0, 40, 60.2), final=64.85, bonus=1.6, small=True)  # 0.07 off, within 0.085
    assert entry.final_score_reproduced is True
    assert tolerance_of(2018, cells(74.6, 0, 40, 60.2), final=64.9, bonus=1.6, small=True) == pytest.approx(0.13)


def test_the_tolerance_is_stated_only_where_the_final_score_was_reproduced():
    assert np.isnan(tolerance_of(2022, cells(80, 60, 40, 80), final=83.0))  # reproduced by nothing
    assert np.isnan(tolerance_of(2024, cells(80, 100, 40, 50, weights=(0.3, 0.25, 0.15, 0.3)), final=80))
    assert tolerance_of(2024, cells(80, 100, 40, 50, weights=(0.3, 0.25, 0.15, 0.3)), final=79) == pytest.approx(
        0.15 + 0.125 + 0.15 + 0.5
    )
