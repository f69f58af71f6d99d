"""An interrupted publish, run again, gives the public bytes of an uninterrupted one, the change feed included:
wherever the interrupt falls (before each kind of write of the stage, the partitions and the finalize), a re-run
converges. And the CLI ends an interrupt (SIGINT, SIGTERM) with one line and 130 or 143."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mips_profiles.adapters.local_store import LocalDirStore
from mips_profiles.publishing.publish import Publisher, ReleaseInfo
from mips_profiles.sandbox.generator import generate_table, make_correction, write_csv

ROOT = Path(__file__).parents[2]
ROWS = 120
NOW = datetime(2026, 7, 1, tzinfo=UTC)


class Calls:
    """Every write, delete and put of both stores, in order; an interrupt before call ``stop``."""

    def __init__(self, stop: int | None = None) -> None:
        self.stop, self.log = stop, []

    def call(self, store: str, method: str, key: str) -> None:
        if self.stop is not None and len(self.log) == self.stop:
            raise KeyboardInterrupt
        self.log.append((store, method, key))


def store(root: Path, name: str, calls: Calls) -> LocalDirStore:
    class Counted(LocalDirStore):
        def write(self, key: str, data: bytes, **kw) -> None:  # type: ignore[override]
            calls.call(name, "write", key)
            super().write(key, data, **kw)

        def write_many(self, items: Iterable[tuple[str, bytes]], **kw) -> int:  # type: ignore[override]
            calls.call(name, "write_many", "")
            return super().write_many(items, **kw)

        def delete_many(self, keys: Iterable[str]) -> int:
            calls.call(name, "delete_many", "")
            return super().delete_many(keys)

        def put_file(self, key: str, path) -> None:  # type: ignore[override]
            calls.call(name, "put_file", key)
            super().put_file(key, path)

    return Counted(root)


def publish(site: Path, source: Path, calls: Calls) -> None:
    Publisher(
        store(site / "tree", "public", calls), store(site / "private", "private", calls), clock=lambda: NOW
    ).publish_file(source, ReleaseInfo(2024))


def public_bytes(site: Path) -> dict[str, bytes]:
    tree = site / "tree"
    return {str(p.relative_to(tree)): p.read_bytes() for p in sorted(tree.rglob("*")) if p.is_file()}


def kind(entry: tuple[str, str, str]) -> tuple[str, str, str]:
    """A call by what it writes: store, method and the key's first two parts (documents are one kind)."""
    store_name, method, key = entry
    key = re.sub(r"shard=\d+", "shard=N", key)
    parts = key.split("/")
    return store_name, method, "/".join(parts[:2]) if not parts[0].startswith("runs") else f"runs/*/{parts[-1][:12]}"


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    """PY2024 published once (the 'before' site), a correction to publish, and the uninterrupted result."""
    work = tmp_path_factory.mktemp("interrupted")
    first = generate_table(2024, ROWS, seed=5)
    write_csv(first, work / "first.csv")
    write_csv(make_correction(first, changed_share=0.1, removed=3, added=3).table, work / "fix.csv")
    before = work / "before"
    publish(before, work / "first.csv", Calls())
    clean = work / "clean"
    shutil.copytree(before, clean)
    calls = Calls()
    publish(clean, work / "fix.csv", calls)
    assert (clean / "tree" / "v1" / "changes" / "00000002.json").exists()
    # an interrupt before the first and the last call of each kind of write, in the order they happen
    points: dict[tuple[str, str, str], list[int]] = {}
    for i, entry in enumerate(calls.log):
        points.setdefault(kind(entry), []).append(i)
    stops = sorted({i for indices in points.values() for i in (indices[0], indices[-1])})
    return work, before, public_bytes(clean), stops, calls.log


def test_the_uninterrupted_run_makes_enough_boundaries_to_mean_something(scenario):
    _, _, _, stops, log = scenario
    assert len(stops) >= 10 and {s for s, _, _ in log} == {"public", "private"}


def test_an_interrupt_at_every_kind_of_write_then_a_rerun_gives_the_uninterrupted_bytes(scenario, tmp_path):
    work, before, clean, stops, log = scenario
    diverged = []
    for stop in stops:
        site = tmp_path / f"at-{stop}"
        shutil.copytree(before, site)
        with pytest.raises(KeyboardInterrupt):
            publish(site, work / "fix.csv", Calls(stop))
        publish(site, work / "fix.csv", Calls())
        got = public_bytes(site)
        if got != clean:
            differ = sorted(k for k in set(got) | set(clean) if got.get(k) != clean.get(k))
            diverged.append((stop, log[stop], differ[:5]))
        shutil.rmtree(site)
    assert diverged == []


@pytest.mark.parametrize(("signum", "code", "name"), [(signal.SIGINT, 130, "SIGINT"), (signal.SIGTERM, 143, "SIGTERM")])
def test_the_cli_ends_an_interrupt_with_one_line_and_its_exit_status(signum, code, name, tmp_path, sample_file):
    source = sample_file(2024, 3000)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "shared")}
    command = [sys.executable, "-m", "mips_profiles", "publish", "--performance-year", "2024", "--source", str(source)]
    proc = subprocess.Popen(
        [*command, "--out", str(tmp_path / "tree")], env=env, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    time.sleep(1.5)  # well into reading and validating the file
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    if proc.returncode == 0:
        pytest.skip("the publish finished before the signal arrived")
    assert proc.returncode == code
    lines = [line for line in err.strip().splitlines() if line.startswith("error:") or "Traceback" in line]
    assert lines == [lines[0]] and lines[0].startswith(f"error: interrupted ({name})")
    assert "Traceback" not in err


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs Linux's /proc to see the modules load")
@pytest.mark.parametrize(("signum", "code", "name"), [(signal.SIGINT, 130, "SIGINT"), (signal.SIGTERM, 143, "SIGTERM")])
def test_an_interrupt_while_the_modules_load_is_one_line_too(signum, code, name, tmp_path, sample_file):
    """CI saw a Ctrl-C on a busy machine land while the command was still importing pyarrow: the process aborted
    (SIGABRT) or printed a traceback from inside an import. The signal is sent here the moment pyarrow's library is
    mapped into the process, mid-import."""
    source = sample_file(2024, 3000)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "shared")}
    command = [sys.executable, "-m", "mips_profiles", "publish", "--performance-year", "2024", "--source", str(source)]
    proc = subprocess.Popen(
        [*command, "--out", str(tmp_path / "tree")], env=env, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    maps, deadline = Path(f"/proc/{proc.pid}/maps"), time.monotonic() + 60
    while "libarrow" not in maps.read_text() and time.monotonic() < deadline:
        time.sleep(0.002)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err[-2000:]
    assert err.count("\n") == 1 and err.startswith(f"error: interrupted ({name})") and "Traceback" not in err
    assert not (tmp_path / "tree" / "v1").exists()
