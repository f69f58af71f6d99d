"""The state machine's publishing steps on their own (the ASL runs them in tests/aws/test_state_machine.py):
what a missing raw file, a refused file and the check dates do."""

from __future__ import annotations

import json

import pytest

from mips_profiles.adapters.cloudfront import NoCdn
from mips_profiles.adapters.local_state import LocalStateStore
from mips_profiles.adapters.local_store import LocalDirStore, MemoryStore
from mips_profiles.orchestration.run_steps import RunSteps
from mips_profiles.publishing.publish import Publisher
from mips_profiles.sandbox.generator import generate_table, write_csv


def item(year: int, raw_key: str, sha256: str = "0" * 64, decision: str = "new") -> dict:
    return {
        "source": "qpp",
        "raw_key": raw_key,
        "decision": decision,
        "reason": "",
        "release": {
            "source": "qpp",
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
    assert steps.stage(item(2024, "raw/qpp/py=2024/gone.csv")) == {
        "status": "refused",
        "source": "qpp",
        "performance_year": 2024,
        "run_id": None,
        "groups": [],
        "error": "raw file raw/qpp/py=2024/gone.csv is missing",
    }
    assert steps.ingest_pdc({**item(2024, "raw/pdc/py=2024/gone.csv"), "source": "pdc"})["status"] == "refused"


def test_stage_publish_finalize_and_the_check_dates(steps, tmp_path):
    import hashlib

    path = tmp_path / "in.csv"
    write_csv(generate_table(2024, 120), path)
    steps.raw.put_file("raw/qpp/py=2024/a.csv", path)
    digest = hashlib.sha256(steps.raw.read("raw/qpp/py=2024/a.csv")).hexdigest()
    staged = steps.stage(item(2024, "raw/qpp/py=2024/a.csv", digest))
    assert staged["status"] == "staged" and staged["groups"] == [0, 1, 2] and staged["error"] is None
    with pytest.raises(Exception, match="has no partition group 3"):
        steps.publish_partition(staged["run_id"], 3)
    for group in staged["groups"]:
        json.dumps(steps.publish_partition(staged["run_id"], group))  # what crosses the state machine: JSON
    done = steps.finalize(staged["run_id"], item(2024, "raw/qpp/py=2024/a.csv", digest))
    assert done["status"] == "published" and done["docs_written"] > 0
    assert steps.state.get("qpp", 2024)["sha256"] == digest
    # a published or refused year keeps its date; the others checked are touched; the PDC does not count
    outcomes = [
        done,
        {"status": "refused", "source": "qpp", "performance_year": 2023},
        {"status": "reconciled", "source": "pdc", "performance_year": 2022},
    ]
    assert steps.record_check_dates([2022, 2023, 2024], outcomes) == {"touched": [2022]}
