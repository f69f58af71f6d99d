"""Keep a local mirror of the mips-profiles documents with the bulk files and the change feed.

Standard library only: copy this file. The first run builds every document from the bulk files (one
request per performance year, not one per clinician); every later run reads the manifest and applies
the change objects newer than its marker, fetching only the documents they name.

    python sync_mirror.py https://mips.example.org mirror/

The mirror holds ``v1/npi/{npi}.json`` byte for byte as published, and ``.sync.json`` (the marker).

The origin is not trusted, whoever runs it (a compromised origin, a CDN serving the wrong bytes): what it
sends is checked before anything is written. An NPI is 10 digits with a valid check digit before a path is
built from it; bodies and their decompression are bounded; the change feed must move forward; a change
object's key is built here, never from the manifest's pattern; nothing is written or deleted outside
``MIRROR/v1/npi/``, and no symbolic link is followed there. Anything malformed stops the run with one line
``error: ...`` and exit status 1, the mirror as it was after the last change object applied.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import secrets
import stat
import sys
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections.abc import Iterator
from pathlib import Path

MARKER = ".sync.json"
MAX_JSON_BYTES = 16 << 20  # a manifest, a document or a change object (the real ones are KB)
MAX_BULK_BYTES = 2 << 30  # one year's NDJSON, decompressed (the national one is a few hundred MB)
MAX_CHANGES_PER_RUN = 100_000  # a mirror away for years walks a few hundred; more is a broken feed
_NPI = re.compile(r"[12][0-9]{9}")  # fullmatch: "$" would let a final newline through


class SyncError(Exception):
    """What the origin sent cannot be trusted, or the mirror cannot be written: one line, exit 1."""


def valid_npi(value: object) -> str:
    """``value`` if it is an NPI (10 digits, first 1 or 2, Luhn check digit with the 80840 prefix), else an error.

    >>> valid_npi("1376745471")
    '1376745471'
    """
    if not isinstance(value, str) or not _NPI.fullmatch(value):
        raise SyncError(f"not an NPI: {value!r:.40}")
    total = 24  # the prefix 80840, as the NPI standard adds it
    for i, ch in enumerate(reversed(value[:9])):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    if (10 - total % 10) % 10 != int(value[9]):
        raise SyncError(f"not an NPI (check digit): {value!r}")
    return value


class _SameOriginRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is followed only to the origin asked (scheme, host and port): a CDN's own redirects work, an
    origin that sends the mirror to another host is refused by name."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        asked, told = urllib.parse.urlsplit(req.full_url), urllib.parse.urlsplit(newurl)
        if (told.scheme, told.netloc) != (asked.scheme, asked.netloc):
            raise SyncError(
                f"{asked.path.lstrip('/')}: redirected to another origin ({told.scheme}://{told.netloc:.60}): refused"
            )
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = urllib.request.build_opener(_SameOriginRedirects)
# What a broken or hostile origin can make the HTTP client raise: one line each, never a traceback.
TRANSPORT_ERRORS = (urllib.error.URLError, OSError, http.client.HTTPException, ValueError)


def _said(exc: BaseException) -> str:
    """What a transport error says, on one line: control characters and non-ASCII escaped, at most 200."""
    return f"{type(exc).__name__}: " + str(exc)[:200].encode("unicode_escape").decode("ascii")


def _whole(response: object, received: int, key: str) -> None:
    """A body shorter than its Content-Length was cut short (the connection closed early): refused."""
    declared = response.headers.get("Content-Length")  # type: ignore[attr-defined]
    if declared and declared.isascii() and declared.isdigit() and received != int(declared):
        raise SyncError(f"{key}: {received:,} of {int(declared):,} bytes arrived: the answer was cut short")


def _open(base: str, key: str) -> object | None:
    """The response for ``key`` (None on 404); any other failure is one ``SyncError`` naming the key."""
    request = urllib.request.Request(f"{base.rstrip('/')}/{key}", headers={"Accept-Encoding": "gzip"})
    try:
        return _OPENER.open(request, timeout=60)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 404:
            return None
        raise SyncError(f"{key}: HTTP {exc.code}") from None
    except TRANSPORT_ERRORS as exc:
        raise SyncError(f"{key}: {_said(exc)}") from None


def _read_bounded(response: object, limit: int, what: str) -> bytes:
    body = response.read(limit + 1)  # type: ignore[attr-defined]
    if len(body) > limit:
        raise SyncError(f"{what}: more than {limit:,} bytes")
    return body


def _gunzip_bounded(body: bytes, limit: int, what: str) -> bytes:
    """gzip with a ceiling on what it inflates to (a small body must not ask for gigabytes)."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise SyncError(f"{what}: not valid gzip ({exc})") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise SyncError(f"{what}: inflates to more than {limit:,} bytes")
    return out


