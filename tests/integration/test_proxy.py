"""The downloader behind a proxy, as an operator on a corporate network runs it: HTTP_PROXY/HTTPS_PROXY are
honoured (NO_PROXY too), the URL policy still applies to the target, a proxy that fails is named in the
error, and every retry is logged with its reason and wait."""

from __future__ import annotations

import hashlib
import http.client
import logging
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from hostile_http import HostileServer

from mips_profiles.adapters.http import HttpClient, RetryPolicy, UrlPolicy
from mips_profiles.errors import DownloadError

FAST = RetryPolicy(attempts=2, base_delay=0, timeout=2)


class ForwardProxy:
    """A plain HTTP forward proxy on loopback: relays ``GET http://host/path`` and records what it relayed."""

    def __init__(self) -> None:
        seen: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                seen.append(self.path)
                target = urllib.parse.urlsplit(self.path)
                upstream = http.client.HTTPConnection(target.hostname, target.port, timeout=5)
                upstream.request("GET", target.path or "/", headers={"User-Agent": self.headers["User-Agent"]})
                answer = upstream.getresponse()
                body = answer.read()
                self.send_response(answer.status)
                for name, value in answer.getheaders():
                    if name.lower() not in ("connection", "transfer-encoding", "content-length"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.seen = seen
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> ForwardProxy:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def origin():
    with HostileServer() as server:
        yield server


@pytest.fixture
def proxy():
    with ForwardProxy() as running:
        yield running


def test_a_download_goes_through_the_proxy_the_environment_names(origin, proxy, tmp_path, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    client = HttpClient(FAST, sleep=lambda s: None, urls=UrlPolicy(allow_loopback_http=True))
    download = client.download(f"{origin.base}/ok.csv", tmp_path)
    assert proxy.seen == [f"{origin.base}/ok.csv"]
    assert download.sha256 == hashlib.sha256(b"npi,final score\n1376745471,90\n").hexdigest()


def test_no_proxy_sends_a_host_direct(origin, proxy, tmp_path, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    client = HttpClient(FAST, sleep=lambda s: None, urls=UrlPolicy(allow_loopback_http=True))
    assert client.download(f"{origin.base}/ok.csv", tmp_path).size > 0
    assert proxy.seen == []


def test_the_url_policy_applies_to_the_target_not_the_proxy(proxy, tmp_path):
    client = HttpClient(FAST, sleep=lambda s: None, proxies={"https": proxy.url, "http": proxy.url})
    with pytest.raises(DownloadError, match="refused URL"):
        client.download("https://evil.example.org/puf.csv", tmp_path)
    assert proxy.seen == []  # refused before anything was sent, the proxy included


def test_a_proxy_that_is_down_is_named_and_each_retry_is_logged(origin, tmp_path, caplog, monkeypatch):
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    waits: list[float] = []
    client = HttpClient(
        RetryPolicy(attempts=3, base_delay=0.5, timeout=2),
        sleep=waits.append,
        urls=UrlPolicy(allow_loopback_http=True),
        proxies={"http": "http://user:secret@127.0.0.1:9"},  # the discard port: nothing listens
    )
    with caplog.at_level(logging.WARNING, logger="mips_profiles.adapters.http"), pytest.raises(DownloadError) as caught:
        client.download(f"{origin.base}/ok.csv", tmp_path)
    assert "via proxy 127.0.0.1:9" in str(caught.value) and "secret" not in str(caught.value)
    assert [r["attempt"] for r in client.retry_log] == [1, 2] and client.retries == 2
    assert [r["wait_seconds"] for r in client.retry_log] == waits
    logged = [r.getMessage() for r in caplog.records]
    assert len(logged) == 2 and all("via proxy 127.0.0.1:9" in line and "waiting" in line for line in logged)
    assert list(tmp_path.iterdir()) == []


# -- a body cut mid-stream -------------------------------------------------------------------------------------


def _file_server(
    body: bytes, *, ranges: bool, cuts: int, etag: str = '"v1"', resumed_etag: str | None = None, unasked: int = 0
):
    """Serves ``body`` at /f.csv; the first ``cuts`` answers stop halfway (their Content-Length promises more),
    as a reset connection or a dropped CDN edge does. With ``ranges``: Accept-Ranges, an ETag and 206 answers.
    A broken server: ``resumed_etag`` answers every Range with 206 under that ETag (If-Range ignored);
    ``unasked`` answers 206 from that byte to a request with no Range at all."""
    seen: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append({k.lower(): v for k, v in self.headers.items()})
            start, status, sent_etag = 0, 200, etag
            wanted = self.headers.get("Range")
            if ranges and wanted and (resumed_etag or self.headers.get("If-Range") == etag):
                start, status = int(wanted.removeprefix("bytes=").rstrip("-")), 206
                sent_etag = resumed_etag or etag
            elif unasked:
                start, status = unasked, 206
            part = body[start:]
            self.send_response(status)
            self.send_header("Content-Type", "text/csv")
            self.send_header("Content-Length", str(len(part)))
            if ranges:
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("ETag", sent_etag)
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            self.end_headers()
            if len(seen) <= cuts:
                self.wfile.write(part[: len(part) // 2])
                self.close_connection = True
                return
            self.wfile.write(part)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/f.csv", seen


BODY = b"npi,final score\n" + b"".join(b"%010d,%d\n" % (1000000000 + i, i % 101) for i in range(20_000))


@pytest.mark.parametrize("cuts", [1, 3, 4])
def test_a_body_cut_mid_stream_is_resumed_with_range_and_hashes_right(tmp_path, cuts):
    """A cut body (its Content-Length promised more) continues where it stopped, conditional on the ETag; the
    file is exactly the server's bytes. Past as many cuts as the retry policy allows attempts, it is refused."""
    server, url, seen = _file_server(BODY, ranges=True, cuts=cuts)
    try:
        policy = RetryPolicy(attempts=4, base_delay=0, timeout=2)  # the first request and up to three resumes
        client = HttpClient(policy, sleep=lambda s: None, urls=UrlPolicy(allow_loopback_http=True), proxies={})
        if cuts >= policy.attempts:  # every attempt cut: the original and three resumes
            with pytest.raises(DownloadError, match="truncated download"):
                client.download(url, tmp_path)
            assert list(tmp_path.iterdir()) == []
            return
        download = client.download(url, tmp_path)
    finally:
        server.shutdown()
        server.server_close()
    assert download.sha256 == hashlib.sha256(BODY).hexdigest() and download.size == len(BODY)
    with open(download.path, "rb") as fh:
        assert fh.read() == BODY
    assert seen[0].get("range") is None and all(h["if-range"] == '"v1"' for h in seen[1:])
    assert len(seen) == cuts + 1 and len(client.retry_log) == cuts
    assert "resuming with Range" in client.retry_log[0]["reason"]


def test_without_ranges_a_cut_body_is_refused_and_nothing_is_kept(tmp_path):
    server, url, seen = _file_server(BODY, ranges=False, cuts=1)
    try:
        client = HttpClient(FAST, sleep=lambda s: None, urls=UrlPolicy(allow_loopback_http=True), proxies={})
        with pytest.raises(DownloadError, match=r"truncated download|interrupted"):
            client.download(url, tmp_path)
    finally:
        server.shutdown()
        server.server_close()
    assert len(seen) == 1 and list(tmp_path.iterdir()) == []


def test_a_file_changed_between_the_cut_and_the_resume_is_downloaded_again_whole(tmp_path, monkeypatch):
    """If-Range with the ETag the download began with; the server's file has a new one since, so it answers 200
    with the whole new file, which replaces the part: never a mix of two files."""
    from mips_profiles.adapters import http as http_adapter

    server, url, seen = _file_server(BODY, ranges=True, cuts=1, etag='"v2"')
    original = http_adapter._FileDownload._resume

    def began_with_v1(self, resumes, cut):
        self.headers["etag"] = '"v1"'  # what the first answer carried, before CMS replaced the file
        return original(self, resumes, cut)

    monkeypatch.setattr(http_adapter._FileDownload, "_resume", began_with_v1)
    try:
        client = HttpClient(FAST, sleep=lambda s: None, urls=UrlPolicy(allow_loopback_http=True), proxies={})
        download = client.download(url, tmp_path)
    finally:
        server.shutdown()
        server.server_close()
    assert seen[1]["if-range"] == '"v1"' and "range" in seen[1]
    assert download.sha256 == hashlib.sha256(BODY).hexdigest() and download.etag == '"v2"'


def _refused_download(tmp_path, match: str, **server: object) -> list[dict[str, str]]:
    """A download from a misbehaving ``_file_server`` refused with ``match``, nothing kept; the requests seen."""
    httpd, url, seen = _file_server(BODY, ranges=True, **server)
    try:
        client = HttpClient(FAST, sleep=lambda s: None, urls=UrlPolicy(allow_loopback_http=True), proxies={})
        with pytest.raises(DownloadError, match=match):
            client.download(url, tmp_path)
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert list(tmp_path.iterdir()) == []
    return seen


def test_a_206_to_a_request_for_the_whole_file_is_refused(tmp_path):
    """Issue 38: an unrequested 206 was taken as the whole file (a truncated year, hashed and recorded)."""
    _refused_download(tmp_path, "206 Partial Content to a request for the whole object", cuts=0, unasked=1000)


def test_a_resumed_part_of_another_version_of_the_file_is_never_spliced(tmp_path):
    """Issue 38: a server that ignores If-Range and answers the resume with 206 under another ETag (the file
    changed at CMS meanwhile) had its part spliced onto the first version's bytes."""
    seen = _refused_download(tmp_path, r"resume of .* at byte \d+ answered 206", cuts=1, resumed_etag='"v2"')
    assert seen[1]["if-range"] == '"v1"'


def test_a_validator_header_of_60000_characters_is_refused_by_name(tmp_path):
    """Issue 38: response headers entered the plan unbounded; a 60,000-character ETag made a 1 MB Check answer
    (Step Functions' state limit is 256 KiB). A validator is kept only if it is one."""
    _refused_download(
        tmp_path, "its etag header is not a validator of at most 256 printable", cuts=0, etag='"' + "e" * 60_000 + '"'
    )
