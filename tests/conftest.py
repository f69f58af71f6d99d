"""The test suite's root: the mutation run's set-up, then the fixture plugins (``tests/fixtures/`` and the
moto stack of ``tests/aws_stack.py``). Helpers to import live in ``tests/helpers.py``."""

from __future__ import annotations

import os
import sys
from pathlib import Path

if os.environ.get("MUTANT_UNDER_TEST") is not None:  # `make mutation`: fewer examples per property per mutant
    from hypothesis import settings as _settings

    _settings.register_profile("mutation", max_examples=15, deadline=None)
    _settings.load_profile("mutation")

if Path(__file__).resolve().parents[1].name == "mutants":  # `make mutation`: test the mutated copy, not the
    _here = str(Path(__file__).resolve().parents[1])  # editable install (imported early by a plugin)
    sys.path[:] = [_here] + [p for p in sys.path if not p.endswith("/shared")]
    for _name in [m for m in sys.modules if m == "mips_profiles" or m.startswith("mips_profiles.")]:
        del sys.modules[_name]

pytest_plugins = ["fixtures.cms_files", "fixtures.cli", "fixtures.browser", "aws_stack"]
