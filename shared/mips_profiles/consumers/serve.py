"""``mips-profiles serve``: a local stand-in for the CDN over a published tree.

It answers the way the CloudFront distribution in ``template.yaml`` does, so a web team can build
against it: the object's ``Content-Type`` and ``Cache-Control`` (the same rule the publisher stores
on S3 objects), a strong ``ETag`` (MD5 of the bytes, as S3 gives for a single-part upload) with
``If-None-Match`` -> 304, gzip when the client asks and the body is 1,000 bytes or more (CloudFront's
lower bound; the ETag turns weak, as CloudFront makes it), CORS for the configured origins
(``GET, HEAD, OPTIONS``, ``ETag`` exposed), ``X-Content-Type-Options: nosniff``, and for any key
that is not there a 404 carrying ``v1/not-found.json`` (the distribution's custom error response).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import mimetypes
import os
import re
import socket
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from ..core.documents import CONTENT_TYPE, NOT_FOUND, dumps
from ..errors import ConfigurationError
from ..fs import DIRECTORY_FLAGS, open_regular
from ..keys import MANIFEST_KEY, NOT_FOUND_KEY, PUBLIC_ROOT, cache_control_for, check_key
from ..publishing.bulk import stored_headers
from ..text import printable, whole_number

GZIP_MIN_BYTES = 1000
_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$")
NOT_FOUND_CACHE = "public, max-age=300"  # the distribution's ErrorCachingMinTTL
CORS_MAX_AGE = "600"


def _etag(data: bytes) -> str:
    return '"' + hashlib.md5(data, usedforsecurity=False).hexdigest() + '"'


def _etag_of_file(fh: Any) -> str:
    """The ETag of an open file's bytes, read in blocks."""
    digest = hashlib.md5(usedforsecurity=False)
    while block := fh.read(1 << 20):
        digest.update(block)
    return '"' + digest.hexdigest() + '"'


def _content_type(key: str) -> str:
    return CONTENT_TYPE if key.endswith(".json") else (mimetypes.guess_type(key)[0] or "application/octet-stream")


def _etag_matches(header: str, etag: str) -> bool:
    """Weak comparison, as If-None-Match requires: ``W/"x"`` matches ``"x"``; ``*`` matches anything."""
    opaque = etag.removeprefix("W/")
    for candidate in (c.strip() for c in header.split(",")):
        if candidate == "*" or candidate.removeprefix("W/") == opaque:
            return True
    return False


def _accepts_gzip(header: str) -> bool:
    for part in header.split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip().lower() in ("gzip", "*"):
            q = params.strip()
            if q.startswith("q="):
                try:
                    return float(q[2:]) > 0
                except ValueError:
                    return False
            return True
    return False


ALLOWED_REQUEST_HEADERS = "If-None-Match, Accept-Encoding"  # fixed: never reflect what the client sent
MAX_PATH_BYTES = 1024
MAX_DISCARDED_BODY = 64 * 1024
READ_TIMEOUT_SECONDS = 10
STREAM_MIN_BYTES = 1 << 20  # a body this large is sent from disk in blocks, never held whole
MIN_SEND_RATE = 64 * 1024  # bytes a second a reader must take: a response's deadline grows with its size
MAX_CONNECTIONS = 64
SLOT_WAIT_SECONDS = 2


class TreeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a CDN; every response states its length
    timeout = READ_TIMEOUT_SECONDS  # an idle or half-open connection is closed, not kept for ever
    root: Path
    cors_origins: frozenset[str]
    quiet: bool

    def handle_one_request(self) -> None:
        """A request (line, headers and any body) must arrive whole within READ_TIMEOUT_SECONDS, and its response
        be taken within that plus its size at MIN_SEND_RATE: a client dripping one byte at a time, or reading one,
        is cut off then, instead of holding a connection (and a thread) for ever."""
        self._watchdog: threading.Timer | None = None
        self._arm(READ_TIMEOUT_SECONDS)
        try:
            super().handle_one_request()
        except OSError:  # the client went away or was cut off: nothing to answer, nothing to log
            self.close_connection = True
        finally:
            self._arm(None)

    def _arm(self, seconds: float | None) -> None:
        """The deadline of what is left of this request: ``seconds`` from now (None: none, the request is done)."""
        if self._watchdog is not None:
            self._watchdog.cancel()
        self._watchdog = None
        if seconds is not None:
            self._watchdog = threading.Timer(seconds, self._cut_off)
            self._watchdog.daemon = True
            self._watchdog.start()

    def _cut_off(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def parse_request(self) -> bool:
        """http.server never reads a request body; left on a keep-alive connection it would be parsed as the
        next request (smuggling). Read and discard a small declared body (within the request's deadline);
        close on anything else."""
        if not super().parse_request():
            return False
        length = self.headers.get("Content-Length")
        chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        size = whole_number(length)
        if chunked or (length is not None and (size is None or size > MAX_DISCARDED_BODY)):
            self.close_connection = True
        elif size and len(self.rfile.read(size)) < size:  # cut off at the deadline, or the client went away
            self.close_connection = True
            return False
        return True

    # -- HTTP verbs -----------------------------------------------------------------------------
    def do_GET(self) -> None:
        self._respond(body=True)

    def do_HEAD(self) -> None:
        self._respond(body=False)

    def do_OPTIONS(self) -> None:
        origin = self.headers.get("Origin")
        self.send_response(HTTPStatus.NO_CONTENT if self._origin_allowed(origin) else HTTPStatus.FORBIDDEN)
        if self._origin_allowed(origin):
            self._cors_headers(origin)
            self.send_header("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS")
            self.send_header("Access-Control-Allow-Headers", ALLOWED_REQUEST_HEADERS)
            self.send_header("Access-Control-Max-Age", CORS_MAX_AGE)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _method_not_allowed(self) -> None:
        self.close_connection = self.close_connection or bool(self.headers.get("Transfer-Encoding"))
        self.send_response(HTTPStatus.METHOD_NOT_ALLOWED)
        self.send_header("Allow", "GET, HEAD, OPTIONS")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def __getattr__(self, name: str) -> Callable[[], None]:
        """Any other method (POST, PUT, TRACE, QUERY...) is answered 405, not http.server's 501."""
        if name.startswith("do_"):
            return self._method_not_allowed
        raise AttributeError(name)

    # -- responses ------------------------------------------------------------------------------
    def _respond(self, *, body: bool) -> None:
        asked = self._key()
        found = open_published(self.root, asked) if asked else None
        if found is not None and found[1] > STREAM_MIN_BYTES:
            self._respond_from_disk(asked or "", *found, body=body)
            return
        data = read_whole(found) if found else None
        status = HTTPStatus.OK
        if asked is None or data is None:
            status, key = HTTPStatus.NOT_FOUND, NOT_FOUND_KEY
            not_found = open_published(self.root, NOT_FOUND_KEY)
            data = (read_whole(not_found) if not_found else None) or dumps(NOT_FOUND)
        else:
            key = asked
        etag = _etag(data)
        encoded = data
        stored = stored_headers(key) if status == HTTPStatus.OK else None
        content_type = _content_type(key)
        if stored:  # a bulk file is stored gzip-compressed and served as stored, as S3 and CloudFront do
            content_type, gzipped = stored[0], True
        else:
            gzipped = len(data) >= GZIP_MIN_BYTES and _accepts_gzip(self.headers.get("Accept-Encoding", ""))
            if gzipped:
                encoded = _gzip(data)
                etag = "W/" + etag
        if status == HTTPStatus.OK and _etag_matches(self.headers.get("If-None-Match", ""), etag):
            status, encoded = HTTPStatus.NOT_MODIFIED, b""
        self._head(status, key, etag, content_type, gzipped, len(encoded))
        if body and encoded:
            self._arm(READ_TIMEOUT_SECONDS + len(encoded) / MIN_SEND_RATE)
            self.wfile.write(encoded)

    def _respond_from_disk(self, key: str, fd: int, size: int, *, body: bool) -> None:
        """A large object, sent from its open file in blocks (never held whole), as stored: no compression on the
        fly (CloudFront compresses up to 10 MB; the tree's files this large are the bulk files, stored gzip)."""
        with os.fdopen(fd, "rb") as fh:
            etag = _etag_of_file(fh)
            stored = stored_headers(key)
            content_type, gzipped = (stored[0], True) if stored else (_content_type(key), False)
            if _etag_matches(self.headers.get("If-None-Match", ""), etag):
                self._head(HTTPStatus.NOT_MODIFIED, key, etag, content_type, gzipped, 0)
                return
            self._head(HTTPStatus.OK, key, etag, content_type, gzipped, size)
            if not body:
                return
            self._arm(READ_TIMEOUT_SECONDS + size / MIN_SEND_RATE)
            fh.seek(0)
            sent = 0
            while sent < size and (block := fh.read(min(1 << 18, size - sent))):
                self.wfile.write(block)
                sent += len(block)
            if sent < size:  # the file shrank meanwhile: the length promised cannot be kept
                self.close_connection = True

    def _head(self, status: HTTPStatus, key: str, etag: str, content_type: str, gzipped: bool, length: int) -> None:
        self.send_response(status)
        origin = self.headers.get("Origin")
        if self._origin_allowed(origin):
            self._cors_headers(origin)
        self.send_header("Cache-Control", cache_control_for(key) if status != HTTPStatus.NOT_FOUND else NOT_FOUND_CACHE)
        self.send_header("ETag", etag)
        self.send_header("Vary", "Origin, Accept-Encoding")
        self.send_header("X-Content-Type-Options", "nosniff")
        if status != HTTPStatus.NOT_MODIFIED:
            self.send_header("Content-Type", content_type)
            if gzipped:
                self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(length))
        self.end_headers()

    def _cors_headers(self, origin: str | None) -> None:
        self.send_header("Access-Control-Allow-Origin", "*" if "*" in self.cors_origins else str(origin))
        self.send_header("Access-Control-Expose-Headers", "ETag")

    def _origin_allowed(self, origin: str | None) -> bool:
        return bool(origin) and ("*" in self.cors_origins or origin in self.cors_origins)

    def _key(self) -> str | None:
        """The object key of a request, or None (404): only ``v1/`` is served, as CloudFront serves it; no
        NUL, no over-long path or segment, nothing that is not a safe key."""
        if len(self.path) > MAX_PATH_BYTES:
            return None
        path = unquote(urlsplit(self.path).path).lstrip("/")
        if "\x00" in path or not path.startswith(PUBLIC_ROOT) or any(len(p) > 255 for p in path.split("/")):
            return None
        try:
            return check_key(path)
        except ValueError:
            return None

    def version_string(self) -> str:
        return "mips-profiles-serve"

    def log_message(self, format: str, *args: object) -> None:
        if not self.quiet:
            # the request line is the client's text: escaped, so it cannot rewrite the operator's terminal
            sys.stderr.write(f"{self.address_string()} {printable(format % args, 2000)}\n")


