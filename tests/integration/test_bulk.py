"""Bulk files and the change feed: a whole year in one file, and only what changed, never disagreeing with
the documents."""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import json
import threading
from pathlib import Path

import orjson
import pytest

from mips_profiles.adapters.http import HttpClient, UrlPolicy
from mips_profiles.adapters.local_state import LocalStateStore
from mips_profiles.adapters.local_store import LocalDirStore
from mips_profiles.consumers.serve import make_server
from mips_profiles.core.contract import load_contract
from mips_profiles.keys import bulk_key, change_key
from mips_profiles.orchestration.refresh import Refresher
from mips_profiles.publishing.bulk import BULK_FORMATS
from mips_profiles.publishing.publish import Publisher, ReleaseInfo
from mips_profiles.sandbox.cms_standin import CmsStandIn
from mips_profiles.sandbox.generator import generate_table, make_correction, write_csv

ROOT = Path(__file__).parents[2]


def manifest(tree: Path) -> dict:
    return json.loads((tree / "v1" / "manifest.json").read_text())


def documents(tree: Path) -> dict[str, bytes]:
    return {p.stem: p.read_bytes() for p in (tree / "v1" / "npi").glob("*.json")}


def test_the_bulk_file_of_a_year_equals_the_documents_entries_of_that_year(published_tree):
    docs = documents(published_tree)
    for release in manifest(published_tree)["releases"]:
        year, listed = release["performance_year"], release["bulk"]["ndjson"]
        stored = (published_tree / bulk_key(year, "ndjson")).read_bytes()
        content = gzip.decompress(stored)
        assert listed["key"] == bulk_key(year, "ndjson") and listed["content_encoding"] == "gzip"
        assert listed["size"] == len(stored) and listed["uncompressed_size"] == len(content)
        assert listed["sha256"] == hashlib.sha256(content).hexdigest()
        lines = content.splitlines()
        expected = {
            npi: next(e for e in orjson.loads(d)["history"] if e["performance_year"] == year)
            for npi, d in docs.items()
            if f'"performance_year":{year},'.encode() in d
        }
        assert listed["rows"] == len(lines) == len(expected) == release["npis"]
        for line in lines:
            entry = orjson.loads(line)
            npi = entry.pop("npi")
            assert entry == expected[npi]
            # the same bytes as in the document: the line is the entry with the NPI in front
            assert b'{"npi":"%s",' % npi.encode() + orjson.dumps(expected[npi])[1:] == line
            assert orjson.dumps(expected[npi]) in docs[npi]


def test_the_csv_flavour_has_the_contracts_displayed_fields_and_the_same_numbers(published_tree):
    contract = load_contract()
    release = manifest(published_tree)["releases"][0]
    content = gzip.decompress((published_tree / bulk_key(release["performance_year"], "csv")).read_bytes())
    header, *rows = content.decode().splitlines()
    assert header.split(",") == list(contract.public_fields())
    assert not set(header.split(",")) & {f.name for f in contract.fields if not f.display_allowed}
    ndjson = gzip.decompress((published_tree / bulk_key(release["performance_year"], "ndjson")).read_bytes())
    assert len(rows) == release["bulk"]["csv"]["rows"] == len(ndjson.splitlines())
    first = orjson.loads(ndjson.splitlines()[0])
    cells = dict(zip(header.split(","), rows[0].split(","), strict=True))
    assert cells["npi"] == first["npi"]
    assert cells["final_score"] == ("" if first["final_score"] is None else json.dumps(first["final_score"]))
    quality = first["category_scores"]["quality"]
    assert cells["quality_category_score"] == ("" if quality is None else json.dumps(quality))


def write(table, path: Path) -> bytes:
    write_csv(table, path)
    return path.read_bytes()


