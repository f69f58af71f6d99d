"""HTTP source adapter: downloads a production job can trust, on the standard library only
(the checker Lambda must cold-start without heavy imports).

- streaming to a file with SHA-256 computed on the way (one copy of the bytes, on disk);
- a descriptive User-Agent, connect/read timeouts;
- retries with exponential backoff on 5xx, 429 and connection errors, honouring ``Retry-After``;
- conditional GET (``If-None-Match`` / ``If-Modified-Since``) when validators are known: 304 -> not modified;
- rejection of an HTML or JSON error body served with status 200, of a body shorter or longer than
  ``Content-Length``, and of a CSV whose last line is cut short.

A failed download removes its partial file and raises :class:`DownloadError`; nothing else changes.
"""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import http.client
import json
import os
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import __version__
from .errors import MipsProfilesError
from .progress import NO_PROGRESS, Progress
from .sniff import non_csv_kind

USER_AGENT = (
    f"mips-profiles/{__version__} (CMS MIPS public-data ingester; +https://github.com/mips-profiles/mips-profiles)"
)
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class DownloadError(MipsProfilesError):
    """A download failed or returned something that is not the file; nothing was kept."""


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 60.0
    timeout: float = 60.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_delay)
        return min(self.base_delay * 2 ** (attempt - 1), self.max_delay)


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


def normalise_url(url: str) -> str:
    """CMS catalogs list ``http://`` URLs; their hosts serve HTTPS, so upgrade those (only those)."""
    if url.startswith("http://"):
        host = url[len("http://"):].split("/", 1)[0].split(":", 1)[0].lower()
        if host == "cms.gov" or host.endswith(".cms.gov"):
            return "https://" + url[len("http://"):]
    return url


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class HttpClient:
    """Small retrying client. ``sleep`` is injectable so tests do not wait."""

    def __init__(self, policy: RetryPolicy | None = None, sleep: Callable[[float], None] = time.sleep,
                 user_agent: str = USER_AGENT, progress: Progress = NO_PROGRESS) -> None:
        self.progress = progress
        self.policy = policy or RetryPolicy()
        self.sleep = sleep
        self.user_agent = user_agent
        self.retries = 0

    def _open(self, url: str, headers: dict[str, str]) -> Any:
        """Open ``url`` with retries; returns the response (caller closes) or raises DownloadError.
        A 304 is returned as an HTTPError-like response with ``status == 304``."""
        url = normalise_url(url)
        last = ""
        for attempt in range(1, self.policy.attempts + 1):
            request = urllib.request.Request(url, headers={"User-Agent": self.user_agent, **headers})
            retry_after = None
            try:
                return urllib.request.urlopen(request, timeout=self.policy.timeout)
            except urllib.error.HTTPError as exc:
                if exc.code == 304:
                    return exc
                if exc.code not in RETRY_STATUSES:
                    raise DownloadError(f"HTTP {exc.code} from {url}") from None
                last = f"HTTP {exc.code}"
                retry_after = _retry_after(exc.headers.get("Retry-After"))
                exc.close()
            except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
                reason = getattr(exc, "reason", exc)
                last = f"connection failed ({reason})"
            if attempt < self.policy.attempts:
                self.retries += 1
                self.sleep(self.policy.delay(attempt, retry_after))
        raise DownloadError(f"{last} from {url} after {self.policy.attempts} attempts")

    def get_json(self, url: str) -> Any:
        with contextlib.closing(self._open(url, {"Accept": "application/json"})) as response:
            body = response.read()
            ctype = response.headers.get("Content-Type", "")
        if "html" in ctype.lower() or body.lstrip()[:1] == b"<":
            raise DownloadError(f"HTML page instead of JSON from {normalise_url(url)}")
        try:
            return json.loads(body)
        except ValueError as exc:
            raise DownloadError(f"invalid JSON from {normalise_url(url)}: {exc}") from None

    def download(self, url: str, directory: str | os.PathLike[str], *, etag: str | None = None,
                 last_modified: str | None = None, expect_csv: bool = True, chunk: int = 1 << 20) -> Download:
        headers = {"Accept": "text/csv, */*;q=0.5"}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        response = self._open(url, headers)
        if getattr(response, "status", None) == 304 or getattr(response, "code", None) == 304:
            response.close()
            return Download(url, None, None, 0, not_modified=True, etag=etag, last_modified=last_modified)
        fd, path = tempfile.mkstemp(dir=directory, prefix=".download-", suffix=".csv")
        expected = response.headers.get("Content-Length")
        task = self.progress.task(f"download {os.path.basename(urllib.parse.urlsplit(url).path) or url}",
                                  int(expected) if expected and expected.isdigit() else None, unit="B")
        try:
            with contextlib.closing(response), os.fdopen(fd, "wb") as out:
                digest, size, head, tail = hashlib.sha256(), 0, b"", b""
                ctype = response.headers.get("Content-Type", "")
                try:
                    while block := response.read(chunk):
                        if not head:
                            head = block[:512]
                            if expect_csv:
                                _reject_error_page(head, ctype, url)
                        digest.update(block)
                        out.write(block)
                        size += len(block)
                        tail = block[-1:]
                        task.advance(len(block))
                except (http.client.HTTPException, OSError) as exc:
                    where = normalise_url(url)
                    raise DownloadError(f"download of {where} interrupted after {size} bytes: {exc!r}") from None
                if expected is not None and expected.isdigit() and int(expected) != size:
                    raise DownloadError(
                        f"truncated download from {normalise_url(url)}: {size} of {expected} bytes (Content-Length)"
                    )
                if expect_csv and size and tail not in (b"\n", b"\r"):
                    raise DownloadError(f"truncated download from {normalise_url(url)}: the last line is cut short")
                if size == 0:
                    raise DownloadError(f"empty body from {normalise_url(url)}")
                headers_out = {k.lower(): v for k, v in response.headers.items()}
        except BaseException:
            task.close("download failed")
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            raise
        task.close(f"downloaded {size:,} bytes from {normalise_url(url)}")
        return Download(url, path, digest.hexdigest(), size, etag=headers_out.get("etag"),
                        last_modified=headers_out.get("last-modified"), headers=headers_out)


def _reject_error_page(head: bytes, content_type: str, url: str) -> None:
    kind = non_csv_kind(head, content_type)
    if kind:
        raise DownloadError(f"{kind} instead of CSV from {normalise_url(url)} (status 200)")
