"""`make report`: the docs' score-bands page (docs/report/) from a fresh demo, so every number on it comes from a
command. `--check` (CI, tests/docs/test_docs_report.py) regenerates it in a scratch directory and fails, naming the
file, when the committed page differs.

    python tools/docs_report.py          # rewrite docs/report/
    python tools/docs_report.py --check  # exit 1 when docs/report/ is not what a fresh demo gives
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "docs" / "report"

HEAD = """---
hide:
  - toc  # the band table is wide: the width goes to it
---

# Score bands

!!! warning "Synthetic data, not CMS's figures"
    Every number on this page is from the demo's generated rows (`make demo`: {rows} rows a year in CMS's layout,
    served by a loopback stand-in for CMS), drawn by `mips-profiles report`. They show what the report gives for a
    published tree; they say nothing about real clinicians. `make report` regenerates this page, and CI fails
    when it differs from a fresh demo (`tools/docs_report.py --check`).

"""


def generate(scratch: Path) -> dict[str, bytes]:
    """The page's files, by name: the demo into ``scratch``, then `report` over its tree."""
    cli = [sys.executable, "-m", "mips_profiles.cli"]
    subprocess.run([*cli, "demo", "--out", str(scratch / "demo")], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(
        [*cli, "report", "--tree", str(scratch / "demo" / "tree"), "--out", str(scratch / "report")],
        check=True,
        stderr=subprocess.DEVNULL,
    )
    from mips_profiles.sandbox.demo import DEMO_ROWS

    files = {path.name: path.read_bytes() for path in sorted((scratch / "report").iterdir())}
    pictures = "".join(
        f"![Histogram of the demo's PY{name[7:11]} final scores with band edges]({name})\n\n"
        for name in sorted(files, reverse=True)
        if name.endswith(".svg")
    )
    files["bands.md"] = (HEAD.format(rows=f"{DEMO_ROWS:,}") + pictures).encode() + files["bands.md"]
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare with the directory instead of rewriting it")
    parser.add_argument("--dir", type=Path, default=TARGET, help="the page's directory (default: docs/report)")
    args = parser.parse_args(argv)
    target: Path = args.dir
    with tempfile.TemporaryDirectory() as scratch:
        files = generate(Path(scratch))
    committed = {path.name for path in target.iterdir()} if target.is_dir() else set()
    if args.check:
        stale = sorted(
            name
            for name in files.keys() | committed
            if not (target / name).is_file() or (target / name).read_bytes() != files.get(name)
        )
        if stale:
            print(f"{target}: differs from a fresh demo ({', '.join(stale)}): run make report", file=sys.stderr)
            return 1
        print(f"{target}: what a fresh demo gives ({len(files)} files)", file=sys.stderr)
        return 0
    target.mkdir(parents=True, exist_ok=True)
    for name in committed - files.keys():
        (target / name).unlink()
    for name, data in files.items():
        (target / name).write_bytes(data)
        print(f"wrote {target / name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