def fetch(base: str, key: str, limit: int | None = None) -> bytes | None:
    """The object at ``key``, decompressed if served gzip-encoded (bulk files are); None on 404. At most
    ``limit`` bytes, sent and inflated (``MAX_JSON_BYTES`` unless said)."""
    limit = MAX_JSON_BYTES if limit is None else limit
    response = _open(base, key)
    if response is None:
        return None
    try:
        with response:  # type: ignore[attr-defined]
            encoding = response.headers.get("Content-Encoding")  # type: ignore[attr-defined]
            body = _read_bounded(response, limit, key)
            _whole(response, len(body), key)
    except TRANSPORT_ERRORS as exc:
        raise SyncError(f"{key}: {_said(exc)}") from None
    if encoding == "gzip":
        return _gunzip_bounded(body, limit, key)
    if encoding not in (None, "", "identity"):
        raise SyncError(f"{key}: unexpected Content-Encoding {encoding!r:.40}")
    return body


MAX_LINE_BYTES = 1 << 20  # one entry of a bulk file (the real ones are under 2 KB)
CHUNK = 1 << 16


def fetch_lines(base: str, key: str, limit: int) -> Iterator[bytes] | None:
    """The lines of a (gzip-encoded) NDJSON object, inflated and split as they arrive, never held whole: at most
    ``limit`` bytes sent and inflated, each line at most ``MAX_LINE_BYTES``; a gzip stream must end with its
    trailer and be one member. None on 404."""
    response = _open(base, key)
    if response is None:
        return None
    encoding = response.headers.get("Content-Encoding")  # type: ignore[attr-defined]
    if encoding not in (None, "", "identity", "gzip"):
        response.close()  # type: ignore[attr-defined]
        raise SyncError(f"{key}: unexpected Content-Encoding {encoding!r:.40}")
    return _lines(response, key, limit, zlib.decompressobj(wbits=16 + zlib.MAX_WBITS) if encoding == "gzip" else None)


def _lines(response: object, key: str, limit: int, inflater: object | None) -> Iterator[bytes]:
    sent = inflated = 0
    pending = b""
    with response:  # type: ignore[attr-defined]
        while True:
            try:
                chunk = response.read(CHUNK)  # type: ignore[attr-defined]
            except TRANSPORT_ERRORS as exc:
                raise SyncError(f"{key}: {_said(exc)}") from None
            if not chunk:
                _whole(response, sent, key)
                break
            sent += len(chunk)
            if sent > limit:
                raise SyncError(f"{key}: more than {limit:,} bytes")
            for out in _inflate(inflater, chunk, key) if inflater is not None else (chunk,):
                inflated += len(out)
                if inflated > limit:
                    raise SyncError(f"{key}: inflates to more than {limit:,} bytes")
                lines = (pending + out).split(b"\n")
                pending = lines.pop()
                if len(pending) > MAX_LINE_BYTES:
                    raise SyncError(f"{key}: a line longer than {MAX_LINE_BYTES:,} bytes")
                yield from lines
        if inflater is not None:
            if not inflater.eof:  # type: ignore[attr-defined]
                raise SyncError(f"{key}: the gzip stream ends early (no trailer): not the whole file")
            if inflater.unused_data:  # type: ignore[attr-defined]
                raise SyncError(f"{key}: data after the gzip stream (a second member): refused")
    if pending:
        yield pending


def _inflate(inflater: object, chunk: bytes, key: str) -> Iterator[bytes]:
    """A chunk inflated at most ``CHUNK`` bytes at a time, so a small chunk never becomes a large buffer."""
    data = chunk
    while data:
        try:
            out = inflater.decompress(data, CHUNK)  # type: ignore[attr-defined]
        except zlib.error as exc:
            raise SyncError(f"{key}: not valid gzip ({exc})") from None
        data = inflater.unconsumed_tail  # type: ignore[attr-defined]
        if out:
            yield out
        if inflater.eof:  # type: ignore[attr-defined]
            return


