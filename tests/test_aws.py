"""The serverless flow end to end with moto: the real handler code, driven by the events the
services deliver (``events/``), against S3, DynamoDB, SQS and CloudFront in moto and the CMS
stand-in on loopback."""

from __future__ import annotations

import copy
import json
import sys

import boto3
import pytest
from aws_stack import (
    PARTITIONS,
    ROOT,
    csv_bytes,
    load_event,
    local_publish,
    scheduled,
    without_dates,
)
from moto import mock_aws

from mips_profiles.generator import generate_table, make_correction, make_pdc_table
from mips_profiles.store import cache_control_for


def test_the_whole_flow_publishes_the_same_bytes_as_a_local_publish(stack, tables, tmp_path):
    stack.cms.publish_qpp(2023, csv_bytes(tables[2023], tmp_path), "2025-07-21")
    stack.cms.publish_qpp(2024, csv_bytes(tables[2024], tmp_path), "2025-07-28")
    # When the daily schedule fires and the work queue is drained
    result = stack.invoke_check(scheduled(22))
    assert result["status"] == "publishing"
    assert {y: o["decision"] for y, o in result["years"].items()} == {"2023": "new", "2024": "new"}
    responses = stack.drain()
    # 1 run message + 4 partitions per year + the final run message
    assert len(responses) == 2 * (1 + PARTITIONS) + 1
    # Then the public bucket holds exactly what a local publish of the same input holds
    s3_tree = stack.public_objects()
    local = local_publish(stack.cms, tmp_path)
    local_tree = {p.relative_to(local).as_posix(): p.read_bytes() for p in local.rglob("*") if p.is_file()}
    assert set(s3_tree) == set(local_tree)
    for key in local_tree:
        if key != "v1/manifest.json":
            assert s3_tree[key] == local_tree[key], key
    assert without_dates(s3_tree["v1/manifest.json"]) == without_dates(local_tree["v1/manifest.json"])
    # the raw files, audit Parquet and release state are recorded; one invalidation per published year
    assert len(stack.keys("raw", "raw/qpp/")) == 2
    assert len(stack.keys("audit", "audit/py=2024/")) == 1
    assert len(stack.invalidations()) == 2
    assert stack.check.DynamoStateStore("state").get("qpp", 2024)["modified"] == "2025-07-28"
    assert stack.check.RunLock("state").holder() is None


def test_objects_carry_content_type_cache_control_and_a_content_hash(stack, tables, tmp_path):
    stack.cms.publish_qpp(2024, csv_bytes(tables[2024], tmp_path), "2025-07-28")
    stack.invoke_check(scheduled(22))
    stack.drain()
    key = next(k for k in stack.keys("public", "v1/npi/"))
    head = stack.s3.head_object(Bucket="public", Key=key)
    assert head["ContentType"] == "application/json; charset=utf-8"
    assert head["CacheControl"].startswith("public, max-age=")
    assert len(head["Metadata"]["content-blake2b"]) == 32
    manifest = stack.s3.head_object(Bucket="public", Key="v1/manifest.json")
    assert manifest["CacheControl"] == "public, max-age=60"
    # `mips-profiles serve` answers with the same Cache-Control as the S3 object carries, for every kind of key
    for sample in (key, "v1/manifest.json", "v1/schema/profile.schema.json", "v1/not-found.json",
                   "v1/stats/2024/national.json", stack.keys("public", "v1/stats/2024/state/")[0]):
        assert stack.s3.head_object(Bucket="public", Key=sample)["CacheControl"] == cache_control_for(sample), sample


def test_a_correction_rewrites_only_the_changed_objects(stack, tables, tmp_path):
    stack.cms.publish_qpp(2024, csv_bytes(tables[2024], tmp_path), "2025-07-28")
    stack.invoke_check(scheduled(22))
    stack.drain()
    before = stack.public_objects()
    public_store = stack.shard.worker().publisher.public
    puts_before = public_store.puts
    fix = make_correction(tables[2024], changed_share=0.02, removed=2, added=2)
    stack.cms.publish_qpp(2024, csv_bytes(fix.table, tmp_path), "2025-09-15")
    result = stack.invoke_check(scheduled(23))
    assert result["years"]["2024"]["decision"] == "corrected"
    stack.drain()
    after = stack.public_objects()
    changed_docs = {k for k in after if k.startswith("v1/npi/") and before.get(k) != after[k]}
    expected = {f"v1/npi/{n}.json" for n in fix.changed + fix.added}
    assert changed_docs == expected
    assert {k for k in before if k not in after} == {f"v1/npi/{n}.json" for n in fix.removed}
    # PUTs: the changed documents, the aggregates whose numbers moved, and the manifest; nothing else
    changed_stats = {k for k in after if k.startswith("v1/stats/") and before.get(k) != after[k]}
    assert "v1/stats/2024/national.json" in changed_stats
    assert public_store.puts - puts_before == len(expected) + len(changed_stats) + 1


