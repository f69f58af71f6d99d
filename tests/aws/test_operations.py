"""Operator actions: the post-deploy self-test and repair, under the deployed IAM policy (moto), and the
``mips-profiles repair`` command on a local tree."""

from __future__ import annotations

import json

import pytest
from aws_stack import csv_bytes, load_event, scheduled


def test_the_self_test_passes_under_the_shard_role(stack):
    result = stack.invoke_shard(load_event("selftest.json"))
    assert result["status"] == "ok", result
    assert set(result["checks"]) == {
        "imports",
        "parquet",
        "csv",
        "private_store",
        "public_store",
        "raw_store",
        "state_table",
    }
    assert result["checks"]["parquet"] == "ok: snappy"


def test_the_self_test_names_what_the_role_cannot_reach(stack, monkeypatch):
    monkeypatch.setattr(stack.shard.steps().publisher.private, "bucket", "raw")  # a bucket it may not write
    result = stack.invoke_shard(load_event("selftest.json"))
    assert result["status"] == "failed"
    assert result["checks"]["private_store"].startswith("FAILED: ")
    assert "AccessDenied" in result["checks"]["private_store"]
    assert result["checks"]["imports"].startswith("ok")


def test_repair_restores_a_damaged_public_tree_to_the_published_bytes(stack, tables, tmp_path):
    stack.cms.publish_qpp(2023, csv_bytes(tables[2023], tmp_path), "2025-07-21")
    stack.cms.publish_qpp(2024, csv_bytes(tables[2024], tmp_path), "2025-07-28")
    assert stack.run(scheduled(22)).status == "SUCCEEDED"
    published = stack.public_objects()
    invalidations = len(stack.invalidations())
    documents = sorted(k for k in published if k.startswith("v1/npi/"))
    # someone deletes three documents and the schema, truncates two, and uploads one no entry explains
    stack.s3.delete_objects(
        Bucket="public", Delete={"Objects": [{"Key": k} for k in [*documents[:3], "v1/schema/profile.schema.json"]]}
    )
    for key in documents[10:12]:
        stack.s3.put_object(Bucket="public", Key=key, Body=published[key][:40])
    stack.s3.put_object(Bucket="public", Key="v1/npi/1234567893.json", Body=b"{}")

    result = stack.invoke_shard(load_event("repair.json"))

    assert result["status"] == "repaired"
    assert sorted(result["restored"]) == sorted([*documents[:3], *documents[10:12], "v1/schema/profile.schema.json"])
    assert result["deleted"] == ["v1/npi/1234567893.json"]
    assert result["not_repairable"] == []
    assert stack.public_objects() == published  # byte for byte
    assert len(stack.invalidations()) == invalidations + 1
    assert stack.lock_holder() is None
    again = stack.invoke_shard(load_event("repair.json"))
    assert again["status"] == "intact" and again["restored"] == [] and again["deleted"] == []


def test_repair_is_refused_while_an_execution_holds_the_lock(stack):
    # the item the state machine's TakeRunLock writes: no lease, the execution's ARN
    stack.ddb.put_item(
        TableName="state",
        Item={
            "pk": {"S": "lock#refresh"},
            "owner": {"S": "a-running-refresh"},
            "execution_arn": {"S": "arn:aws:states:us-east-1:123456789012:execution:mips-profiles-refresh:x"},
        },
    )
    assert stack.invoke_shard(load_event("repair.json"))["status"] == "refused"
    assert stack.lock_holder()["owner"]["S"] == "a-running-refresh"


def test_an_unknown_action_is_an_error(stack):
    from mips_profiles.errors import InvalidInput

    with pytest.raises(InvalidInput, match="unknown action 'reapir'"):
        stack.invoke_shard({"action": "reapir"})


def test_the_repair_command_restores_a_local_tree(sample_file, run_cli, tmp_path):
    tree, private = tmp_path / "t", tmp_path / "t.private"
    assert (
        run_cli("publish", "--performance-year", "2024", "--source", str(sample_file(2024)), "--out", str(tree)).code
        == 0
    )
    snapshot = {p.relative_to(tree): p.read_bytes() for p in tree.rglob("*") if p.is_file()}
    documents = sorted((tree / "v1" / "npi").iterdir())
    documents[0].unlink()
    documents[1].write_bytes(b'{"latest": "tampered"}')
    (tree / "v1" / "npi" / "1234567893.json").write_bytes(b"{}")
    (tree / "v1" / "bulk" / "2024" / "scores.csv").unlink()
    (tree / "v1" / "bulk" / "2024" / "scores.ndjson").write_bytes(b"truncated")

    result = run_cli("repair", "--out", str(tree), "--private", str(private), "--json")

    assert result.code == 0, result.err
    report = json.loads(result.out.splitlines()[-1])
    assert report["restored_count"] == 4 and report["deleted"] == ["v1/npi/1234567893.json"]
    assert {"v1/bulk/2024/scores.csv", "v1/bulk/2024/scores.ndjson"} <= set(report["restored"])
    assert {p.relative_to(tree): p.read_bytes() for p in tree.rglob("*") if p.is_file()} == snapshot
    # the change object and the manifest come back from their private records
    (tree / "v1" / "changes" / "00000001.json").unlink()
    (tree / "v1" / "manifest.json").unlink()
    restored = run_cli("repair", "--out", str(tree), "--private", str(private))
    assert restored.code == 0, restored.err
    assert {p.relative_to(tree): p.read_bytes() for p in tree.rglob("*") if p.is_file()} == snapshot
    # without its record (a tree published before records were kept) a lost manifest is named: a failure, not usage
    (private / "index" / "public" / "v1" / "manifest.json").unlink()
    (tree / "v1" / "manifest.json").unlink()
    lost = run_cli("repair", "--out", str(tree), "--private", str(private))
    assert lost.code == 1
    assert "not repairable from private state: v1/manifest.json" in lost.err