class Site:
    """CMS on loopback, a refresh into a local tree, and the tree served as the CDN would serve it."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.tree = tmp_path / "tree"
        self.publisher = Publisher(LocalDirStore(self.tree), LocalDirStore(tmp_path / "private"))
        self.http = HttpClient(urls=UrlPolicy(allow_loopback_http=True))
        self.state = LocalStateStore(tmp_path / "state.json")

    def refresh(self, cms: CmsStandIn, **kw):
        return Refresher(self.http, self.publisher, self.state, raw=LocalDirStore(self.tmp / "private")).run(
            cms.catalog_url, None, **kw
        )


@pytest.fixture
def site(tmp_path):
    return Site(tmp_path)


def load_example():
    spec = importlib.util.spec_from_file_location("sync_mirror", ROOT / "examples" / "sync_mirror.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_mirror_synced_from_the_bulk_files_then_the_change_feed_equals_the_published_documents(site, tmp_path):
    sync = load_example()
    tables = {year: generate_table(year, 400, seed=year) for year in (2023, 2024)}
    with CmsStandIn() as cms:
        for year, table in tables.items():
            cms.publish_qpp(year, write(table, tmp_path / f"{year}.csv"), "2025-07-28")
        site.refresh(cms)
        server = make_server(site.tree, port=0, quiet=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_address[1]}"
        try:
            mirror = tmp_path / "mirror"
            # From scratch: the bulk files of both years, one request each
            first = sync.sync(base, mirror)
            assert first == {"bootstrapped": len(documents(site.tree)), "sequence": 2}
            assert documents(mirror) == documents(site.tree)
            # CMS corrects PY2024: changed, added and removed NPIs
            published_2024 = next(r for r in manifest(site.tree)["releases"] if r["performance_year"] == 2024)
            fix = make_correction(tables[2024], changed_share=0.05, removed=3, added=4)
            cms.publish_qpp(2024, write(fix.table, tmp_path / "fix.csv"), "2025-09-15")
            site.refresh(cms)
            change = json.loads((site.tree / change_key(3)).read_text())
            assert (set(change["added"]), set(change["changed"]), set(change["removed"])) == (
                set(fix.added),
                set(fix.changed),
                set(fix.removed),
            )
            assert change["previous_release_id"] == published_2024["release_id"] != change["release_id"]
            # Then the change feed alone brings the mirror to the published documents, byte for byte
            second = sync.sync(base, mirror)
            assert second == {"applied": [3], "sequence": 3}
            assert documents(mirror) == documents(site.tree)
            assert sync.sync(base, mirror) == {"applied": [], "sequence": 3}
        finally:
            server.shutdown()
            server.server_close()


def test_an_unchanged_refresh_and_a_republish_of_the_same_file_write_no_bulk_or_change_object(site, tmp_path):
    with CmsStandIn() as cms:
        cms.publish_qpp(2024, write(generate_table(2024, 300, seed=3), tmp_path / "a.csv"), "2025-07-28")
        site.refresh(cms)
        before = {
            p: (p.stat().st_mtime_ns, p.read_bytes())
            for p in (site.tree / "v1").rglob("*")
            if p.is_file() and ("bulk" in p.parts or "changes" in p.parts)
        }
        assert len(before) == 3  # two bulk files and the first change object
        report = site.refresh(cms)  # nothing changed at CMS
        assert [o.decision for o in report.outcomes] == ["unchanged"]
        site.refresh(cms, performance_year=2024, force=True)  # the same file published again
        after = {
            p: (p.stat().st_mtime_ns, p.read_bytes())
            for p in (site.tree / "v1").rglob("*")
            if p.is_file() and ("bulk" in p.parts or "changes" in p.parts)
        }
        assert after == before
        assert manifest(site.tree)["changes"]["latest"] == 1


def test_a_year_with_no_change_keeps_its_bulk_files_when_another_year_is_published(site, tmp_path):
    with CmsStandIn() as cms:
        cms.publish_qpp(2023, write(generate_table(2023, 200, seed=1), tmp_path / "a.csv"), "2025-07-21")
        site.refresh(cms)
        key = site.tree / bulk_key(2023, "ndjson")
        stamp = key.stat().st_mtime_ns
        cms.publish_qpp(2024, write(generate_table(2024, 200, seed=2), tmp_path / "b.csv"), "2025-07-28")
        site.refresh(cms)
        assert key.stat().st_mtime_ns == stamp
        assert [r["performance_year"] for r in manifest(site.tree)["releases"]] == [2024, 2023]
        assert all(set(r["bulk"]) == set(BULK_FORMATS) for r in manifest(site.tree)["releases"])


def test_the_manifest_keeps_a_bounded_list_of_recent_change_objects(tmp_path, monkeypatch, sample_file):
    from mips_profiles.publishing import manifest as manifest_module

    monkeypatch.setattr(manifest_module, "RECENT_CHANGES", 2)
    publisher = Publisher(LocalDirStore(tmp_path / "t"), LocalDirStore(tmp_path / "p"))
    for seed in range(3):
        path = tmp_path / f"{seed}.csv"
        write_csv(generate_table(2024, 50, seed=seed), path)
        publisher.publish_file(path, ReleaseInfo(2024))
    feed = manifest(tmp_path / "t")["changes"]
    assert feed["latest"] == 3 and [c["sequence"] for c in feed["recent"]] == [3, 2]
    assert all((tmp_path / "t" / change_key(n)).exists() for n in (1, 2, 3))  # older ones stay at their keys


def test_serve_sends_a_bulk_file_as_stored_gzip(published_tree):
    import http.client

    server = make_server(published_tree, port=0, quiet=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=10)
        conn.request("GET", "/" + bulk_key(2024, "ndjson"))
        response = conn.getresponse()
        body = response.read()
        assert response.status == 200
        assert response.headers["Content-Encoding"] == "gzip"
        assert response.headers["Content-Type"] == BULK_FORMATS["ndjson"]
        assert body == (published_tree / bulk_key(2024, "ndjson")).read_bytes()
        conn.request("GET", "/" + bulk_key(2024, "csv"))
        response = conn.getresponse()
        assert response.headers["Content-Type"] == "text/csv; charset=utf-8" and response.read()
    finally:
        server.shutdown()
        server.server_close()


def test_when_documents_are_rebuilt_every_years_bulk_files_follow(tmp_path, sample_file):
    """A new contract or methodology changes every document's bytes: the bulk files of every year, not
    only the year being published, are rebuilt with them (they never disagree with the documents)."""
    import dataclasses

    contract = load_contract()
    locked = dataclasses.replace(
        contract,
        fields=tuple(
            dataclasses.replace(f, display_allowed=False) if f.name == "participation_option" else f
            for f in contract.fields
        ),
    )
    tree, private = LocalDirStore(tmp_path / "t"), LocalDirStore(tmp_path / "p")
    for year in (2023, 2024):
        Publisher(tree, private).publish_file(sample_file(year), ReleaseInfo(year))
    Publisher(tree, private, contract=locked).publish_file(sample_file(2024), ReleaseInfo(2024))
    docs = documents(tmp_path / "t")
    assert not [d for d in docs.values() if b"participation_option" in d]
    for year in (2023, 2024):
        content = gzip.decompress((tmp_path / "t" / bulk_key(year, "ndjson")).read_bytes())
        assert b"participation_option" not in content
        for line in content.splitlines()[:50]:
            entry = orjson.loads(line)
            assert orjson.dumps({k: v for k, v in entry.items() if k != "npi"}) in docs[entry["npi"]]
        header = gzip.decompress((tmp_path / "t" / bulk_key(year, "csv")).read_bytes()).split(b"\n")[0]
        assert b"participation_option" not in header
    listed = {r["performance_year"]: r["bulk"]["ndjson"]["sha256"] for r in manifest(tmp_path / "t")["releases"]}
    assert (
        listed[2023]
        == hashlib.sha256(gzip.decompress((tmp_path / "t" / bulk_key(2023, "ndjson")).read_bytes())).hexdigest()
    )


def readme_bulk_lines() -> list[str]:
    text = (ROOT / "docs" / "public-api.md").read_text()
    block = text.split("### Bulk files and the change feed", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


def test_the_documented_lines_read_a_bulk_file_into_duckdb_and_pandas(published_tree, tmp_path):
    import os
    import shutil
    import subprocess
    import sys

    assert shutil.which("curl"), "curl is needed (apt-get install curl)"
    lines = readme_bulk_lines()
    assert [line.split()[0] for line in lines] == ["curl", "python", "python"]
    server = make_server(published_tree, port=0, quiet=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    try:
        outputs = []
        for line in lines:
            command = line.replace("https://$API", f"http://127.0.0.1:{server.server_address[1]}")
            done = subprocess.run(
                ["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
            )
            assert done.returncode == 0, done.stderr
            outputs.append(done.stdout)
    finally:
        server.shutdown()
        server.server_close()
    rows = manifest(published_tree)["releases"][0]["bulk"]["ndjson"]["rows"]
    assert (tmp_path / "scores-2024.ndjson").read_bytes() == gzip.decompress(
        (published_tree / bulk_key(2024, "ndjson")).read_bytes()
    )
    assert str(rows) in outputs[1]  # duckdb's count
    assert "count" in outputs[2] and "mean" in outputs[2]  # pandas' describe


def _parts(private: Path, year: int) -> dict[str, tuple[int, bytes]]:
    return {
        p.name: (p.stat().st_mtime_ns, p.read_bytes())
        for p in (private / "index" / "bulk" / f"py={year}").glob("*.part")
    }


def test_a_bulk_file_is_one_gzip_member_whatever_parts_it_was_assembled_from(published_tree):
    """Browsers and ``curl --compressed`` read only the first member of a concatenated gzip: the per-shard
    parts must be joined inside one member, and its CRC-32 and length must be those of the whole text."""
    import zlib

    for fmt in BULK_FORMATS:
        stored = (published_tree / bulk_key(2024, fmt)).read_bytes()
        reader = zlib.decompressobj(16 + zlib.MAX_WBITS)  # one member only, as a browser reads it
        content = reader.decompress(stored)
        assert reader.eof and reader.unused_data == b"", "more than one gzip member"
        assert content == gzip.decompress(stored)
        assert stored[:10] == b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # no name, mtime 0: deterministic
    assert len(_parts(published_tree.parent / "tree.private", 2024)) > 1  # assembled from several parts


def test_a_correction_recompresses_only_the_shards_it_changed_and_the_files_stay_exact(tmp_path):
    from mips_profiles.publishing.ledger import shard_of

    table = generate_table(2024, 2000, seed=5)
    tree, private = tmp_path / "t", tmp_path / "p"
    publisher = Publisher(LocalDirStore(tree), LocalDirStore(private))
    publisher.publish_file(write_path(table, tmp_path / "a.csv"), ReleaseInfo(2024))
    before = _parts(private, 2024)
    fix = make_correction(table, changed_share=0.002, removed=0, added=0)
    result = publisher.publish_file(write_path(fix.table, tmp_path / "b.csv"), ReleaseInfo(2024))
    assert result.docs_written == len(fix.changed) > 0
    after = _parts(private, 2024)
    touched = {f"shard={s:02d}.part" for s in shard_of(pa_array(sorted(fix.changed))).tolist()}
    rewritten = {name for name in after if after[name] != before.get(name)}
    assert rewritten == touched and len(touched) < len(after)
    fresh = Publisher(LocalDirStore(tmp_path / "t2"), LocalDirStore(tmp_path / "p2"))
    fresh.publish_file(tmp_path / "b.csv", ReleaseInfo(2024))
    listed = manifest(tree)["releases"][0]["bulk"]
    for fmt in BULK_FORMATS:
        # byte for byte what a publish of the corrected file from scratch makes, and listed exactly
        stored = (tree / bulk_key(2024, fmt)).read_bytes()
        assert stored == (tmp_path / "t2" / bulk_key(2024, fmt)).read_bytes()
        assert listed[fmt]["sha256"] == hashlib.sha256(gzip.decompress(stored)).hexdigest()
        assert listed[fmt]["size"] == len(stored)


def test_a_damaged_or_foreign_bulk_part_is_rebuilt_from_the_entries_not_published(tmp_path):
    table = generate_table(2024, 600, seed=8)
    tree, private = tmp_path / "t", tmp_path / "p"
    publisher = Publisher(LocalDirStore(tree), LocalDirStore(private))
    publisher.publish_file(write_path(table, tmp_path / "a.csv"), ReleaseInfo(2024))
    good = {fmt: (tree / bulk_key(2024, fmt)).read_bytes() for fmt in BULK_FORMATS}
    parts = sorted((private / "index" / "bulk" / "py=2024").glob("*.part"))
    parts[0].write_bytes(parts[0].read_bytes()[:-7])  # truncated
    parts[1].write_bytes(parts[2].read_bytes())  # another shard's part, tagged with that shard's entries
    (private / "index" / "bulk" / "py=2024" / "summary.json").write_text("{")  # unreadable: hashed again
    for fmt in BULK_FORMATS:
        (tree / bulk_key(2024, fmt)).unlink()
    report = publisher.repairer().repair()
    assert {bulk_key(2024, fmt) for fmt in BULK_FORMATS} <= set(report.restored)
    assert {fmt: (tree / bulk_key(2024, fmt)).read_bytes() for fmt in BULK_FORMATS} == good


def write_path(table, path: Path) -> Path:
    write_csv(table, path)
    return path


def pa_array(values):
    import pyarrow as pa

    return pa.array(values, pa.string())
