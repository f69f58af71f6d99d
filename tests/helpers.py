"""Small builders for test inputs: edit cells of a generated table and write it as CMS would."""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path

import pyarrow as pa

from mips_profiles.sandbox.generator import write_csv


def set_cells(table: pa.Table, column: str, values: dict[int, str]) -> pa.Table:
    """Return ``table`` with ``column`` replaced at the given row indexes."""
    data = table.column(column).to_pylist()
    for i, v in values.items():
        data[i] = v
    return table.set_column(table.column_names.index(column), column, pa.array(data, pa.string()))


def write(table: pa.Table, path: Path) -> Path:
    write_csv(table, path)
    return path


def _years_with_files() -> tuple[int, ...]:
    raw = json.loads(resources.files("mips_profiles").joinpath("data/cms_headers.json").read_text("utf-8"))
    return tuple(sorted(int(year) for year in raw["headers"]))


YEARS_WITH_FILES = _years_with_files()
"""The performance years CMS has published a file for (their real headers are recorded): a test that reads a file
of every year reads these; one that checks every year the rules support reads ``core.years.SUPPORTED_YEARS``.
Adding a year to the data adds it to every such test."""


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


def archived_by_content(after: dict[str, str], before: dict[str, str]) -> dict[str, str]:
    """What ``after`` has beyond ``before`` that is a file CMS served, archived under ``raw/`` by its SHA-256 (the
    Check step keeps every download there, as the raw bucket on AWS, before any step reads it)."""
    new = {k: v for k, v in after.items() if k not in before}
    files = {k: v for k, v in new.items() if "/raw/" in k and k.endswith(f"{v}.csv")}
    # and the Check step's record of each, beside it (``keys.check_record_key``)
    records = {k: v for k, v in new.items() if any(k == f.removesuffix(".csv") + ".check.json" for f in files)}
    return {**files, **records}


def changed_beyond_the_raw_archive(after: dict[str, str], before: dict[str, str]) -> bool:
    archived = archived_by_content(after, before)
    return {k: v for k, v in after.items() if k not in archived} != before


def pick_documents(tree: Path) -> dict[str, dict]:
    """Documents of each kind the consumers must render: scored this year (every category counted), with history,
    earned as a group, not scored, with an exempt (reweighted) category."""
    found: dict[str, dict] = {}
    for path in sorted((tree / "v1" / "npi").glob("*.json")):
        doc = json.loads(path.read_text())
        latest = doc["latest"]
        cats = latest["category_scores"]
        newest = latest["performance_year"] == 2024
        counted = all(status == "scored" for status in latest["category_status"].values())
        if newest and latest["final_score"] is not None and counted and all(v is not None for v in cats.values()):
            found.setdefault("scored", doc)
            if len(doc["history"]) >= 2:
                found.setdefault("history", doc)
            if latest["participation_option"] == "Group":
                found.setdefault("group", doc)
        if latest["final_score"] is None:
            found.setdefault("unscored", doc)
        if latest["performance_year"] == 2023:
            found.setdefault("older_only", doc)
        if (
            newest
            and latest["category_status"]["promoting_interoperability"] == "reweighted"
            and not cats["promoting_interoperability"]
        ):
            found.setdefault("reweighted", doc)
        if len(found) == 6:
            return found
    raise AssertionError(f"the sample tree lacks a kind of document: found {sorted(found)}")
