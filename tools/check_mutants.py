"""Fail when `make mutation` leaves a surviving mutant that is not reviewed as equivalent.

Run from .mutation/ after `mutmut run`. tools/equivalent_mutants.txt lists the reviewed equivalent
mutants, one name a line with the reason after a `#`; anything else that survives is a missing test.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EQUIVALENT = Path(__file__).with_name("equivalent_mutants.txt")


def main() -> int:
    mutmut = str(Path(sys.executable).with_name("mutmut"))
    out = subprocess.run([mutmut, "results", "--all", "true"], capture_output=True, text=True, check=True).stdout
    status = dict(line.strip().rsplit(": ", 1) for line in out.splitlines() if ": " in line)
    reviewed = {line.split("#", 1)[0].strip() for line in EQUIVALENT.read_text().splitlines()} - {""}
    survived = {name for name, state in status.items() if state != "killed"}
    killed = sum(1 for state in status.values() if state == "killed")
    print(
        f"mutation score: {killed}/{len(status)} killed ({killed / max(len(status), 1):.0%}); "
        f"{len(survived & reviewed)} survivors reviewed as equivalent"
    )
    unreviewed = sorted(survived - reviewed)
    for name in unreviewed:
        print(f"survived, not reviewed: {name} (mutmut show {name})")
    return 1 if unreviewed else 0


if __name__ == "__main__":
    sys.exit(main())
