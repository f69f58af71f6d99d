"""Keep pandas out of a process that never uses it.

pyarrow asks its pandas shim whether an argument of ``pa.array`` (and of much else) is a pandas object, and the
shim imports pandas wherever pandas is importable. The shard function gets pyarrow from the AWS SDK for pandas
layer, which ships pandas, so the first ``pa.array`` of a cold start would import pandas: 1.5-2.5 s of CPU for a
library this package never calls. ``refuse_pandas()`` makes ``import pandas`` fail as if pandas were not
installed, which pyarrow handles as "no pandas" (its shim catches the ImportError).

It changes nothing where pandas is already imported (an analyst's session, a test run that imported it first):
``import pandas`` then never consults the import system's finders.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType


class _PandasRefused:
    """A meta path finder that answers "not installed" for pandas and its submodules, and nothing else."""

    def find_spec(
        self, name: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if name == "pandas" or name.startswith("pandas."):
            raise ModuleNotFoundError(
                f"No module named {name!r} (refused: this process does not use pandas)", name=name
            )
        return None


def refuse_pandas() -> None:
    """From now on, ``import pandas`` fails in this process unless pandas is already imported. Idempotent."""
    if "pandas" in sys.modules or any(isinstance(f, _PandasRefused) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _PandasRefused())
