"""The package's shape, held by tests (docs/architecture.md draws it):

- imports point inwards only: ``core`` imports nothing but the base modules; ``publishing`` talks to
  storage through ``ports`` and never imports an adapter; nothing a Lambda runs imports the sandbox;
- no import cycle at module level, no private name imported across modules;
- elsewhere: the checker Lambda's imports stay light (``tests/aws/test_aws.py``), every key is built in
  ``keys.py`` (``tests/unit/test_keys.py``), the layer ships no sandbox module (``tests/aws/test_layer.py``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from mips_profiles import keys

PACKAGE = Path(keys.__file__).parent
ROOT = PACKAGE.parent.parent
BASE = {
    "mips_profiles.errors",
    "mips_profiles.clock",
    "mips_profiles.keys",
    "mips_profiles.ports",
    "mips_profiles.text",
    "mips_profiles.npi",
    "mips_profiles.fs",
}

# layer -> the layers it may import (besides itself and the base modules)
ALLOWED = {
    "base": set(),  # the NPI rule is a base module: keys.npi_keys checks with it, nothing points upwards
    "core": set(),
    "adapters": {"core"},
    "publishing": {"core"},
    "orchestration": {"core", "adapters", "publishing", "settings"},
    "consumers": {"core", "publishing"},
    "settings": {"core"},
    "sandbox": {"core", "adapters", "publishing", "orchestration"},
    "cli": {"core", "adapters", "publishing", "orchestration", "consumers", "sandbox"},
    "__main__": {"cli"},  # python -m mips_profiles
    "package": set(),
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> str:
    if module in BASE:
        return "base"
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "package"


def imports(path: Path, *, top_level_only: bool) -> list[tuple[str, list[str]]]:
    """[(imported module, names)] of the package's own imports in one file, relative ones resolved."""
    tree = ast.parse(path.read_text())
    here = module_name(path).split(".")
    if path.name != "__init__.py":
        here = here[:-1]
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    out = []
    for node in nodes:
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "mips_profiles":
                continue
            names = [a.name for a in node.names]
            # `from . import x` / `from .core import contract` import modules, not names
            paths = {n: PACKAGE.parent / f"{target}.{n}".replace(".", "/") for n in names}
            submodules = [f"{target}.{n}" for n, p in paths.items() if p.is_dir() or p.with_suffix(".py").exists()]
            out.extend((m, []) for m in submodules)
            if len(submodules) < len(names):
                out.append((target, names))
        elif isinstance(node, ast.Import):
            out.extend((a.name, []) for a in node.names if a.name.startswith("mips_profiles"))
    return out


def package_files() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_every_import_points_inwards():
    wrong = []
    for path in package_files():
        source = module_name(path)
        for target, _ in imports(path, top_level_only=False):
            if target == "mips_profiles" or layer(target) in {layer(source), "base"}:
                continue
            if layer(target) not in ALLOWED[layer(source)]:
                wrong.append(f"{source} -> {target}")
    assert wrong == []


def test_the_lambda_handlers_never_reach_the_sandbox_or_the_consumers():
    graph = {module_name(p): {t for t, _ in imports(p, top_level_only=False)} for p in package_files()}
    reached: set[str] = set()
    todo = [
        t
        for app in ROOT.glob("functions/*/app.py")
        for line in app.read_text().splitlines()
        if line.startswith("from mips_profiles")
        for t in [line.split()[1]]
    ]
    assert todo, "no handler imports found"
    while todo:
        module = todo.pop()
        if module not in reached:
            reached.add(module)
            todo.extend(graph.get(module, ()))
    assert sorted(m for m in reached if layer(m) in {"sandbox", "consumers", "cli"}) == []


def test_no_import_cycle_between_modules():
    graph = {module_name(p): {t for t, _ in imports(p, top_level_only=True)} for p in package_files()}
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        for nxt in graph.get(node, ()):
            if nxt in path:
                cycles.append([*path[path.index(nxt) :], nxt])
            elif len(path) < len(graph):
                visit(nxt, [*path, nxt])

    for start in graph:
        visit(start, [start])
    assert cycles == []


