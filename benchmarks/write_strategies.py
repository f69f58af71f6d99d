"""Ways to write a first publish's documents into a local tree, measured side by side (issue 17, item 3).

Each round writes the same N document-sized payloads (default 427,123 files of ~1.9 kB, as the national
first publish) into a fresh directory once per strategy, strategies interleaved, ``--repeat`` rounds;
medians and spreads, and each strategy over the ``open().write()`` floor of its own round.

- ``open_write``: ``with open(path, "wb") as fh: fh.write(data)`` (the benchmark's write floor);
- ``os_write``: ``os.open`` / ``os.write`` / ``os.close`` (the leanest per file from Python);
- ``temp_rename``: a temp file beside the target, then ``os.replace`` (the store's per-file atomic write);
- ``queue_threads_1``/``queue_threads_2``: per-file atomic writes handed one by one to 1 or 2 threads;
- ``hidden_dir_batches``: what ``LocalDirStore.publish_together`` does: ``os_write`` into a hidden
  directory on a worker thread, batch by batch, then one rename of the directory.

    .venv/bin/python benchmarks/write_strategies.py --files 427123 --repeat 3 --work /dev/shm/mips-writes
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import shutil
import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path

from mips_profiles.adapters.local_store import LocalDirStore
from mips_profiles.fs import replace_atomically

Payload = list[tuple[str, bytes]]


def open_write(out: str, payload: Payload) -> None:
    os.makedirs(out)
    for name, data in payload:
        with open(f"{out}/{name}", "wb") as fh:
            fh.write(data)


def os_write(out: str, payload: Payload) -> None:
    os.makedirs(out)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    for name, data in payload:
        fd = os.open(f"{out}/{name}", flags, 0o666)
        os.write(fd, data)
        os.close(fd)


def temp_rename(out: str, payload: Payload) -> None:
    os.makedirs(out)
    directory = os.open(out, os.O_RDONLY | os.O_DIRECTORY)
    for name, data in payload:
        replace_atomically(directory, name, data)  # the store's per-file write, relative to the open directory
    os.close(directory)


def queue_threads(workers: int) -> Callable[[str, Payload], None]:
    def run(out: str, payload: Payload) -> None:
        os.makedirs(out)
        directory = os.open(out, os.O_RDONLY | os.O_DIRECTORY)
        todo: queue.Queue[tuple[str, bytes] | None] = queue.Queue(maxsize=4096)

        def work() -> None:
            while (item := todo.get()) is not None:
                replace_atomically(directory, *item)

        threads = [threading.Thread(target=work) for _ in range(workers)]
        for t in threads:
            t.start()
        for name, data in payload:
            todo.put((name, data))
        for _ in threads:
            todo.put(None)
        for t in threads:
            t.join()
        os.close(directory)

    return run


def hidden_dir_batches(out: str, payload: Payload) -> None:
    root, _, leaf = out.rpartition("/")
    store = LocalDirStore(root)
    batch = 6_700  # about one storage shard of a national year
    with store.publish_together(leaf + "/"):
        for i in range(0, len(payload), batch):
            store.write_many((f"{leaf}/{name}", data) for name, data in payload[i : i + batch])


STRATEGIES: dict[str, Callable[[str, Payload], None]] = {
    "open_write": open_write,
    "os_write": os_write,
    "temp_rename": temp_rename,
    "queue_threads_1": queue_threads(1),
    "queue_threads_2": queue_threads(2),
    "hidden_dir_batches": hidden_dir_batches,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=427_123)
    parser.add_argument("--size", type=int, default=1_950, help="bytes per file (a national document's mean)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--work", default="/tmp/mips-writes")
    args = parser.parse_args()
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    payload = [(f"{1_000_000_000 + i}.json", (b"%d" % i).ljust(args.size, b" ")) for i in range(args.files)]
    seconds: dict[str, list[float]] = {name: [] for name in STRATEGIES}
    for run in range(args.repeat):
        for name, strategy in STRATEGIES.items():
            out = f"{work}/{name}-{run}"
            t0 = time.perf_counter()
            strategy(out, payload)
            seconds[name].append(time.perf_counter() - t0)
            written = len(os.listdir(out))
            if written != args.files:
                raise SystemExit(f"{name} wrote {written} files, not {args.files}")
            shutil.rmtree(out)
            print(f"  run {run} {name:<20} {seconds[name][-1]:.2f} s", flush=True)
    floor = seconds["open_write"]
    summary = {
        "files": args.files,
        "bytes_per_file": args.size,
        "repeat": args.repeat,
        "strategies": {
            name: {
                "median_s": round(statistics.median(runs), 2),
                "spread_pct": round(100 * (max(runs) - min(runs)) / statistics.median(runs), 1),
                "over_open_write": round(statistics.median(r / f for r, f in zip(runs, floor, strict=True)), 2),
            }
            for name, runs in seconds.items()
        },
    }
    print(json.dumps(summary, indent=1))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