def test_an_unchanged_day_writes_no_document(stack, tables, tmp_path):
    stack.cms.publish_qpp(2024, csv_bytes(tables[2024], tmp_path), "2025-07-28")
    stack.invoke_check(scheduled(22))
    stack.drain()
    before = stack.public_objects()
    result = stack.invoke_check(scheduled(23))
    assert result.pop("pdc")["decision"] == "failed"  # the stand-in's metastore lists no PDC file here
    assert result == {"status": "unchanged", "years": {"2024": {"decision": "unchanged",
                                                                 "reason": "content hash unchanged"}},
                      "owner": result["owner"]}
    stack.drain()
    after = stack.public_objects()
    assert {k for k in after if after[k] != before[k]} == {"v1/manifest.json"}
    assert len(stack.invalidations()) == 1


def test_a_duplicated_manual_rerun_does_nothing_twice(stack, tables, tmp_path):
    stack.cms.publish_qpp(2024, csv_bytes(tables[2024], tmp_path), "2025-07-28")
    stack.invoke_check(scheduled(22))
    stack.drain()
    event = load_event("manual_rerun.json")
    first = stack.invoke_check(event)
    assert first["years"]["2024"]["decision"] == "forced"
    stack.drain()
    downloads = sum(1 for r in stack.cms.state.requests if r["path"] == stack.cms.qpp_path(2024))
    second = stack.invoke_check(copy.deepcopy(event))
    assert second == first
    assert sum(1 for r in stack.cms.state.requests if r["path"] == stack.cms.qpp_path(2024)) == downloads
    assert stack.drain() == []


def test_a_second_run_while_one_is_publishing_is_refused_by_the_lock(stack, tables, tmp_path):
    stack.cms.publish_qpp(2024, csv_bytes(tables[2024], tmp_path), "2025-07-28")
    first = stack.invoke_check(scheduled(22))
    assert first["status"] == "publishing"
    second = stack.invoke_check(scheduled(23))  # before the shards have finished
    assert second["status"] == "refused" and second["holder"] == first["owner"]
    stack.drain()
    assert stack.invoke_check(scheduled(24))["status"] == "unchanged"


def test_a_bad_file_is_refused_and_changes_nothing(stack, tables, tmp_path):
    stack.cms.publish_qpp(2024, csv_bytes(tables[2024], tmp_path), "2025-07-28")
    stack.invoke_check(scheduled(22))
    stack.drain()
    before = stack.public_objects()
    state_before = stack.check.DynamoStateStore("state").get("qpp", 2024)
    stack.cms.publish_qpp(2024, csv_bytes(generate_table(2019, 300), tmp_path), "2025-09-15")
    stack.invoke_check(scheduled(23))
    stack.drain()
    assert stack.public_objects() == before
    assert stack.check.DynamoStateStore("state").get("qpp", 2024) == state_before
    assert stack.check.RunLock("state").holder() is None  # the chain ended and released the lock


def test_a_partition_that_dies_half_way_is_retried_alone_and_converges(stack, tables, tmp_path, monkeypatch):
    stack.cms.publish_qpp(2024, csv_bytes(tables[2024], tmp_path), "2025-07-28")
    stack.invoke_check(scheduled(22))
    public = stack.shard.worker().publisher.public
    original = public.write_many
    calls = {"n": 0}

    def dies_once(items, **kw):
        calls["n"] += 1
        if calls["n"] == 3:  # the third shard write of the run dies after a few documents
            it = iter(items)
            original([next(it) for _ in range(5)], **kw)
            raise ConnectionResetError("connection reset by peer")
        return original(items, **kw)

    monkeypatch.setattr(public, "write_many", dies_once)
    responses = stack.drain()
    assert sum(len(r["batchItemFailures"]) for r in responses) == 1
    s3_tree = stack.public_objects()
    local = local_publish(stack.cms, tmp_path)
    for path in local.rglob("*.json"):
        key = path.relative_to(local).as_posix()
        if key != "v1/manifest.json":
            assert s3_tree[key] == path.read_bytes(), key


