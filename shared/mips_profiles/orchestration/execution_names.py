"""What a manual run of the refresh state machine is called.

Step Functions refuses a second execution with the name of an existing one (``ExecutionAlreadyExists``,
for 90 days after the first closed), so a name derived from the request makes a duplicated request (a
double click, a retried CLI call, a copy of the same command) a no-op that the service itself enforces:
``manual-{year}-{YYYYMMDD}-{hash}``, the hash of the request's canonical JSON. The same request on another
day is another run, as it should be (an operator re-running after fixing something).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime
from typing import Any

from ..errors import ConfigurationError
from .release_check import CheckRequest


def execution_name(request: dict[str, Any], *, today: str | date | None = None) -> str:
    """The execution name of a manual run ``request`` (the state machine's input), validated first.

    >>> execution_name({"performance_year": 2024, "force": True, "reason": "CMS correction"}, today="2026-11-24")
    'manual-2024-20261124-5a781b3ac0'
    """
    parsed = CheckRequest.from_event(request)  # a request the checker would refuse is refused here
    if isinstance(today, str):
        try:
            today = date.fromisoformat(today)
        except ValueError:
            raise ConfigurationError(f"the date must be YYYY-MM-DD, got {today!r}") from None
    stamp = (today or datetime.now(UTC).date()).strftime("%Y%m%d")
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256(canonical.encode()).hexdigest()[:10]
    year = parsed.performance_year if parsed.performance_year is not None else "all"
    return f"manual-{year}-{stamp}-{digest}"
