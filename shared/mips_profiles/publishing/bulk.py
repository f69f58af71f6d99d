"""Bulk files and the change feed: for consumers who want a whole year in one file, and only what changed.

- ``v1/bulk/{year}/scores.ndjson``: every NPI's entry for that year, one JSON object per line,
  ``{"npi": ..., <the entry>}``, the entry's bytes exactly as in the documents (the same builder makes
  both, from the same private entries); ``v1/bulk/{year}/scores.csv``: the contract's displayed fields
  of those entries, for spreadsheets. Both stored gzip-compressed with ``Content-Encoding: gzip`` (a
  browser or ``curl --compressed`` reads them as they are), deterministic bytes (gzip ``mtime`` 0), listed
  in the manifest with size, rows and the SHA-256 of the uncompressed content, rewritten only when that
  content changes. A file is assembled from per-shard DEFLATE parts inside ONE gzip member
  (``bulk_year.py``): clients read only the first member of a concatenation.
- ``v1/changes/{sequence:08d}.json``: one object per publish that changed a document: the NPIs whose
  document was added, changed or removed, with the release it came from and the previous one. Sequence
  numbers count up from 1, so the keys sort in time and a consumer can walk them from its own marker;
  the manifest points to the latest and lists the recent ones. An object is final once the manifest
  lists it (a publish that failed before its manifest leaves its number to the next one).

Nothing here reads a write-locked field: the entries come from ``DocumentBuilder.entry_columns`` (the display
contract's projection) and the CSV columns are the contract's public fields.
"""

from __future__ import annotations

import csv
import io
import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from ..core import jsoncolumns as jc
from ..core import mart
from ..core.documents import DocumentBuilder, dumps, sort_entries
from ..keys import BULK_PREFIX

BULK_FORMATS = {"ndjson": "application/x-ndjson; charset=utf-8", "csv": "text/csv; charset=utf-8"}
CONTENT_ENCODING = "gzip"
CHANGE_SCHEMA_VERSION = 1
RECENT_CHANGES = 50
"""How many change objects the manifest lists; older ones stay at their keys (walk them by sequence)."""


def stored_headers(key: str) -> tuple[str, str] | None:
    """(Content-Type, Content-Encoding) of a bulk file's key, or None for any other key: what the publisher
    stores on the object and ``serve`` sends."""
    if not key.startswith(BULK_PREFIX):
        return None
    fmt = key.rsplit(".", 1)[-1]
    return (BULK_FORMATS[fmt], CONTENT_ENCODING) if fmt in BULK_FORMATS else None


@dataclass
class BulkFile:
    key: str
    data: bytes  # gzip
    rows: int
    uncompressed_size: int
    sha256: str  # of the uncompressed content (what `curl --compressed` saves)

    def manifest_entry(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "content_encoding": CONTENT_ENCODING,
            "size": len(self.data),
            "uncompressed_size": self.uncompressed_size,
            "rows": self.rows,
            "sha256": self.sha256,
        }


GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
"""A gzip member's header: DEFLATE, no name, no flags, ``mtime`` 0, OS unknown (what ``gzip.compress(data,
mtime=0)`` writes at level 6): the same bytes wherever and whenever a file is assembled."""
FINAL_BLOCK = b"\x03\x00"
"""An empty, final DEFLATE block with fixed codes: ends the stream after the parts' non-final blocks."""
LEVEL = 6


def deflate_part(text: bytes) -> bytes:
    """``text`` as raw DEFLATE blocks on their own (no back-reference before its first byte), ending with a
    sync flush: byte-aligned and not final, so parts laid end to end are one valid DEFLATE stream."""
    if not text:
        return b""
    zipper = zlib.compressobj(LEVEL, zlib.DEFLATED, -15)
    return zipper.compress(text) + zipper.flush(zlib.Z_SYNC_FLUSH)


def inflate_part(data: bytes) -> bytes:
    """The text of one part (for hashing a file whose other parts changed)."""
    return zlib.decompressobj(-15).decompress(data) if data else b""


