"""Publishing into a local tree: history, corrections, unchanged runs, failures that change nothing."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import jsonschema
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mips_profiles.adapters.local_store import LocalDirStore
from mips_profiles.publishing.publish import Publisher, ReleaseInfo
from mips_profiles.sandbox.generator import make_correction

from helpers import set_cells, snapshot, write


def documents(tree: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_bytes()) for p in (tree / "v1" / "npi").glob("*.json")}


def test_publish_prints_counts_as_one_json_line_last(run_cli, sample_file, sample_table, tree):
    result = run_cli("publish", "--performance-year", 2024, "--source", sample_file(2024), "--out", tree, "--json")
    assert result.code == 0, result.err
    npis = len(set(sample_table(2024).column("npi").to_pylist()))
    assert result.json == {
        "performance_year": 2024,
        "release_id": result.json["release_id"],
        "rows_read": 600,
        "rows_rejected": 0,
        "docs_written": npis,
        "docs_unchanged": 0,
        "docs_deleted": 0,
        "unknown_columns": [],
        "final_score_check": result.json["final_score_check"],
        "warnings": [],
    }
    check = result.json["final_score_check"]
    table = sample_table(2024)
    scored = {n for n, s in zip(table["npi"].to_pylist(), table["final score"].to_pylist(), strict=True) if s}
    assert check["entries_with_final_score"] == len(scored)
    assert 0.9 < check["share"] == round(check["reproduced"] / len(scored), 4) < 1  # the generator's 2% made off
    assert len(documents(tree)) == npis
    assert (tree / "v1" / "manifest.json").exists() and (tree / "v1" / "schema" / "profile.schema.json").exists()


def test_every_published_document_validates_against_the_published_schema(run_cli, sample_file, tree):
    for year in (2019, 2022, 2024):
        assert run_cli("publish", "--performance-year", year, "--source", sample_file(year), "--out", tree).code == 0
    schema = json.loads((tree / "v1" / "schema" / "profile.schema.json").read_bytes())
    validator = jsonschema.Draft202012Validator(schema)
    docs = documents(tree)
    assert docs
    for doc in docs.values():
        validator.validate(doc)


def test_a_second_year_adds_history_to_existing_documents(run_cli, sample_file, sample_table, tree):
    run_cli("publish", "--performance-year", 2023, "--source", sample_file(2023), "--out", tree)
    run_cli("publish", "--performance-year", 2024, "--source", sample_file(2024), "--out", tree)
    both = set(sample_table(2023).column("npi").to_pylist()) & set(sample_table(2024).column("npi").to_pylist())
    assert both, "generator should give clinicians who appear in both years"
    doc = documents(tree)[sorted(both)[0]]
    assert [e["performance_year"] for e in doc["history"]] == [2024, 2023]
    assert doc["latest"]["performance_year"] == 2024
    manifest = json.loads((tree / "v1" / "manifest.json").read_bytes())
    assert [r["performance_year"] for r in manifest["releases"]] == [2024, 2023]
    assert manifest["documents"]["count"] == len(documents(tree))


def test_publishing_the_same_file_again_writes_nothing(run_cli, sample_file, tree):
    run_cli("publish", "--performance-year", 2024, "--source", sample_file(2024), "--out", tree)
    before = {p: p.stat().st_mtime_ns for p in (tree / "v1" / "npi").glob("*.json")}
    again = run_cli("publish", "--performance-year", 2024, "--source", sample_file(2024), "--out", tree, "--json")
    assert again.json["docs_written"] == 0 and again.json["docs_unchanged"] == len(before)
    assert {p: p.stat().st_mtime_ns for p in (tree / "v1" / "npi").glob("*.json")} == before


def test_a_correction_rewrites_only_changed_documents(run_cli, sample_table, tmp_path, tree):
    # Given PY2024 published alone (so a withdrawn NPI has no other year)
    original = sample_table(2024)
    run_cli("publish", "--performance-year", 2024, "--source", write(original, tmp_path / "a.csv"), "--out", tree)
    before = {npi: (tree / "v1" / "npi" / f"{npi}.json").read_bytes() for npi in documents(tree)}
    # When CMS corrects it: some scores revised, some NPIs withdrawn, some added
    fix = make_correction(original, changed_share=0.02, removed=2, added=2)
    result = run_cli(
        "publish", "--performance-year", 2024, "--source", write(fix.table, tmp_path / "b.csv"), "--out", tree, "--json"
    )
    # Then exactly the changed and added documents are written and the withdrawn ones deleted
    assert result.json["docs_written"] == len(fix.changed) + len(fix.added)
    assert result.json["docs_deleted"] == len(fix.removed)
    after = documents(tree)
    for npi in fix.removed:
        assert npi not in after
    for npi in fix.added:
        assert npi in after
    for npi in fix.changed:
        assert after[npi]["latest"]["final_score"] != json.loads(before[npi])["latest"]["final_score"]
    untouched = set(before) - set(fix.changed) - set(fix.removed)
    for npi in untouched:
        assert (tree / "v1" / "npi" / f"{npi}.json").read_bytes() == before[npi]


def test_an_npi_withdrawn_from_one_year_keeps_its_other_years(run_cli, sample_table, tmp_path, tree):
    t23, t24 = sample_table(2023), sample_table(2024)
    shared = sorted(set(t23.column("npi").to_pylist()) & set(t24.column("npi").to_pylist()))[0]
    run_cli("publish", "--performance-year", 2023, "--source", write(t23, tmp_path / "a.csv"), "--out", tree)
    run_cli("publish", "--performance-year", 2024, "--source", write(t24, tmp_path / "b.csv"), "--out", tree)
    import pyarrow.compute as pc

    without = t24.filter(pc.not_equal(t24.column("npi"), shared))
    run_cli("publish", "--performance-year", 2024, "--source", write(without, tmp_path / "c.csv"), "--out", tree)
    doc = documents(tree)[shared]
    assert [e["performance_year"] for e in doc["history"]] == [2023]


def test_the_audit_record_keeps_every_field_with_its_provenance(run_cli, sample_file, sample_table, tree, private):
    result = run_cli("publish", "--performance-year", 2024, "--source", sample_file(2024), "--out", tree, "--json")
    release_id = result.json["release_id"]
    audit = pq.read_table(private / "audit" / "py=2024" / f"release={release_id}" / "audit.parquet")
    source = sample_table(2024)
    assert audit.num_rows == source.num_rows
    for column in (
        "practice_state",
        "clinician_specialty",
        "provider_key",
        "quality_measure_id_1",
        "source_line",
        "source_sha256",
        "release_id",
        "performance_year",
    ):
        assert column in audit.column_names
    assert audit.column("practice_state").to_pylist() == source.column("practice state or us territory").to_pylist()
    assert audit.column("source_line").to_pylist()[:3] == [2, 3, 4]
    import hashlib

    file_sha = hashlib.sha256(sample_file(2024).read_bytes()).hexdigest()
    assert set(audit.column("source_sha256").to_pylist()) == {file_sha}
    assert set(audit.column("release_id").to_pylist()) == {release_id} and release_id == f"2024-{file_sha[:16]}"


def test_rejected_rows_are_written_to_a_quarantine_report(run_cli, sample_table, tmp_path, tree, private):
    table = set_cells(sample_table(2024), "npi", {4: "1234567890"})
    result = run_cli(
        "publish", "--performance-year", 2024, "--source", write(table, tmp_path / "f.csv"), "--out", tree, "--json"
    )
    assert result.json["rows_rejected"] == 1
    report = next((private / "quarantine").rglob("rejected.csv")).read_text()
    assert report.splitlines()[0] == '"line","npi","reason"'
    assert '6,"1234567890","npi \'1234567890\' has a wrong check digit"' in report


BAD_FILES = {
    "empty": lambda good: b"",
    "header only": lambda good: good.split(b"\n", 1)[0] + b"\n",
    "html": lambda good: b"<html><body>Bad gateway</body></html>\n",
    "json": lambda good: b'{"message": "Internal server error"}\n',
    "gzip": lambda good: __import__("gzip").compress(good),
    "truncated": lambda good: good[:-20],
    "malformed record": lambda good: good.replace(b"\n", b"\n1234567893,x\n", 1),
    "not UTF-8": lambda good: good.replace(b"Group", b"Gr\xf6up", 1),
    "missing required column": lambda good: good.replace(b"final score", b"final_scr", 1),
    "duplicate column": lambda good: good.replace(b"complex patient bonus", b"final score", 1),
    "too many rejects": lambda good: good.replace(b",Group,", b",Solo,"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_a_bad_file_changes_nothing_and_exits_non_zero(case, run_cli, sample_file, tmp_path, tree, private):
    # Given a published tree
    run_cli("publish", "--performance-year", 2024, "--source", sample_file(2024), "--out", tree)
    before = snapshot(tree, private)
    # When a bad file for the same year arrives
    bad = tmp_path / "bad.csv"
    bad.write_bytes(BAD_FILES[case](sample_file(2024).read_bytes()))
    result = run_cli("publish", "--performance-year", 2024, "--source", bad, "--out", tree, "--json")
    # Then: one-line error, non-zero exit, no JSON, and the tree and private data are byte-identical
    assert result.code == 1
    assert result.err.startswith("error: ") and result.err.count("\n") == 1
    assert result.out == ""
    assert snapshot(tree, private) == before


def test_a_wrong_layout_or_unsupported_year_changes_nothing(run_cli, sample_file, tree, private):
    run_cli("publish", "--performance-year", 2024, "--source", sample_file(2024), "--out", tree)
    before = snapshot(tree, private)
    wrong = run_cli("publish", "--performance-year", 2024, "--source", sample_file(2019), "--out", tree)
    unsupported = run_cli("publish", "--performance-year", 2031, "--source", sample_file(2024), "--out", tree)
    missing = run_cli("publish", "--performance-year", 2024, "--source", tree / "nope.csv", "--out", tree)
    assert "columns belong to the PY2017-2021 layout" in wrong.err
    assert "performance year 2031 is not supported" in unsupported.err
    assert "cannot read source file" in missing.err
    assert {wrong.code, unsupported.code, missing.code} == {1}
    assert snapshot(tree, private) == before


class CrashOnManifest(LocalDirStore):
    def write(self, key, data, **kw):
        if key == "v1/manifest.json":
            raise OSError("disk went away")
        super().write(key, data, **kw)


def test_the_manifest_is_written_last_and_a_rerun_converges(sample_table, tmp_path, tree, private):
    t = sample_table(2024)
    first, second = write(t, tmp_path / "a.csv"), tmp_path / "b.csv"
    Publisher(LocalDirStore(tree), LocalDirStore(private)).publish_file(first, ReleaseInfo(2024))
    fix = make_correction(t, changed_share=0.05)
    write(fix.table, second)
    manifest_before = (tree / "v1" / "manifest.json").read_bytes()
    # When a publish dies just before the manifest
    with pytest.raises(OSError):
        Publisher(CrashOnManifest(tree), LocalDirStore(private)).publish_file(second, ReleaseInfo(2024))
    # Then the old manifest is still in place and every document it implies exists
    assert (tree / "v1" / "manifest.json").read_bytes() == manifest_before
    # And a rerun converges to the same tree as a clean run
    Publisher(LocalDirStore(tree), LocalDirStore(private)).publish_file(second, ReleaseInfo(2024))
    clean_tree, clean_private = tmp_path / "clean", tmp_path / "clean.private"
    clean = Publisher(LocalDirStore(clean_tree), LocalDirStore(clean_private))
    clean.publish_file(first, ReleaseInfo(2024))
    clean.publish_file(second, ReleaseInfo(2024))

    def docs(root):
        return {p.name: p.read_bytes() for p in (root / "v1" / "npi").glob("*.json")}

    assert docs(tree) == docs(clean_tree)


def test_private_data_never_lands_in_the_public_tree(run_cli, sample_file, tree, private):
    run_cli("publish", "--performance-year", 2024, "--source", sample_file(2024), "--out", tree)
    public_files = [p.relative_to(tree).as_posix() for p in tree.rglob("*") if p.is_file()]
    assert all(f.startswith("v1/") for f in public_files)
    assert not any(f.endswith(".parquet") for f in public_files)
    # the only public CSV is the bulk file of public fields (the quarantine report of rejected rows is private)
    assert [f for f in public_files if f.endswith(".csv")] == ["v1/bulk/2024/scores.csv"]
    assert any(private.rglob("*.parquet"))
    # nor does the operator's local path: the manifest names the file by its SHA-256
    source_dir = str(sample_file(2024).parent)

    def text(f: str) -> str:
        data = (tree / f).read_bytes()
        return (gzip.decompress(data) if f.startswith("v1/bulk/") else data).decode("utf-8")

    assert not [f for f in public_files if source_dir in text(f)]
    release = json.loads((tree / "v1/manifest.json").read_text())["releases"][0]
    assert release["source_url"] is None and len(release["source_sha256"]) == 64


def test_the_console_script_is_installed(tmp_path):
    import os
    import shutil
    import subprocess
    import sys

    # the script installed beside this interpreter (the venv's bin/), whether or not it is on PATH:
    # `pytest` run directly from a fresh clone's .venv passes too
    exe = shutil.which("mips-profiles", path=os.path.dirname(sys.executable))
    assert exe, f"mips-profiles console script not installed beside {sys.executable}"
    out = subprocess.run(
        [
            exe,
            "publish",
            "--performance-year",
            "2024",
            "--source",
            str(tmp_path / "missing.csv"),
            "--out",
            str(tmp_path / "t"),
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 1
    assert out.stderr.startswith("error: cannot read source file")


def test_entries_snapshot_matches_the_documents(run_cli, sample_file, tree, private):
    run_cli("publish", "--performance-year", 2024, "--source", sample_file(2024), "--out", tree)
    entries = pq.read_table(private / "entries" / "py=2024")
    docs = documents(tree)
    assert entries.num_rows == len(docs)
    row = entries.slice(0, 1).to_pylist()[0]
    assert docs[row["npi"]]["latest"]["final_score"] == row["final_score"]
    assert isinstance(entries, pa.Table)


def test_a_large_drop_is_refused_unless_forced(run_cli, sample_table, tmp_path, tree, private):
    full = sample_table(2024)
    run_cli("publish", "--performance-year", 2024, "--source", write(full, tmp_path / "a.csv"), "--out", tree)
    before = snapshot(tree, private)
    short = write(full.slice(0, int(full.num_rows * 0.85)), tmp_path / "b.csv")
    refused = run_cli("publish", "--performance-year", 2024, "--source", short, "--out", tree)
    assert refused.code == 1
    assert "accepted rows fell 15.0% from the last release (600 -> 510; limit 10%)" in refused.err
    assert snapshot(tree, private) == before
    forced = run_cli("publish", "--performance-year", 2024, "--source", short, "--out", tree, "--force", "--json")
    assert forced.code == 0 and forced.json["rows_read"] == 510


def test_two_local_runs_at_once_are_refused_by_the_lock(run_cli, sample_file, tree, private):
    from mips_profiles.adapters.local_store import LocalRunLock

    with LocalRunLock(private):
        second = run_cli("publish", "--performance-year", 2024, "--source", sample_file(2024), "--out", tree)
    assert second.code == 1 and "another run holds the lock" in second.err
    assert not (tree / "v1").exists()


def test_only_npis_whose_entries_changed_are_rebuilt():
    import pyarrow as pa

    from mips_profiles.core.documents import ENTRY_SCHEMA
    from mips_profiles.publishing.publish import changed_npis

    def entries(rows):
        base = {
            "performance_year": 2024,
            "final_score": 90.0,
            "payment_adjustment_pct": 1.0,
            "participation_option": "Group",
            "quality_category_score": None,
            "pi_category_score": None,
            "ia_category_score": 40.0,
            "cost_category_score": None,
            "scored_practices": 1,
        }
        return pa.Table.from_pylist([{**base, **r} for r in rows], schema=ENTRY_SCHEMA)

    old = entries(
        [
            {"npi": "1000000004"},
            {"npi": "1000000012"},
            {"npi": "1000000020", "final_score": None},
            {"npi": "1000000038"},
        ]
    )
    new = entries(
        [
            {"npi": "1000000004"},
            {"npi": "1000000012", "final_score": 89.5},
            {"npi": "1000000020", "final_score": None},
            {"npi": "1000000046"},
        ]
    )
    assert sorted(changed_npis(old, new).to_pylist()) == ["1000000012", "1000000038", "1000000046"]


def test_a_new_document_builder_rewrites_every_document(sample_file, tmp_path, tree, private):
    # Given a tree published with one display contract
    import json
    from importlib import resources

    from mips_profiles.core.contract import load_contract

    Publisher(LocalDirStore(tree), LocalDirStore(private)).publish_file(sample_file(2024), ReleaseInfo(2024))
    # When the contract changes (cost is write-locked now) and the same file is published again
    raw = json.loads((resources.files("mips_profiles") / "data/display_contract.json").read_text("utf-8"))
    for f in raw["fields"]:
        if f["name"] == "cost_category_score":
            f["display_allowed"] = False
    (tmp_path / "c.json").write_text(json.dumps(raw))
    contract = load_contract(str(tmp_path / "c.json"))
    result = Publisher(LocalDirStore(tree), LocalDirStore(private), contract=contract).publish_file(
        sample_file(2024), ReleaseInfo(2024)
    )
    # Then every document is rewritten without the field, even though no entry changed
    assert result.docs_written == len(documents(tree)) and result.docs_unchanged == 0
    assert all("cost" not in d["latest"]["category_scores"] for d in documents(tree).values())
    again = Publisher(LocalDirStore(tree), LocalDirStore(private), contract=contract).publish_file(
        sample_file(2024), ReleaseInfo(2024)
    )
    assert again.docs_written == 0


def test_a_first_publish_makes_every_document_visible_at_once(tmp_path):
    store = LocalDirStore(tmp_path / "tree")
    # Given an empty tree, inside a publish-together block
    with store.publish_together("v1/npi/") as together:
        assert together
        store.write_many([("v1/npi/1376745471.json", b"{}"), ("v1/npi/1234567893.json", b"[]")])
        store.delete_many(["v1/npi/1234567893.json"])
        # Then nothing is visible or readable before the block ends
        assert not (tmp_path / "tree" / "v1" / "npi").exists()
        assert store.read("v1/npi/1376745471.json") is None
    # And everything is, after it, with no temporary file left beside
    assert sorted(p.name for p in (tmp_path / "tree" / "v1").iterdir()) == ["npi"]
    assert [p.name for p in (tmp_path / "tree" / "v1" / "npi").iterdir()] == ["1376745471.json"]
    # And where documents exist already, writes go one by one, each visible at once
    with store.publish_together("v1/npi/") as together:
        assert not together
        store.write_many([("v1/npi/1234567893.json", b"[]")])
        assert store.read("v1/npi/1234567893.json") == b"[]"


def test_an_error_inside_the_block_publishes_nothing(tmp_path):
    store = LocalDirStore(tmp_path / "tree")
    with pytest.raises(RuntimeError), store.publish_together("v1/npi/"):
        store.write_many([("v1/npi/1376745471.json", b"{}")])
        raise RuntimeError("killed")
    assert not (tmp_path / "tree" / "v1").exists() or not any((tmp_path / "tree" / "v1").iterdir())


def test_a_failed_write_on_the_worker_thread_publishes_nothing(tmp_path, monkeypatch):
    from mips_profiles.adapters import local_store

    real = local_store.write_new

    def disk_full(dir_fd, name, data):
        if name.endswith("1234567893.json"):
            raise OSError(28, "No space left on device")
        real(dir_fd, name, data)

    monkeypatch.setattr(local_store, "write_new", disk_full)
    store = LocalDirStore(tmp_path / "tree")
    # When a file of the block fails to write on the worker thread
    from mips_profiles.errors import StoreError

    with (
        pytest.raises(StoreError, match=r"^cannot write v1/npi/: No space left on device$"),
        store.publish_together("v1/npi/"),
    ):
        store.write_many([("v1/npi/1376745471.json", b"{}"), ("v1/npi/1234567893.json", b"[]")])
    # Then the error reaches the caller as one line and nothing is visible, nor left hidden
    assert not (tmp_path / "tree" / "v1" / "npi").exists()
    assert not list((tmp_path / "tree" / "v1").iterdir())


class DiesAfterDocuments(LocalDirStore):
    """A public store whose process dies at the n-th document written (n = 0: never)."""

    def __init__(self, root, die_at):
        super().__init__(root)
        self.die_at, self.count = die_at, 0

    def write_many(self, items, **kw):
        def counted():
            for item in items:
                self.count += 1
                if self.count == self.die_at:
                    raise OSError("killed mid-publish")
                yield item

        return super().write_many(counted(), **kw)


class DiesAfterTheSwitch(LocalDirStore):
    """The documents were switched in, then the process died before the ledger recorded them."""

    def publish_together(self, prefix):
        import contextlib

        @contextlib.contextmanager
        def block():
            with super(DiesAfterTheSwitch, self).publish_together(prefix) as together:
                yield together
            raise OSError("killed after the switch")

        return block()


@pytest.mark.parametrize("dying", ["mid-documents", "after-the-switch"])
def test_a_first_publish_that_dies_leaves_no_half_tree_and_a_rerun_converges(dying, sample_file, tmp_path):
    source = sample_file(2024)
    tree, private = tmp_path / "tree", tmp_path / "private"
    store = DiesAfterDocuments(tree, die_at=50) if dying == "mid-documents" else DiesAfterTheSwitch(tree)
    with pytest.raises(OSError):
        Publisher(store, LocalDirStore(private)).publish_file(source, ReleaseInfo(2024))
    npi_dir = tree / "v1" / "npi"
    if dying == "mid-documents":  # no document visible: readers see the tree as it was (empty)
        assert not npi_dir.exists()
    else:  # every document visible, none recorded in the ledger yet
        assert len(list(npi_dir.iterdir())) > 50
    assert not (tree / "v1" / "manifest.json").exists()
    Publisher(LocalDirStore(tree), LocalDirStore(private)).publish_file(source, ReleaseInfo(2024))
    clean = tmp_path / "clean"
    Publisher(LocalDirStore(clean), LocalDirStore(tmp_path / "clean.private")).publish_file(source, ReleaseInfo(2024))

    def docs(root):
        return {p.name: p.read_bytes() for p in (root / "v1" / "npi").iterdir()}

    assert docs(tree) == docs(clean)
    assert not [p for p in (tree / "v1").iterdir() if p.name.startswith(".")]  # no hidden leftovers


def test_a_sharp_drop_of_the_final_score_check_is_named_but_does_not_block(run_cli, tmp_path, tree):
    """The alarm for the next misreading of a real file: PY2024 read so that no final score adds up (here every
    final score moved by 5 points) is published all the same, and named on stderr, in --json and the manifest."""
    from mips_profiles.sandbox.generator import generate_table, write_csv

    write_csv(generate_table(2023, 300, seed=2), tmp_path / "py2023.csv")
    off = generate_table(2024, 300, seed=2)

    def away_from_the_threshold(v: float) -> float:  # 5 points, staying on its side of PY2024's threshold (75)
        if v >= 75:
            return v + 5 if v < 95 else v - 5
        return v - 5 if v >= 5 else v + 5

    moved = [f"{away_from_the_threshold(float(v)):g}" if v else v for v in off["final score"].to_pylist()]
    off = off.set_column(off.column_names.index("final score"), "final score", pa.array(moved))
    write_csv(off, tmp_path / "py2024.csv")
    assert run_cli("publish", "--performance-year", 2023, "--source", tmp_path / "py2023.csv", "--out", tree).code == 0

    result = run_cli(
        "publish", "--performance-year", 2024, "--source", tmp_path / "py2024.csv", "--out", tree, "--json"
    )

    assert result.code == 0, result.err
    assert result.json["final_score_check"]["share"] < 0.05
    (warning,) = result.json["warnings"]
    assert warning.startswith("PY2024: the shown category scores and weights reproduce the published final score")
    assert "down from 9" in warning and "PY2023" in warning
    assert f"warning: {warning}" in result.err
    manifest = json.loads((tree / "v1" / "manifest.json").read_text())
    shares = {r["performance_year"]: r["final_score_check"]["share"] for r in manifest["releases"]}
    assert shares[2023] > 0.9 > 0.05 > shares[2024]
    entry = json.loads(next((tree / "v1" / "npi").glob("*.json")).read_text())["latest"]
    assert entry["performance_year"] == 2024 and entry["final_score_reproduced"] in (False, None)
