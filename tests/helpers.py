"""Small builders for test inputs: edit cells of a generated table and write it as CMS would."""

from __future__ import annotations

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
