"""The refresh state machine's own behaviour, run from its ASL file in moto: retries with backoff, a run
that fails for good, the run lock (held, stale), a stale release, and the ASL validator CI runs."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading

import pytest
from aws_stack import ROOT, csv_bytes, scheduled

from mips_profiles.keys import current_run_key
from mips_profiles.sandbox.generator import make_correction

VALIDATOR = ROOT / "tools" / "asl" / "node_modules" / ".bin" / "asl-validator"


def fail_writes(stack, monkeypatch, times: int, error: Exception):
    """The public store's shard writes fail ``times`` times with ``error`` (then work)."""
    public = stack.shard.steps().publisher.public
    original, left = public.write_many, {"n": times}

    def failing(items, **kw):
        if left["n"]:
            left["n"] -= 1
            raise error
        return original(items, **kw)

    monkeypatch.setattr(public, "write_many", failing)
    return lambda: setattr(public, "write_many", original)


def published_once(stack, tables, tmp_path) -> dict[str, bytes]:
    stack.cms.publish_qpp(2024, csv_bytes(tables[2024], tmp_path), "2025-07-28")
    assert stack.run(scheduled(22)).status == "SUCCEEDED"
    return stack.public_objects()


def test_a_partition_failing_twice_is_retried_with_backoff_and_jitter_and_converges(
    stack, tables, tmp_path, monkeypatch
):
    before = published_once(stack, tables, tmp_path)
    fix = make_correction(tables[2024], changed_share=0.05)
    stack.cms.publish_qpp(2024, csv_bytes(fix.table, tmp_path), "2025-09-15")
    fail_writes(stack, monkeypatch, 2, ConnectionResetError("connection reset by peer"))
    run = stack.run(scheduled(23))
    assert run.status == "SUCCEEDED", (run.error, run.cause)
    failed = [i for i in run.log.invocations if i.get("error")]
    assert [(i["event"]["action"], i["error"]) for i in failed] == [("publish_partition", "Transient")] * 2
    # the two waits of the partition's Retry: full jitter below 5 s, then below 5 x 2 s
    assert len(run.log.waits) == 2 and run.log.waits[0] <= 5 and run.log.waits[1] <= 10
    after = stack.public_objects()
    assert {k for k in after if k.startswith("v1/npi/") and after[k] != before.get(k)} == {
        f"v1/npi/{n}.json" for n in fix.changed + fix.added
    }
    assert stack.lock_holder() is None


def test_a_partition_failing_for_good_releases_the_lock_leaves_the_manifest_and_raises_the_alarm(
    stack, tables, tmp_path, monkeypatch
):
    before = published_once(stack, tables, tmp_path)
    state_before = stack.state_record("qpp", 2024)
    stack.cms.publish_qpp(
        2024, csv_bytes(make_correction(tables[2024], changed_share=0.05).table, tmp_path), "2025-09-15"
    )
    repaired = fail_writes(stack, monkeypatch, 1000, ConnectionResetError("connection reset by peer"))
    run = stack.run(scheduled(23))
    # the execution fails, named after the step's error, after the Retry's 3 retries
    assert run.status == "FAILED" and run.error == "Transient"
    assert "connection reset by peer" in run.cause
    partitions = [i for i in run.log.invocations if i["event"].get("action") == "publish_partition"]
    assert {i["error"] for i in partitions} == {"Transient"}
    assert "finalize" not in run.log.actions() and "record_check_dates" not in run.log.actions()
    # the lock is released, the previous manifest is byte-identical, the release state unchanged
    assert stack.lock_holder() is None
    after = stack.public_objects()
    assert after["v1/manifest.json"] == before["v1/manifest.json"]
    assert stack.state_record("qpp", 2024) == state_before
    # the failure is recorded for operators, and a message reached the alarm topic
    failure = stack.ddb.get_item(TableName="state", Key={"pk": {"S": "run#last-failure"}})["Item"]
    assert failure["execution"]["S"] == run.name and failure["error"]["S"] == "Transient"
    messages = stack.alarm_messages()
    assert len(messages) == 1 and messages[0]["Subject"] == "mips-profiles: a refresh run failed"
    assert run.name in messages[0]["Message"] and "Transient" in messages[0]["Message"]
    # the next run (CMS's file unchanged, so still a correction to publish) takes the lock and publishes
    repaired()
    again = stack.run(scheduled(24))
    assert again.status == "SUCCEEDED"
    assert json.loads(stack.public_objects()["v1/manifest.json"])["releases"][0]["cms_modified"] == "2025-09-15"