def test_the_checker_lambda_does_not_import_pandas_or_pyarrow(stack):
    import subprocess

    code = ("import importlib.util, sys\n"
            "spec = importlib.util.spec_from_file_location('app', 'functions/check_release/app.py')\n"
            "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
            "heavy = [n for n in ('pandas', 'pyarrow', 'numpy') if n in sys.modules]\n"
            "print(','.join(heavy))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


@pytest.mark.parametrize("name", ["scheduler.json", "manual_rerun.json", "sqs_work.json"])
def test_sample_events_parse_as_the_handlers_expect(name):
    from mips_profiles.release_check import CheckRequest

    event = load_event(name)
    if name == "sqs_work.json":
        body = json.loads(event["Records"][0]["body"])
        assert body["kind"] in ("run", "partition") and event["Records"][0]["eventSource"] == "aws:sqs"
    else:
        request = CheckRequest.from_event(event)
        assert (request.performance_year, request.force) == ((2024, True) if "manual" in name else (None, False))


def test_the_cli_publishes_to_s3_exactly_as_to_a_directory(tmp_path, monkeypatch, sample_file, run_cli):
    for k, v in {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
                 "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(k, v)
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="public")
        s3.create_bucket(Bucket="audit")
        to_s3 = run_cli("publish", "--performance-year", 2024, "--source", sample_file(2024),
                        "--out", "s3://public/site", "--private", "s3://audit/mips", "--json")
        assert to_s3.code == 0, to_s3.err
        local = run_cli("publish", "--performance-year", 2024, "--source", sample_file(2024),
                        "--out", tmp_path / "tree", "--json")
        assert to_s3.json == local.json
        for path in (tmp_path / "tree").rglob("*.json"):
            key = "site/" + path.relative_to(tmp_path / "tree").as_posix()
            body = s3.get_object(Bucket="public", Key=key)["Body"].read()
            if not key.endswith("manifest.json"):
                assert body == path.read_bytes(), key
        assert s3.list_objects_v2(Bucket="audit", Prefix="mips/audit/")["KeyCount"] == 1
        assert s3.list_objects_v2(Bucket="public", Prefix="site/audit")["KeyCount"] == 0


def test_the_cli_refuses_private_data_in_the_public_bucket(run_cli, sample_file):
    result = run_cli("publish", "--performance-year", 2024, "--source", sample_file(2024), "--out", "s3://public/x")
    assert result.code == 1 and "private data never goes to the public bucket" in result.err


def test_the_lambdas_reconcile_with_the_cms_profile_scores(stack, tables, tmp_path):
    stack.cms.publish_qpp(2024, csv_bytes(tables[2024], tmp_path), "2025-07-28")
    stack.cms.publish_pdc(2024, csv_bytes(make_pdc_table(tables[2024], mismatches=2), tmp_path), "2025-08-01")
    result = stack.invoke_check(scheduled(22))
    assert result["pdc"] == {"performance_year": 2024, "decision": "new", "reason": "not published before"}
    stack.drain()

    manifest = json.loads(stack.public_objects()["v1/manifest.json"])
    summary = manifest["releases"][0]["cms_profile_reconciliation"]
    assert summary["mismatches"] == 2 and summary["matches"] > 0
    assert stack.keys("audit", "reconciliation/py=2024/") == ["reconciliation/py=2024/mismatches.csv"]
    assert len(stack.keys("raw", "raw/pdc/py=2024/")) == 1
    assert stack.check.DynamoStateStore("state").get("pdc", 2024)["modified"] == "2025-08-01"
    assert stack.check.RunLock("state").holder() is None
    # nothing of the PDC file (names, Org PAC ids) is public
    assert not [k for k in stack.public_objects() if "pdc" in k]

    # the next day nothing changed: neither file is downloaded into the plan again
    again = stack.invoke_check(scheduled(23))
    assert again["status"] == "unchanged" and again["pdc"]["decision"] == "unchanged"
    stack.drain()
    assert stack.check.RunLock("state").holder() is None


def test_a_pdc_file_that_is_not_one_is_refused_and_the_years_scores_stand(stack, tables, tmp_path):
    stack.cms.publish_qpp(2024, csv_bytes(tables[2024], tmp_path), "2025-07-28")
    stack.cms.publish_pdc(2024, b"<!doctype html><html><body>Service unavailable</body></html>\n", "2025-08-01")
    result = stack.invoke_check(scheduled(22))
    assert result["pdc"]["decision"] == "failed" and "HTML" in result["pdc"]["error"]
    stack.drain()
    manifest = json.loads(stack.public_objects()["v1/manifest.json"])
    assert "cms_profile_reconciliation" not in manifest["releases"][0]
    assert stack.check.DynamoStateStore("state").get("pdc", 2024) is None
    assert stack.check.RunLock("state").holder() is None


def test_a_pdc_csv_of_the_wrong_shape_is_refused_by_the_worker_and_the_run_finishes(stack, tables, tmp_path):
    stack.cms.publish_qpp(2024, csv_bytes(tables[2024], tmp_path), "2025-07-28")
    stack.cms.publish_pdc(2024, b"npi,provider last name\n1376745471,SMITH\n", "2025-08-01")
    assert stack.invoke_check(scheduled(22))["pdc"]["decision"] == "new"  # a CSV: the checker takes it
    stack.drain()
    assert len(stack.keys("public", "v1/npi/")) > 0  # the QPP year is published all the same
    manifest = json.loads(stack.public_objects()["v1/manifest.json"])
    assert "cms_profile_reconciliation" not in manifest["releases"][0]
    assert stack.keys("audit", "pdc/") == [] and stack.keys("audit", "reconciliation/") == []
    assert stack.check.DynamoStateStore("state").get("pdc", 2024) is None  # retried on the next check
    assert stack.check.RunLock("state").holder() is None