def fetch_json(base: str, key: str) -> object | None:
    data = fetch(base, key)
    if data is None:
        return None
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:  # RecursionError: nesting deeper than the parser goes
        raise SyncError(f"{key}: not JSON ({str(exc)[:200]})") from None


class Mirror:
    """The mirror's directory: documents under ``v1/npi/`` only, written atomically, no symlink followed.

    Its directories are opened once, each relative to its parent and never through a link (``O_NOFOLLOW``), and
    every write, rename and delete goes relative to those handles: a link swapped in while the run waits on the
    origin redirects nothing, and :meth:`check_unchanged` fails the run by name when it finds one."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._handles: list[tuple[str, int, int | None]] = []  # (path shown, handle, parent handle)

    def prepare(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)  # the operator's own path
        self.top = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        self._handles.append((str(self.root), self.top, None))
        parent = self.top
        for name in ("v1", "npi"):
            shown = os.path.join(self._handles[-1][0], name)
            with contextlib.suppress(FileExistsError):
                os.mkdir(name, dir_fd=parent)
            try:
                handle = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
            except OSError:
                kind = "a symbolic link" if os.path.islink(shown) else "not a directory"
                raise SyncError(f"{shown} is {kind}: refused") from None
            self._handles.append((shown, handle, parent))
            parent = handle
        self.documents = parent

    def check_unchanged(self) -> None:
        """Each directory's path still leads to the directory opened (checked again after the writes)."""
        for shown, handle, parent in self._handles[1:]:
            opened = os.fstat(handle)
            try:
                now = os.stat(os.path.basename(shown), dir_fd=parent, follow_symlinks=False)
            except FileNotFoundError:
                now = None
            if now is None or (now.st_dev, now.st_ino) != (opened.st_dev, opened.st_ino):
                raise SyncError(f"{shown} was replaced during the run (a link or another directory): refused")

    def close(self) -> None:
        for _, handle, _ in self._handles:
            os.close(handle)
        self._handles = []

    def name(self, npi: str) -> str:
        return f"{valid_npi(npi)}.json"

    def write(self, directory: int, name: str, data: bytes) -> None:
        tmp = f".tmp-{name}.{secrets.token_hex(8)}"  # unique, created exclusively, never through a link
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=directory)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, name, src_dir_fd=directory, dst_dir_fd=directory)  # replaces a link, not its target
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp, dir_fd=directory)
            raise

    def write_document(self, npi: str, data: bytes) -> None:
        self.write(self.documents, self.name(npi), data)

    def delete(self, npi: str) -> None:
        with contextlib.suppress(FileNotFoundError):  # unlink removes a link itself, never what it points at
            os.unlink(self.name(npi), dir_fd=self.documents)

    def marker(self) -> int | None:
        shown = self.root / MARKER
        try:  # never through a link, and a FIFO is refused rather than waited on
            fd = os.open(MARKER, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=self.top)
        except FileNotFoundError:
            return None
        except OSError:
            raise SyncError(f"{shown} is a symbolic link: refused") from None
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise SyncError(f"{shown} is not a regular file: refused")
            text = fh.read(4096)
        try:
            sequence = json.loads(text)["sequence"]
        except (ValueError, KeyError, TypeError) as exc:
            raise SyncError(f"{shown}: not a marker this script wrote ({exc})") from None
        return _sequence(sequence, "the marker")

    def set_marker(self, sequence: int) -> None:
        self.check_unchanged()  # before the marker says the documents are there
        self.write(self.top, MARKER, json.dumps({"sequence": sequence}).encode())