def open_published(root: Path, key: str) -> tuple[int, int] | None:
    """The open file of ``key`` and its size, or None (404): each directory opened relative to the last and
    never through a link, the file a regular one opened without following a link, so a link anywhere in the
    tree (to a file outside ``v1/``, to a secret beside the tree, in a loop) is not served."""
    try:
        directory = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        *parents, name = key.split("/")
        for part in parents:
            below = os.open(part, DIRECTORY_FLAGS, dir_fd=directory)
            os.close(directory)
            directory = below
        fd = open_regular(directory, name)
    except (OSError, ValueError):  # missing, a link, a FIFO, a name the OS refuses: not published
        return None
    finally:
        os.close(directory)
    return fd, os.fstat(fd).st_size


def read_whole(found: tuple[int, int]) -> bytes | None:
    with os.fdopen(found[0], "rb") as fh:
        try:
            return fh.read()
        except OSError:
            return None


class _BoundedServer(ThreadingHTTPServer):
    """At most MAX_CONNECTIONS connections at once; one more is closed at once instead of taking a thread."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)

    def process_request(self, request: socket.socket | tuple[bytes, socket.socket], client_address: object) -> None:
        if not self._slots.acquire(timeout=SLOT_WAIT_SECONDS):  # a slot frees within a request's deadline
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(
        self, request: socket.socket | tuple[bytes, socket.socket], client_address: object
    ) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


GZIP_CACHE_BYTES = 64 << 20  # the compressed bodies kept, in all
GZIP_CACHE_MAX_ITEM = 4 << 20  # a body larger than this is compressed each time, never kept


class _GzipCache:
    """Compressed bodies by their bytes' digest, least recently used out first, bounded in bytes (a client
    asking for every document of a national tree must not grow the server without end)."""

    def __init__(self, capacity: int = GZIP_CACHE_BYTES) -> None:
        self.capacity = capacity
        self.size = 0
        self._items: OrderedDict[bytes, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, data: bytes) -> bytes:
        key = hashlib.sha256(data).digest()
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
                return hit
        encoded = gzip.compress(data, compresslevel=6, mtime=0)
        if len(encoded) <= GZIP_CACHE_MAX_ITEM:
            with self._lock:
                if key not in self._items:
                    self._items[key] = encoded
                    self.size += len(encoded)
                while self.size > self.capacity:
                    _, dropped = self._items.popitem(last=False)
                    self.size -= len(dropped)
        return encoded


_gzip = _GzipCache()


def make_server(
    root: str | os.PathLike[str],
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    cors_origins: Iterable[str] = (),
    quiet: bool = False,
) -> ThreadingHTTPServer:
    """A server over a published tree (not started). Refuses a directory that holds no tree."""
    origins = [o.rstrip("/") for o in cors_origins]
    bad = [o for o in origins if o != "*" and (not _ORIGIN.fullmatch(o) or o != o.strip())]
    if bad:
        raise ConfigurationError(f"--cors-origin {bad[0]!r} is not an origin (scheme://host[:port], or *)")
    tree = Path(root).resolve()
    if not (tree / MANIFEST_KEY).is_file():
        raise ConfigurationError(f"{root}: not a published tree (no {MANIFEST_KEY}); publish or run the demo first")
    handler = type(
        "BoundTreeHandler", (TreeHandler,), {"root": tree, "cors_origins": frozenset(origins), "quiet": quiet}
    )
    try:
        server = _BoundedServer((host, port), handler)
    except OSError as exc:
        raise ConfigurationError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    server.daemon_threads = True
    return server
