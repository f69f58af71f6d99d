"""The serverless flow end to end with moto: the refresh state machine from its ASL file, executed by
moto, its Lambda tasks the real handlers (``step_functions.in_process_tasks``), started with the inputs
of ``events/``, against S3, DynamoDB, SNS and CloudFront in moto and the CMS stand-in on loopback."""

from __future__ import annotations

import json
import sys
import time

import boto3
import pytest
from aws_stack import (
    PARTITIONS,
    ROOT,
    FakeContext,
    csv_bytes,
    load_event,
    local_publish,
    scheduled,
    without_dates,
)
from moto import mock_aws

from mips_profiles.keys import cache_control_for
from mips_profiles.orchestration.execution_names import execution_name
from mips_profiles.publishing.bulk import BULK_FORMATS
from mips_profiles.sandbox.generator import generate_table, make_correction, make_pdc_table


def decisions(run) -> dict[str, str]:
    return {y: o["decision"] for y, o in run.output["check"]["years"].items()}


def test_a_first_publish_of_two_years_and_a_pdc_file_matches_a_local_publish_byte_for_byte(stack, tables, tmp_path):
    stack.cms.publish_qpp(2023, csv_bytes(tables[2023], tmp_path), "2025-07-21")
    stack.cms.publish_qpp(2024, csv_bytes(tables[2024], tmp_path), "2025-07-28")
    stack.cms.publish_pdc(2024, csv_bytes(make_pdc_table(tables[2024], mismatches=2), tmp_path), "2025-08-01")
    # When the daily schedule starts an execution
    run = stack.run(scheduled(22))
    assert run.status == "SUCCEEDED", (run.error, run.cause)
    assert decisions(run) == {"2023": "new", "2024": "new"}
    assert run.output["check"]["pdc"] == {"performance_year": 2024, "decision": "new", "reason": "not published before"}
    # the plan in order: each year staged, its partitions published, then finalized; the PDC file last
    assert [(o["source"], o["performance_year"], o["status"]) for o in run.output["published"]] == [
        ("qpp", 2023, "published"),
        ("qpp", 2024, "published"),
        ("pdc", 2024, "reconciled"),
    ]
    assert run.log.actions() == [
        "check",
        "stage",
        *["publish_partition"] * PARTITIONS,
        "finalize",
        "stage",
        *["publish_partition"] * PARTITIONS,
        "finalize",
        "ingest_pdc",
        "record_check_dates",
    ]
    # what Step Functions bills: 6 states around the plan, 5 + one per partition per year, 2 for the PDC file
    assert len(run.states_entered(stack.sfn)) == 6 + 2 * (5 + PARTITIONS) + 2  # docs/operations.md: what a run costs
    # Then the public bucket holds exactly what a local publish of the same input holds
    s3_tree = stack.public_objects()
    local = local_publish(stack.cms, tmp_path)
    local_tree = {p.relative_to(local).as_posix(): p.read_bytes() for p in local.rglob("*") if p.is_file()}
    assert set(s3_tree) == set(local_tree)
    for key in local_tree:
        if key != "v1/manifest.json":
            assert s3_tree[key] == local_tree[key], key
    assert without_dates(s3_tree["v1/manifest.json"]) == without_dates(local_tree["v1/manifest.json"])
    # the raw files, audit Parquet, release state and reconciliation are recorded; one invalidation per year
    raw_qpp = stack.keys("raw", "raw/qpp/")  # each year's file and the Check step's record of it, beside it
    assert len([k for k in raw_qpp if k.endswith(".csv")]) == 2 and len(raw_qpp) == 4
    assert len(stack.keys("raw", "raw/pdc/py=2024/")) == 1
    assert len(stack.keys("audit", "audit/py=2024/")) == 1
    assert stack.keys("audit", "reconciliation/py=2024/") == ["reconciliation/py=2024/mismatches.csv"]
    assert len(stack.invalidations()) == 2
    assert stack.state_record("qpp", 2024)["modified"] == "2025-07-28"
    assert stack.state_record("pdc", 2024)["modified"] == "2025-08-01"
    assert stack.lock_holder() is None
    assert stack.alarm_messages() == []
    assert not [k for k in s3_tree if "pdc" in k]  # nothing of the PDC file (names, Org PAC ids) is public


