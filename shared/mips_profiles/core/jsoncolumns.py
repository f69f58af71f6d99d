"""Column-wise JSON: each value of a column rendered as the bytes ``orjson.dumps`` gives for it, made once
per *distinct* value and assembled by Arrow, so that building a national year's documents creates no
Python object per field per entry.

orjson stays the one serialiser (``documents.dumps``): every token here is ``orjson.dumps`` of a value, the
objects are assembled with the same compact separators and key order, and tests hold whole documents built
here byte-for-byte equal to ``dumps`` of the same dicts (:func:`pylist` gives those dicts' values).

A column is one of five shapes:

- :class:`Floats`: float64, NaN is JSON ``null`` (every distinct bit pattern is rendered once, so ``-0.0``
  stays ``-0.0``);
- :class:`Ints`: int64, never null;
- :class:`Bools`: ``true``/``false``, or ``null`` (a negative value);
- :class:`Texts`: an Arrow string (or dictionary of strings) array, null is ``null``;
- :class:`Struct`: named columns rendered as one JSON object per row, keys in the given order.

>>> render(Floats(np.array([85.5, np.nan, 85.5]))).to_pylist()
[b'85.5', b'null', b'85.5']
>>> render(Struct((("a", Ints(np.array([1, 2]))), ("b", Texts(pa.array(["x", None])))))).to_pylist()
[b'{"a":1,"b":"x"}', b'{"a":2,"b":null}']
>>> render(Bools(np.array([1, 0, -1]))).to_pylist()
[b'true', b'false', b'null']
>>> join_groups(pa.array([b"1", b"2", b"3"]), np.array([0, 2])).to_pylist()
[b'[1,2]', b'[3]']
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Union

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

_PLAIN_TEXT = r"^[ !#-\[\]-~]*$"
"""Printable ASCII without ``"`` or ``\\``: orjson writes such a string as it is, between quotes."""


@dataclass(frozen=True)
class Floats:
    values: np.ndarray  # float64; NaN = null

    def __len__(self) -> int:
        return len(self.values)


@dataclass(frozen=True)
class Ints:
    values: np.ndarray  # int64

    def __len__(self) -> int:
        return len(self.values)


@dataclass(frozen=True)
class Bools:
    values: np.ndarray  # 1 (or True) is true, 0 (or False) false, -1 null

    def __len__(self) -> int:
        return len(self.values)


_BOOL_TOKENS = {1: b"true", 0: b"false", -1: b"null"}


def _bool_codes(values: np.ndarray) -> np.ndarray:
    codes: np.ndarray = np.asarray(values).astype(np.int8)
    return codes


@dataclass(frozen=True)
class Texts:
    values: pa.Array  # string or dictionary<string>; null = null

    def __len__(self) -> int:
        return len(self.values)


@dataclass(frozen=True)
class Struct:
    fields: tuple[tuple[str, Column], ...]

    def __len__(self) -> int:
        return len(self.fields[0][1]) if self.fields else 0


Column = Union[Floats, Ints, Bools, Texts, Struct]  # noqa: UP007 (a runtime alias, used before 3.12's `type`)


def texts_by_key(keys: np.ndarray, text: Any) -> Texts:
    """A text column whose value depends on an integer key only: ``text(key)`` is called once per distinct key."""
    distinct, inverse = np.unique(np.asarray(keys, dtype=np.int64), return_inverse=True)
    labels = pa.array([text(int(k)) for k in distinct.tolist()], pa.string())
    return Texts(pa.DictionaryArray.from_arrays(pa.array(inverse.astype(np.int32)), labels))


# -- Python values (the dict rows) ---------------------------------------------------------------


def pylist(column: Column) -> list[Any]:
    """The column's values as Python objects: what a dict row holds and ``orjson.dumps`` would render."""
    if isinstance(column, Floats):
        values: list[Any] = pa.array(column.values, pa.float64(), from_pandas=True).to_pylist()
        return values
    if isinstance(column, Ints):
        ints: list[Any] = column.values.tolist()
        return ints
    if isinstance(column, Bools):
        return [None if c < 0 else bool(c) for c in _bool_codes(column.values).tolist()]
    if isinstance(column, Texts):
        texts: list[Any] = column.values.to_pylist()
        return texts
    keys = [k for k, _ in column.fields]
    return [dict(zip(keys, row, strict=True)) for row in zip(*(pylist(c) for _, c in column.fields), strict=True)]


def to_arrow(column: Column) -> pa.Array:
    """The column as an Arrow array (nulls where JSON has null; an object column as a struct array)."""
    if isinstance(column, Floats):
        return pa.array(column.values, pa.float64(), from_pandas=True)
    if isinstance(column, Ints):
        return pa.array(column.values, pa.int64())
    if isinstance(column, Bools):
        codes = _bool_codes(column.values)
        return pa.array(codes > 0, pa.bool_(), mask=codes < 0)
    if isinstance(column, Texts):
        values = column.values.combine_chunks() if isinstance(column.values, pa.ChunkedArray) else column.values
        return values.cast(pa.string()) if pa.types.is_dictionary(values.type) else values
    return pa.StructArray.from_arrays([to_arrow(c) for _, c in column.fields], [k for k, _ in column.fields])


