"""Alarms that reach a person: the wiring in template.yaml, and the metrics the alarms watch as the real
handlers emit them (Powertools' embedded metric format on stdout, which CloudWatch turns into metrics)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_stack import csv_bytes, scheduled
from cfnlint.decode import cfn_yaml

from mips_profiles.sandbox.generator import generate_table

ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def resources():
    return cfn_yaml.load(str(ROOT / "template.yaml"))["Resources"]


def alarm_metrics(resources) -> dict[str, tuple[str, str, dict]]:
    """alarm -> (namespace, metric, dimensions) for every metric an alarm watches."""
    out = {}
    for name, res in resources.items():
        if res["Type"] != "AWS::CloudWatch::Alarm":
            continue
        props = res["Properties"]
        stats = [m["MetricStat"]["Metric"] for m in props.get("Metrics", []) if "MetricStat" in m]
        if "MetricName" in props:
            stats.append(props)
        for i, m in enumerate(stats):
            dims = {d["Name"]: d["Value"] for d in m.get("Dimensions", []) if isinstance(d.get("Value"), str)}
            out[f"{name}.{i}"] = (m["Namespace"], m["MetricName"], dims)
    return out


def test_every_alarm_notifies_the_topic_and_cloudwatch_may_use_its_key(resources):
    alarms = {n: r for n, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    assert {"RunStuckAlarm", "ExecutionsFailedAlarm", "ExecutionsTimedOutAlarm", "PublishRefusedAlarm"} <= set(alarms)
    for name, alarm in alarms.items():
        assert {"Ref": "AlarmTopic"} in alarm["Properties"]["AlarmActions"], name
    key_id = resources["AlarmTopic"]["Properties"]["KmsMasterKeyId"]
    assert key_id == {"Ref": "AlarmTopicKey"}, "alias/aws/sns cannot be used by CloudWatch alarms"
    key = resources["AlarmTopicKey"]
    assert key["Type"] == "AWS::KMS::Key" and key["DeletionPolicy"] == "Retain"
    grants = [
        s
        for s in key["Properties"]["KeyPolicy"]["Statement"]
        if s.get("Principal", {}).get("Service") == "cloudwatch.amazonaws.com"
    ]
    assert grants and {"kms:Decrypt", "kms:GenerateDataKey*"} <= set(grants[0]["Action"])
    topic_policy = resources["AlarmTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    assert topic_policy["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert topic_policy["Action"] == "sns:Publish"


def emitted(capsys) -> list[dict]:
    """The EMF records the handlers printed: namespace, metric names, dimensions."""
    records = []
    for line in capsys.readouterr().out.splitlines():
        try:
            body = json.loads(line)
        except ValueError:
            continue
        if isinstance(body, dict) and "_aws" in body:
            for directive in body["_aws"]["CloudWatchMetrics"]:
                for metric in directive["Metrics"]:
                    dims = {d: body[d] for group in directive["Dimensions"] for d in group}
                    records.append(
                        {
                            "namespace": directive["Namespace"],
                            "name": metric["Name"],
                            "dimensions": dims,
                            "value": body[metric["Name"]],
                        }
                    )
    return records


def watched_and_emitted(resources, records, metric: str) -> bool:
    watched = [(ns, dims) for ns, name, dims in alarm_metrics(resources).values() if name == metric]
    assert watched, f"no alarm watches {metric}"
    return any(
        r["name"] == metric and r["namespace"] == ns and all(r["dimensions"].get(k) == v for k, v in dims.items())
        for ns, dims in watched
        for r in records
    )


def test_the_run_alarms_watch_the_state_machine_and_what_its_lock_held_path_emits(resources):
    metrics = alarm_metrics(resources)
    for alarm, metric in (
        ("ExecutionsFailedAlarm", "ExecutionsFailed"),
        ("ExecutionsTimedOutAlarm", "ExecutionsTimedOut"),
    ):
        props = resources[alarm]["Properties"]
        assert (props["Namespace"], props["MetricName"]) == ("AWS/States", metric)
        assert props["Dimensions"] == [{"Name": "StateMachineArn", "Value": {"Ref": "RefreshStateMachine"}}]
    # the run-stuck alarm counts what the ASL's lock-held path puts (tests/aws/test_state_machine.py runs it)
    asl = json.loads((ROOT / "statemachine" / "refresh.asl.json").read_text())
    put = asl["States"]["CountLockHeld"]["Parameters"]
    emitted = (
        put["Namespace"],
        put["MetricData"][0]["MetricName"],
        {d["Name"]: d["Value"] for d in put["MetricData"][0]["Dimensions"]},
    )
    assert metrics["RunStuckAlarm.0"] == emitted
    # a run that outlives the alarm's notion of stuck is stopped by the state machine itself
    assert asl["TimeoutSeconds"] == 4 * 3600


def test_a_refused_download_and_a_refused_file_reach_their_alarm(stack, tables, tmp_path, resources, capsys):
    stack.cms.publish_qpp(2024, csv_bytes(tables[2024], tmp_path), "2025-07-28")
    capsys.readouterr()
    assert stack.run(scheduled(22)).status == "SUCCEEDED"
    assert not [r for r in emitted(capsys) if r["name"] == "PublishRefused"]

    stack.cms.publish_qpp(2024, csv_bytes(generate_table(2019, 300), tmp_path), "2025-09-15")  # wrong layout
    assert stack.run(scheduled(23)).status == "SUCCEEDED"
    assert watched_and_emitted(resources, emitted(capsys), "PublishRefused")

    stack.cms.publish_qpp(2024, csv_bytes(generate_table(2024, 50), tmp_path), "2025-10-01")
    stack.cms.inject(stack.cms.qpp_path(2024), *["short-length"] * 10)  # the download is cut short
    assert stack.run(scheduled(24)).status == "SUCCEEDED"
    assert watched_and_emitted(resources, emitted(capsys), "PublishRefused")


def test_an_unknown_column_reaches_its_alarm_and_the_manifest(stack, tmp_path, resources, capsys):
    import pyarrow as pa

    table = generate_table(2024, 300)
    table = table.append_column("a column cms added", pa.array(["x"] * table.num_rows, pa.string()))
    stack.cms.publish_qpp(2024, csv_bytes(table, tmp_path), "2025-07-28")
    capsys.readouterr()
    assert stack.run(scheduled(22)).status == "SUCCEEDED"
    records = emitted(capsys)
    assert watched_and_emitted(resources, records, "UnknownColumns")
    assert [r["value"] for r in records if r["name"] == "UnknownColumns"] in ([1.0], [[1.0]])
    manifest = json.loads(stack.public_objects()["v1/manifest.json"])
    assert manifest["releases"][0]["unknown_columns"] == ["a column cms added"]


def test_a_sharp_drop_of_the_final_score_check_reaches_its_alarm_and_publishes_all_the_same(
    stack, tmp_path, resources, capsys
):
    """PY2023 adds up; PY2024's final scores all moved off their parts (a misread layout would look so): the
    year is published, the share is a metric, and the drop reaches the alarm."""
    import pyarrow as pa

    stack.cms.publish_qpp(2023, csv_bytes(generate_table(2023, 300), tmp_path), "2024-07-28")
    off = generate_table(2024, 300)
    moved = [f"{float(v) + 5 if float(v) < 95 else float(v) - 5:g}" if v else v for v in off["final score"].to_pylist()]
    off = off.set_column(off.column_names.index("final score"), "final score", pa.array(moved))
    stack.cms.publish_qpp(2024, csv_bytes(off, tmp_path), "2025-07-28")
    capsys.readouterr()
    run = stack.run(scheduled(22))
    assert run.status == "SUCCEEDED"
    records = emitted(capsys)
    shares = [r["value"] for r in records if r["name"] == "FinalScoresReproduced"]
    assert len(shares) == 2 and min(v if isinstance(v, float) else v[0] for v in shares) < 5
    assert watched_and_emitted(resources, records, "FinalScoreCheckDropped")
    published = {o["performance_year"]: o for o in run.output["published"]}
    assert published[2024]["status"] == "published" and published[2024]["warnings"]
    assert published[2023]["warnings"] == []