def test_a_stale_release_is_refused_by_finalize_and_nothing_is_overwritten(stack, tables, tmp_path):
    before = published_once(stack, tables, tmp_path)
    stack.cms.publish_qpp(
        2024, csv_bytes(make_correction(tables[2024], changed_share=0.05).table, tmp_path), "2025-09-15"
    )
    audit = stack.shard.steps().publisher.private

    def newer_release_staged_meanwhile(function: str, event: dict) -> None:
        # as when an old execution is redriven after a newer release of the year was staged
        if event.get("action") == "finalize":
            audit.write(current_run_key(2024), json.dumps({"run_id": "2024-newer", "release_id": "x"}).encode())

    stack.before_task = newer_release_staged_meanwhile
    run = stack.run(scheduled(23))
    assert run.status == "FAILED" and run.error == "StaleRelease"
    assert "no longer current" in run.cause
    assert [i.get("error") for i in run.log.invocations if i["event"].get("action") == "finalize"] == [
        "StaleRelease"
    ]  # refused at once: a stale release is not retried
    assert stack.public_objects()["v1/manifest.json"] == before["v1/manifest.json"]
    assert stack.lock_holder() is None


def test_a_stale_partition_is_refused_before_it_writes_a_document(stack, tables, tmp_path):
    published_once(stack, tables, tmp_path)
    steps = stack.shard.steps()
    run_id = json.loads(steps.publisher.private.read(current_run_key(2024)))["run_id"]
    steps.publisher.private.write(current_run_key(2024), b'{"run_id": "2024-newer", "release_id": "x"}')
    puts = steps.publisher.public.puts
    with pytest.raises(Exception, match="no longer current") as caught:
        stack.invoke_shard({"action": "publish_partition", "run_id": run_id, "group": 0})
    assert type(caught.value).__name__ == "StaleRelease"
    assert steps.publisher.public.puts == puts


class BlockedCheck:
    """Holds the Check task of the execution scheduled on day ``day`` until released: that execution is
    RUNNING, holding the run lock it took, for as long as the test needs."""

    def __init__(self, day: int) -> None:
        self.day, self.entered, self.released = day, threading.Event(), threading.Event()

    def __call__(self, function: str, event: dict) -> None:
        if event.get("request", {}).get("scheduled_time", "").startswith(f"2026-11-{self.day:02d}"):
            self.entered.set()
            assert self.released.wait(60), "the blocked check was never released"


def test_a_run_finding_the_lock_held_by_a_running_execution_does_nothing(stack, tables, tmp_path):
    stack.cms.publish_qpp(2024, csv_bytes(tables[2024], tmp_path), "2025-07-28")
    stack.before_task = blocked = BlockedCheck(21)
    with stack.tasks() as log:
        first = stack.start(scheduled(21), name="first")
        assert blocked.entered.wait(30)
        second = stack.wait(stack.start(scheduled(22), name="second"), log)
        assert stack.lock_holder()["owner"]["S"] == "first"
        blocked.released.set()
        first = stack.wait(first, log)
    assert second.status == "SUCCEEDED" and second.output == {"outcome": "lock held", "holder": "first"}
    assert first.status == "SUCCEEDED" and first.output["published"][0]["status"] == "published"
    assert log.actions("check") == ["check"]  # the second run did nothing
    assert stack.lock_holder() is None
    metrics = stack.cloudwatch.list_metrics(Namespace="MipsProfiles", MetricName="RunLockHeld")["Metrics"]
    assert metrics and metrics[0]["Dimensions"] == [{"Name": "StateMachine", "Value": "refresh"}]