def cells(column: Column) -> list[str]:
    """One spreadsheet cell per row: text as it is, a number as the JSON renders it, empty for null.

    >>> cells(Floats(np.array([85.0, np.nan]))), cells(Texts(pa.array(["a,b", None])))
    (['85.0', ''], ['a,b', ''])
    """
    if isinstance(column, Texts):
        text = pc.fill_null(to_arrow(column), "")
    else:
        rendered = render(column)
        text = pc.if_else(pc.equal(rendered, pa.scalar(b"null", pa.binary())), b"", rendered).cast(pa.string())
    values: list[str] = text.to_pylist()
    return values


def field(columns: Sequence[tuple[str, Column]], path: str) -> Column | None:
    """The column at a dotted ``path`` (``category_scores.quality``) of named columns, or None if absent."""
    head, _, rest = path.partition(".")
    found = dict(columns).get(head)
    if found is None or not rest:
        return found
    return field(found.fields, rest) if isinstance(found, Struct) else None


# -- JSON bytes ------------------------------------------------------------------------------


def render(column: Column) -> pa.Array:
    """One JSON value per row (``pa.binary()``), byte-equal to ``orjson.dumps`` of :func:`pylist`'s value."""
    if isinstance(column, Floats):
        return _floats(column.values)
    if isinstance(column, Ints):
        return _by_distinct(np.asarray(column.values, dtype=np.int64), lambda v: str(v).encode())
    if isinstance(column, Bools):
        return _by_distinct(_bool_codes(column.values), _BOOL_TOKENS.__getitem__)
    if isinstance(column, Texts):
        return _texts(column.values)
    return concat(*parts(column))


def parts(column: Column) -> list[bytes | pa.Array]:
    """The pieces whose row-wise concatenation renders ``column``: literal bytes and rendered leaf columns,
    nested objects flattened (so an entry is assembled in one pass, not one per level)."""
    if not isinstance(column, Struct):
        return [render(column)]
    if not column.fields:
        raise ValueError("an object column needs at least one field")
    out: list[bytes | pa.Array] = []
    for i, (key, field) in enumerate(column.fields):
        out += [(b"{" if i == 0 else b",") + orjson.dumps(key) + b":", *parts(field)]
    out.append(b"}")
    return out


def concat(*pieces: bytes | pa.Array) -> pa.Array:
    """Row by row, the concatenation of ``pieces`` (literal bytes repeat on every row; adjacent ones merge)."""
    merged: list[bytes | pa.Array] = []
    for piece in pieces:
        if isinstance(piece, bytes) and merged and isinstance(merged[-1], bytes):
            merged[-1] += piece
        else:
            merged.append(piece)
    return pc.binary_join_element_wise(
        *(pa.scalar(p, pa.binary()) if isinstance(p, bytes) else p for p in merged), pa.scalar(b"", pa.binary())
    )


def join_groups(values: pa.Array, starts: np.ndarray) -> pa.Array:
    """``[v, v, ...]`` per group of consecutive values; ``starts`` are the groups' first positions."""
    offsets = pa.array(np.append(starts, len(values)).astype(np.int32))
    joined = pc.binary_join(pa.ListArray.from_arrays(offsets, values), pa.scalar(b",", pa.binary()))
    return concat(b"[", joined, b"]")


def buffer_bytes(values: pa.Array) -> bytes:
    """All values of a binary array back to back, in one copy (no Python object per value)."""
    if len(values) == 0:
        return b""
    _, offsets, data = values.buffers()
    first, last = np.frombuffer(offsets, dtype=np.int32, count=len(values) + 1, offset=values.offset * 4)[[0, -1]]
    return data.to_pybytes()[first:last] if data is not None else b""


def _by_distinct(values: np.ndarray, token: Any) -> pa.Array:
    distinct, inverse = np.unique(values, return_inverse=True)
    tokens = pa.array([token(v) for v in distinct.tolist()], pa.binary())
    return tokens.take(pa.array(inverse.reshape(-1)))


def _floats(values: np.ndarray) -> pa.Array:
    bits = np.ascontiguousarray(values, dtype=np.float64).view(np.uint64)
    distinct, inverse = np.unique(bits, return_inverse=True)
    tokens = pa.array([orjson.dumps(float(v)) for v in distinct.view(np.float64).tolist()], pa.binary())
    return tokens.take(pa.array(inverse.reshape(-1)))  # orjson renders NaN as null


def _texts(values: pa.Array) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if pa.types.is_dictionary(values.type):
        tokens = pa.array([orjson.dumps(v) for v in values.dictionary.to_pylist()] + [b"null"], pa.binary())
        return tokens.take(pc.fill_null(values.indices, len(tokens) - 1))
    if pc.all(pc.match_substring_regex(values, _PLAIN_TEXT)).as_py() is not False:
        quoted = concat(b'"', values.cast(pa.binary()), b'"')
        return pc.fill_null(quoted, pa.scalar(b"null", pa.binary()))
    return _texts(values.dictionary_encode())
