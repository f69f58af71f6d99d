"""The file system under ``--out`` and ``--private`` is not trusted: whoever can write there could plant a link
or a file. No symbolic link below the root is followed, temp files are unique and exclusive, repair deletes
only the document files it would itself write, and an OS error is one line with nothing half-changed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mips_profiles.adapters.local_store import LocalDirStore
from mips_profiles.errors import StoreError
from mips_profiles.sandbox.generator import generate_table, make_correction, write_csv


def publish(run_cli, source: Path, tree: Path, year: int = 2024):
    return run_cli("publish", "--performance-year", year, "--source", source, "--out", tree)


def snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_repair_refuses_a_symlinked_document_directory_and_touches_nothing_behind_it(
    run_cli, sample_file, tree, tmp_path
):
    assert publish(run_cli, sample_file(2024), tree).code == 0
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.json").write_text("keep")
    (outside / "sub").mkdir()
    (outside / "sub" / "also.txt").write_text("keep")
    os.rename(tree / "v1" / "npi", tmp_path / "moved-away")
    (tree / "v1" / "npi").symlink_to(outside)

    result = run_cli("repair", "--out", tree)

    assert result.code != 0 and result.err.count("\n") == 1
    assert "is a symbolic link: refused" in result.err and "Traceback" not in result.err
    assert snapshot(outside) == {"precious.json": b"keep", "sub/also.txt": b"keep"}


def test_repair_deletes_only_document_files_it_would_write(run_cli, sample_file, tree, tmp_path):
    assert publish(run_cli, sample_file(2024), tree).code == 0
    npi_dir = tree / "v1" / "npi"
    victim = tmp_path / "victim.json"
    victim.write_text("keep")
    (npi_dir / "notes.txt").write_text("an operator's note")
    (npi_dir / "sub").mkdir()
    (npi_dir / "sub" / "1376745471.json").write_text("{}")
    (npi_dir / "1234567893.json").symlink_to(victim)  # a link named like a document nobody published
    stray = npi_dir / "1932365699.json"
    stray.write_text("{}")  # a document file of an NPI nobody published: repair's to delete

    result = run_cli("repair", "--out", tree)

    assert result.code == 0, result.err
    assert not stray.exists()
    assert (npi_dir / "notes.txt").exists() and (npi_dir / "sub" / "1376745471.json").exists()
    assert victim.read_text() == "keep" and (npi_dir / "1234567893.json").is_symlink()


def test_a_planted_temp_file_link_is_never_written_through(run_cli, tmp_path, tree):
    """Corrections write each document through a temp file beside it: the name is unique and created
    exclusively, so a link planted under the old fixed name ``.tmp-<name>`` catches nothing."""
    table = generate_table(2024, 200, seed=4)
    write_csv(table, tmp_path / "a.csv")
    assert publish(run_cli, tmp_path / "a.csv", tree).code == 0
    victim = tmp_path / "victim"
    victim.write_text("keep")
    for doc in (tree / "v1" / "npi").glob("*.json"):
        (doc.parent / f".tmp-{doc.name}").symlink_to(victim)
    (tree / "v1" / ".tmp-manifest.json").symlink_to(victim)
    write_csv(make_correction(table, changed_share=0.2).table, tmp_path / "b.csv")

    assert publish(run_cli, tmp_path / "b.csv", tree).code == 0

    assert victim.read_text() == "keep"


def test_a_run_lock_link_is_refused_and_its_target_is_not_truncated(run_cli, sample_file, tree, tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("keep me whole")
    private = tree.with_name("tree.private")
    private.mkdir(parents=True)
    (private / ".run.lock").symlink_to(victim)

    result = publish(run_cli, sample_file(2024), tree)

    assert result.code == 1 and "cannot take the run lock" in result.err and "symbolic link" in result.err
    assert victim.read_text() == "keep me whole"
    assert not (tree / "v1").exists()


def test_a_file_where_the_document_directory_should_be_is_one_line_and_nothing_is_published(run_cli, sample_file, tree):
    (tree / "v1").mkdir(parents=True)
    (tree / "v1" / "npi").write_text("a file, not a directory")

    result = publish(run_cli, sample_file(2024), tree)

    assert result.code == 1 and result.err.startswith("error: ") and result.err.count("\n") == 1
    assert "not a directory" in result.err
    assert not (tree / "v1" / "manifest.json").exists()


def test_a_full_disk_is_one_line_and_the_published_tree_stands(sample_file, tree, tmp_path):
    """Out of space mid-publish (a file-size limit stands in for a full disk: the same failed write): one line
    on stderr, exit 1, and the tree as it was: the manifest of the first publish, its documents intact."""
    cli = [sys.executable, "-m", "mips_profiles.cli"]
    first = subprocess.run(
        [*cli, "publish", "--performance-year", "2023", "--source", sample_file(2023), "--out", tree]
    )
    assert first.returncode == 0
    assert first.returncode == 0
    before = snapshot(tree)
    limited = (
        "import resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN);"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096));"
        "from mips_profiles.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            limited,
            "publish",
            "--performance-year",
            "2024",
            "--source",
            sample_file(2024),
            "--out",
            tree,
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 1, run.stderr
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("error: cannot write") and "File too large" in last and "Traceback" not in run.stderr
    assert json.loads(snapshot(tree)["v1/manifest.json"]) == json.loads(before["v1/manifest.json"])
    assert {k: v for k, v in snapshot(tree).items() if k.startswith("v1/npi/")} == {
        k: v for k, v in before.items() if k.startswith("v1/npi/")
    }


def test_the_store_lists_reads_and_writes_no_link_out_of_the_tree(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.json").write_text("secret")
    root = tmp_path / "root"
    (root / "v1").mkdir(parents=True)
    (root / "v1" / "npi").symlink_to(outside)
    (root / "v1" / "a.json").symlink_to(outside / "secret.json")
    store = LocalDirStore(root)
    with pytest.raises(StoreError, match="is a symbolic link: refused"):
        store.md5_listing("v1/npi/")
    with pytest.raises(StoreError, match="is a symbolic link: refused"):
        store.read("v1/npi/secret.json")
    with pytest.raises(StoreError, match="is a symbolic link: refused"):
        store.write("v1/npi/x.json", b"x")
    with pytest.raises(StoreError, match=r"cannot read v1/a\.json: a symbolic link is in the way"):
        store.read("v1/a.json")
    assert store.md5_listing("v1/") == {}  # the link is neither listed nor followed
    with pytest.raises(StoreError, match="a symbolic link is in the way"):
        store.get_file("v1/a.json", tmp_path / "copy")
    assert snapshot(outside) == {"secret.json": b"secret"}


def test_a_stage_that_fails_after_the_audit_write_takes_it_back(sample_file, tmp_path, monkeypatch):
    """Private data unchanged on refusal: a stage that fails after writing the audit record (here the aggregates'
    write) leaves no audit, quarantine or staged run behind; an audit an earlier publish wrote stays."""
    from mips_profiles.publishing.ledger import Ledger
    from mips_profiles.publishing.publish import Publisher, ReleaseInfo

    public, private = tmp_path / "tree", tmp_path / "private"
    Publisher(LocalDirStore(public), LocalDirStore(private)).publish_file(sample_file(2023), ReleaseInfo(2023))
    before = snapshot(private)

    def fail(*args, **kwargs):
        raise StoreError("cannot write runs/x/stats.json: No space left on device")

    monkeypatch.setattr(Ledger, "stage_stats", fail)
    with pytest.raises(StoreError):
        Publisher(LocalDirStore(public), LocalDirStore(private)).publish_file(sample_file(2024), ReleaseInfo(2024))
    assert snapshot(private) == before
    with pytest.raises(StoreError):  # the same release again: its audit from before is kept
        Publisher(LocalDirStore(public), LocalDirStore(private)).publish_file(sample_file(2023), ReleaseInfo(2023))
    assert snapshot(private).keys() == before.keys()


def test_a_document_directory_swapped_for_a_link_mid_publish_redirects_nothing(run_cli, tree, tmp_path, monkeypatch):
    """Issue 38: the "no link is followed" rule checked once, before the work, let a link swapped in after the
    first document redirect a correction's writes and deletes into the link's target. Now every directory is
    opened once by handle and written relative to it, so the swap redirects nothing, and the run that met it
    fails by name (exit 1) instead of finishing in the moved directory."""
    from mips_profiles.adapters import local_store

    table = generate_table(2024, 300)
    write_csv(table, tmp_path / "a.csv")
    assert publish(run_cli, tmp_path / "a.csv", tree).code == 0
    victim = tmp_path / "victim"
    victim.mkdir()
    for doc in (tree / "v1" / "npi").glob("*.json"):  # the target holds files named as the documents
        (victim / doc.name).write_text("keep")
    before = snapshot(victim)
    write_csv(make_correction(table, changed_share=0.2, removed=5, added=5).table, tmp_path / "b.csv")
    real, swapped = local_store.replace_atomically, []

    def swap_after_the_first_document(dir_fd, name, data):
        real(dir_fd, name, data)
        if not swapped and name[:10].isdigit() and (tree / "v1" / "npi" / name).exists():
            os.rename(tree / "v1" / "npi", tmp_path / "npi-moved-away")
            (tree / "v1" / "npi").symlink_to(victim)
            swapped.append(name)

    monkeypatch.setattr(local_store, "replace_atomically", swap_after_the_first_document)
    result = publish(run_cli, tmp_path / "b.csv", tree)

    assert swapped, "the correction wrote no document"
    assert snapshot(victim) == before  # nothing overwritten, nothing deleted, nothing added behind the link
    assert result.code == 1 and result.err.count("\n") == 1
    assert f"{tree / 'v1' / 'npi'} was replaced during the run" in result.err


def test_a_fifo_planted_as_the_run_lock_or_a_document_is_refused_not_waited_on(run_cli, sample_file, tree, tmp_path):
    private = tree.with_name("tree.private")
    private.mkdir(parents=True)
    os.mkfifo(private / ".run.lock")
    result = publish(run_cli, sample_file(2024), tree)
    assert result.code == 1 and "cannot take the run lock" in result.err and "not a regular file" in result.err
    os.unlink(private / ".run.lock")

    assert publish(run_cli, sample_file(2024), tree).code == 0
    os.mkfifo(tree / "v1" / "manifest.tmp")
    store = LocalDirStore(tree)
    with pytest.raises(StoreError, match=r"^cannot read v1/manifest\.tmp: not a regular file"):
        store.read("v1/manifest.tmp")
