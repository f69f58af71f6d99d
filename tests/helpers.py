"""Small builders for test inputs: edit cells of a generated table and write it as CMS would."""

from __future__ import annotations

import hashlib
import json
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
