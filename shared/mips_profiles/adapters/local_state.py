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

from ..keys import release_record_key
from ..ports import ReleaseRecord


class LocalStateStore:
    """A JSON file ``{"releases": {"qpp/2024": {...}}}``; each ``put`` rewrites it atomically."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def all(self) -> dict[str, ReleaseRecord]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        return dict(data.get("releases", {}))

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
