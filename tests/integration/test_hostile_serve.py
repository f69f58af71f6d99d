"""`serve` (the local CDN twin) under hostile requests on loopback: request smuggling through an unread
body, paths that used to kill the handler thread, idle and excess connections, reflected headers, files
outside v1/. Every case is bounded in time."""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

from mips_profiles.consumers import serve as serve_module
from mips_profiles.consumers.serve import make_server
from mips_profiles.errors import ConfigurationError


@pytest.fixture
def tree(published_tree, tmp_path):
    copy = tmp_path / "tree"
    shutil.copytree(published_tree, copy)
    (copy / "secret.txt").write_text("private notes")
    (copy / "v1" / "loop-a").symlink_to(copy / "v1" / "loop-b")
    (copy / "v1" / "loop-b").symlink_to(copy / "v1" / "loop-a")
    return copy


@pytest.fixture
def server(tree, monkeypatch):
    monkeypatch.setattr(serve_module.TreeHandler, "timeout", 1)
    monkeypatch.setattr(serve_module, "MAX_CONNECTIONS", 3)
    monkeypatch.setattr(serve_module, "SLOT_WAIT_SECONDS", 0)  # no wait for a slot: the bound shows at once
    srv = make_server(tree, port=0, cors_origins=["http://127.0.0.1:8080"], quiet=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


def exchange(server, raw: bytes, wait: float = 2.0) -> bytes:
    """Send raw bytes, read everything until the server closes or goes quiet."""
    with socket.create_connection(server.server_address, timeout=wait) as sock:
        sock.sendall(raw)
        out = b""
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            out += chunk
    return out


SMUGGLED = b"GET /v1/manifest.json HTTP/1.1\r\nHost: x\r\n\r\n"


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"POST /v1/manifest.json HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(SMUGGLED) + SMUGGLED,
        b"PUT /v1/not-found.json HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(SMUGGLED) + SMUGGLED,
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n" % len(SMUGGLED)
        + SMUGGLED
        + b"\r\n0\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n" + SMUGGLED,
        b"GET /v1/not-found.json HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(SMUGGLED) + SMUGGLED,
    ],
)
def test_a_request_body_is_never_run_as_a_second_request(server, request_bytes):
    reply = exchange(server, request_bytes)
    assert reply.count(b"HTTP/1.1 ") == 1, reply[:400]
    assert b'"releases"' not in reply  # the smuggled manifest request was not answered


