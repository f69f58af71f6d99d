"""The state machine's publishing steps on their own (the ASL runs them in tests/aws/test_state_machine.py):
what a missing raw file, a refused file and the check dates do."""

from __future__ import annotations

import hashlib
import json

import pytest

from mips_profiles.adapters.cloudfront import NoCdn
from mips_profiles.adapters.local_state import LocalStateStore
from mips_profiles.adapters.local_store import LocalDirStore, MemoryStore
from mips_profiles.errors import InvalidInput
from mips_profiles.keys import check_record_key, raw_key
from mips_profiles.orchestration.release_check import check_record
from mips_profiles.orchestration.run_steps import RunSteps
from mips_profiles.publishing.publish import Publisher
from mips_profiles.sandbox.generator import generate_table, write_csv


def item(year: int, sha256: str = "0" * 64, decision: str = "new", source: str = "qpp") -> dict:
    """A plan item as the Check step makes it: its raw key is the one its source, year and SHA-256 name."""
    return {
        "source": source,
        "raw_key": raw_key(source, year, sha256),
        "decision": decision,
        "reason": "",
        "release": {
            "source": source,
            "performance_year": year,
            "modified": "2025-07-28",
            "download_url": "https://data.cms.gov/x.csv",
        },
        "download": {"sha256": sha256, "size": 0, "etag": None, "last_modified": None},
    }


@pytest.fixture
def steps(tmp_path):
    publisher = Publisher(LocalDirStore(tmp_path / "tree"), LocalDirStore(tmp_path / "private"))
    return RunSteps(
        publisher,
        raw=MemoryStore(),
        state=LocalStateStore(tmp_path / "state.json"),
        cdn=NoCdn(),
        partitions=3,
        work_dir=str(tmp_path),
    )


def test_a_raw_file_the_store_lost_is_a_refusal_not_a_crash(steps):
    assert steps.stage(item(2024)) == {
        "status": "refused",
        "source": "qpp",
        "performance_year": 2024,
        "run_id": None,
        "groups": [],
        "error": f"raw file {raw_key('qpp', 2024, '0' * 64)} is missing",
    }
    assert steps.ingest_pdc(item(2024, source="pdc"))["status"] == "refused"