def _sequence(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise SyncError(f"{what} is not a sequence number: {value!r:.40}")
    return value


def _npis(change: dict, field: str, sequence: int) -> list[str]:
    values = change.get(field)
    if not isinstance(values, list):
        raise SyncError(f"change object {sequence}: {field!r} is not a list")
    return [valid_npi(v) for v in values]


def document(manifest: dict, npi: str, history: list[dict]) -> bytes:
    """A document as the publisher writes it: compact JSON, history newest first."""
    history = sorted(history, key=lambda e: -e["performance_year"])
    body = {
        "schema_version": manifest["schema_version"],
        "npi": npi,
        "latest": history[0],
        "history": history,
        "source": manifest["documents"]["source"],
    }
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def bootstrap(base: str, mirror: Mirror, manifest: dict) -> int:
    entries: dict[str, list[dict]] = {}
    for release in manifest["releases"]:
        year = release.get("performance_year")
        key = f"v1/bulk/{_sequence(year, 'a performance year')}/scores.ndjson"
        lines = fetch_lines(base, key, limit=MAX_BULK_BYTES)
        if lines is None:
            raise SyncError(f"bulk file of PY{year} is missing")
        for number, line in enumerate(lines, 1):
            try:
                entry = json.loads(line)
            except (ValueError, RecursionError):
                raise SyncError(f"bulk file of PY{year}, line {number}: not JSON") from None
            if not isinstance(entry, dict) or not isinstance(entry.get("performance_year"), int):
                raise SyncError(f"bulk file of PY{year}, line {number}: not an entry")
            entries.setdefault(valid_npi(entry.pop("npi", None)), []).append(entry)
    for npi, history in entries.items():
        mirror.write_document(npi, document(manifest, npi, history))
    return len(entries)


def apply(base: str, mirror: Mirror, change: dict, sequence: int) -> None:
    for npi in _npis(change, "added", sequence) + _npis(change, "changed", sequence):
        data = fetch(base, f"v1/npi/{npi}.json")
        if data is None:  # removed again by a later publish: that change object says so too
            mirror.delete(npi)
            continue
        try:
            published = json.loads(data)
        except ValueError:
            raise SyncError(f"v1/npi/{npi}.json: not JSON") from None
        if not isinstance(published, dict) or published.get("npi") != npi:
            raise SyncError(f"v1/npi/{npi}.json: not the document of NPI {npi}")
        mirror.write_document(npi, data)
    for npi in _npis(change, "removed", sequence):
        mirror.delete(npi)


def sync(base: str, root: Path) -> dict:
    """Bring the mirror at ``root`` up to the published state; returns what was done."""
    manifest = fetch_json(base, "v1/manifest.json")
    if not isinstance(manifest, dict):
        raise SyncError(f"{base}: no manifest")
    feed = manifest.get("changes")
    releases = manifest.get("releases")
    if not isinstance(feed, dict) or not isinstance(releases, list) or not all(isinstance(r, dict) for r in releases):
        raise SyncError("the manifest has no change feed or no list of releases")
    latest = _sequence(feed.get("latest"), "the manifest's changes.latest")
    documents = manifest.get("documents")
    if not isinstance(manifest.get("schema_version"), int) or not (
        isinstance(documents, dict) and isinstance(documents.get("source"), dict)
    ):
        raise SyncError("the manifest has no schema_version or no documents.source")
    mirror = Mirror(root)
    mirror.prepare()
    try:
        return _sync_into(base, mirror, manifest, latest)
    finally:
        mirror.close()


def _sync_into(base: str, mirror: Mirror, manifest: dict, latest: int) -> dict:
    marker = mirror.marker()
    if marker is None:
        documents = bootstrap(base, mirror, manifest)
        mirror.set_marker(latest)
        return {"bootstrapped": documents, "sequence": latest}
    if latest < marker:
        raise SyncError(f"the change feed went backwards: the origin says {latest}, this mirror is at {marker}")
    if latest - marker > MAX_CHANGES_PER_RUN:
        raise SyncError(f"the change feed jumped from {marker} to {latest}: more than {MAX_CHANGES_PER_RUN:,} changes")
    applied = []
    for sequence in range(marker + 1, latest + 1):
        change = fetch_json(base, f"v1/changes/{sequence:08d}.json")  # built here, not from the manifest
        if change is None:
            raise SyncError(f"change object {sequence} is missing")
        if not isinstance(change, dict) or change.get("sequence") != sequence:
            raise SyncError(f"change object {sequence}: not the change object of sequence {sequence}")
        apply(base, mirror, change, sequence)
        mirror.set_marker(sequence)  # after each: resumable
        applied.append(sequence)
    return {"applied": applied, "sequence": latest}


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: sync_mirror.py BASE_URL MIRROR_DIR", file=sys.stderr)
        return 2
    try:
        print(json.dumps(sync(argv[1], Path(argv[2]))))
    except SyncError as exc:
        print(f"error: {exc}".encode("ascii", "backslashreplace").decode(), file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: the mirror cannot be written: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
