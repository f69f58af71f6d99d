"""Alarms that reach a person: the wiring in template.yaml, and the metrics the alarms watch as the real
handlers emit them (Powertools' embedded metric format on stdout, which CloudWatch turns into metrics)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_stack import csv_bytes, scheduled
from cfnlint.decode import cfn_yaml

from mips_profiles.generator import generate_table, make_pdc_table

ROOT = Path(__file__).parents[1]


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
    assert {"RunStuckAlarm", "RunFailedAlarm", "PublishRefusedAlarm"} <= set(alarms)
    for name, alarm in alarms.items():
        assert {"Ref": "AlarmTopic"} in alarm["Properties"]["AlarmActions"], name
    key_id = resources["AlarmTopic"]["Properties"]["KmsMasterKeyId"]
    assert key_id == {"Ref": "AlarmTopicKey"}, "alias/aws/sns cannot be used by CloudWatch alarms"
    key = resources["AlarmTopicKey"]
    assert key["Type"] == "AWS::KMS::Key" and key["DeletionPolicy"] == "Retain"
    grants = [s for s in key["Properties"]["KeyPolicy"]["Statement"]
              if s.get("Principal", {}).get("Service") == "cloudwatch.amazonaws.com"]
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
                    records.append({"namespace": directive["Namespace"], "name": metric["Name"],
                                    "dimensions": dims, "value": body[metric["Name"]]})
    return records


def watched_and_emitted(resources, records, metric: str) -> bool:
    watched = [(ns, dims) for ns, name, dims in alarm_metrics(resources).values() if name == metric]
    assert watched, f"no alarm watches {metric}"
    return any(r["name"] == metric and r["namespace"] == ns
               and all(r["dimensions"].get(k) == v for k, v in dims.items())
               for ns, dims in watched for r in records)


def test_a_run_emits_started_and_finished_as_the_stuck_alarm_expects(stack, tables, tmp_path, resources, capsys):
    stack.cms.publish_qpp(2024, csv_bytes(tables[2024], tmp_path), "2025-07-28")
    stack.cms.publish_pdc(2024, csv_bytes(make_pdc_table(tables[2024]), tmp_path), "2025-08-01")
    capsys.readouterr()
    stack.invoke_check(scheduled(22))
    stack.drain()
    records = emitted(capsys)
    assert watched_and_emitted(resources, records, "RunStarted")
    assert watched_and_emitted(resources, records, "RunFinished")
    assert not [r for r in records if r["name"] in ("RunFailed", "PublishRefused")]


def test_a_failing_record_and_a_refused_file_reach_their_alarms(stack, tables, tmp_path, resources, capsys,
                                                                monkeypatch):
    stack.cms.publish_qpp(2024, csv_bytes(tables[2024], tmp_path), "2025-07-28")
    stack.invoke_check(scheduled(22))
    public = stack.shard.worker().publisher.public
    original, calls = public.write_many, {"n": 0}

    def dies_once(items, **kw):
        calls["n"] += 1
        if calls["n"] == 2:
            raise ConnectionResetError("connection reset by peer")
        return original(items, **kw)

    monkeypatch.setattr(public, "write_many", dies_once)
    capsys.readouterr()
    stack.drain()  # one partition fails once (a partial batch failure, not a Lambda error), then succeeds
    assert watched_and_emitted(resources, emitted(capsys), "RunFailed")

    stack.cms.publish_qpp(2024, csv_bytes(generate_table(2019, 300), tmp_path), "2025-09-15")  # wrong layout
    stack.invoke_check(scheduled(23))
    stack.drain()
    assert watched_and_emitted(resources, emitted(capsys), "PublishRefused")


def test_an_unknown_column_reaches_its_alarm_and_the_manifest(stack, tmp_path, resources, capsys):
    import pyarrow as pa

    table = generate_table(2024, 300)
    table = table.append_column("a column cms added", pa.array(["x"] * table.num_rows, pa.string()))
    stack.cms.publish_qpp(2024, csv_bytes(table, tmp_path), "2025-07-28")
    capsys.readouterr()
    stack.invoke_check(scheduled(22))
    stack.drain()
    records = emitted(capsys)
    assert watched_and_emitted(resources, records, "UnknownColumns")
    assert [r["value"] for r in records if r["name"] == "UnknownColumns"] in ([1.0], [[1.0]])
    manifest = json.loads(stack.public_objects()["v1/manifest.json"])
    assert manifest["releases"][0]["unknown_columns"] == ["a column cms added"]
