"""Read a CMS QPP Experience public-use file into canonical text columns.

Why pyarrow and not pandas here: ``pyarrow.csv`` parses in C++ on all cores, reads only the
columns we ask for (``include_columns``) and keeps values as Arrow strings without creating a
Python object per cell. A national file (500k rows, 200+ columns) parses in a few seconds.

Columns are matched by normalised name (case, stray spaces, BOM), never by position. Every value
stays text exactly as published; ``validate`` decides what the text means.

Drift is loud, and nothing CMS published is dropped: a column the contract does not know (a new year's
column, a renamed one) is read too, verbatim, as ``unknown: <header>``. It reaches the private audit
record only (the documents are built by allow-list), and its name is reported (``unknown_columns``) on
stderr, in ``--json``, in the release's manifest entry and as the ``UnknownColumns`` metric.

File-level problems raise :class:`SourceFileError` with a one-line message, before anything is
written anywhere.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import stat
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from ..errors import SourceFileError
from ..text import printable
from .contract import Contract, Layout, load_contract, normalise_column_name
from .sniff import non_csv_kind

UNKNOWN_PREFIX = "unknown: "
LINE_COLUMN = "_line"
"""Record line of a row: the header is line 1 and the n-th record is line n + 1 (equal to the
physical line unless earlier values contain quoted line breaks)."""

_SNIFF_BYTES = 4096


@dataclass
class SourceTable:
    """The canonical view of one CMS file: one string column per canonical field, plus ``_line``."""

    performance_year: int
    layout: Layout
    table: pa.Table
    sha256: str
    size_bytes: int
    header: list[str]
    unknown_columns: list[str] = field(default_factory=list)
    absent_columns: list[str] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return int(self.table.num_rows)


MAX_COLUMNS = 1_000
"""Columns a file may have: the real ones have at most 212, and each column costs memory for every row."""
MAX_NAMED_UNKNOWN = 50
"""Unknown columns named in the output and the manifest; the audit record keeps every one of them."""


class HashedStream(io.RawIOBase):
    """A file read once, front to back, by the CSV parser: the SHA-256 and size of exactly the bytes it was given,
    its first ``MAX_HEADER_BYTES`` and its last byte, so what is recorded is what was parsed."""

    def __init__(self, raw: io.BufferedReader) -> None:
        self.raw, self.digest, self.size = raw, hashlib.sha256(), 0
        self.prefix, self.last = bytearray(), b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = self.raw.readinto(buffer)
        if count:
            view = memoryview(buffer)[:count]
            self.digest.update(view)
            if len(self.prefix) < MAX_HEADER_BYTES:
                self.prefix += view[: MAX_HEADER_BYTES - len(self.prefix)]
            self.size += count
            self.last = bytes(view[-1:])
        return count or 0

    def close(self) -> None:
        self.raw.close()
        super().close()


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


_HINTS = {"HTML page": " (an error page served in place of the data?)", "JSON document": " (an API error body?)"}


def sniff(head: bytes) -> None:
    """Reject bytes that are plainly not a CSV: compressed data, an HTML page, a JSON body."""
    if not head:
        raise SourceFileError("empty file: 0 bytes")
    kind = non_csv_kind(head)
    if kind:
        raise SourceFileError(f"{kind}, not a CSV file{_HINTS.get(kind, '')}")


def _check_complete(path: str | os.PathLike[str], size: int) -> None:
    with open(path, "rb") as fh:
        fh.seek(max(0, size - 1))
        last = fh.read(1)
    if last not in (b"\n", b"\r"):
        raise SourceFileError("truncated file: the last line has no line ending (download cut short?)")


MAX_HEADER_BYTES = 1 << 20  # a real header is about 3 KB


def read_header(path: str | os.PathLike[str]) -> list[str]:
    """The header line's names. Only the header's own bytes are decoded here, so a bad byte further on is blamed
    on its own line by the row reader, never on the header."""
    with open(path, "rb") as raw:
        line = raw.readline(MAX_HEADER_BYTES)
    if len(line) == MAX_HEADER_BYTES and not line.endswith(b"\n"):
        raise SourceFileError(f"malformed CSV header: no line break in the first {MAX_HEADER_BYTES:,} bytes")
    try:
        text = line.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SourceFileError(f"not UTF-8 text: invalid byte in the header at offset {exc.start}") from None
    try:
        header = next(csv.reader(io.StringIO(text, newline="")), None)
    except csv.Error as exc:
        raise SourceFileError(f"malformed CSV header: {exc}") from None
    if not header or all(not h.strip() for h in header):
        raise SourceFileError("empty file: no header line")
    return header


def first_bad_utf8_line(path: str | os.PathLike[str]) -> str:
    """Where the first invalid UTF-8 is: "on line N (byte offset M)" (looked for only once a read failed)."""
    offset = 0
    with open(path, "rb") as raw:
        for number, line in enumerate(raw, 1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as exc:
                return f"on line {number:,} (byte offset {offset + exc.start:,})"
            offset += len(line)
    return "in a data row"


def _detect_layout(contract: Contract, year: int, names: set[str]) -> Layout:
    expected = contract.layout_for_year(year)
    if expected.matches(names):
        return expected
    found = contract.detect_layouts(names)
    if found:
        raise SourceFileError(f"columns belong to the {found[0].label()} layout, not to performance year {year}")
    markers = sorted({c for lay in contract.layouts for c in lay.present})
    raise SourceFileError(
        "unrecognised column layout: none of the layout marker columns "
        + ", ".join(repr(m) for m in markers)
        + " found as expected (not a QPP Experience file?)"
    )


def read_source(
    path: str | os.PathLike[str],
    performance_year: int,
    contract: Contract | None = None,
    *,
    sha256: str | None = None,
) -> SourceTable:
    """Read ``path`` as the QPP Experience file of ``performance_year``.

    Raises :class:`SourceFileError` for an empty, non-CSV, truncated, malformed or
    wrong-layout file, or one missing a required column.
    """
    contract = contract or load_contract()
    info = _regular_file(path)
    size = info.st_size
    with open(path, "rb") as fh:
        prefix = fh.read(MAX_HEADER_BYTES)
    sniff(prefix[:_SNIFF_BYTES])
    _check_complete(path, size)
    header = read_header(path)
    if len(header) > MAX_COLUMNS:
        raise SourceFileError(
            f"{len(header):,} columns in the header: at most {MAX_COLUMNS:,} are read (CMS's files have at most 212)"
        )
    layout = _detect_layout(contract, performance_year, {normalise_column_name(h) for h in header})
    chosen, absent = _chosen_columns(contract, performance_year, header)
    named, verbatim = _unknown_columns(header, set(chosen.values()))
    table, parsed = _parse_body(path, len(header), {**chosen, **verbatim})
    if table.num_rows == 0:
        raise SourceFileError("no data rows: the file has a header only")
    # Absent optional fields are kept as all-null columns, so every PY has the same canonical set.
    for name in absent:
        table = table.append_column(name, pa.nulls(table.num_rows, pa.string()))
    lines = pa.array(np.arange(2, table.num_rows + 2, dtype=np.int64))
    table = table.append_column(LINE_COLUMN, lines)

    # What was checked (the first bytes, the header, the last line) is what was parsed, and the hash is of the
    # bytes parsed: a file rewritten in place meanwhile, even to the same size with its mtime put back, is refused.
    digest = parsed.digest.hexdigest()
    after = os.stat(path)
    if (
        (after.st_size, after.st_mtime_ns, after.st_ino) != (size, info.st_mtime_ns, info.st_ino)
        or parsed.size != size
        or bytes(parsed.prefix) != prefix[: len(parsed.prefix)]
        or parsed.last not in (b"\n", b"\r")
        or (sha256 is not None and sha256 != digest)
    ):
        raise SourceFileError(
            "the source file changed while it was read (it grew or was rewritten): refused; publish it complete"
        )
    return SourceTable(
        performance_year=performance_year,
        layout=layout,
        table=table,
        sha256=digest,
        size_bytes=size,
        header=header,
        unknown_columns=named,
        absent_columns=absent,
    )


def _regular_file(path: str | os.PathLike[str]) -> os.stat_result:
    """``path``'s status, if it is a regular file this process may read (a directory, a FIFO that would block or
    a device such as /dev/zero that never ends is refused by name)."""
    try:
        info = os.stat(path)
    except OSError as exc:
        raise SourceFileError(f"cannot read source file {os.fspath(path)!r}: {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        raise SourceFileError(f"cannot read source file {os.fspath(path)!r}: {kind}")
    if not os.access(path, os.R_OK):
        raise SourceFileError(f"cannot read source file {os.fspath(path)!r}: permission denied")
    return info


def _chosen_columns(contract: Contract, performance_year: int, header: list[str]) -> tuple[dict[str, int], list[str]]:
    """The header's column index of each canonical field the contract knows for the year, and the fields absent
    from the file; a duplicated column in use or a missing required one is refused by name."""
    position: dict[str, int] = {}
    duplicates: set[str] = set()
    for i, name in enumerate(normalise_column_name(h) for h in header):
        if name in position:
            duplicates.add(name)
        else:
            position[name] = i
    candidates = contract.candidate_columns(performance_year)
    chosen: dict[str, int] = {}
    absent: list[str] = []
    for canonical, names in candidates.items():
        hit = next((c for c in names if c in position), None)
        if hit is None:
            absent.append(canonical)
            continue
        if hit in duplicates:
            raise SourceFileError(f"duplicate column {hit!r} in the header: cannot tell which one to use")
        chosen[canonical] = position[hit]
    missing = [candidates[name][0] for name in contract.required_fields() if name in candidates and name not in chosen]
    if missing:
        raise SourceFileError("missing required column(s): " + ", ".join(repr(m) for m in missing))
    return chosen, absent


def _unknown_columns(header: list[str], used: set[int]) -> tuple[list[str], dict[str, int]]:
    """The columns no field maps: named for a person (at most MAX_NAMED_UNKNOWN, escaped), and kept verbatim in
    the audit record under their own header (``name -> column index``)."""
    unknown = [header[i].strip() for i in range(len(header)) if i not in used]
    named = [printable(name, 120) for name in unknown[:MAX_NAMED_UNKNOWN]]
    if len(unknown) > MAX_NAMED_UNKNOWN:
        named.append(f"... and {len(unknown) - MAX_NAMED_UNKNOWN:,} more")
    verbatim: dict[str, int] = {}
    for i in range(len(header)):
        if i not in used:
            name = UNKNOWN_PREFIX + header[i].strip()
            verbatim[name if name not in verbatim else f"{name} (column {i + 1})"] = i
    return named, verbatim


def _parse_body(path: str | os.PathLike[str], width: int, chosen: dict[str, int]) -> tuple[pa.Table, HashedStream]:
    """Parse the body. First without ``newlines_in_values`` (blocks are split at line breaks and parsed
    on all cores, about twice as fast); a quoted line break that straddles a block boundary then shows
    up as a malformed record or a parse error, and the file is parsed again allowing line breaks in
    values. A file that is still malformed is refused. The table comes with the stream it was parsed from:
    the SHA-256, size, first bytes and last byte of exactly those bytes."""
    try:
        return _parse_once(path, width, chosen, newlines_in_values=False)
    except SourceFileError:
        return _parse_once(path, width, chosen, newlines_in_values=True)


def _parse_once(
    path: str | os.PathLike[str], width: int, chosen: dict[str, int], *, newlines_in_values: bool
) -> tuple[pa.Table, HashedStream]:
    bad: list[tuple[int | None, int]] = []
    stream = HashedStream(open(path, "rb"))  # noqa: SIM115  (closed below, whatever the parse does)
    try:
        return _parse_stream(stream, path, width, chosen, newlines_in_values, bad), stream
    finally:
        stream.close()


def _parse_stream(
    stream: HashedStream,
    path: str | os.PathLike[str],
    width: int,
    chosen: dict[str, int],
    newlines_in_values: bool,
    bad: list[tuple[int | None, int]],
) -> pa.Table:

    def on_invalid(row: pacsv.InvalidRow) -> str:
        bad.append((row.number, row.actual_columns))
        return "skip"

    names = [f"c{i}" for i in range(width)]
    include = [f"c{i}" for i in sorted(chosen.values())]
    try:
        table = pacsv.read_csv(
            stream,
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1, block_size=8 << 20),
            parse_options=pacsv.ParseOptions(newlines_in_values=newlines_in_values, invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(
                include_columns=include,
                column_types={n: pa.string() for n in include},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid as exc:
        message = str(exc).splitlines()[0]
        if "UTF8" in message or "utf8" in message.lower():
            raise SourceFileError(f"not UTF-8 text: invalid bytes {first_bad_utf8_line(path)}") from None
        raise SourceFileError(f"malformed CSV: {message}") from None
    if bad:
        number, actual = bad[0]
        where = f"record {number}" if number is not None else "a record"
        raise SourceFileError(
            f"malformed CSV: {where} has {actual} fields where the header has {width}"
            + (f" ({len(bad)} such records)" if len(bad) > 1 else "")
        )
    by_index = {f"c{i}": canonical for canonical, i in chosen.items()}
    return table.rename_columns([by_index[n] for n in table.column_names])