def test_objects_carry_content_type_cache_control_and_a_content_hash(stack, tables, tmp_path):
    stack.cms.publish_qpp(2024, csv_bytes(tables[2024], tmp_path), "2025-07-28")
    assert stack.run(scheduled(22)).status == "SUCCEEDED"
    key = next(k for k in stack.keys("public", "v1/npi/"))
    head = stack.s3.head_object(Bucket="public", Key=key)
    assert head["ContentType"] == "application/json; charset=utf-8"
    assert head["CacheControl"].startswith("public, max-age=")
    assert len(head["Metadata"]["content-blake2b"]) == 32
    manifest = stack.s3.head_object(Bucket="public", Key="v1/manifest.json")
    assert manifest["CacheControl"] == "public, max-age=60"
    # `mips-profiles serve` answers with the same Cache-Control as the S3 object carries, for every kind of key
    for sample in (
        key,
        "v1/manifest.json",
        "v1/schema/profile.schema.json",
        "v1/not-found.json",
        "v1/stats/2024/national.json",
        stack.keys("public", "v1/stats/2024/state/")[0],
        "v1/bulk/2024/scores.ndjson",
        "v1/changes/00000001.json",
    ):
        assert stack.s3.head_object(Bucket="public", Key=sample)["CacheControl"] == cache_control_for(sample), sample
    # bulk files are stored gzip-encoded, so that a browser or `curl --compressed` reads them as they are
    for fmt, content_type in BULK_FORMATS.items():
        head = stack.s3.head_object(Bucket="public", Key=f"v1/bulk/2024/scores.{fmt}")
        assert (head["ContentEncoding"], head["ContentType"]) == ("gzip", content_type)


def test_a_correction_rewrites_only_the_changed_objects(stack, tables, tmp_path):
    stack.cms.publish_qpp(2024, csv_bytes(tables[2024], tmp_path), "2025-07-28")
    assert stack.run(scheduled(22)).status == "SUCCEEDED"
    before = stack.public_objects()
    public_store = stack.shard.steps().publisher.public
    puts_before = public_store.puts
    fix = make_correction(tables[2024], changed_share=0.02, removed=2, added=2)
    stack.cms.publish_qpp(2024, csv_bytes(fix.table, tmp_path), "2025-09-15")
    run = stack.run(scheduled(23))
    assert run.status == "SUCCEEDED" and decisions(run) == {"2024": "corrected"}
    after = stack.public_objects()
    changed_docs = {k for k in after if k.startswith("v1/npi/") and before.get(k) != after[k]}
    expected = {f"v1/npi/{n}.json" for n in fix.changed + fix.added}
    assert changed_docs == expected
    gone = {k for k in before if k not in after}
    assert gone == {f"v1/npi/{n}.json" for n in fix.removed}
    # a correction of a few clinicians moves no specialty or state (they would name where those clinicians are):
    # held back at the first release, as the local road does; national.json is the one aggregate rewritten
    national = json.loads(after["v1/stats/2024/national.json"])
    assert national["breakdowns"]["held_back"]["changed_clinicians"] >= len(fix.removed + fix.added)
    assert national["breakdowns"]["release_id"] == json.loads(before["v1/stats/2024/national.json"])["release_id"]
    changed_stats = {k for k in after if k.startswith("v1/stats/") and before.get(k) != after[k]}
    assert changed_stats == {"v1/stats/2024/national.json"}
    # PUTs: the changed documents, national.json, the year's two bulk files, one change object and the manifest;
    # nothing else
    assert {k for k in after if k.startswith(("v1/bulk/", "v1/changes/")) and before.get(k) != after[k]} == {
        "v1/bulk/2024/scores.ndjson",
        "v1/bulk/2024/scores.csv",
        "v1/changes/00000002.json",
    }
    assert public_store.puts - puts_before == len(expected) + len(changed_stats) + 2 + 1 + 1
    assert run.output["published"][0]["docs_written"] == len(expected)
    assert len(stack.invalidations()) == 2


def test_an_unchanged_day_writes_no_document_and_records_the_check_date(stack, tables, tmp_path):
    stack.cms.publish_qpp(2024, csv_bytes(tables[2024], tmp_path), "2025-07-28")
    assert stack.run(scheduled(22)).status == "SUCCEEDED"
    before = stack.public_objects()
    time.sleep(1.1)  # the check date has second precision: a later second, as a later day would be
    run = stack.run(scheduled(23))
    assert run.status == "SUCCEEDED"
    assert run.output["check"]["status"] == "unchanged"
    assert run.output["check"]["years"] == {"2024": {"decision": "unchanged", "reason": "content hash unchanged"}}
    assert run.output["check"]["pdc"]["decision"] == "failed"  # the stand-in's metastore lists no PDC file here
    assert run.output["published"] == [] and run.output["check_dates"] == {"touched": [2024]}
    assert run.log.actions() == ["check", "record_check_dates"]
    assert len(run.states_entered(stack.sfn)) == 6  # docs/operations.md: a daily check costs 6 state transitions
    after = stack.public_objects()
    assert {k for k in after if after[k] != before[k]} == {"v1/manifest.json"}
    assert len(stack.invalidations()) == 1
    assert stack.lock_holder() is None