def gzip_member(parts: Iterable[bytes], crc32: int, size: int) -> bytes:
    """One gzip member (RFC 1952) from DEFLATE parts in order, given the CRC-32 and length of their whole text.
    Browsers and ``curl --compressed`` read only the first member of a concatenation of members, so the
    parts are joined inside one member, never as members of their own."""
    return b"".join([GZIP_HEADER, *parts, FINAL_BLOCK, struct.pack("<II", crc32 & 0xFFFFFFFF, size & 0xFFFFFFFF)])


@dataclass
class ShardLines:
    """One storage shard's lines in both formats (uncompressed) and its rows of the mart's headlines."""

    ndjson: bytes
    csv: bytes
    rows: int
    headlines: pa.Table


class BulkBuilder:
    def __init__(self, builder: DocumentBuilder) -> None:
        self.builder = builder
        # the CSV columns: the contract's displayed fields, in contract order, with their public paths
        self.columns = list(builder.public.items())

    def csv_header(self) -> bytes:
        text = io.StringIO()
        csv.writer(text, lineterminator="\n").writerow([name for name, _ in self.columns])
        return text.getvalue().encode()

    def _csv_rows(self, npis: pa.Array, columns: list[tuple[str, jc.Column]]) -> Iterable[tuple[str, ...]]:
        """The CSV rows of one shard, built column by column: numbers as the documents write them (orjson:
        exactly what CMS published), text as it is, empty for null or for a field the entries do not have."""
        cells = []
        for _, path in self.columns:
            column = jc.Texts(npis) if path == "npi" else jc.field(columns, path)
            cells.append([""] * len(npis) if column is None else jc.cells(column))
        return zip(*cells, strict=True)

    def shard_lines(self, year: int, entries: pa.Table) -> ShardLines:
        """The lines of one shard's entries of ``year`` (NPI order), and the mart's headlines from the same
        typed columns: one pass over the entries for both files and the mart."""
        ordered = sort_entries(entries)
        entry_years = ordered.column("performance_year")
        other = pc.filter(entry_years, pc.not_equal(entry_years, year))
        if len(other):
            raise ValueError(f"an entry of PY{other[0].as_py()} among PY{year}'s")
        npis = ordered.column("npi").combine_chunks()
        columns = self.builder.entry_columns(ordered)
        lines = self.builder.rendered_entries(ordered, prefix=(("npi", jc.Texts(npis)),))
        ndjson = jc.buffer_bytes(jc.concat(lines, b"\n")) if len(npis) else b""
        text = io.StringIO()
        csv.writer(text, lineterminator="\n").writerows(self._csv_rows(npis, columns))
        return ShardLines(ndjson, text.getvalue().encode(), len(npis), mart.profile_headlines(npis, columns))


# -- the change feed -----------------------------------------------------------------------------


@dataclass
class Changes:
    """The NPIs whose document a publish added, changed or removed."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.added or self.changed or self.removed)

    def to_json(self) -> bytes:
        return orjson.dumps({"added": self.added, "changed": self.changed, "removed": self.removed})

    @classmethod
    def from_json(cls, data: bytes) -> Changes:
        return cls(**orjson.loads(data))

    @classmethod
    def merged(cls, parts: Iterable[Changes]) -> Changes:
        out = cls()
        for part in parts:
            out.added += part.added
            out.changed += part.changed
            out.removed += part.removed
        # a document can be removed and added back by retried work: the last word is the final state
        return cls(sorted(set(out.added)), sorted(set(out.changed) - set(out.added)), sorted(set(out.removed)))

    def counts(self) -> dict[str, int]:
        return {"added": len(self.added), "changed": len(self.changed), "removed": len(self.removed)}


def change_object(
    sequence: int,
    year: int,
    release_id: str,
    previous_release_id: str | None,
    cms_modified: str | None,
    changes: Changes,
) -> bytes:
    """The bytes of one change object: no wall-clock time in it (the manifest carries when), so the same
    publish gives the same bytes wherever it runs."""
    return dumps(
        {
            "schema_version": CHANGE_SCHEMA_VERSION,
            "sequence": sequence,
            "performance_year": year,
            "release_id": release_id,
            "previous_release_id": previous_release_id,
            "cms_modified": cms_modified,
            "counts": changes.counts(),
            "added": changes.added,
            "changed": changes.changed,
            "removed": changes.removed,
        }
    )
