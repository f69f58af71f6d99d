"""The local twin of the state-store port (``ports.StateStore``): what was checked and published, per
source and performance year.

Records are written only after a publish succeeds, so a crash means the next run tries again.
Local twin: one JSON file, replaced atomically. The DynamoDB adapter implements the same three calls.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from ..errors import InvalidInput
from ..keys import release_record_key
from ..ports import ReleaseRecord, parse_release_record
from ..text import printable


class LocalStateStore:
    """A JSON file ``{"releases": {"qpp/2024": {...}}}``; each ``put`` rewrites it atomically."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def all(self) -> dict[str, ReleaseRecord]:
        """Every record, each field of its type; a file of another shape (truncated, edited by hand, planted)
        is one ``InvalidInput`` naming what is wrong, never a traceback and never a record taken on trust."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"state file {self.path}: cannot be read ({exc})") from None
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise InvalidInput(
                f"state file {self.path}: not JSON ({printable(exc, 200)}); restore or delete it"
            ) from None
        if not isinstance(data, dict) or not isinstance(data.get("releases", {}), dict) or set(data) - {"releases"}:
            raise InvalidInput(f"state file {self.path}: not a state file this program wrote")
        return {
            key: parse_release_record(f"state file {self.path}", key, record)
            for key, record in data.get("releases", {}).items()
        }

    def get(self, source: str, year: int) -> ReleaseRecord | None:
        return self.all().get(release_record_key(source, year))

    def put(self, source: str, year: int, record: ReleaseRecord) -> None:
        releases = self.all()
        releases[release_record_key(source, year)] = record
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".state-")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"releases": dict(sorted(releases.items()))}, fh, indent=2, sort_keys=True)
            fh.write("\n")
        os.replace(tmp, self.path)