def test_a_duplicated_manual_request_is_refused_by_step_functions(stack, tables, tmp_path):
    stack.cms.publish_qpp(2024, csv_bytes(tables[2024], tmp_path), "2025-07-28")
    assert stack.run(scheduled(22)).status == "SUCCEEDED"
    request = load_event("manual_rerun.json")
    name = execution_name(request, today="2026-11-24")
    first = stack.run(request, name=name)
    assert first.status == "SUCCEEDED" and decisions(first) == {"2024": "forced"}
    downloads = sum(1 for r in stack.cms.state.requests if r["path"] == stack.cms.qpp_path(2024))
    # the same request again (a double click, a retried CLI call): same name, refused by the service
    with pytest.raises(stack.sfn.exceptions.ExecutionAlreadyExists):
        stack.start(request, name=execution_name(json.loads(json.dumps(request)), today="2026-11-24"))
    assert sum(1 for r in stack.cms.state.requests if r["path"] == stack.cms.qpp_path(2024)) == downloads
    # another reason or another day is another request
    assert execution_name({**request, "reason": "again"}, today="2026-11-24") != name
    assert execution_name(request, today="2026-11-25") != name


def test_the_checker_refusing_a_file_changes_nothing_and_the_run_succeeds(stack, tables, tmp_path):
    stack.cms.publish_qpp(2024, csv_bytes(tables[2024], tmp_path), "2025-07-28")
    assert stack.run(scheduled(22)).status == "SUCCEEDED"
    before = stack.public_objects()
    state_before = stack.state_record("qpp", 2024)
    # CMS's server cuts the correction short: the download is refused by the checker, not published
    stack.cms.publish_qpp(
        2024, csv_bytes(make_correction(tables[2024], changed_share=0.05).table, tmp_path), "2025-09-15"
    )
    stack.cms.inject(stack.cms.qpp_path(2024), *["short-length"] * 10)
    run = stack.run(scheduled(23))
    assert run.status == "SUCCEEDED"
    assert decisions(run) == {"2024": "failed"} and "Content-Length" in run.output["check"]["years"]["2024"]["error"]
    assert run.log.actions() == ["check", "record_check_dates"] and run.output["check_dates"] == {"touched": []}
    assert stack.public_objects() == before
    assert stack.state_record("qpp", 2024) == state_before
    assert stack.lock_holder() is None


def test_a_file_refused_at_staging_changes_nothing_and_the_run_succeeds(stack, tables, tmp_path):
    stack.cms.publish_qpp(2024, csv_bytes(tables[2024], tmp_path), "2025-07-28")
    assert stack.run(scheduled(22)).status == "SUCCEEDED"
    before = stack.public_objects()
    state_before = stack.state_record("qpp", 2024)
    stack.cms.publish_qpp(2024, csv_bytes(generate_table(2019, 300), tmp_path), "2025-09-15")  # PY2019 layout
    run = stack.run(scheduled(23))
    assert run.status == "SUCCEEDED"
    assert [(o["status"], o["performance_year"]) for o in run.output["published"]] == [("refused", 2024)]
    assert "layout" in run.output["published"][0]["error"]
    assert "publish_partition" not in run.log.actions()
    assert stack.public_objects() == before
    assert stack.state_record("qpp", 2024) == state_before
    assert stack.lock_holder() is None


