"""Progress bars: drawn on a terminal, never in pipes, captured output or CI."""

from __future__ import annotations

import io
import os
import pty
import select
import subprocess
import sys

from mips_profiles.adapters.terminal_progress import TerminalProgress, for_cli
from mips_profiles.ports import NO_PROGRESS


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_only_a_terminal_outside_ci_gets_progress(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert isinstance(for_cli(Tty(), Tty()), TerminalProgress)
    assert for_cli(io.StringIO(), Tty()) is NO_PROGRESS  # stdout piped (e.g. --json)
    monkeypatch.setenv("CI", "true")
    assert for_cli(Tty(), Tty()) is NO_PROGRESS


def test_a_bar_counts_up_and_ends_with_a_summary_line():
    stream = Tty()
    task = TerminalProgress(stream).task("download f.csv", total=4 << 20, unit="B")
    task.advance(1 << 20)
    task.close("downloaded 4 MiB")
    text = stream.getvalue()
    assert "download f.csv [" in text and "0.0 B/4.0 MiB" not in text
    assert text.endswith("downloaded 4 MiB (0.0 s)\n")


def test_captured_cli_output_has_no_control_characters(run_cli, sample_file, tree):
    result = run_cli("publish", "--performance-year", 2024, "--source", sample_file(2024), "--out", tree)
    assert result.code == 0
    assert "\r" not in result.err and "\x1b" not in result.err


def test_publish_on_a_terminal_shows_parse_and_publish_progress(sample_file, tmp_path):
    leader, follower = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "CI"} | {"TERM": "xterm"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mips_profiles.cli",
            "publish",
            "--performance-year",
            "2024",
            "--source",
            str(sample_file(2024)),
            "--out",
            str(tmp_path / "tree"),
        ],
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
        env=env,
    )
    os.close(follower)
    seen = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    os.close(leader)
    assert proc.wait(timeout=60) == 0
    text = seen.decode()
    assert "PY2024: read and validate" in text and "rows read, 0 rejected (" in text
    assert "PY2024: publish [" in text and "documents written" in text


def test_a_redraw_fits_the_terminal_and_shows_the_rate_and_the_time_left():
    """95 characters on an 80-column terminal wrapped and left a stray line per redraw: every drawn line is cut
    to the width; the rate and the ETA come from the clock."""
    from mips_profiles.adapters.terminal_progress import _TerminalTask

    now = [0.0]
    stream = Tty()
    task = _TerminalTask(
        stream, "download puf_output_file_output_for_a_long_name.csv", 200 << 20, "B", lambda: now[0], lambda: 80
    )
    now[0] = 10.0
    task.advance(50 << 20)  # 50 MiB in 10 s: 5 MiB/s, 150 MiB left: 30 s
    lines = [line.removeprefix("\x1b[2K") for line in stream.getvalue().split("\r") if line]
    assert lines and all(len(line) <= 79 for line in lines)
    wide = _TerminalTask(Tty(), "download f.csv", 200 << 20, "B", lambda: now[0], lambda: 200)
    now[0] = 20.0
    wide.done = 50 << 20
    assert wide._line() == "download f.csv [######------------------] 25% 50.0 MiB/200.0 MiB 5.0 MiB/s ETA 0:30 0:10"
    counted = _TerminalTask(Tty(), "publish", None, "rows", lambda: now[0], lambda: 200)
    now[0] = 40.0
    counted.done = 40_000
    assert counted._line() == "publish 40,000 2,000 rows/s 0:20"
