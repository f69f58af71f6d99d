"""Shared fixtures: generated CMS files, a tree snapshot, and the CLI run in-process."""

from __future__ import annotations

import hashlib
import json
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

import pyarrow as pa
import pytest

from mips_profiles import cli
from mips_profiles.sandbox.generator import generate_table, write_csv


def snapshot(*roots: Path) -> dict[str, str]:
    """Every file under ``roots`` -> SHA-256 of its bytes (for 'nothing changed' assertions)."""
    out: dict[str, str] = {}
    for root in roots:
        if not root.exists():
            continue
        for path in sorted(root.rglob("*")):
            if path.is_file():
                out[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cms-files")


@pytest.fixture(scope="session")
def sample_table():
    """Generated tables per performance year, cached for the session."""
    cache: dict[tuple[int, int], pa.Table] = {}

    def get(year: int, rows: int = 600) -> pa.Table:
        if (year, rows) not in cache:
            cache[(year, rows)] = generate_table(year, rows)
        return cache[(year, rows)]

    return get


@pytest.fixture(scope="session")
def sample_file(sample_dir: Path, sample_table):
    def get(year: int, rows: int = 600) -> Path:
        path = sample_dir / f"py{year}-{rows}.csv"
        if not path.exists():
            write_csv(sample_table(year, rows), path)
        return path

    return get


@pytest.fixture(scope="session")
def published_tree(tmp_path_factory: pytest.TempPathFactory, sample_file) -> Path:
    """A public tree with PY2023 and PY2024 published (read-only for the tests that share it)."""
    from mips_profiles.adapters.local_store import LocalDirStore
    from mips_profiles.publishing.publish import Publisher, ReleaseInfo

    root = tmp_path_factory.mktemp("published")
    publisher = Publisher(LocalDirStore(root / "tree"), LocalDirStore(root / "tree.private"))
    for year in (2023, 2024):
        publisher.publish_file(sample_file(year), ReleaseInfo(performance_year=year))
    return root / "tree"


def pick_documents(tree: Path) -> dict[str, dict]:
    """Documents of each kind the consumers must render: scored this year, with history, not scored, with a
    reweighted category."""
    found: dict[str, dict] = {}
    for path in sorted((tree / "v1" / "npi").glob("*.json")):
        doc = json.loads(path.read_text())
        latest = doc["latest"]
        cats = latest["category_scores"]
        newest = latest["performance_year"] == 2024
        if newest and latest["final_score"] is not None and all(v is not None for v in cats.values()):
            found.setdefault("scored", doc)
            if len(doc["history"]) >= 2:
                found.setdefault("history", doc)
        if latest["final_score"] is None:
            found.setdefault("unscored", doc)
        if latest["performance_year"] == 2023:
            found.setdefault("older_only", doc)
        if newest and latest["category_status"]["promoting_interoperability"] == "reweighted":
            found.setdefault("reweighted", doc)
        if len(found) == 5:
            return found
    raise AssertionError(f"the sample tree lacks a kind of document: found {sorted(found)}")


class CliRun:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    @property
    def json(self) -> dict:
        return json.loads(self.out.strip().splitlines()[-1])


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]):
    def run(*argv: str) -> CliRun:
        code = cli.main([str(a) for a in argv])
        captured = capsys.readouterr()
        return CliRun(code, captured.out, captured.err)

    return run


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return tmp_path / "tree"


@pytest.fixture
def private(tmp_path: Path) -> Path:
    return tmp_path / "tree.private"


from aws_stack import stack, tables  # noqa: E402,F401  (moto fixtures shared by the AWS test modules)
