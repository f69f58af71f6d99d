"""The embedded default run: no network, no AWS account.

Starts a stand-in for the CMS endpoints on loopback (catalog, metastore and generated files in the
real shapes), runs ``refresh`` against it into a local tree, simulates a CMS correction of one
performance year, runs ``refresh`` again, and prints what changed and where to look.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa

from ..orchestration.local import default_private_dir, print_outcomes, refresh_tree
from ..orchestration.refresh import RefreshReport
from .cms_standin import CmsStandIn
from .generator import generate_table, make_correction, make_pdc_table, write_csv

DEMO_ROWS = 3000


def _csv(table: pa.Table) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "f.csv"
        write_csv(table, path)
        return path.read_bytes()


def run_demo(out: str) -> int:
    started = time.monotonic()
    root = Path(out)
    tree = root / "tree"
    private = Path(default_private_dir(str(tree)))
    for path in (tree, private):
        shutil.rmtree(path, ignore_errors=True)
    tables = {year: generate_table(year, DEMO_ROWS) for year in (2023, 2024)}
    with CmsStandIn() as cms:

        def refresh() -> RefreshReport:
            report = refresh_tree(
                str(tree), str(private), catalog_url=cms.catalog_url, pdc_url=cms.pdc_url, allow_loopback_http=True
            )  # the stand-in is plain http on loopback
            print_outcomes(report)
            return report

        cms.publish_qpp(2023, _csv(tables[2023]), "2025-07-21")
        cms.publish_qpp(2024, _csv(tables[2024]), "2025-07-28")
        cms.publish_pdc(2024, _csv(make_pdc_table(tables[2024], mismatches=2)), "2025-08-01")
        print(f"CMS stand-in on {cms.base_url}: QPP Experience PY2023 and PY2024, PDC score file PY2024\n")
        print("1. first refresh (backfill every year in the catalog)")
        first = refresh()

        fix = make_correction(tables[2024], changed_share=0.01, removed=3, added=3)
        cms.publish_qpp(2024, _csv(fix.table), "2025-09-15")
        print(
            f"\n2. CMS re-publishes PY2024 (new modified date and path): {len(fix.changed)} NPIs' scores revised, "
            f"{len(fix.removed)} withdrawn, {len(fix.added)} added"
        )
        second = refresh()

        print("\n3. refresh again with nothing changed at CMS")
        third = refresh()

    ok = first.ok and second.ok and third.ok
    print(f"\npublic tree:   {tree}/v1/  (manifest: {tree}/v1/manifest.json)")
    print(f"private data:  {private}/  (audit Parquet, quarantine, raw files, state.json; never served)")
    print(f"one document:  {tree}/v1/npi/{fix.changed[0]}.json")
    print(f"aggregates:    {tree}/v1/stats/2024/national.json")
    print(f"bulk files:    {tree}/v1/bulk/2024/  (gzip-encoded NDJSON and CSV; change feed: {tree}/v1/changes/)")
    serve = f"{invoked_as()} serve {shlex.quote(str(tree))} --cors-origin http://127.0.0.1:8080"
    print(f"preview:       {serve}  (docs/public-api.md)")
    print(f"done in {time.monotonic() - started:.1f} s")
    return 0 if ok else 1


def invoked_as() -> str:
    """The command that ran this process, as a person can type it again from here: the script by the name
    PATH finds it under, else its path (``.venv/bin/mips-profiles`` after ``make demo``), else ``python -m``."""
    argv0 = sys.argv[0] if sys.argv else ""
    if not argv0 or argv0.endswith(("__main__.py", "-c")) or os.path.basename(argv0) != "mips-profiles":
        return f"{shlex.quote(sys.executable)} -m mips_profiles"
    found = shutil.which("mips-profiles")
    if found and os.path.realpath(found) == os.path.realpath(argv0):
        return "mips-profiles"
    return shlex.quote(argv0 if os.sep in argv0 else f"./{argv0}")
