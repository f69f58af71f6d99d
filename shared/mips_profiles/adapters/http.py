"""HTTP source adapter: downloads a production job can trust, on the standard library only
(the checker Lambda must cold-start without heavy imports).

- streaming to a file with SHA-256 computed on the way (one copy of the bytes, on disk);
- a descriptive User-Agent, connect/read timeouts;
- retries with exponential backoff on 5xx, 429 and connection errors, honouring ``Retry-After``;
- conditional GET (``If-None-Match`` / ``If-Modified-Since``) when validators are known: 304 -> not modified;
- rejection of an HTML or JSON error body served with status 200, of a body shorter or longer than
  ``Content-Length``, and of a CSV whose last line is cut short;
- a URL policy applied to the first URL and to every redirect hop (:class:`UrlPolicy`): ``https`` only,
  to the CMS hosts by default (``http://`` CMS URLs from the catalogs are upgraded), no credentials in
  URLs, and plain ``http`` to loopback only when a test or the demo says so; nothing else is opened
  (no ``file:``, ``ftp:`` or ``data:``, no instance-metadata address);
- the standard proxy variables (``HTTPS_PROXY``, ``HTTP_PROXY``, ``NO_PROXY``), read when the client is made;
  the URL policy still applies to the target, and a failure through a proxy names it;
- every retry logged (``logging``, logger ``mips_profiles.http``: its reason and wait) and recorded in
  :attr:`HttpClient.retry_log` for the caller's metrics;
- size limits (:class:`SizeLimits`: a catalog, a metastore item, a data file; a too-large
  ``Content-Length`` is refused before reading) and an overall deadline per request, so neither an
  endless body nor a 1 byte/s drip can hold the run.

A failed download removes its partial file and raises :class:`DownloadError`; nothing else changes.
Every failure of the transport (refused URL, garbage status line, reset, timeout) is a DownloadError,
so the caller can make it that year's failure.
"""

from __future__ import annotations

import contextlib
import dataclasses
import email.utils
import hashlib
import http.client
import ipaddress
import json
import logging
import os
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .. import __version__
from ..core.sniff import non_csv_kind
from ..errors import BodyCut, DownloadError, MipsProfilesError
from ..ports import NO_PROGRESS, Progress
from ..text import printable, whole_number

log = logging.getLogger(__name__)

USER_AGENT = (
    f"mips-profiles/{__version__} (CMS MIPS public-data ingester; +https://github.com/mips-profiles/mips-profiles)"
)
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 60.0
    timeout: float = 60.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_delay)
        return min(float(self.base_delay * 2 ** (attempt - 1)), self.max_delay)


@dataclass
class Download:
    url: str
    path: str | None  # None when not modified
    sha256: str | None
    size: int
    not_modified: bool = False
    etag: str | None = None
    last_modified: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def file(self) -> tuple[str, str]:
        """(local path, SHA-256) of a body that was downloaded; a not-modified answer has neither."""
        if self.path is None or self.sha256 is None:
            raise MipsProfilesError(f"{self.url}: no downloaded file (the server answered not modified)")
        return self.path, self.sha256


DEFAULT_ALLOWED_HOSTS = ("cms.gov",)
"""Hosts a download may come from, each with its subdomains (data.cms.gov)."""


