"""Bulk files and the change feed: for consumers who want a whole year in one file, and only what changed.

- ``v1/bulk/{year}/scores.ndjson``: every NPI's entry for that year, one JSON object per line,
  ``{"npi": ..., <the entry>}``, the entry's bytes exactly as in the documents (the same builder makes
  both, from the same private entries); ``v1/bulk/{year}/scores.csv``: the contract's displayed fields
  of those entries, for spreadsheets. Both stored gzip-compressed with ``Content-Encoding: gzip`` (a
  browser or ``curl --compressed`` reads them as they are), deterministic bytes (gzip ``mtime`` 0), listed
  in the manifest with size, rows and the SHA-256 of the uncompressed content, rewritten only when that
  content changes.
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
import gzip
import hashlib
import io
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from ..core import jsoncolumns as jc
from ..core.documents import DocumentBuilder, dumps, sort_entries
from ..keys import BULK_PREFIX, bulk_key

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


class _Gzipped:
    """An uncompressed stream written into deterministic gzip bytes, hashed and counted on the way.

    Compressing and hashing run on a worker thread, in order (zlib and hashlib release the GIL), while the
    caller builds the next piece: a national year's bulk files cost about the time of building them."""

    MAX_PENDING = 4

    def __init__(self) -> None:
        self.buffer = io.BytesIO()
        self.zip = gzip.GzipFile(fileobj=self.buffer, mode="wb", compresslevel=6, mtime=0)
        self.digest = hashlib.sha256()
        self.size = 0
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gzip")
        self._pending: deque[Future[None]] = deque()

    def _absorb(self, data: bytes) -> None:
        self.zip.write(data)
        self.digest.update(data)

    def write(self, data: bytes) -> None:
        while len(self._pending) >= self.MAX_PENDING:  # bounded: memory stays at a few pieces
            self._pending.popleft().result()
        self._pending.append(self._worker.submit(self._absorb, data))
        self.size += len(data)

    def discard(self) -> None:
        self._worker.shutdown(wait=True, cancel_futures=True)

    def close(self, key: str, rows: int) -> BulkFile:
        try:
            while self._pending:
                self._pending.popleft().result()
        finally:
            self._worker.shutdown(wait=True, cancel_futures=True)
        self.zip.close()
        return BulkFile(key, self.buffer.getvalue(), rows, self.size, self.digest.hexdigest())


class BulkBuilder:
    def __init__(self, builder: DocumentBuilder) -> None:
        self.builder = builder
        # the CSV columns: the contract's displayed fields, in contract order, with their public paths
        self.columns = list(builder.public.items())

    def _csv_rows(self, npis: pa.Array, columns: list[tuple[str, jc.Column]]) -> Iterable[tuple[str, ...]]:
        """The CSV rows of one shard, built column by column: numbers as the documents write them (orjson:
        exactly what CMS published), text as it is, empty for null or for a field the entries do not have."""
        cells = []
        for _, path in self.columns:
            column = jc.Texts(npis) if path == "npi" else jc.field(columns, path)
            cells.append([""] * len(npis) if column is None else jc.cells(column))
        return zip(*cells, strict=True)

    def build(
        self,
        year: int,
        shards: Iterable[pa.Table],
        on_rows: Callable[[pa.Array, list[tuple[str, jc.Column]]], None] | None = None,
    ) -> list[BulkFile]:
        """Both files of ``year`` from its published entries, given shard by shard (the lines come out in
        shard order, NPI order within a shard). ``on_rows`` sees each shard's NPIs and typed entry columns
        (the mart's headlines are built from the same pass)."""
        ndjson, table = _Gzipped(), _Gzipped()
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow([name for name, _ in self.columns])
        rows = 0
        try:
            for entries in shards:
                if entries.num_rows == 0:
                    continue
                ordered = sort_entries(entries)
                entry_years = ordered.column("performance_year")
                other = pc.filter(entry_years, pc.not_equal(entry_years, year))
                if len(other):
                    raise ValueError(f"an entry of PY{other[0].as_py()} among PY{year}'s")
                npis = ordered.column("npi").combine_chunks()
                columns = self.builder.entry_columns(ordered)
                if on_rows is not None:
                    on_rows(npis, columns)
                lines = self.builder.rendered_entries(ordered, prefix=(("npi", jc.Texts(npis)),))
                ndjson.write(jc.buffer_bytes(jc.concat(lines, b"\n")))
                writer.writerows(self._csv_rows(npis, columns))
                table.write(text.getvalue().encode())
                text.seek(0)
                text.truncate()
                rows += len(npis)
        except BaseException:
            ndjson.discard()
            table.discard()
            raise
        if text.getvalue():  # the header alone, for a year with no entries
            table.write(text.getvalue().encode())
        return [ndjson.close(bulk_key(year, "ndjson"), rows), table.close(bulk_key(year, "csv"), rows)]


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