@pytest.mark.parametrize("holder", ["aborted execution", "expired repair lease", "vanished execution"])
def test_a_stale_lock_is_taken_over(stack, tables, tmp_path, holder):
    stack.cms.publish_qpp(2024, csv_bytes(tables[2024], tmp_path), "2025-07-28")
    if holder == "aborted execution":  # stopped by hand (or timed out): no catch ran, its lock stayed
        stack.before_task = blocked = BlockedCheck(21)
        with stack.tasks() as log:
            arn = stack.start(scheduled(21), name="aborted")
            assert blocked.entered.wait(30)
            stack.sfn.stop_execution(executionArn=arn)
            blocked.released.set()
            assert stack.wait(arn, log).status == "ABORTED"
        stack.before_task = None
        assert stack.lock_holder()["owner"]["S"] == "aborted"
    elif holder == "vanished execution":
        stack.ddb.put_item(
            TableName="state",
            Item={
                "pk": {"S": "lock#refresh"},
                "owner": {"S": "gone"},
                "execution_arn": {"S": f"{stack.machine_arn}:gone".replace(":stateMachine:", ":execution:")},
            },
        )
    else:
        stack.ddb.put_item(
            TableName="state",
            Item={
                "pk": {"S": "lock#refresh"},
                "owner": {"S": "repair-1"},
                "expires_at": {"N": "1"},
                "lease_until": {"S": "2026-01-01T00:00:00Z"},
            },
        )
    run = stack.run(scheduled(22))
    assert run.status == "SUCCEEDED", (run.error, run.cause)
    assert "TakeOverStaleLock" in run.states_entered(stack.sfn)
    assert run.output["published"][0]["status"] == "published"
    assert stack.lock_holder() is None


def test_a_repair_lease_that_has_not_ended_holds_the_lock(stack, tables, tmp_path):
    stack.cms.publish_qpp(2024, csv_bytes(tables[2024], tmp_path), "2025-07-28")
    stack.ddb.put_item(
        TableName="state",
        Item={
            "pk": {"S": "lock#refresh"},
            "owner": {"S": "repair-2"},
            "expires_at": {"N": "9999999999"},
            "lease_until": {"S": "2286-11-20T17:46:39Z"},
        },
    )
    run = stack.run(scheduled(22))
    assert run.output == {"outcome": "lock held", "holder": "repair-2"}


def test_the_state_machine_role_needs_each_statement_it_has(tmp_path, monkeypatch, tables):
    """Without lambda:InvokeFunction the Check step fails: the run fails, releases the lock, alarms."""
    from aws_stack import running_stack
    from iam_enforcement import role_statements

    sids = [s.get("Sid") for s in role_statements("RefreshStateMachineRole")]
    with running_stack(tmp_path, monkeypatch, drop=("machine", sids.index("InvokeSteps"))) as stack:
        stack.cms.publish_qpp(2024, csv_bytes(tables[2024], tmp_path), "2025-07-28")
        run = stack.run(scheduled(22))
        assert run.status == "FAILED" and run.error == "Lambda.AccessDeniedException"
        assert stack.lock_holder() is None and len(stack.alarm_messages()) == 1


# ---------------------------------------------------------------------------------------------- the ASL file


def asl_validator(path) -> subprocess.CompletedProcess:
    assert VALIDATOR.exists(), "the ASL validator is missing: make tools/asl/node_modules/.installed (npm ci)"
    return subprocess.run([str(VALIDATOR), "--json-path", str(path)], capture_output=True, text=True, timeout=120)


def test_the_asl_file_passes_the_validator_and_a_typo_in_a_state_name_does_not(tmp_path):
    assert shutil.which("node"), "node is needed for the ASL validator (apt-get install nodejs npm)"
    good = asl_validator(ROOT / "statemachine" / "refresh.asl.json")
    assert good.returncode == 0, good.stdout + good.stderr
    typo = tmp_path / "typo.asl.json"
    typo.write_text(
        (ROOT / "statemachine" / "refresh.asl.json")
        .read_text()
        .replace('"Next": "RecordFailure"', '"Next": "RecordFailur"', 1)
    )
    bad = asl_validator(typo)
    assert bad.returncode != 0 and "RecordFailur" in bad.stdout + bad.stderr


def test_every_task_that_can_fail_is_caught_so_the_lock_is_always_released():
    """Walk the ASL: every Task and Map of the top level catches States.ALL (the per-item states inside a
    Map are caught by their Map); the catch paths end in RunFailed."""
    definition = json.loads((ROOT / "statemachine" / "refresh.asl.json").read_text())
    states = definition["States"]
    for name, state in states.items():
        if state["Type"] in ("Task", "Map"):
            caught = [c for c in state.get("Catch", []) if "States.ALL" in c["ErrorEquals"]]
            assert caught, f"{name} does not catch States.ALL"
    assert states["RunFailed"]["Type"] == "Fail"
    assert definition["TimeoutSeconds"] == 4 * 3600
