"""Publish gates: the last line of defence before a release replaces good data.

- ``rejected_share``: more than ``max_rejected_share`` (default 1%) of rows rejected;
- ``row_drop``: accepted rows fell by more than ``max_row_drop_share`` (default 10%) from the last
  published release of the same performance year (a truncated or partial CMS file often parses fine).

Both are checked after validation and before anything is written; a manual re-run with ``force``
overrides them (the person has looked at the file). One rule holds even then, ``no_rows_accepted``: a file whose
every row was rejected is never published (it would withdraw every document of its year). A refusal is a clear
one-line message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import PublishRefused

if TYPE_CHECKING:
    from .validate import Validated


def too_many_rejected(rejected: int, rows: int, limit: float) -> bool:
    """The one rejected-share rule: refused when *more than* ``limit`` of the rows were rejected
    (exactly the limit passes)."""
    return rows > 0 and rejected > limit * rows


@dataclass(frozen=True)
class GateLimits:
    max_rejected_share: float = 0.01
    max_row_drop_share: float = 0.10


def enforce_gates(
    validated: Validated, previous: dict[str, Any] | None, limits: GateLimits, *, force: bool = False
) -> None:
    year = validated.source.performance_year
    n, rejected = validated.rows_read, validated.rows_rejected
    accepted = n - rejected
    if n and not accepted:  # before force: an empty year would withdraw every document of it
        raise PublishRefused(
            "no_rows_accepted",
            f"every one of the {n:,} rows of PY{year} was rejected: nothing to publish, not even with force"
            " (it would withdraw every document of the year)",
        )
    if force:
        return
    if too_many_rejected(rejected, n, limits.max_rejected_share):
        first = validated.rejected.slice(0, 1).to_pylist()[0]
        raise PublishRefused(
            "rejected_share",
            f"{rejected} of {n} rows rejected ({rejected / n:.1%}, limit {limits.max_rejected_share:.0%});"
            f" first: line {first['line']}: {first['reason']}",
        )
    before = int((previous or {}).get("rows_accepted") or 0)
    if before and accepted < before * (1 - limits.max_row_drop_share):
        drop = 1 - accepted / before
        raise PublishRefused(
            "row_drop",
            f"refused: PY{year} accepted rows fell {drop:.1%} from the last release ({before} -> {accepted};"
            f" limit {limits.max_row_drop_share:.0%}); a forced re-run publishes it anyway",
        )
