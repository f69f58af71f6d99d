"""The embedded default run: no network, no AWS account.

Generates two performance years in their real layouts, publishes them into a local tree, then
publishes a CMS-style correction of the newer year and shows that only changed documents were
rewritten.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from .cli import default_private_dir
from .generator import generate_table, make_correction, write_csv
from .publish import Publisher, ReleaseInfo
from .store import LocalDirStore

DEMO_ROWS = 3000


def run_local_demo(out: str) -> int:
    root = Path(out)
    tree, private, sources = root / "tree", Path(default_private_dir(str(root / "tree"))), root / "cms-files"
    for path in (tree, private, sources):
        shutil.rmtree(path, ignore_errors=True)
    sources.mkdir(parents=True)
    publisher = Publisher(LocalDirStore(tree), LocalDirStore(private))

    def publish(year: int, path: Path, label: str) -> None:
        r = publisher.publish_file(path, ReleaseInfo(performance_year=year, source_url=str(path)))
        print(f"{label:<24} PY{year}: {r.rows_read} rows, {r.rows_rejected} rejected -> "
              f"{r.docs_written} documents written, {r.docs_unchanged} unchanged, {r.docs_deleted} deleted")

    tables = {}
    for year in (2023, 2024):
        tables[year] = generate_table(year, DEMO_ROWS)
        write_csv(tables[year], sources / f"py{year}.csv")
        publish(year, sources / f"py{year}.csv", "new performance year")

    fix = make_correction(tables[2024], changed_share=0.01, removed=3, added=3)
    write_csv(fix.table, sources / "py2024-corrected.csv")
    publish(2024, sources / "py2024-corrected.csv", "CMS correction")
    print(f"{'':<24} (correction revised {len(fix.changed)} NPIs' scores, withdrew {len(fix.removed)}, "
          f"added {len(fix.added)})")
    example = tree / "v1" / "npi" / f"{fix.changed[0]}.json"
    print(f"\npublic tree:   {tree}/v1/  (manifest: {tree}/v1/manifest.json)")
    print(f"private data:  {private}/  (audit Parquet, write-locked fields; never served)")
    print(f"one document:  {example}")
    sys.stdout.flush()
    return 0
