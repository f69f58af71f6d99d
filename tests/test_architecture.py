"""The package's shape, held by tests: no import cycles at module level, no private name imported across
modules, the checker Lambda's imports light (``tests/test_aws.py``), every key in ``keys.py``
(``tests/test_keys.py``)."""

from __future__ import annotations

import ast
from pathlib import Path

from mips_profiles import keys

PACKAGE = Path(keys.__file__).parent


def module_imports() -> dict[str, list[tuple[str, list[str]]]]:
    """module -> [(imported module, names)] for the package's own top-level ``from .x import ...``."""
    out: dict[str, list[tuple[str, list[str]]]] = {}
    for path in sorted(PACKAGE.glob("*.py")):
        tree = ast.parse(path.read_text())
        out[path.stem] = [(node.module or "", [a.name for a in node.names]) for node in tree.body
                          if isinstance(node, ast.ImportFrom) and node.level == 1]
    return out


def test_no_import_cycle_between_modules():
    graph = {m: {target for target, _ in imports if target} for m, imports in module_imports().items()}
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        for nxt in graph.get(node, ()):
            if nxt in path:
                cycles.append([*path[path.index(nxt):], nxt])
            elif len(path) < len(graph):
                visit(nxt, [*path, nxt])

    for start in graph:
        visit(start, [start])
    assert cycles == []


def test_no_private_name_is_imported_from_another_module():
    crossing = [(m, target, name) for m, imports in module_imports().items() for target, names in imports
                for name in names if name.startswith("_") and not name.startswith("__")]
    assert crossing == []
