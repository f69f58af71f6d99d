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
