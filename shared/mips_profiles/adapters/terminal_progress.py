"""Progress of long CLI work (download, parse, publish) on a terminal; silent everywhere else.

The port (``ports.Progress``) has two adapters: ``ports.NO_PROGRESS`` (the default of every component,
and what Lambdas, tests and CI get) and ``TerminalProgress`` here, which redraws one line on stderr at
most ten times a second, cut to the terminal's width (a line longer than the terminal would wrap and leave a
stray line on every redraw), with the rate and, where the total is known, the time left.
``for_cli()`` picks the terminal one only when stdout and stderr are terminals and ``CI`` is unset, so
piped output (``--json``) and CI logs never carry control characters.
"""

from __future__ import annotations

import os
import shutil
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


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}" if seconds < 3600 else f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def _terminal_columns() -> int:
    return shutil.get_terminal_size((80, 24)).columns


class _TerminalTask:
    WIDTH = 24

    def __init__(
        self,
        stream: TextIO,
        label: str,
        total: float | None,
        unit: str,
        clock: Callable[[], float] = time.monotonic,
        columns: Callable[[], int] = _terminal_columns,
    ) -> None:
        self.stream, self.label, self.total, self.unit, self.clock = stream, label, total, unit, clock
        self.columns = columns
        self.done = 0.0
        self.started = self.last_draw = clock()
        self._draw(force=True)

    def advance(self, amount: float = 1) -> None:
        self.done += amount
        self._draw()

    def _rate(self, seconds: float) -> str:
        if seconds <= 0 or not self.done:
            return ""
        per_second = self.done / seconds
        return f"{_bytes(per_second)}/s" if self.unit == "B" else f"{per_second:,.0f} {self.unit or 'items'}/s"

    def _line(self) -> str:
        seconds = self.clock() - self.started
        elapsed, rate = _duration(seconds), self._rate(seconds)
        if self.unit == "B":
            done, total = _bytes(self.done), _bytes(self.total) if self.total else None
        else:
            done, total = f"{self.done:,.0f}", f"{self.total:,.0f} {self.unit}".rstrip() if self.total else None
        if self.total:
            share = min(1.0, self.done / self.total)
            filled = int(share * self.WIDTH)
            bar = "#" * filled + "-" * (self.WIDTH - filled)
            left = f" ETA {_duration(seconds * (self.total - self.done) / self.done)}" if rate and share < 1 else ""
            line = f"{self.label} [{bar}] {share:4.0%} {done}/{total} {rate}{left} {elapsed}"
        else:
            line = f"{self.label} {done if self.done else ''} {rate} {elapsed}"
        line = " ".join(line.split())
        width = max(10, self.columns() - 1)  # the last column would wrap on some terminals
        return line if len(line) <= width else line[: width - 1] + "…"

    def _draw(self, force: bool = False) -> None:
        now = self.clock()
        if force or now - self.last_draw >= 0.1:
            self.last_draw = now
            self.stream.write("\r\x1b[2K" + self._line())
            self.stream.flush()

    def close(self, summary: str | None = None) -> None:
        elapsed = self.clock() - self.started
        line = (summary or f"{self.label}: done") + f" ({elapsed:.1f} s)"
        width = max(10, self.columns() - 1)
        self.stream.write("\r\x1b[2K" + (line if len(line) <= width else line[: width - 1] + "…") + "\n")
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
