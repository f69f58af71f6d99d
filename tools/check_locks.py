"""Is every lock in step with what it locks? (``make check-locks``, part of ``make lint``.)

The locks are made by one recipe, ``make lock``: ``uv.lock`` from ``pyproject.toml``, ``requirements/*.txt``
from ``requirements/*.in`` and the Lambda layer's ``shared/requirements.txt`` from ``shared/requirements.in``
at ``uv.lock``'s versions. This runs that recipe on a copy of the inputs and the locks in a scratch folder
(uv keeps a locked version wherever it still fits, so only a changed input changes a lock) and compares
the result with the committed locks. A lock that differs is named on one line with the command that fixes
it, and the exit status is 1. It needs the package index, as the installs do.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# lock -> what it is made from (what a reader should have edited)
LOCKS = {
    "uv.lock": "pyproject.toml",
    "requirements/uv.txt": "requirements/uv.in",
    "requirements/tools.txt": "requirements/tools.in",
    "requirements/dbt.txt": "requirements/dbt.in",
    "requirements/lambda-runtime-floor.txt": "requirements/lambda-runtime-floor.in",
    "shared/requirements.txt": "shared/requirements.in and uv.lock",
}
INPUTS = [
    "pyproject.toml",
    "README.md",
    "requirements/uv.in",
    "requirements/tools.in",
    "requirements/dbt.in",
    "requirements/lambda-runtime-floor.in",
    "shared/requirements.in",
]


def stale_locks(uv: Path) -> list[str]:
    """The locks that ``make lock`` would change, each as a one-line message."""
    with tempfile.TemporaryDirectory(prefix="check-locks-") as scratch:
        work = Path(scratch)
        for name in [*INPUTS, *LOCKS]:
            source = ROOT / name
            if source.exists():
                (work / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, work / name)
        done = subprocess.run(
            ["make", "--no-print-directory", "-f", str(ROOT / "Makefile"), "-C", str(work), "lock", f"UV={uv}"],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
            return [f"make lock failed on a copy of the inputs, so the locks cannot be checked: {last}"]
        return [
            f"{lock} is out of step with {made_from}: run `make lock` and commit the result"
            for lock, made_from in LOCKS.items()
            if not (ROOT / lock).exists() or (ROOT / lock).read_bytes() != (work / lock).read_bytes()
        ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uv", type=Path, required=True, help="the uv executable (make installs it into .venv-uv)")
    problems = stale_locks(parser.parse_args().uv.resolve())
    for line in problems:
        print(f"error: {line}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