def test_the_checker_lambda_does_not_import_pandas_or_pyarrow(stack):
    import subprocess

    code = (
        "import importlib.util, sys\n"
        "spec = importlib.util.spec_from_file_location('app', 'functions/check_release/app.py')\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        "heavy = [n for n in ('pandas', 'pyarrow', 'numpy') if n in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_the_scheduler_event_is_what_the_template_schedule_delivers():
    from cfnlint.decode import cfn_yaml

    machine = cfn_yaml.load(str(ROOT / "template.yaml"))["Resources"]["RefreshStateMachine"]["Properties"]
    schedule = machine["Events"]["Daily"]
    assert schedule["Type"] == "ScheduleV2"
    template_input = json.loads(schedule["Properties"]["Input"])
    sample = load_event("scheduler.json")
    assert set(template_input) == set(sample)
    for key, value in template_input.items():
        if not value.startswith("<aws.scheduler."):  # the placeholders Scheduler fills in
            assert sample[key] == value, key


@pytest.mark.parametrize("name", ["scheduler.json", "manual_rerun.json"])
def test_sample_execution_inputs_parse_as_the_checker_expects(name):
    from mips_profiles.orchestration.release_check import CheckRequest

    request = CheckRequest.from_event(load_event(name))
    assert (request.performance_year, request.force) == ((2024, True) if "manual" in name else (None, False))


def test_the_cli_publishes_to_s3_exactly_as_to_a_directory(tmp_path, monkeypatch, sample_file, run_cli):
    for k, v in {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }.items():
        monkeypatch.setenv(k, v)
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="public")
        s3.create_bucket(Bucket="audit")
        to_s3 = run_cli(
            "publish",
            "--performance-year",
            2024,
            "--source",
            sample_file(2024),
            "--out",
            "s3://public/site",
            "--private",
            "s3://audit/mips",
            "--json",
        )
        assert to_s3.code == 0, to_s3.err
        local = run_cli(
            "publish", "--performance-year", 2024, "--source", sample_file(2024), "--out", tmp_path / "tree", "--json"
        )
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


def test_a_pdc_file_that_is_not_one_is_refused_and_the_years_scores_stand(stack, tables, tmp_path):
    stack.cms.publish_qpp(2024, csv_bytes(tables[2024], tmp_path), "2025-07-28")
    stack.cms.publish_pdc(2024, b"<!doctype html><html><body>Service unavailable</body></html>\n", "2025-08-01")
    run = stack.run(scheduled(22))
    assert run.status == "SUCCEEDED"
    assert run.output["check"]["pdc"]["decision"] == "failed" and "HTML" in run.output["check"]["pdc"]["error"]
    manifest = json.loads(stack.public_objects()["v1/manifest.json"])
    assert "cms_profile_reconciliation" not in manifest["releases"][0]
    assert stack.state_record("pdc", 2024) is None
    assert stack.lock_holder() is None


def test_a_pdc_csv_of_the_wrong_shape_is_refused_at_ingest_and_the_run_finishes(stack, tables, tmp_path):
    stack.cms.publish_qpp(2024, csv_bytes(tables[2024], tmp_path), "2025-07-28")
    stack.cms.publish_pdc(2024, b"npi,provider last name\n1376745471,SMITH\n", "2025-08-01")
    run = stack.run(scheduled(22))
    assert run.status == "SUCCEEDED"
    assert run.output["check"]["pdc"]["decision"] == "new"  # a CSV: the checker takes it
    assert [(o["source"], o["status"]) for o in run.output["published"]] == [("qpp", "published"), ("pdc", "refused")]
    assert len(stack.keys("public", "v1/npi/")) > 0  # the QPP year is published all the same
    manifest = json.loads(stack.public_objects()["v1/manifest.json"])
    assert "cms_profile_reconciliation" not in manifest["releases"][0]
    assert stack.keys("audit", "pdc/") == [] and stack.keys("audit", "reconciliation/") == []
    assert stack.state_record("pdc", 2024) is None  # retried on the next check
    assert stack.lock_holder() is None


def test_a_run_under_any_name_step_functions_accepts_publishes(stack, tables, tmp_path):
    """A console-started execution named like ``rerun.2024`` used to pass Check (downloading the year) and then
    fail at Stage on a stricter name rule; now both steps take Step Functions' own rule."""
    stack.cms.publish_qpp(2024, csv_bytes(tables[2024], tmp_path), "2025-07-28")
    run = stack.run({"performance_year": 2024, "force": True, "reason": "console"}, name="rerun.2024@ops")
    assert run.status == "SUCCEEDED", (run.error, run.cause)
    assert [(o["performance_year"], o["status"]) for o in run.output["published"]] == [(2024, "published")]


@pytest.mark.parametrize("request_value", [[], False, "", 0])
def test_a_check_event_that_is_not_a_request_is_refused_before_any_download(stack, request_value):
    from mips_profiles.errors import InvalidInput

    with pytest.raises(InvalidInput, match="the Check event's request must be a JSON object"):
        stack.check.handler({"request": request_value, "run": "manual-x"}, FakeContext())
    assert stack.cms.state.requests == []  # not even the catalog was read
