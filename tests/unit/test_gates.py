"""The publish gates, directly: the rejected-share rule at its exact limit, the row-drop rule at its exact
limit, what a refusal says, and that force overrides both."""

from __future__ import annotations

from types import SimpleNamespace

import pyarrow as pa
import pytest

from mips_profiles.core.gates import GateLimits, enforce_gates, too_many_rejected
from mips_profiles.core.validate import REJECT_SCHEMA
from mips_profiles.errors import PublishRefused


def validated(rows: int, rejected: int, year: int = 2024):
    """What the gates read of a validation outcome: the counts, the first rejects, the year."""
    rejects = pa.Table.from_pylist(
        [{"line": 2 + i, "npi": f"bad{i}", "reason": f"reason {i}"} for i in range(rejected)], schema=REJECT_SCHEMA
    )
    return SimpleNamespace(
        rows_read=rows, rows_rejected=rejected, rejected=rejects, source=SimpleNamespace(performance_year=year)
    )


@pytest.mark.parametrize(
    ("rejected", "rows", "refused"),
    [
        (0, 0, False),
        (0, 1, False),
        (1, 1, True),
        (1, 2, True),
        (3, 300, False),
        (4, 300, True),
        (100, 10_000, False),
        (101, 10_000, True),
    ],
)
def test_more_than_the_limit_is_refused_exactly_the_limit_is_not(rejected, rows, refused):
    assert too_many_rejected(rejected, rows, 0.01) is refused


def test_a_refusal_for_rejected_rows_names_the_gate_the_share_and_the_first_reject():
    with pytest.raises(PublishRefused) as caught:
        enforce_gates(validated(300, 4), None, GateLimits())
    assert caught.value.gate == "rejected_share"
    assert str(caught.value) == "4 of 300 rows rejected (1.3%, limit 1%); first: line 2: reason 0"


@pytest.mark.parametrize(
    ("before", "accepted", "refused"),
    [(1000, 900, False), (1000, 899, True), (1000, 1200, False), (0, 10, False), (None, 10, False)],
)
def test_a_drop_of_more_than_ten_percent_from_the_last_release_is_refused(before, accepted, refused):
    previous = None if before is None else {"rows_accepted": before}
    if refused:
        with pytest.raises(PublishRefused) as caught:
            enforce_gates(validated(accepted, 0), previous, GateLimits())
        assert caught.value.gate == "row_drop"
        assert str(caught.value) == (
            "refused: PY2024 accepted rows fell 10.1% from the last release (1000 -> 899; "
            "limit 10%); a forced re-run publishes it anyway"
        )
    else:
        enforce_gates(validated(accepted, 0), previous, GateLimits())


def test_without_a_previous_release_there_is_no_row_drop_gate():
    for previous in (None, {}, {"rows_accepted": None}):
        enforce_gates(validated(5, 4), previous, GateLimits(max_rejected_share=1.0))  # 1 accepted, nothing before
        enforce_gates(validated(0, 0), previous, GateLimits())  # no rows at all: no drop from nothing


def test_the_drop_counts_accepted_rows_not_rows_read():
    with pytest.raises(PublishRefused, match="1000 -> 850"):
        enforce_gates(validated(900, 50), {"rows_accepted": 1000}, GateLimits(max_rejected_share=0.5))


def test_force_overrides_both_gates_and_nothing_else_does():
    enforce_gates(validated(300, 200), {"rows_accepted": 10_000}, GateLimits(), force=True)
    with pytest.raises(PublishRefused):
        enforce_gates(validated(300, 200), {"rows_accepted": 10_000}, GateLimits())


@pytest.mark.parametrize("force", [False, True])
def test_a_file_whose_every_row_was_rejected_is_never_published_not_even_with_force(force):
    """Issue 38: --force on a correction whose every row was rejected deleted every document of the year, exit 0."""
    with pytest.raises(PublishRefused) as caught:
        enforce_gates(validated(3, 3), {"rows_accepted": 3}, GateLimits(max_rejected_share=1.0), force=force)
    assert caught.value.gate == "no_rows_accepted"
    assert str(caught.value) == (
        "every one of the 3 rows of PY2024 was rejected: nothing to publish, not even with force"
        " (it would withdraw every document of the year)"
    )
    enforce_gates(validated(3, 2), {"rows_accepted": 3}, GateLimits(max_rejected_share=1.0), force=True)
