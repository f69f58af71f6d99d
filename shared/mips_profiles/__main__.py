"""``python -m mips_profiles``: the ``mips-profiles`` command."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
