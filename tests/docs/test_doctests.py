"""The examples in the library's docstrings are true."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import mips_profiles

MODULES = sorted(m.name for m in pkgutil.walk_packages(mips_profiles.__path__, "mips_profiles.") if not m.ispkg)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
