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
from urllib.parse import unquote, urlsplit

from ..core.documents import CONTENT_TYPE, NOT_FOUND, dumps
from ..errors import ConfigurationError
from ..keys import MANIFEST_KEY, NOT_FOUND_KEY, PUBLIC_ROOT, cache_control_for, check_key
from ..publishing.bulk import stored_headers
from ..text import printable, whole_number

GZIP_MIN_BYTES = 1000
_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$")
NOT_FOUND_CACHE = "public, max-age=300"  # the distribution's ErrorCachingMinTTL
CORS_MAX_AGE = "600"


def _etag(data: bytes) -> str:
    return '"' + hashlib.md5(data, usedforsecurity=False).hexdigest() + '"'


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
MAX_CONNECTIONS = 64
SLOT_WAIT_SECONDS = 2


class TreeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a CDN; every response states its length
    timeout = READ_TIMEOUT_SECONDS  # an idle or half-open connection is closed, not kept for ever
    root: Path
    cors_origins: frozenset[str]
    quiet: bool

    def handle_one_request(self) -> None:
        """A request (line and headers) must arrive whole within READ_TIMEOUT_SECONDS: a client dripping one
        byte at a time is cut off then, instead of holding a connection (and a thread) for ever."""
        watchdog = threading.Timer(READ_TIMEOUT_SECONDS, self._cut_off)
        watchdog.daemon = True
        self._watchdog = watchdog
        watchdog.start()
        try:
            super().handle_one_request()
        finally:
            watchdog.cancel()

    def _cut_off(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def parse_request(self) -> bool:
        """http.server never reads a request body; left on a keep-alive connection it would be parsed as the
        next request (smuggling). Read and discard a small declared body; close on anything else."""
        ok = super().parse_request()
        self._watchdog.cancel()  # the request arrived in time: answering it is not limited
        if not ok:
            return False
        length = self.headers.get("Content-Length")
        chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        size = whole_number(length)
        if chunked or (length is not None and (size is None or size > MAX_DISCARDED_BODY)):
            self.close_connection = True
        elif size:
            self.rfile.read(size)
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
        data = self._read(asked) if asked else None
        status = HTTPStatus.OK
        if asked is None or data is None:
            status, key = HTTPStatus.NOT_FOUND, NOT_FOUND_KEY
            data = self._read(NOT_FOUND_KEY) or dumps(NOT_FOUND)
        else:
            key = asked
        content_type = (
            CONTENT_TYPE if key.endswith(".json") else (mimetypes.guess_type(key)[0] or "application/octet-stream")
        )
        etag = _etag(data)
        encoded = data
        stored = stored_headers(key) if status == HTTPStatus.OK else None
        if stored:  # a bulk file is stored gzip-compressed and served as stored, as S3 and CloudFront do
            content_type, gzipped = stored[0], True
        else:
            gzipped = len(data) >= GZIP_MIN_BYTES and _accepts_gzip(self.headers.get("Accept-Encoding", ""))
            if gzipped:
                encoded = _gzip(data)
                etag = "W/" + etag
        if status == HTTPStatus.OK and _etag_matches(self.headers.get("If-None-Match", ""), etag):
            status, encoded = HTTPStatus.NOT_MODIFIED, b""

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
            self.send_header("Content-Length", str(len(encoded)))
        self.end_headers()
        if body and encoded:
            self.wfile.write(encoded)

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

    def _read(self, key: str) -> bytes | None:
        try:
            path = (self.root / key).resolve()
            if not path.is_relative_to(self.root) or not path.is_file():
                return None
            return path.read_bytes()
        except (OSError, RuntimeError, ValueError):  # a symlink loop, a name the OS refuses: not published
            return None

    def version_string(self) -> str:
        return "mips-profiles-serve"

    def log_message(self, format: str, *args: object) -> None:
        if not self.quiet:
            # the request line is the client's text: escaped, so it cannot rewrite the operator's terminal
            sys.stderr.write(f"{self.address_string()} {printable(format % args, 2000)}\n")


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
