"""The DynamoDB adapters on their own (moto, a table shaped like the template's): the state store keeps
records exactly and pages through a scan; the run lock is one holder at a time, by conditional writes."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from mips_profiles.adapters.dynamo import DynamoStateStore, RunLock
from mips_profiles.adapters.local_state import LocalStateStore
from mips_profiles.keys import LAST_FAILURE_ITEM, RUN_LOCK_ITEM

ROOT = Path(__file__).parents[2]


@pytest.fixture
def table(monkeypatch):
    for k, v in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(k, v)
    with mock_aws():
        client = boto3.client("dynamodb")
        client.create_table(
            TableName="state",
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        )
        yield client


RECORD = {
    "source": "qpp",
    "performance_year": 2024,
    "modified": "2025-07-01",
    "row_count": 504262,
    "sha256": "ab" * 32,
    "size_bytes": 98_765_432,
    "etag": None,
    "release_id": "2024-abababababababab",
    "final_score_mean": 87.125,
}


def test_a_record_comes_back_exactly_as_put_floats_and_nulls_included(table):
    store = DynamoStateStore("state")
    assert store.get("qpp", 2024) is None
    store.put("qpp", 2024, RECORD)
    assert store.get("qpp", 2024) == RECORD
    assert store.get("pdc", 2024) is None  # the source is part of the key


@pytest.mark.parametrize(
    ("stored", "message"),
    [
        ("{not json", "record qpp/2024: not JSON"),
        ('["a", "list"]', "record qpp/2024: not a release record"),
        ('{"row_count": "504262"}', "record qpp/2024: row_count is not a whole number"),
        ('{"sha256": {"nested": 1}}', "record qpp/2024: sha256 is not a plain value"),
    ],
)
def test_a_planted_item_is_refused_by_name_as_the_local_twin_refuses_its_file(table, stored, message):
    """Whoever can write the table is not trusted to decide what the checker compares against: an item is
    parsed as the local state file is, one line naming the field, for get and for the scan alike."""
    from mips_profiles.errors import InvalidInput

    table.put_item(TableName="state", Item={"pk": {"S": "release#qpp#2024"}, "record": {"S": stored}})
    store = DynamoStateStore("state")
    for read in (lambda: store.get("qpp", 2024), store.all):
        with pytest.raises(InvalidInput) as caught:
            read()
        assert str(caught.value) == f"state table state, {message}"


def test_all_pages_through_the_scan_and_skips_the_lock_and_failure_items(table):
    store = DynamoStateStore("state")
    big = {**RECORD, "padding": "x" * 150_000}  # about 150 KB an item: a 1 MB scan page holds six
    for year in range(2017, 2025):
        store.put("qpp", year, {**big, "performance_year": year})
    store.put("pdc", 2024, RECORD)
    table.put_item(TableName="state", Item={"pk": {"S": RUN_LOCK_ITEM}, "owner": {"S": "x"}})
    table.put_item(TableName="state", Item={"pk": {"S": LAST_FAILURE_ITEM}, "error": {"S": "x"}})
    assert "LastEvaluatedKey" in table.scan(TableName="state"), "the test must span more than one page"
    everything = store.all()
    assert sorted(everything) == ["pdc/2024", *(f"qpp/{y}" for y in range(2017, 2025))]
    assert everything["qpp/2019"]["performance_year"] == 2019


def test_the_dynamo_store_and_its_local_twin_answer_alike(table, tmp_path):
    stores = [DynamoStateStore("state"), LocalStateStore(tmp_path / "state.json")]
    for store in stores:
        store.put("qpp", 2023, RECORD)
        store.put("qpp", 2023, {**RECORD, "row_count": 1})  # a put replaces
        store.put("pdc", 2024, RECORD)
    answers = [(s.get("qpp", 2023), s.get("qpp", 2099), s.all()) for s in stores]
    assert answers[0] == answers[1]


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000

    def __call__(self) -> float:
        return self.now


def test_the_lock_has_one_holder_until_released_or_its_lease_ends(table):
    clock = Clock()
    first, second = RunLock("state", clock=clock), RunLock("state", clock=clock)
    assert first.acquire("repair-a", 600)
    assert not second.acquire("repair-b", 600)
    assert first.acquire("repair-a", 600), "the holder may renew"
    holder = second.holder()
    assert holder["owner"] == "repair-a" and holder["lease_until"] == "2027-01-15T08:10:00Z"
    assert not second.release("repair-b"), "only the holder releases"
    clock.now += 601
    assert second.acquire("repair-b", 600), "an ended lease is taken over"
    assert second.release("repair-b") and second.holder() is None


def test_an_operator_never_takes_the_lock_from_a_running_state_machine(table):
    """The state machine's lock item names its execution and has no ``expires_at``; repair must wait."""
    table.put_item(
        TableName="state",
        Item={
            "pk": {"S": RUN_LOCK_ITEM},
            "execution_arn": {"S": "arn:x"},
            "owner": {"S": "exec-1"},
            "lease_until": {"S": "2026-01-01T00:00:00Z"},
        },
    )
    assert not RunLock("state").acquire("repair-a", 600)


def test_the_state_machine_and_the_adapter_name_the_same_lock_item():
    asl = json.loads((ROOT / "statemachine" / "refresh.asl.json").read_text())
    named = set()

    def walk(node):
        if isinstance(node, dict):
            if set(node) == {"S"} and str(node["S"]).startswith(("lock#", "run#")):
                named.add(node["S"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(asl)
    assert named == {RUN_LOCK_ITEM, LAST_FAILURE_ITEM}
