"""The storage layout lives in one module: every key, public or private, is built in ``mips_profiles.keys``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from mips_profiles import keys

PACKAGE = Path(keys.__file__).parent
PREFIXES = ("v1/", "runs/", "raw/", "audit/", "quarantine/", "entries/", "index/", "pdc/", "reconciliation/", "mart/")


def literals(tree: ast.AST):
    """Every string literal, and the literal head of every f-string, with its line."""
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
            yield node.lineno, str(node.values[0].value)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value


@pytest.mark.parametrize(
    "module", sorted(str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py") if p.name != "keys.py")
)
def test_no_module_but_keys_builds_an_object_key(module):
    tree = ast.parse((PACKAGE / module).read_text())
    docstrings = {
        id(n.body[0].value)
        for n in ast.walk(tree)
        if isinstance(n, ast.Module | ast.ClassDef | ast.FunctionDef)
        and n.body
        and isinstance(n.body[0], ast.Expr)
        and isinstance(n.body[0].value, ast.Constant)
    }
    found = [
        (line, text)
        for line, text in literals(tree)
        if text.startswith(PREFIXES)
        and not any(id(n) in docstrings for n in ast.walk(tree) if getattr(n, "lineno", None) == line)
    ]
    assert found == [], f"{module} builds keys outside keys.py: {found}"


def test_the_release_id_is_built_once():
    assert keys.release_id(2024, "ab" * 32) == "2024-abababababababab"
    for module in PACKAGE.rglob("*.py"):
        assert "sha256[:16]" not in module.read_text() or module.name == "keys.py", module.name