@dataclass(frozen=True)
class UrlPolicy:
    allowed_hosts: tuple[str, ...] = DEFAULT_ALLOWED_HOSTS
    allow_loopback_http: bool = False  # tests and the demo only: plain http to 127.0.0.0/8, ::1, localhost

    @classmethod
    def allowing(cls, extra_hosts: tuple[str, ...] = (), *, loopback_http: bool = False) -> UrlPolicy:
        """CMS's hosts and ``extra_hosts`` (``settings.NetworkSettings`` parses them from the environment)."""
        return cls(DEFAULT_ALLOWED_HOSTS + tuple(h.lower() for h in extra_hosts), loopback_http)

    def check(self, url: str) -> str:
        """The URL to open (CMS ``http`` upgraded to ``https``), or DownloadError naming why it is refused."""
        url = normalise_url(url)
        if any(ord(ch) <= 32 or ord(ch) == 127 for ch in url) or not url.isascii():
            # http.client would refuse to send it on every attempt: refused once, here, not retried
            raise DownloadError(f"refused URL {printable(repr(url), 200)}: spaces, control or non-ASCII characters")
        try:
            parts = urllib.parse.urlsplit(url)
            host = (parts.hostname or "").lower()
            parts.port  # noqa: B018 (a malformed port raises here)
        except ValueError as exc:
            raise DownloadError(f"refused URL {url!r}: {exc}") from None
        if parts.scheme not in ("https", "http"):
            raise DownloadError(f"refused URL {url!r}: only https is fetched, not {parts.scheme or 'no scheme'!r}")
        if not host:
            raise DownloadError(f"refused URL {url!r}: no host")
        if "@" in parts.netloc:
            raise DownloadError(f"refused URL {url!r}: credentials in a URL")
        if self.allow_loopback_http and _is_loopback(host):
            return url
        if parts.scheme != "https":
            raise DownloadError(f"refused URL {url!r}: only https is fetched")
        if not any(host == h or host.endswith("." + h) for h in self.allowed_hosts):
            raise DownloadError(
                f"refused URL {url!r}: host {host!r} is not an allowed source ({', '.join(self.allowed_hosts)})"
            )
        return url


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


MiB = 1 << 20