def put_raw(steps, tmp_path, table, year: int = 2024) -> str:
    """A file in the raw store as the Check step leaves it (by content); its SHA-256."""
    path = tmp_path / f"in-{year}.csv"
    write_csv(table, path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    steps.raw.put_file(raw_key("qpp", year, digest), path)
    steps.raw.write(check_record_key("qpp", year, digest), check_record(item(year, digest)))  # and its record
    return digest


def test_stage_publish_finalize_and_the_check_dates(steps, tmp_path):
    digest = put_raw(steps, tmp_path, generate_table(2024, 120))
    staged = steps.stage(item(2024, digest))
    assert staged["status"] == "staged" and staged["groups"] == [0, 1, 2] and staged["error"] is None
    with pytest.raises(Exception, match="has no partition group 3"):
        steps.publish_partition(staged["run_id"], 3)
    for group in staged["groups"]:
        json.dumps(steps.publish_partition(staged["run_id"], group))  # what crosses the state machine: JSON
    done = steps.finalize(staged["run_id"], item(2024, digest))
    assert done["status"] == "published" and done["docs_written"] > 0
    assert steps.state.get("qpp", 2024)["sha256"] == digest
    # a published or refused year keeps its date; the others checked are touched; the PDC does not count
    outcomes = [
        done,
        {"status": "refused", "source": "qpp", "performance_year": 2023},
        {"status": "reconciled", "source": "pdc", "performance_year": 2022},
    ]
    assert steps.record_check_dates([2022, 2023, 2024], outcomes) == {"touched": [2022]}


# -- a step takes no item's word: anyone allowed to invoke the function could send one ------------------------


def test_stage_hashes_the_raw_file_itself_and_refuses_bytes_the_plan_did_not_name(steps, tmp_path):
    """An old raw file (raw files never expire) sent under the SHA-256 of the current one: refused, nothing staged."""
    old = put_raw(steps, tmp_path, generate_table(2024, 100, seed=1))
    current = put_raw(steps, tmp_path, generate_table(2024, 100, seed=2))
    forged = item(2024, current)
    steps.raw.put_file(raw_key("qpp", 2024, current), _copy_of(steps, old, tmp_path))  # the old bytes at the key
    refused = steps.stage(forged)
    assert (
        refused["status"] == "refused" and f"its bytes hash to {old}, not to the plan's {current}" in refused["error"]
    )
    assert steps.publisher.ledger.current_run(2024) is None


def _copy_of(steps, digest: str, tmp_path) -> str:
    path = tmp_path / "copy.csv"
    steps.raw.get_file(raw_key("qpp", 2024, digest), path)
    return str(path)


@pytest.mark.parametrize(
    "key",
    ["audit/py=2024/release=x/audit.parquet", "raw/qpp/py=2024/../../audit/x.csv", "raw/qpp/py=2023/{sha}.csv"],
)
def test_stage_reads_only_the_raw_key_its_item_names(steps, key):
    forged = {**item(2024), "raw_key": key.format(sha="0" * 64)}
    with pytest.raises(InvalidInput, match=r"item.raw_key must be 'raw/qpp/py=2024/0{64}\.csv'"):
        steps.stage(forged)


def test_finalize_refuses_an_item_that_is_not_what_the_run_staged(steps, tmp_path):
    digest = put_raw(steps, tmp_path, generate_table(2024, 80))
    staged = steps.stage(item(2024, digest))
    for group in staged["groups"]:
        steps.publish_partition(staged["run_id"], group)
    other = put_raw(steps, tmp_path, generate_table(2024, 80, seed=9))
    with pytest.raises(InvalidInput, match="is not what the run staged"):
        steps.finalize(staged["run_id"], item(2024, other))
    with pytest.raises(InvalidInput, match="is not what the run staged"):
        steps.finalize(staged["run_id"], item(2023, digest))
    assert steps.state.get("qpp", 2024) is None and not steps.publisher.manifest.read()


@pytest.mark.parametrize(
    ("part", "field", "value"),
    [
        ("release", "modified", "2026-01-15"),
        ("release", "download_url", "https://data.cms.gov/newer.csv"),
        ("release", "api_uuid", "00000000-0000-4000-8000-000000000001"),
        ("release", "title", "Quality Payment Program Experience : 2026-01-15"),
        ("download", "etag", '"current-etag"'),
        ("download", "last_modified", "Thu, 15 Jan 2026 00:00:00 GMT"),
        ("download", "size", 123456),
    ],
)
def test_a_finalize_item_that_differs_from_what_check_recorded_is_refused_by_name(part, field, value, steps, tmp_path):
    """The rollback: an old raw file finalized with the current release's validators would record the old score
    under today's ETag, and the daily conditional GET would answer 304 for good. Every field must be what the
    Check step recorded beside the file (and what Stage staged); nothing is written otherwise."""
    digest = put_raw(steps, tmp_path, generate_table(2024, 80))
    staged = steps.stage(item(2024, digest))
    for group in staged["groups"]:
        steps.publish_partition(staged["run_id"], group)
    forged = item(2024, digest)
    forged[part][field] = value
    with pytest.raises(InvalidInput, match=rf"the item's {part}\.{field} is not what the Check step recorded"):
        steps.finalize(staged["run_id"], forged)
    assert steps.state.get("qpp", 2024) is None and steps.publisher.manifest.read() == {}


def test_a_finalize_without_a_check_record_of_its_file_is_refused(steps, tmp_path):
    digest = put_raw(steps, tmp_path, generate_table(2024, 80))
    staged = steps.stage(item(2024, digest))
    for group in staged["groups"]:
        steps.publish_partition(staged["run_id"], group)
    steps.raw.delete_many([check_record_key("qpp", 2024, digest)])
    with pytest.raises(InvalidInput, match="no Check record of the file"):
        steps.finalize(staged["run_id"], item(2024, digest))