def test_no_private_name_is_imported_from_another_module():
    crossing = [
        (module_name(p), target, name)
        for p in package_files()
        for target, names in imports(p, top_level_only=False)
        for name in names
        if name.startswith("_") and not name.startswith("__")
    ]
    assert crossing == []


@pytest.mark.parametrize(
    "source, target",
    [
        ("core.documents", "adapters.s3"),
        ("publishing.publish", "adapters.s3"),
        ("orchestration.run_steps", "sandbox.generator"),
    ],
)
def test_the_layer_rule_refuses_an_import_that_points_outwards(source, target):
    assert layer(f"mips_profiles.{target}") not in ALLOWED[layer(f"mips_profiles.{source}")]


def test_every_exception_is_in_errors_and_in_its_tree():
    """One hierarchy: no module but ``errors`` defines an exception, and the tree in its docstring names them all."""
    from mips_profiles import errors

    defined = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and any(
                ast.unparse(base).endswith(("Error", "Exception", "Refused", "Release", "Transient", "InvalidInput"))
                for base in node.bases
            ):
                defined.add((path.name, node.name))
    assert {module for module, _ in defined} == {"errors.py"}, defined
    classes = {name for _, name in defined} | {"MipsProfilesError"}
    assert all(name in (errors.__doc__ or "") for name in classes)


MAX_CLASS_LINES = 200
MAX_FUNCTION_LINES = 80
LONG_FUNCTIONS = {  # each a flat list of declarations, not logic
    "cli.py:build_parser": "the argument parser: one block of add_argument calls per verb",
    "openapi.py:openapi_document": "the OpenAPI document as one literal (issue 28 leaves its generation from types)",
}


def test_no_class_or_function_outgrows_a_reader():
    """Issue 28's limits: no class over 200 lines, no function over about 60 (80 here, with the two declaration
    blocks above named); the sandbox's CMS doubles are exempt, as they are from the complexity limit."""
    too_long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "sandbox" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ClassDef | ast.FunctionDef):
                continue
            size = (node.end_lineno or 0) - node.lineno + 1
            name = f"{path.name}:{node.name}"
            if isinstance(node, ast.ClassDef) and size > MAX_CLASS_LINES:
                too_long.append(f"class {name} ({size} lines)")
            elif isinstance(node, ast.FunctionDef) and size > MAX_FUNCTION_LINES and name not in LONG_FUNCTIONS:
                too_long.append(f"function {name} ({size} lines)")
    assert not too_long, too_long


PUBLISHER_PARTS = {"ledger", "manifest", "private", "public", "clock", "stager", "shards", "finalizer"}


def publisher_reach_throughs(source: str) -> list[str]:
    """``publisher.<part>.`` or ``self.publisher.<part>`` where <part> is one of the Publisher's collaborators."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr in PUBLISHER_PARTS:
            owner = node.value
            name = owner.id if isinstance(owner, ast.Name) else owner.attr if isinstance(owner, ast.Attribute) else ""
            if name == "publisher":
                found.append(f"line {node.lineno}: publisher.{node.attr}")
    return found


def test_callers_ask_the_publisher_instead_of_reaching_through_it():
    """Issue 28: repair, the self-test, refresh and the steps ask ``Publisher`` for what they need (it builds the
    repairer and the reconciler with its own stores); nobody else holds its ledger, manifest or stores."""
    offenders = {
        str(path.relative_to(PACKAGE)): found
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name != "publish.py" and (found := publisher_reach_throughs(path.read_text()))
    }
    assert not offenders, offenders


def test_the_reach_through_rule_sees_both_spellings():
    assert publisher_reach_throughs("publisher.private.write(k, b'')\nself.publisher.manifest.read()") == [
        "line 1: publisher.private",
        "line 2: publisher.manifest",
    ]
    assert publisher_reach_throughs("publisher.repairer().repair()\nself.public.read(k)") == []