@pytest.mark.parametrize(
    "path",
    [
        "/v1/%00",
        "/v1/npi/%00.json",
        "/v1/" + "a" * 300 + ".json",
        "/v1/" + "x/" * 2100,
        "/v1/loop-a",
        "/v1/loop-a/inside.json",
        "/secret.txt",
        "/v1/../secret.txt",
        "/%2e%2e/secret.txt",
        "/v1/npi/..%2f..%2fsecret.txt",
    ],
)
def test_odd_paths_get_the_not_found_document(server, path):
    reply = exchange(server, f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 404"), reply[:200]
    assert json.loads(body)["error"] == "not_found"
    assert b"private notes" not in reply


def test_an_idle_connection_is_closed_after_the_read_timeout(server):
    with socket.create_connection(server.server_address, timeout=5) as sock:
        started = time.monotonic()
        assert sock.recv(1) == b""  # the server closed it
        assert time.monotonic() - started < 4


def test_connections_beyond_the_bound_are_closed_at_once(server):
    idle = [socket.create_connection(server.server_address, timeout=5) for _ in range(3)]
    try:
        time.sleep(0.2)
        with socket.create_connection(server.server_address, timeout=5) as extra:
            extra.sendall(b"GET /v1/manifest.json HTTP/1.1\r\nHost: x\r\n\r\n")
            assert extra.recv(100) == b""
    finally:
        for sock in idle:
            sock.close()
    time.sleep(1.5)  # the idle ones timed out: the server answers again
    assert exchange(server, b"GET /v1/manifest.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").startswith(
        b"HTTP/1.1 200"
    )


@pytest.mark.parametrize("asked", ["x-evil", "If-None-Match,\r\n X-Injected: yes", "*", ""])
def test_preflight_answers_a_fixed_header_list(server, asked):
    reply = exchange(
        server,
        (
            f"OPTIONS /v1/manifest.json HTTP/1.1\r\nHost: x\r\nOrigin: http://127.0.0.1:8080\r\n"
            f"Access-Control-Request-Method: GET\r\nAccess-Control-Request-Headers: {asked}\r\n"
            f"Connection: close\r\n\r\n"
        ).encode(),
    )
    assert b"Access-Control-Allow-Headers: If-None-Match, Accept-Encoding\r\n" in reply
    assert b"X-Injected" not in reply and b"x-evil" not in reply


@pytest.mark.parametrize(
    "origin",
    [
        "http://a.example\n",
        "http://a.example\r\nX: y",
        " http://a.example",
        "http://a.example/path",
        "javascript:alert(1)",
    ],
)
def test_a_malformed_cors_origin_is_refused(tree, origin):
    with pytest.raises(ConfigurationError, match="is not an origin"):
        make_server(tree, port=0, cors_origins=[origin], quiet=True)


def test_slow_drip_clients_are_cut_off_and_everyone_else_is_served(tree, monkeypatch):
    """Every connection slot taken by a client sending one byte at a time: each is cut off at the request
    deadline (however often it drips), and a normal request is answered after that, not never."""
    monkeypatch.setattr(serve_module, "READ_TIMEOUT_SECONDS", 1)
    monkeypatch.setattr(serve_module, "MAX_CONNECTIONS", 4)
    monkeypatch.setattr(serve_module, "SLOT_WAIT_SECONDS", 0.2)
    srv = make_server(tree, port=0, quiet=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    drips = [socket.create_connection(srv.server_address, timeout=5) for _ in range(4)]
    try:
        started = time.monotonic()
        for _ in range(6):  # a byte every 0.3 s: each recv is quick, the whole request never ends
            for sock in drips:
                with contextlib.suppress(OSError):
                    sock.send(b"G")
            time.sleep(0.3)
        cut = 0
        for sock in drips:
            try:
                cut += sock.recv(10) == b""
            except OSError:
                cut += 1
        assert cut == 4 and time.monotonic() - started < 5
        reply = exchange(srv, b"GET /v1/manifest.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert reply.startswith(b"HTTP/1.1 200")
    finally:
        for sock in drips:
            sock.close()
        srv.shutdown()
        srv.server_close()


def test_the_gzip_cache_is_bounded_in_bytes():
    cache = serve_module._GzipCache(capacity=50_000)
    bodies = [os.urandom(20_000) for _ in range(10)]  # random: gzip cannot shrink them
    for body in bodies:
        assert gzip.decompress(cache(body)) == body
    assert cache.size <= 50_000 and len(cache._items) < 10
    assert gzip.decompress(cache(bodies[-1])) == bodies[-1]  # the newest is still there


def test_control_characters_in_a_request_never_reach_the_terminal_raw(tree, capfd):
    srv = make_server(tree, port=0, quiet=False)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        exchange(srv, b"GET /v1/\x1b[2J\x1b]0;pwned\x07 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    finally:
        srv.shutdown()
        srv.server_close()
    err = capfd.readouterr().err
    assert "\x1b" not in err and "\x07" not in err and "\\x1b[2J" in err


def test_a_request_body_dripped_after_the_headers_is_cut_off_at_the_request_deadline(tree, monkeypatch):
    """Issue 38: the deadline stopped at the headers, so a declared body sent a byte at a time held the
    connection (and its thread) for ever; 64 of them locked everyone out. The deadline covers the body too."""
    monkeypatch.setattr(serve_module, "READ_TIMEOUT_SECONDS", 1)
    srv = make_server(tree, port=0, quiet=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        with socket.create_connection(srv.server_address, timeout=5) as sock:
            sock.sendall(b"GET /v1/manifest.json HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
            started, closed = time.monotonic(), False
            while time.monotonic() - started < 4:
                try:
                    sock.send(b"x")
                    sock.setblocking(False)
                    closed = sock.recv(1) == b""
                except BlockingIOError:
                    pass
                except OSError:
                    closed = True
                finally:
                    sock.setblocking(True)
                if closed:
                    break
                time.sleep(0.2)
            assert closed and time.monotonic() - started < 2.5
    finally:
        srv.shutdown()
        srv.server_close()


def test_a_link_in_v1_to_a_file_of_the_tree_outside_v1_is_not_served(server, tree):
    (tree / "v1" / "notes.json").symlink_to(tree / "secret.txt")
    (tree / "v1" / "stats-link").symlink_to(tree / "v1" / "stats")
    os.mkfifo(tree / "v1" / "pipe.json")
    for path in ("/v1/notes.json", "/v1/stats-link/2024/national.json", "/v1/pipe.json"):
        reply = exchange(server, f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        assert reply.startswith(b"HTTP/1.1 404") and b"private notes" not in reply, path


def test_a_large_file_is_streamed_from_disk_to_slow_readers_in_bounded_memory(tree, tmp_path):
    """Issue 38: every request held the whole object in memory (24 slow readers of a 24 MiB file: +592 MB).
    A large body is sent from its file in blocks: the server's memory does not grow with the readers."""
    import hashlib
    import subprocess
    import sys

    big = tree / "v1" / "bulk" / "2024" / "scores.csv"
    big.parent.mkdir(parents=True, exist_ok=True)
    big.write_bytes(os.urandom(24 << 20))
    proc = subprocess.Popen(
        [sys.executable, "-m", "mips_profiles.cli", "serve", str(tree), "--port", "0", "--quiet"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        port = int(proc.stderr.readline().split("/v1/")[0].rsplit(":", 1)[1])

        def rss_mib() -> float:
            status = Path(f"/proc/{proc.pid}/status").read_text()
            return int(next(li for li in status.splitlines() if li.startswith("VmRSS:")).split()[1]) / 1024

        before = rss_mib()
        readers = []
        for _ in range(24):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.sendall(b"GET /v1/bulk/2024/scores.csv HTTP/1.1\r\nHost: x\r\n\r\n")
            sock.recv(4096)  # the headers and a first block, then nothing: a slow reader
            readers.append(sock)
        time.sleep(1.5)
        grown = rss_mib() - before
        for sock in readers:
            sock.close()
        # one whole reader still gets every byte, with the ETag of the bytes
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(b"GET /v1/bulk/2024/scores.csv HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            reply = b""
            while chunk := sock.recv(1 << 20):
                reply += chunk
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    head, _, body = reply.partition(b"\r\n\r\n")
    assert body == big.read_bytes()
    assert f'ETag: "{hashlib.md5(body).hexdigest()}"'.encode() in head and b"Content-Encoding: gzip" in head
    print(f"\n24 slow readers of a 24 MiB file: the server grew {grown:.0f} MiB")
    assert grown < 64
