"""The mirror example against a hostile origin (a compromised CDN, the wrong bytes served): it writes and
deletes nothing outside ``MIRROR/v1/npi/``, inflates nothing without a bound, never walks a feed that goes
backwards or jumps without end, and stops on anything malformed with one line and exit status 1."""

from __future__ import annotations

import gzip
import importlib.util
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
GOOD = "1376745471"
ALSO_GOOD = "1234567893"


def load_example():
    spec = importlib.util.spec_from_file_location("sync_mirror_hostile", ROOT / "examples" / "sync_mirror.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Origin:
    """A loopback origin answering whatever a test puts in ``objects`` (key -> bytes, (bytes, headers), or
    (bytes, headers, status))."""

    def __init__(self) -> None:
        self.objects: dict[str, object] = {}
        self.requests: list[str] = []
        origin = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                key = self.path.lstrip("/")
                origin.requests.append(key)
                found = origin.objects.get(key)
                if found is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                body, headers, status = (*found, 200)[:3] if isinstance(found, tuple) else (found, {}, 200)
                self.send_response(status)
                for name, value in {"Content-Length": str(len(body)), **headers}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def origin():
    o = Origin()
    yield o
    o.close()


def entry(year: int = 2024) -> dict:
    return {"performance_year": year, "final_score": 90.0}


def publish(origin: Origin, npis: list[object], *, latest: int = 1) -> None:
    origin.objects["v1/manifest.json"] = json.dumps(
        {
            "schema_version": 1,
            "documents": {"source": {"name": "CMS QPP MIPS"}},
            "releases": [{"performance_year": 2024}],
            "changes": {"latest": latest, "key_pattern": "v1/changes/{sequence:08d}.json"},
        }
    ).encode()
    lines = "\n".join(json.dumps({"npi": n, **entry()}) for n in npis)
    origin.objects["v1/bulk/2024/scores.ndjson"] = (gzip.compress(lines.encode()), {"Content-Encoding": "gzip"})


def run(sync, origin: Origin, mirror: Path, capsys) -> tuple[int, str]:
    code = sync.main(["sync_mirror.py", origin.base, str(mirror)])
    err = capsys.readouterr().err
    return code, err


def files_under(path: Path) -> set[str]:
    return {p.relative_to(path).as_posix() for p in path.rglob("*")}


@pytest.mark.parametrize(
    "npi",
    [
        "../../escaped",
        "/tmp/absolute",
        "1234567890",
        None,
        1376745471,
        "13767454710",
        "１３７６７４５４７１",
        GOOD + "\n",
    ],
    ids=["dot-dot", "absolute", "check-digit", "null", "number", "eleven", "fullwidth", "final-newline"],
)
def test_a_bulk_file_with_a_hostile_npi_writes_nothing_and_exits_1(origin, tmp_path, capsys, npi):
    sync = load_example()
    publish(origin, [GOOD, npi])
    outside = tmp_path / "outside"
    outside.mkdir()
    code, err = run(sync, origin, tmp_path / "mirror" / "sub", capsys)
    assert code == 1 and err.startswith("error: not an NPI") and err.count("\n") == 1
    assert files_under(tmp_path / "mirror") <= {"sub", "sub/v1", "sub/v1/npi"}  # nothing written, no marker
    assert files_under(outside) == set() and not Path("/tmp/absolute.json").exists()


def test_a_change_feed_naming_a_path_outside_the_mirror_deletes_nothing(origin, tmp_path, capsys):
    sync = load_example()
    publish(origin, [GOOD])
    mirror = tmp_path / "mirror"
    assert run(sync, origin, mirror, capsys)[0] == 0
    victim = tmp_path / "victim.json"
    victim.write_text("keep me")
    publish(origin, [GOOD], latest=2)
    origin.objects["v1/changes/00000002.json"] = json.dumps(
        {"sequence": 2, "added": [], "changed": [], "removed": ["../../../victim"]}
    ).encode()
    code, err = run(sync, origin, mirror, capsys)
    assert code == 1 and "not an NPI" in err
    assert victim.read_text() == "keep me"
    assert json.loads((mirror / ".sync.json").read_text()) == {"sequence": 1}  # the marker did not move


def test_a_gzip_bomb_is_refused_without_inflating_it(origin, tmp_path, capsys, monkeypatch):
    sync = load_example()
    monkeypatch.setattr(sync, "MAX_BULK_BYTES", 1 << 20)
    publish(origin, [GOOD])
    line = json.dumps({"npi": GOOD, **entry()}).encode() + b"\n"
    bomb = gzip.compress(line * ((64 << 20) // len(line)))  # 64 MiB of entries in a few hundred KB
    origin.objects["v1/bulk/2024/scores.ndjson"] = (bomb, {"Content-Encoding": "gzip"})
    code, err = run(sync, origin, tmp_path / "mirror", capsys)
    assert len(bomb) < 1_000_000
    assert code == 1 and "inflates to more than 1,048,576 bytes" in err


def test_a_body_of_line_breaks_is_refused_at_its_first_line_in_bounded_memory(origin, tmp_path, capsys):
    """294 KB of gzip that inflates to 300 MiB of line breaks: read line by line as it arrives, the first (empty)
    line stops the run; nothing is inflated whole or split into a list of every line (it was: 1.98 GB)."""
    import tracemalloc

    sync = load_example()
    publish(origin, [GOOD])
    origin.objects["v1/bulk/2024/scores.ndjson"] = (gzip.compress(b"\n" * (300 << 20)), {"Content-Encoding": "gzip"})
    tracemalloc.start()
    try:
        code, err = run(sync, origin, tmp_path / "mirror", capsys)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert code == 1 and "line 1: not JSON" in err
    assert peak < 64 << 20, f"{peak:,} bytes at peak"


@pytest.mark.parametrize("damage", ["truncated", "two members"])
def test_a_gzip_stream_without_its_trailer_or_with_a_second_member_is_refused(damage, origin, tmp_path, capsys):
    sync = load_example()
    publish(origin, [GOOD])
    body, headers = origin.objects["v1/bulk/2024/scores.ndjson"]
    body = body[:-8] if damage == "truncated" else body + gzip.compress(b"\n" + json.dumps({"npi": GOOD}).encode())
    origin.objects["v1/bulk/2024/scores.ndjson"] = (body, headers)
    code, err = run(sync, origin, tmp_path / "mirror", capsys)
    assert code == 1
    assert ("ends early" in err) if damage == "truncated" else ("second member" in err)
    assert not (tmp_path / "mirror" / "v1" / "npi" / f"{GOOD}.json").exists()


def test_an_oversized_plain_body_is_refused(origin, tmp_path, capsys, monkeypatch):
    sync = load_example()
    monkeypatch.setattr(sync, "MAX_JSON_BYTES", 1000)
    origin.objects["v1/manifest.json"] = b" " * 5000
    code, err = run(sync, origin, tmp_path / "mirror", capsys)
    assert code == 1 and "v1/manifest.json: more than 1,000 bytes" in err


def test_a_feed_that_goes_backwards_or_jumps_without_end_is_refused(origin, tmp_path, capsys):
    sync = load_example()
    publish(origin, [GOOD], latest=5)
    mirror = tmp_path / "mirror"
    assert run(sync, origin, mirror, capsys)[0] == 0
    publish(origin, [GOOD], latest=3)
    code, err = run(sync, origin, mirror, capsys)
    assert code == 1 and "went backwards" in err
    publish(origin, [GOOD], latest=10**18)
    code, err = run(sync, origin, mirror, capsys)
    assert code == 1 and "jumped from 5" in err
    assert not any(r.startswith("v1/changes/") for r in origin.requests)  # nothing fetched, no endless loop


def test_the_manifests_key_pattern_is_never_used_to_build_a_key(origin, tmp_path, capsys):
    sync = load_example()
    publish(origin, [GOOD])
    mirror = tmp_path / "mirror"
    assert run(sync, origin, mirror, capsys)[0] == 0
    publish(origin, [GOOD], latest=2)
    manifest = json.loads(origin.objects["v1/manifest.json"])
    manifest["changes"]["key_pattern"] = "{sequence:>999999999}"  # a format spec that would ask for a gigabyte
    origin.objects["v1/manifest.json"] = json.dumps(manifest).encode()
    origin.objects["v1/changes/00000002.json"] = json.dumps(
        {"sequence": 2, "added": [ALSO_GOOD], "changed": [], "removed": []}
    ).encode()
    origin.objects[f"v1/npi/{ALSO_GOOD}.json"] = json.dumps({"npi": ALSO_GOOD, "latest": entry()}).encode()
    assert run(sync, origin, mirror, capsys) == (0, "")
    assert (mirror / "v1" / "npi" / f"{ALSO_GOOD}.json").exists()


@pytest.mark.parametrize(
    ("key", "body", "message"),
    [
        ("v1/manifest.json", b"{not json", "v1/manifest.json: not JSON"),
        ("v1/manifest.json", b"[]", "no manifest"),
        ("v1/manifest.json", json.dumps({"changes": {"latest": -1}, "releases": []}).encode(), "not a sequence"),
        ("v1/manifest.json", json.dumps({"changes": {"latest": True}, "releases": []}).encode(), "not a sequence"),
        ("v1/manifest.json", json.dumps({"changes": [], "releases": []}).encode(), "no change feed"),
        (
            "v1/bulk/2024/scores.ndjson",
            b'{"npi": "1376745471", "performance_year": 2024}\nnot json',
            "line 2: not JSON",
        ),
        ("v1/manifest.json", b"[" * 100_000 + b"]" * 100_000, "v1/manifest.json: not JSON"),
        (
            "v1/bulk/2024/scores.ndjson",
            b'{"npi": "1376745471", "performance_year": 2024}\n' + b"[" * 100_000 + b"]" * 100_000,
            "line 2: not JSON",
        ),
        (
            "v1/manifest.json",
            json.dumps({"changes": {"latest": 1}, "releases": [{"performance_year": 2024}]}).encode(),
            "no schema_version or no documents.source",
        ),
        (
            "v1/manifest.json",
            json.dumps(
                {
                    "schema_version": 1,
                    "documents": {},
                    "changes": {"latest": 1},
                    "releases": [{"performance_year": 2024}],
                }
            ).encode(),
            "no schema_version or no documents.source",
        ),
    ],
    ids=[
        "not-json",
        "a-list",
        "negative",
        "boolean",
        "feed-a-list",
        "bulk-line",
        "deep-manifest",
        "deep-line",
        "no-schema-version",
        "no-source",
    ],
)
def test_malformed_answers_stop_the_run_with_one_line(origin, tmp_path, capsys, key, body, message):
    sync = load_example()
    publish(origin, [GOOD])
    origin.objects[key] = body
    code, err = run(sync, origin, tmp_path / "mirror", capsys)
    assert code == 1 and message in err and err.count("\n") == 1 and "Traceback" not in err


def test_a_change_object_or_document_that_is_not_what_was_asked_for_is_refused(origin, tmp_path, capsys):
    sync = load_example()
    publish(origin, [GOOD])
    mirror = tmp_path / "mirror"
    assert run(sync, origin, mirror, capsys)[0] == 0
    publish(origin, [GOOD], latest=2)
    origin.objects["v1/changes/00000002.json"] = json.dumps(
        {"sequence": 7, "added": [], "changed": [], "removed": []}
    ).encode()
    assert "not the change object of sequence 2" in run(sync, origin, mirror, capsys)[1]
    origin.objects["v1/changes/00000002.json"] = json.dumps(
        {"sequence": 2, "added": [], "changed": [GOOD], "removed": []}
    ).encode()
    origin.objects[f"v1/npi/{GOOD}.json"] = json.dumps({"npi": ALSO_GOOD}).encode()
    assert f"not the document of NPI {GOOD}" in run(sync, origin, mirror, capsys)[1]


def test_a_symlink_in_the_mirror_is_not_followed(origin, tmp_path, capsys):
    sync = load_example()
    publish(origin, [GOOD])
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    mirror = tmp_path / "mirror"
    (mirror / "v1").mkdir(parents=True)
    (mirror / "v1" / "npi").symlink_to(elsewhere)
    code, err = run(sync, origin, mirror, capsys)
    assert code == 1 and "is a symbolic link: refused" in err
    assert list(elsewhere.iterdir()) == []


def test_a_planted_document_symlink_is_replaced_not_written_through(origin, tmp_path, capsys):
    sync = load_example()
    publish(origin, [GOOD])
    target = tmp_path / "target.txt"
    target.write_text("keep me")
    documents = tmp_path / "mirror" / "v1" / "npi"
    documents.mkdir(parents=True)
    (documents / f"{GOOD}.json").symlink_to(target)
    assert run(sync, origin, tmp_path / "mirror", capsys)[0] == 0
    assert target.read_text() == "keep me"
    assert not (documents / f"{GOOD}.json").is_symlink()


class RawOrigin:
    """A loopback origin that answers every connection with the same raw bytes (not necessarily HTTP)."""

    def __init__(self, answer: bytes) -> None:
        import socket

        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.base = f"http://127.0.0.1:{self.listener.getsockname()[1]}"

        def serve() -> None:
            while True:
                try:
                    conn, _ = self.listener.accept()
                except OSError:
                    return
                with conn:
                    conn.recv(65536)
                    conn.sendall(answer)

        threading.Thread(target=serve, daemon=True).start()


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (b"SPDY/9 lol\r\n\r\n", "BadStatusLine"),
        (b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(120)) + b"\r\n{}", "headers"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{}", "2 of 10 bytes arrived: the answer was cut short"),
    ],
    ids=["garbage-status-line", "120-headers", "short-body"],
)
def test_an_origin_that_does_not_speak_http_is_one_line(tmp_path, capsys, answer, message):
    sync = load_example()
    origin = RawOrigin(answer)
    code = sync.main(["sync_mirror.py", origin.base, str(tmp_path / "mirror")])
    err = capsys.readouterr().err
    origin.listener.close()
    assert code == 1 and err.startswith("error: v1/manifest.json: ") and err.count("\n") == 1, err
    assert message in err


def test_a_redirect_to_another_host_is_refused_and_the_same_origin_followed(origin, tmp_path, capsys):
    sync = load_example()
    publish(origin, [GOOD])
    manifest = origin.objects["v1/manifest.json"]
    origin.objects["v1/manifest.json"] = (b"", {"Location": "/v1/moved-manifest.json"}, 302)
    origin.objects["v1/moved-manifest.json"] = manifest
    assert run(sync, origin, tmp_path / "mirror", capsys) == (0, "")  # the same origin: followed
    other = Origin()
    try:
        other.objects["v1/manifest.json"] = manifest
        origin.objects["v1/manifest.json"] = (b"", {"Location": f"{other.base}/v1/manifest.json"}, 302)
        code, err = run(sync, origin, tmp_path / "elsewhere", capsys)
    finally:
        other.close()
    assert code == 1 and "v1/manifest.json: redirected to another origin (http://127.0.0.1:" in err
    assert other.requests == [] and err.count("\n") == 1


def test_a_fifo_as_the_marker_is_refused_not_waited_on(origin, tmp_path, capsys):
    import os

    sync = load_example()
    publish(origin, [GOOD])
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    os.mkfifo(mirror / ".sync.json")
    code, err = run(sync, origin, mirror, capsys)
    assert code == 1 and ".sync.json is not a regular file: refused" in err


def test_a_link_swapped_in_while_the_origin_answers_redirects_nothing(origin, tmp_path, capsys):
    """The origin decides how long the run waits: here the document directory is swapped for a link to another
    directory while the bulk file is being asked for. Nothing is written there, and the run fails by name."""
    import os

    sync = load_example()
    publish(origin, [GOOD, ALSO_GOOD])
    mirror, victim = tmp_path / "mirror", tmp_path / "victim"
    victim.mkdir()
    (victim / f"{GOOD}.json").write_text("keep")
    real = sync.fetch_lines

    def swap_then_fetch(base, key, limit):
        os.rename(mirror / "v1" / "npi", tmp_path / "moved-away")
        (mirror / "v1" / "npi").symlink_to(victim)
        return real(base, key, limit)

    sync.fetch_lines = swap_then_fetch
    code, err = run(sync, origin, mirror, capsys)
    assert {p.name: p.read_text() for p in victim.iterdir()} == {f"{GOOD}.json": "keep"}
    assert code == 1 and f"{mirror / 'v1' / 'npi'} was replaced during the run" in err
    assert not (mirror / ".sync.json").exists()  # no marker: the next run starts again
