"""Progress of long CLI work (download, parse, publish) on a terminal; silent everywhere else.

The port (``ports.Progress``) has two adapters: ``ports.NO_PROGRESS`` (the default of every component,
and what Lambdas, tests and CI get) and ``TerminalProgress`` here, which redraws one line on stderr at
most ten times a second.
``for_cli()`` picks the terminal one only when stdout and stderr are terminals and ``CI`` is unset, so
piped output (``--json``) and CI logs never carry control characters.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import TextIO

from ..ports import NO_PROGRESS, Progress, Task


def _bytes(value: float) -> str:
    for scale, suffix in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
        if value >= scale:
            return f"{value / scale:.1f} {suffix}"
    return f"{value:.0f} B"


class _TerminalTask:
    WIDTH = 24

    def __init__(
        self, stream: TextIO, label: str, total: float | None, unit: str, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.stream, self.label, self.total, self.unit, self.clock = stream, label, total, unit, clock
        self.done = 0.0
        self.started = self.last_draw = clock()
        self._draw(force=True)

    def advance(self, amount: float = 1) -> None:
        self.done += amount
        self._draw()

    def _line(self) -> str:
        elapsed = f"{self.clock() - self.started:5.1f} s"
        if self.unit == "B":
            done, total = _bytes(self.done), _bytes(self.total) if self.total else None
        else:
            done, total = f"{self.done:,.0f}", f"{self.total:,.0f} {self.unit}".rstrip() if self.total else None
        if self.total:
            share = min(1.0, self.done / self.total)
            filled = int(share * self.WIDTH)
            bar = "#" * filled + "-" * (self.WIDTH - filled)
            return f"{self.label} [{bar}] {share:4.0%} {done}/{total} {elapsed}"
        return f"{self.label} {done if self.done else ''} {elapsed}".replace("  ", " ")

    def _draw(self, force: bool = False) -> None:
        now = self.clock()
        if force or now - self.last_draw >= 0.1:
            self.last_draw = now
            self.stream.write("\r\x1b[2K" + self._line())
            self.stream.flush()

    def close(self, summary: str | None = None) -> None:
        elapsed = self.clock() - self.started
        self.stream.write("\r\x1b[2K" + (summary or f"{self.label}: done") + f" ({elapsed:.1f} s)\n")
        self.stream.flush()


class TerminalProgress:
    def __init__(self, stream: TextIO = sys.stderr) -> None:
        self.stream = stream

    def task(self, label: str, total: float | None = None, unit: str = "") -> Task:
        return _TerminalTask(self.stream, label, total, unit)


def for_cli(stdout: TextIO | None = None, stderr: TextIO | None = None) -> Progress:
    stdout, stderr = stdout or sys.stdout, stderr or sys.stderr
    interactive = stdout.isatty() and stderr.isatty()
    if not interactive or os.environ.get("CI") or os.environ.get("TERM") == "dumb":
        return NO_PROGRESS
    return TerminalProgress(stderr)
