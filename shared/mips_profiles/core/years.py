"""The performance years the methodology supports, without numpy (the checker Lambda has no numpy): read from
``data/methodology.json``, the one place they are listed.

>>> SUPPORTED_YEARS[0], 2024 in SUPPORTED_YEARS
(2017, True)
"""

from __future__ import annotations

import json
from importlib import resources


def _supported() -> range:
    raw = json.loads(resources.files("mips_profiles").joinpath("data/methodology.json").read_text("utf-8"))
    years = sorted(int(y) for y in raw["performance_years"])
    return range(years[0], years[-1] + 1)


SUPPORTED_YEARS = _supported()
