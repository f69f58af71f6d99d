"""``mips-profiles serve``: the CDN's headers over a published tree, on real loopback HTTP."""

from __future__ import annotations

import gzip
import hashlib
import http.client
import json
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from mips_profiles.consumers.serve import make_server
from mips_profiles.keys import CACHE_DOCUMENT, CACHE_MANIFEST

from helpers import pick_documents

HOST_PAGE = "http://profiles.example.org"


@pytest.fixture(scope="module")
def server(published_tree: Path):
    srv = make_server(published_tree, port=0, cors_origins=[HOST_PAGE], quiet=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def request(server, path: str, method: str = "GET", **headers: str) -> tuple[http.client.HTTPResponse, bytes]:
    conn = http.client.HTTPConnection(*server.server_address[:2], timeout=10)
    conn.request(method, path, headers={k.replace("_", "-"): v for k, v in headers.items()})
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response, body


def test_a_document_is_served_with_the_cdn_headers(server, published_tree):
    doc = pick_documents(published_tree)["scored"]
    path = f"/v1/npi/{doc['npi']}.json"
    response, body = request(server, path)
    assert response.status == 200
    assert body == (published_tree / path.lstrip("/")).read_bytes()
    assert response.getheader("Content-Type") == "application/json; charset=utf-8"
    assert response.getheader("Cache-Control") == CACHE_DOCUMENT
    assert response.getheader("ETag") == f'"{hashlib.md5(body).hexdigest()}"'
    assert response.getheader("X-Content-Type-Options") == "nosniff"
    assert response.getheader("Access-Control-Allow-Origin") is None  # no Origin, no CORS headers

    manifest, _ = request(server, "/v1/manifest.json")
    assert manifest.getheader("Cache-Control") == CACHE_MANIFEST


def test_if_none_match_answers_304_without_a_body(server, published_tree):
    path = f"/v1/npi/{pick_documents(published_tree)['scored']['npi']}.json"
    first, _ = request(server, path)
    etag = first.getheader("ETag")
    again, body = request(server, path, If_None_Match=etag)
    assert (again.status, body, again.getheader("ETag")) == (304, b"", etag)
    assert request(server, path, If_None_Match=f'"nope", {etag}')[0].status == 304
    assert request(server, path, If_None_Match='"0123"')[0].status == 200


def test_serve_matches_a_weak_etag(server, published_tree):
    """If-None-Match uses the weak comparison (RFC 9110): a cache holding the gzip representation sends
    W/"x" and must get a 304 for the plain one, whose ETag is "x"."""
    path = f"/v1/npi/{pick_documents(published_tree)['scored']['npi']}.json"
    etag = request(server, path)[0].getheader("ETag")
    assert not etag.startswith("W/")
    again, body = request(server, path, If_None_Match=f"W/{etag}")
    assert (again.status, body) == (304, b"")


def test_gzip_only_when_asked(server, published_tree):
    raw = (published_tree / "v1/manifest.json").read_bytes()
    assert len(raw) >= 1000
    zipped, body = request(server, "/v1/manifest.json", Accept_Encoding="br, gzip;q=0.8")
    assert zipped.getheader("Content-Encoding") == "gzip"
    assert gzip.decompress(body) == raw
    assert zipped.getheader("ETag").startswith('W/"')  # another representation: weak, as CloudFront does
    assert "Accept-Encoding" in zipped.getheader("Vary")
    assert (
        request(server, "/v1/manifest.json", If_None_Match=zipped.getheader("ETag"), Accept_Encoding="gzip")[0].status
        == 304
    )
    for refused in ("", "identity", "gzip;q=0"):
        plain, body = request(server, "/v1/manifest.json", Accept_Encoding=refused)
        assert plain.getheader("Content-Encoding") is None and body == raw, refused


def test_cors_only_for_configured_origins(server, published_tree):
    path = f"/v1/npi/{pick_documents(published_tree)['scored']['npi']}.json"
    allowed, _ = request(server, path, Origin=HOST_PAGE)
    assert allowed.getheader("Access-Control-Allow-Origin") == HOST_PAGE
    assert allowed.getheader("Access-Control-Expose-Headers") == "ETag"
    other, _ = request(server, path, Origin="http://elsewhere.example.com")
    assert other.getheader("Access-Control-Allow-Origin") is None

    preflight, _ = request(
        server,
        path,
        "OPTIONS",
        Origin=HOST_PAGE,
        Access_Control_Request_Method="GET",
        Access_Control_Request_Headers="if-none-match",
    )
    assert preflight.status == 204
    assert "GET" in preflight.getheader("Access-Control-Allow-Methods")
    assert preflight.getheader("Access-Control-Allow-Headers") == "If-None-Match, Accept-Encoding"  # fixed list
    assert request(server, path, "OPTIONS", Origin="http://elsewhere.example.com")[0].status == 403


@pytest.mark.parametrize(
    "path",
    [
        "/v1/npi/1234567893.json",
        "/v1/npi/not-an-npi.json",
        "/nothing",
        "/v1/../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/",
    ],
)
def test_anything_not_published_is_a_json_404(server, path):
    response, body = request(server, path, Origin=HOST_PAGE)
    assert response.status == 404
    assert response.getheader("Content-Type") == "application/json; charset=utf-8"
    assert json.loads(body)["error"] == "not_found"
    assert response.getheader("Access-Control-Allow-Origin") == HOST_PAGE  # the widget can read the 404


def test_head_has_headers_and_no_body_and_writes_are_refused(server):
    head, body = request(server, "/v1/manifest.json", "HEAD")
    assert head.status == 200 and body == b"" and int(head.getheader("Content-Length")) > 0
    refused, _ = request(server, "/v1/manifest.json", "PUT")
    assert refused.status == 405 and "GET" in refused.getheader("Allow")


def test_a_directory_without_a_tree_is_refused(run_cli, tmp_path):
    result = run_cli("serve", tmp_path)
    assert result.code == 1
    assert result.err.startswith("error: ") and "not a published tree" in result.err
    assert len(result.err.strip().splitlines()) == 1


def test_a_malformed_cors_origin_is_refused(run_cli, published_tree):
    result = run_cli("serve", published_tree, "--cors-origin", "example.org/page")
    assert result.code == 1 and "is not an origin" in result.err


def test_a_port_in_use_is_refused(run_cli, published_tree):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        result = run_cli("serve", published_tree, "--port", busy.getsockname()[1])
    assert result.code == 1 and "cannot listen on 127.0.0.1:" in result.err


def test_the_command_serves_until_stopped(published_tree):
    proc = subprocess.Popen(
        [sys.executable, "-m", "mips_profiles.cli", "serve", str(published_tree), "--port", "0", "--quiet"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        banner = proc.stderr.readline()
        url = banner.split(" on ", 1)[1].split()[0]
        host_port = url.removeprefix("http://").split("/", 1)[0]
        conn = http.client.HTTPConnection(host_port, timeout=10)
        conn.request("GET", "/v1/manifest.json")
        assert conn.getresponse().status == 200
    finally:
        proc.terminate()  # SIGTERM; Ctrl-C takes the same path (SIGINT is ignored in xdist's workers' children)
        assert proc.wait(timeout=10) == 0
