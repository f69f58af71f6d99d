"""The public tree is derived data: a lost, truncated or tampered manifest, change object or aggregate comes back
from the private records with ``repair``, the change feed never reuses a number, and an operator's mistake with
the locations is one ``error:`` line."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mips_profiles.adapters.local_store import LocalDirStore
from mips_profiles.publishing.publish import Publisher, ReleaseInfo
from mips_profiles.sandbox.generator import generate_table, make_correction, write_csv

ROWS = 400


class Clock:
    def __init__(self) -> None:
        self.minutes = 0

    def __call__(self) -> datetime:
        self.minutes += 1
        return datetime(2026, 7, 1, tzinfo=UTC) + timedelta(minutes=self.minutes)


@pytest.fixture
def site(tmp_path: Path):
    """PY2023 and PY2024 published, then a correction of PY2024 (change objects 1, 2 and 3)."""
    tree, private = tmp_path / "tree", tmp_path / "tree.private"
    files = {}
    for year in (2023, 2024):
        table = generate_table(year, ROWS, seed=year)
        write_csv(table, tmp_path / f"py{year}.csv")
        files[year] = table
    write_csv(make_correction(files[2024], changed_share=0.05, removed=3, added=3).table, tmp_path / "fix.csv")
    clock = Clock()

    def publisher() -> Publisher:
        return Publisher(LocalDirStore(tree), LocalDirStore(private), clock=clock)

    for year in (2023, 2024):
        publisher().publish_file(tmp_path / f"py{year}.csv", ReleaseInfo(year))
    publisher().publish_file(tmp_path / "fix.csv", ReleaseInfo(2024))
    return tree, private, publisher, tmp_path


def manifest(tree: Path) -> dict:
    return json.loads((tree / "v1" / "manifest.json").read_bytes())


@pytest.mark.parametrize("damage", ["deleted", "truncated", "tampered"])
def test_repair_restores_the_manifest_with_every_release_and_the_feeds_position(damage, site, run_cli):
    tree, _, _, _ = site
    path = tree / "v1" / "manifest.json"
    before = path.read_bytes()
    assert manifest(tree)["changes"]["latest"] == 3
    if damage == "deleted":
        path.unlink()
    elif damage == "truncated":
        path.write_bytes(before[: len(before) // 2])
    else:
        path.write_bytes(before.replace(b'"rows_read"', b'"rows_read_"', 1))

    result = run_cli("repair", "--out", tree, "--json")

    assert result.code == 0, result.err
    assert "v1/manifest.json" in result.json["restored"]
    assert path.read_bytes() == before  # every release, the feed's position: byte for byte
    assert run_cli("repair", "--out", tree, "--json").json["restored"] == []  # and then nothing to do


def test_after_a_lost_manifest_the_next_correction_writes_a_new_change_object_and_rewrites_none(site, run_cli):
    """The old failure: the manifest lost and the years re-published, the feed restarted at 0 and the next
    correction overwrote v1/changes/00000001.json."""
    tree, _, publisher, tmp_path = site
    changes = {p.name: p.read_bytes() for p in (tree / "v1" / "changes").iterdir()}
    assert sorted(changes) == ["00000001.json", "00000002.json", "00000003.json"]
    (tree / "v1" / "manifest.json").unlink()

    again = make_correction(generate_table(2024, ROWS, seed=2024), changed_share=0.1, removed=1, added=1).table
    write_csv(again, tmp_path / "again.csv")
    publisher().publish_file(tmp_path / "again.csv", ReleaseInfo(2024))

    after = {p.name: p.read_bytes() for p in (tree / "v1" / "changes").iterdir()}
    assert sorted(after) == ["00000001.json", "00000002.json", "00000003.json", "00000004.json"]
    assert {k: after[k] for k in changes} == changes  # none rewritten
    feed = manifest(tree)
    assert feed["changes"]["latest"] == 4
    assert {r["performance_year"] for r in feed["releases"]} == {2023, 2024}  # the lost manifest's releases too


@pytest.mark.parametrize("what", ["a change object", "an aggregate"])
def test_repair_restores_change_objects_and_aggregates_from_their_records(what, site, run_cli):
    tree, _, _, _ = site
    if what == "a change object":
        target = tree / "v1" / "changes" / "00000002.json"
    else:
        target = next(p for p in sorted((tree / "v1" / "stats").rglob("*.json")))
    before = target.read_bytes()
    target.unlink()
    result = run_cli("repair", "--out", tree, "--json")
    assert result.code == 0, result.err
    assert target.read_bytes() == before
    assert result.json["not_repairable"] == []


def test_a_damaged_manifest_without_a_record_is_one_line_naming_it(site, run_cli):
    tree, private, _, _ = site
    (private / "index" / "public" / "v1" / "manifest.json").unlink()  # a tree from before records were kept
    (tree / "v1" / "manifest.json").write_bytes(b'{"releases": [')
    result = run_cli("repair", "--out", tree)
    assert result.code == 1
    (line,) = result.err.strip().splitlines()
    assert line.startswith("error: v1/manifest.json is damaged") and "previous object version" in line


def test_repair_refuses_a_tree_that_does_not_exist_and_creates_nothing(run_cli, tmp_path):
    result = run_cli("repair", "--out", tmp_path / "nosuchdir")
    assert result.code == 1
    (line,) = result.err.strip().splitlines()
    assert line.startswith("error: --out ") and "does not exist" in line
    assert not (tmp_path / "nosuchdir").exists() and not (tmp_path / "nosuchdir.private").exists()


@pytest.mark.parametrize("command", ["repair", "publish"])
def test_a_location_under_a_file_is_one_line(command, run_cli, tmp_path, sample_file):
    (tmp_path / "file").write_text("x")
    args = ["--out", tmp_path / "file" / "site"]
    if command == "publish":
        args += ["--performance-year", 2024, "--source", sample_file(2024)]
    result = run_cli(command, *args)
    assert result.code == 1
    (line,) = result.err.strip().splitlines()
    assert line.startswith("error: ") and "Traceback" not in result.err


def test_a_private_directory_the_process_may_not_create_is_one_line(run_cli, tmp_path, sample_file):
    """/proc takes no new directory, not even from root."""
    result = run_cli(
        "publish",
        "--performance-year",
        2024,
        "--source",
        sample_file(2024),
        "--out",
        tmp_path / "t",
        "--private",
        "/proc/mips-profiles-forbidden",
    )
    assert result.code == 1
    (line,) = result.err.strip().splitlines()
    assert line.startswith("error: ") and "/proc/mips-profiles-forbidden" in line
    assert not (tmp_path / "t").exists()