@dataclass(frozen=True)
class SizeLimits:
    """Upper bounds from the real sizes (the DCAT catalog is tens of MB, a metastore item a few KB, a year's
    QPP file about 300 MB, the PDC file about 40 MB), with room to grow; each configurable. What a catalog takes
    once parsed follows its shape, not its length (5 times its bytes for a real one, 25 for one of empty objects):
    :func:`parsed_size_bound` is checked against :func:`parse_budget` before parsing, so a catalog within this
    limit that would not fit the checker Lambda's 512 MB is refused by name (``tests/integration/test_bounds.py``
    measures the checker's code path at this limit, for the real shape and the worst ones)."""

    catalog_bytes: int = 48 * MiB
    item_bytes: int = 4 * MiB
    file_bytes: int = 2048 * MiB
    json_seconds: float = 300.0
    file_seconds: float = 900.0
    memory_bytes: float = 0  # the process's memory where it has a fixed one (a Lambda's); 0: not known

    def overridden(self, values: Mapping[str, float]) -> SizeLimits:
        """These limits with ``values`` in place of the named ones (``settings.NetworkSettings.limits``)."""
        unknown = sorted(set(values) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise ValueError(f"no size limit named {unknown[0]!r}")

        def value(name: str) -> float:
            return values.get(name, getattr(self, name))

        return SizeLimits(
            int(value("catalog_bytes")),
            int(value("item_bytes")),
            int(value("file_bytes")),
            float(value("json_seconds")),
            float(value("file_seconds")),
            float(value("memory_bytes")),
        )


# What json.loads makes of a document, bounded from counts of its tokens before it is parsed (bytes.count runs at
# C speed): every object or array as at most CONTAINER_COST bytes, every value (a comma or colon begins one) as at
# most VALUE_COST, plus the text and the strings' characters. Measured per shape (tests/integration/
# test_bounds.py): empty objects take 73 bytes a container, `[[]]` 76, `{"a":{}}` 128 for two containers and two
# values, two-character strings 60 a value, floats 33; a real catalog's shape about 5 times its bytes.
CONTAINER_COST, VALUE_COST = 100, 64
LAMBDA_HEADROOM = 0.85  # of the function's memory, the rest left for the runtime's own growth
PARSE_BUDGET_OUTSIDE_LAMBDA = 1 << 30


def parsed_size_bound(body: bytes | bytearray) -> int:
    """An upper bound of the bytes of Python objects ``json.loads`` builds from ``body`` (a catalog of empty
    objects takes about 25 times its bytes, a real one about 5: the bound follows the shape, not the length)."""
    containers = body.count(b"{") + body.count(b"[")
    values = body.count(b",") + body.count(b":") + 1
    return CONTAINER_COST * containers + VALUE_COST * values + 2 * len(body)


def parse_budget(memory_bytes: float) -> int:
    """The bytes a JSON parse may take here: in Lambda, the function's memory (``SizeLimits.memory_bytes``, from
    ``AWS_LAMBDA_FUNCTION_MEMORY_SIZE``) less headroom and less what this process holds now; elsewhere 1 GiB."""
    if not memory_bytes:
        return PARSE_BUDGET_OUTSIDE_LAMBDA
    held = 0
    with contextlib.suppress(OSError, StopIteration, ValueError), open("/proc/self/status", encoding="ascii") as status:
        held = int(next(line for line in status if line.startswith("VmRSS:")).split()[1]) * 1024
    return int(memory_bytes * LAMBDA_HEADROOM) - held


def _parse_json(text: str, ctype: str, url: str) -> Any:
    """A JSON body's text as objects, or DownloadError naming why not (an HTML page, nested too deeply)."""
    if "html" in ctype.lower() or text.lstrip()[:1] == "<":
        raise DownloadError(f"HTML page instead of JSON from {normalise_url(url)}")
    try:
        return json.loads(text)
    except RecursionError:
        raise DownloadError(f"invalid JSON from {normalise_url(url)}: nested too deeply") from None
    except ValueError as exc:
        raise DownloadError(f"invalid JSON from {normalise_url(url)}: {printable(exc, 200)}") from None


class _CheckedRedirects(urllib.request.HTTPRedirectHandler):
    """Every redirect hop passes the same URL policy as the first URL."""

    max_redirections = 5

    def __init__(self, policy: UrlPolicy) -> None:
        self.policy = policy

    def http_error_302(self, req: Any, fp: Any, code: int, msg: str, headers: Any) -> Any:
        location = headers.get("location") or headers.get("uri")
        if location:  # before urllib's own scheme check, so every refusal reads the same
            self.policy.check(urllib.parse.urljoin(req.full_url, location))
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> Any:
        checked = self.policy.check(urllib.parse.urljoin(req.full_url, newurl))
        return super().redirect_request(req, fp, code, msg, headers, checked)


def normalise_url(url: str) -> str:
    """CMS catalogs list ``http://`` URLs; their hosts serve HTTPS, so upgrade those (only those)."""
    if url.startswith("http://"):
        host = url[len("http://") :].split("/", 1)[0].split(":", 1)[0].lower()
        if host == "cms.gov" or host.endswith(".cms.gov"):
            return "https://" + url[len("http://") :]
    return url


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    seconds = whole_number(value)
    if seconds is not None:
        return float(seconds)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class HttpClient:
    """Small retrying client. ``sleep`` is injectable so tests do not wait."""

    def __init__(
        self,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        user_agent: str = USER_AGENT,
        progress: Progress = NO_PROGRESS,
        *,
        urls: UrlPolicy | None = None,
        limits: SizeLimits | None = None,
        clock: Callable[[], float] = time.monotonic,
        proxies: Mapping[str, str] | None = None,
    ) -> None:
        self.progress = progress
        self.policy = policy or RetryPolicy()
        self.sleep = sleep
        self.user_agent = user_agent
        self.retries = 0
        self.retry_log: list[dict[str, Any]] = []  # one {"url", "attempt", "reason", "wait_seconds"} per retry
        self.urls = urls or UrlPolicy()
        # HTTPS_PROXY / HTTP_PROXY (NO_PROXY is honoured per request by urllib's proxy_bypass)
        self.proxies = dict(urllib.request.getproxies_environment() if proxies is None else proxies)
        self.proxies = {k: v for k, v in self.proxies.items() if k in ("http", "https")}
        self.limits = limits or SizeLimits()
        self.clock = clock
        # Only HTTP(S): no file:, ftp: or data: handler exists to be reached, whatever a URL or redirect says.
        self._opener = urllib.request.OpenerDirector()
        for handler in (
            urllib.request.ProxyHandler(self.proxies),
            urllib.request.HTTPHandler(),
            urllib.request.HTTPSHandler(),
            _CheckedRedirects(self.urls),
            urllib.request.HTTPDefaultErrorHandler(),
            urllib.request.HTTPErrorProcessor(),
        ):
            self._opener.add_handler(handler)

    def _open(self, url: str, headers: dict[str, str], limit: int) -> Any:
        """Open ``url`` with retries; returns the response (caller closes) or raises DownloadError.
        A 304 is returned as an HTTPError-like response with ``status == 304``."""
        url = self.urls.check(url)
        last = ""
        for attempt in range(1, self.policy.attempts + 1):
            request = urllib.request.Request(url, headers={"User-Agent": self.user_agent, **headers})
            retry_after = None
            try:
                response = self._opener.open(request, timeout=self.policy.timeout)
                if getattr(response, "status", None) == 206 and "Range" not in headers:
                    response.close()  # a part of the file, taken as the whole, would be a truncated year
                    raise DownloadError(f"refused {url}: 206 Partial Content to a request for the whole object")
                length = whole_number(response.headers.get("Content-Length"))
                if length is not None and length > limit:
                    response.close()
                    raise DownloadError(
                        f"refused {url}: Content-Length {length:,} bytes is over the {limit:,}-byte limit"
                    )
                return response
            except urllib.error.HTTPError as exc:
                if exc.code == 304:
                    return exc
                if exc.code not in RETRY_STATUSES:
                    raise DownloadError(f"HTTP {exc.code} from {url}") from None
                last = f"HTTP {exc.code}"
                retry_after = _retry_after(exc.headers.get("Retry-After"))
                exc.close()
            except DownloadError:
                raise
            except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
                reason = getattr(exc, "reason", None) or f"{type(exc).__name__}: {exc}"
                last = f"connection failed ({reason}){self._via(url)}"
            if attempt < self.policy.attempts:
                self._retry(url, attempt, last, self.policy.delay(attempt, retry_after))
        raise DownloadError(f"{last} from {url} after {self.policy.attempts} attempts")

    def _via(self, url: str) -> str:
        """`` via proxy HOST:PORT`` when ``url`` goes through a proxy (credentials never shown)."""
        proxy = self.proxies.get(urllib.parse.urlsplit(url).scheme)
        host = urllib.parse.urlsplit(url).hostname or ""
        if not proxy or urllib.request.proxy_bypass(host):
            return ""
        parts = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        return f" via proxy {parts.hostname}:{parts.port or 80}"

    def _retry(self, url: str, attempt: int, reason: str, wait: float) -> None:
        self.retries += 1
        self.retry_log.append({"url": url, "attempt": attempt, "reason": reason, "wait_seconds": round(wait, 3)})
        log.warning("retrying %s after attempt %d: %s; waiting %.1f s", url, attempt, reason, wait)
        self.sleep(wait)

    def get_json(self, url: str, *, limit: int | None = None) -> Any:
        """A JSON document, read within ``limit`` bytes (default: the catalog limit) and the JSON deadline."""
        limit = limit or self.limits.catalog_bytes
        with contextlib.closing(self._open(url, {"Accept": "application/json"}, limit)) as response:
            ctype = response.headers.get("Content-Type", "")
            body = self._body(response, url, limit, self.limits.json_seconds)
        # One copy at a time, each let go before the next: bytes -> text -> objects. The objects are the large part,
        # and their size follows the document's shape: bounded before parsing, refused by name over the budget.
        bound, budget = parsed_size_bound(body) + len(body), parse_budget(self.limits.memory_bytes)
        if bound > budget:
            raise DownloadError(
                f"JSON from {normalise_url(url)} of {len(body) / MiB:.1f} MiB would take up to {bound / MiB:.0f} MiB "
                f"parsed (its shape: {body.count(b'{') + body.count(b'['):,} objects and arrays), over the "
                f"{max(budget, 0) / MiB:.0f} MiB this process has for it: refused"
            )
        try:
            text = body.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise DownloadError(f"invalid JSON from {normalise_url(url)}: not UTF-8") from None
        del body
        return _parse_json(text, ctype, url)

    def get_item(self, url: str) -> Any:
        """A small JSON document (a metastore item): the item limit."""
        return self.get_json(url, limit=self.limits.item_bytes)

    def _body(self, response: Any, url: str, limit: int, seconds: float) -> bytearray:
        """The whole body in one buffer: sized once from Content-Length where the server gives it (one
        allocation, not thousands of blocks the allocator keeps after they are joined), else grown."""
        length = whole_number(response.headers.get("Content-Length"))
        if length is not None and length <= limit:
            body = bytearray(length)
            filled = 0
            for block in self._blocks(response, url, limit, seconds):
                if filled + len(block) > len(body):
                    body[filled:] = block  # longer than announced: grown (the limit still holds)
                else:
                    body[filled : filled + len(block)] = block
                filled += len(block)
            del body[filled:]  # shorter than announced: what arrived
            return body
        grown = bytearray()
        for block in self._blocks(response, url, limit, seconds):
            grown += block
        return grown

    def _blocks(self, response: Any, url: str, limit: int, seconds: float, chunk: int = 1 << 20) -> Any:
        """The body in blocks as they arrive (``read1``: whatever the socket has, so a slow drip cannot hide
        behind one long read), refused past ``limit`` bytes or ``seconds`` in all."""
        started, size = self.clock(), 0
        reader = getattr(response, "read1", None) or response.read
        while True:
            try:
                block = reader(chunk)
            except (http.client.HTTPException, OSError, ValueError) as exc:
                raise BodyCut(f"download of {normalise_url(url)} interrupted after {size} bytes: {exc!r}") from None
            if not block:
                return
            size += len(block)
            if size > limit:
                raise DownloadError(f"refused {normalise_url(url)}: body over the {limit:,}-byte limit")
            if self.clock() - started > seconds:
                raise DownloadError(
                    f"refused {normalise_url(url)}: not complete after {seconds:g} s ({size:,} bytes so far)"
                )
            yield block

    def download(
        self,
        url: str,
        directory: str | os.PathLike[str],
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        expect_csv: bool = True,
        chunk: int = 1 << 20,
    ) -> Download:
        headers = {"Accept": "text/csv, */*;q=0.5"}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        response = self._open(url, headers, self.limits.file_bytes)
        if getattr(response, "status", None) == 304 or getattr(response, "code", None) == 304:
            response.close()
            return Download(url, None, None, 0, not_modified=True, etag=etag, last_modified=last_modified)
        return _FileDownload(self, url, expect_csv, chunk).run(response, directory)


MAX_VALIDATOR_CHARS = 256  # an ETag or Last-Modified kept for the next conditional GET (real ones: under 100)


class _FileDownload:
    """One file download: the body streamed to disk with its SHA-256 computed on the way, checked against its
    Content-Length and its last line, and resumed with ``Range`` after a cut where the server allows it."""

    def __init__(self, client: HttpClient, url: str, expect_csv: bool, chunk: int) -> None:
        self.client, self.url, self.expect_csv, self.chunk = client, url, expect_csv, chunk
        self.digest, self.size, self.head, self.tail = hashlib.sha256(), 0, b"", b""
        self.expected: str | None = None
        self.headers: dict[str, str] = {}

    def run(self, response: Any, directory: str | os.PathLike[str]) -> Download:
        url = self.url
        fd, path = tempfile.mkstemp(dir=directory, prefix=".download-", suffix=".csv")
        self._start(response)
        task = self.client.progress.task(
            f"download {os.path.basename(urllib.parse.urlsplit(url).path) or url}", self._total(), unit="B"
        )
        try:
            with os.fdopen(fd, "wb") as out:
                resumes = 0
                while True:
                    try:
                        self._receive(response, out, task)
                        break
                    except BodyCut as cut:
                        resumes += 1
                        response = self._resume(resumes, cut)
                        if response.status == 200:  # the server sent the whole file again: start over
                            out.seek(0)
                            out.truncate()
                            self._start(response)
            self._check_complete()
        except BaseException:
            task.close("download failed")
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            raise
        task.close(f"downloaded {self.size:,} bytes from {normalise_url(url)}")
        headers = self.headers
        for name in ("etag", "last-modified"):  # they go into the state record and the Check answer: bounded
            value = headers.get(name)
            if value is not None and (len(value) > MAX_VALIDATOR_CHARS or printable(value) != value):
                os.unlink(path)
                raise DownloadError(
                    f"refused {normalise_url(url)}: its {name} header is not a validator of at most "
                    f"{MAX_VALIDATOR_CHARS} printable characters ({len(value):,} characters)"
                )
        return Download(
            url,
            path,
            self.digest.hexdigest(),
            self.size,
            etag=headers.get("etag"),
            last_modified=headers.get("last-modified"),
            headers=headers,
        )

    def _start(self, response: Any) -> None:
        self.digest, self.size, self.head = hashlib.sha256(), 0, b""
        self.expected = response.headers.get("Content-Length")
        self.headers = {k.lower(): v for k, v in response.headers.items()}

    def _total(self) -> int | None:
        return whole_number(self.expected)

    def _receive(self, response: Any, out: Any, task: Any) -> None:
        limits = self.client.limits
        with contextlib.closing(response):
            ctype = response.headers.get("Content-Type", "")
            for block in self.client._blocks(response, self.url, limits.file_bytes, limits.file_seconds, self.chunk):
                if not self.head:
                    self.head = block[:512]
                    if self.expect_csv:
                        _reject_error_page(self.head, ctype, self.url)
                self.digest.update(block)
                out.write(block)
                self.size += len(block)
                self.tail = block[-1:]
                task.advance(len(block))
        total = self._total()
        if total is not None and total > self.size:
            raise BodyCut(
                f"truncated download from {normalise_url(self.url)}: {self.size} of {total} bytes (Content-Length)"
            )

    def _check_complete(self) -> None:
        where, total = normalise_url(self.url), self._total()
        if total is not None and total != self.size:
            raise DownloadError(f"truncated download from {where}: {self.size} of {total} bytes (Content-Length)")
        if self.expect_csv and self.size and self.tail not in (b"\n", b"\r"):
            raise DownloadError(f"truncated download from {where}: the last line is cut short")
        if self.size == 0:
            raise DownloadError(f"empty body from {where}")

    def _resume(self, resumes: int, cut: BodyCut) -> Any:
        """The rest of a body cut after ``size`` bytes: ``Range`` with ``If-Range`` (the file's ETag, or its
        Last-Modified), where the server offered byte ranges, a validator and a length. A 206 must continue at
        ``size`` with the same total; a 200 is the whole file again (changed, or ranges ignored). Anything else,
        a server without ranges, or every attempt cut, and the cut stands (``BodyCut``)."""
        first, size, total, client = self.headers, self.size, self._total(), self.client
        validator = first.get("etag") if not (first.get("etag") or "").startswith("W/") else None
        validator = validator or first.get("last-modified")
        ranges = first.get("accept-ranges", "").lower() == "bytes"
        if not (ranges and validator and total and 0 < size < total) or resumes >= client.policy.attempts:
            raise cut
        client._retry(self.url, resumes, f"body cut after {size:,} of {total:,} bytes; resuming with Range", 0.0)
        headers = {"Accept": "text/csv, */*;q=0.5", "Range": f"bytes={size}-", "If-Range": str(validator)}
        response = client._open(self.url, headers, client.limits.file_bytes)
        status = getattr(response, "status", None)
        same_file = all(
            response.headers.get(name) in (None, first.get(name.lower())) for name in ("ETag", "Last-Modified")
        )  # a resumed part of another version of the file would be spliced onto this one
        if status == 200 or (
            status == 206 and same_file and response.headers.get("Content-Range") == f"bytes {size}-{total - 1}/{total}"
        ):
            return response
        response.close()
        raise DownloadError(
            f"resume of {normalise_url(self.url)} at byte {size} answered {status} "
            f"{printable(response.headers.get('Content-Range') or '', 80)}".rstrip()
        )


def _reject_error_page(head: bytes, content_type: str, url: str) -> None:
    kind = non_csv_kind(head, content_type)
    if kind:
        raise DownloadError(f"{kind} instead of CSV from {normalise_url(url)} (status 200)")
