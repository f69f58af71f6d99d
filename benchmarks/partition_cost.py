"""Measure what one Lambda partition costs per document, for sizing the fan-out.

Generates a PY2024 file of ``--rows`` rows (real layout), then times, over ``--repeat`` runs:
- ``prepare``: read + validate + stage (what the first work message does, once per release);
- ``partition``: build, serialise, hash and index every document, with a public store that discards
  bytes (the CPU part of a partition; S3 PUT latency is added in the README's arithmetic).

Reports medians. Example:  .venv/bin/python benchmarks/partition_cost.py --rows 500000 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import tempfile
import time
from pathlib import Path

from mips_profiles.adapters.local_store import LocalDirStore
from mips_profiles.core.reader import read_source
from mips_profiles.core.validate import validate
from mips_profiles.publishing.ledger import shard_groups
from mips_profiles.publishing.publish import Publisher, ReleaseInfo
from mips_profiles.sandbox.generator import generate_table, write_csv


class DiscardStore(LocalDirStore):
    """Public store that accepts documents and drops them (measures CPU, not disk or network)."""

    def write_many(self, items, **kw):
        return sum(1 for _ in items)

    def delete_many(self, keys):
        return sum(1 for _ in keys)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        table = generate_table(2024, args.rows)
        write_csv(table, root / "py2024.csv")
        generated = time.perf_counter() - started
        del table
        prepare, partition, docs = [], [], 0
        for i in range(args.repeat):
            private = LocalDirStore(root / f"private{i}")
            publisher = Publisher(DiscardStore(root / f"public{i}"), private)
            t0 = time.perf_counter()
            source = read_source(root / "py2024.csv", 2024)
            validated = validate(source)
            run = publisher.stage(validated, ReleaseInfo(2024), partitions=1)
            t1 = time.perf_counter()
            run.groups = shard_groups(1)
            result = publisher.publish_partition(run, 0)
            t2 = time.perf_counter()
            prepare.append(t1 - t0)
            partition.append(t2 - t1)
            docs = result.docs_written
            del source, validated
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        report = {
            "rows": args.rows,
            "documents": docs,
            "generate_s": round(generated, 2),
            "prepare_median_s": round(statistics.median(prepare), 2),
            "partition_cpu_median_s": round(statistics.median(partition), 2),
            "partition_cpu_us_per_document": round(statistics.median(partition) / docs * 1e6, 1),
            "peak_rss_mb": round(peak_mb),
            "runs": args.repeat,
        }
        print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
