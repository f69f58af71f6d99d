"""A year's bulk files assembled from per-shard parts, so that a publish recompresses only the storage shards
whose entries changed, and an unchanged year costs one LIST and the parts' reads.

Each storage shard's lines (NDJSON and CSV) are compressed on their own as raw DEFLATE ending in a sync flush
(``bulk.deflate_part``) and kept privately (``index/bulk/py=YYYY/shard=SS.part``) with its rows of the mart's
headlines, tagged with the MD5 of the shard's stored entries and the document builder's fingerprint they were
built from. A file is one gzip member: the header, every shard's part in shard order, an empty final block
and the CRC-32 and length of the whole text. Its bytes equal what one compressor would make of the same text
in sync-flushed pieces, whichever parts were rebuilt in which run.

The manifest lists the SHA-256 of each file's whole text, which cannot be combined from parts: when any part
changed, every part's text is hashed in order (rebuilt ones as they are made, kept ones inflated). The
summary (``index/bulk/py=YYYY/summary.json``) records what the files were last assembled from, so a year none
of whose parts changed is not hashed again.

A part that is missing, unreadable, or tagged with other entries or another builder is rebuilt from the entries:
the private entries stay the one truth the bulk files are made from.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from ..core import mart
from ..keys import bulk_key
from .bulk import BulkBuilder, BulkFile, deflate_part, gzip_member, inflate_part
from .ledger import Ledger, parquet_bytes

__all__ = ["BulkAssembler", "Part", "decode_part", "encode_part"]

FORMATS = ("ndjson", "csv")
PART_MAGIC = b"mips-bulk-part/1\n"
PENDING = 4
"""Shards whose compression may lag behind the rendering (memory stays at a few shards' text)."""


@dataclass
class Part:
    """One shard's compressed lines in both formats, their text's length and CRC-32, and its headline rows."""

    tag: str  # MD5 of the shard's stored entries it was built from
    fingerprint: str  # the document builder's
    rows: int
    data: dict[str, bytes]  # format -> raw DEFLATE, sync-flushed
    size: dict[str, int]  # format -> length of the text
    crc32: dict[str, int]  # format -> CRC-32 of the text
    headlines: pa.Table


def encode_part(part: Part) -> bytes:
    headlines = parquet_bytes(part.headlines)
    header = orjson.dumps(
        {
            "tag": part.tag,
            "fingerprint": part.fingerprint,
            "rows": part.rows,
            "formats": {f: [len(part.data[f]), part.size[f], part.crc32[f]] for f in FORMATS},
            "headlines": len(headlines),
        }
    )
    return b"".join([PART_MAGIC, struct.pack(">I", len(header)), header, *(part.data[f] for f in FORMATS), headlines])


def decode_part(data: bytes, tag: str | None = None, fingerprint: str | None = None) -> Part | None:
    """A stored part, or None if it is not one whole part (it is then rebuilt, never trusted), or not made from
    ``tag``'s entries with ``fingerprint``'s builder, when given (checked before anything else is parsed)."""
    try:
        if not data.startswith(PART_MAGIC):
            return None
        at = len(PART_MAGIC)
        (length,) = struct.unpack_from(">I", data, at)
        at += 4
        header = orjson.loads(data[at : at + length])
        at += length
        if (tag is not None and header["tag"] != tag) or (
            fingerprint is not None and header["fingerprint"] != fingerprint
        ):
            return None
        blobs: dict[str, bytes] = {}
        size: dict[str, int] = {}
        crc: dict[str, int] = {}
        for fmt in FORMATS:
            n, size[fmt], crc[fmt] = (int(v) for v in header["formats"][fmt])
            blobs[fmt] = data[at : at + n]
            at += n
        n = int(header["headlines"])
        if at + n != len(data):
            return None
        headlines = pq.read_table(pa.BufferReader(data[at:]))
        return Part(str(header["tag"]), str(header["fingerprint"]), int(header["rows"]), blobs, size, crc, headlines)
    except (ValueError, KeyError, TypeError, struct.error, orjson.JSONDecodeError, pa.ArrowException):
        return None


class _Digest:
    """SHA-256, CRC-32 and length of one file's text, fed in order."""

    def __init__(self) -> None:
        self.sha = hashlib.sha256()
        self.crc = 0
        self.size = 0

    def update(self, text: bytes) -> None:
        self.sha.update(text)
        self.crc = zlib.crc32(text, self.crc)
        self.size += len(text)

    def value(self) -> FileDigest:
        return FileDigest(self.sha.hexdigest(), self.crc, self.size)


@dataclass(frozen=True)
class FileDigest:
    """What a bulk file's gzip trailer and manifest entry need of its whole text."""

    sha256: str
    crc32: int
    size: int


def _recorded(summary: dict[str, Any] | None, signature: str) -> dict[str, FileDigest] | None:
    """The digests the summary records, if it was made from these very parts; None if not, or not well formed
    (the text is then hashed again)."""
    if summary is None or summary.get("signature") != signature:
        return None
    out = {}
    for fmt in FORMATS:
        item = summary.get(fmt)
        if not isinstance(item, dict):
            return None
        sha, crc, size = item.get("sha256"), item.get("crc32"), item.get("size")
        if not (isinstance(sha, str) and len(sha) == 64 and isinstance(crc, int) and isinstance(size, int)):
            return None
        if isinstance(crc, bool) or isinstance(size, bool) or not (0 <= crc < 2**32) or size < 0:
            return None
        out[fmt] = FileDigest(sha, crc, size)
    return out


class BulkAssembler:
    """Both bulk files of a year from the ledger's entries, through the per-shard parts."""

    def __init__(self, ledger: Ledger, bulk: BulkBuilder, fingerprint: Callable[[], str]) -> None:
        self.ledger = ledger
        self.bulk = bulk
        self.fingerprint = fingerprint

    def files(self, year: int) -> tuple[list[BulkFile], pa.Table]:
        """Both files of ``year`` and the year's headline rows (the mart), rebuilding only stale parts."""
        tags = self.ledger.entry_tags(year)
        fingerprint = self.fingerprint()
        header = self.bulk.csv_header()
        signature = hashlib.sha256(
            orjson.dumps([fingerprint, header.decode(), sorted(tags.items())], option=orjson.OPT_NON_STR_KEYS)
        ).hexdigest()
        known = _recorded(self.ledger.bulk_summary(year), signature)
        digests = {fmt: _Digest() for fmt in FORMATS} if known is None else None
        if digests is not None:
            digests["csv"].update(header)
        parts: dict[int, Part] = {}
        pending: deque[tuple[int, str, Any, dict[str, Future[bytes]]]] = deque()

        def complete(shard: int, tag: str, lines: Any, zipped: dict[str, Future[bytes]]) -> None:
            text = {"ndjson": lines.ndjson, "csv": lines.csv}
            part = Part(
                tag,
                fingerprint,
                lines.rows,
                {f: zipped[f].result() for f in FORMATS},
                {f: len(text[f]) for f in FORMATS},
                {f: zlib.crc32(text[f]) for f in FORMATS},
                lines.headlines,
            )
            if tag:  # an entries object the store gave no MD5 for is never cached
                self.ledger.write_bulk_part(year, shard, encode_part(part))
            parts[shard] = part

        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="deflate") as pool:
            for shard, tag in sorted(tags.items()):
                stored = self.ledger.bulk_part(year, shard) if tag else None
                part = decode_part(stored, tag, fingerprint) if stored is not None else None
                if part is not None and part.tag == tag and part.fingerprint == fingerprint:
                    parts[shard] = part
                    if digests is not None:
                        for fmt in FORMATS:
                            digests[fmt].update(inflate_part(part.data[fmt]))
                    continue
                lines = self.bulk.shard_lines(year, self.ledger.entries(year, shard))
                if digests is not None:
                    digests["ndjson"].update(lines.ndjson)
                    digests["csv"].update(lines.csv)
                while len(pending) >= PENDING:
                    complete(*pending.popleft())
                zipped = {
                    "ndjson": pool.submit(deflate_part, lines.ndjson),
                    "csv": pool.submit(deflate_part, lines.csv),
                }
                pending.append((shard, tag, lines, zipped))
            while pending:
                complete(*pending.popleft())
        ordered = [parts[s] for s in sorted(parts)]
        rows = sum(p.rows for p in ordered)
        if digests is not None:
            files_digest = {fmt: digests[fmt].value() for fmt in FORMATS}
            self.ledger.write_bulk_summary(
                year, {"signature": signature} | {fmt: asdict(files_digest[fmt]) for fmt in FORMATS}
            )
        else:
            assert known is not None  # digests are None exactly when the summary is known
            files_digest = known
        files = []
        head = deflate_part(header)
        for fmt in FORMATS:
            digest = files_digest[fmt]
            data = gzip_member(
                ([head] if fmt == "csv" else []) + [p.data[fmt] for p in ordered], digest.crc32, digest.size
            )
            files.append(BulkFile(bulk_key(year, fmt), data, rows, digest.size, digest.sha256))
        none = mart.profile_headlines(pa.array([], pa.string()), [])
        headlines = pa.concat_tables([p.headlines for p in ordered] or [none])
        return files, headlines
