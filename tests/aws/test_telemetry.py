"""The checker's telemetry as CloudWatch receives it: Powertools writes one JSON log line per record and one
EMF blob of metrics to stdout. A download that CMS answers with a 500 once is retried; the retry reaches the
structured logs through the package's own ``logging`` (with the run's correlation id) and the
``DownloadRetries`` metric counts it."""

from __future__ import annotations

import io
import json
import logging

import pytest
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.metrics.provider.cold_start import reset_cold_start_flag
from aws_stack import ROOT, FakeContext, csv_bytes
from iam_enforcement import acting_as


def json_lines(text: str) -> list[dict]:
    out = []
    for line in text.splitlines():
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


@pytest.fixture
def logs(stack):
    """What the functions log, formatted by their own Powertools formatter (the JSON CloudWatch receives), from
    the service logger and the package's loggers that copy_config_to_registered_loggers wired to it."""
    buffer = io.StringIO()
    service, package = logging.getLogger("mips-profiles"), logging.getLogger("mips_profiles")
    formatter = next(h.formatter for h in package.handlers if isinstance(h.formatter, LambdaPowertoolsFormatter))
    capture = logging.StreamHandler(buffer)
    capture.setFormatter(formatter)
    for logger in (service, package):
        logger.addHandler(capture)
    yield buffer
    for logger in (service, package):
        logger.removeHandler(capture)


def test_a_retried_download_is_a_structured_log_line_and_a_metric(stack, tables, tmp_path, capfd, logs):
    stack.cms.publish_qpp(2024, csv_bytes(tables[2024], tmp_path), "2025-07-28")
    stack.cms.inject(stack.cms.qpp_path(2024), "500")
    reset_cold_start_flag()  # a fresh execution environment (Powertools keeps the flag per process)
    capfd.readouterr()
    with acting_as(stack.roles["check"]):
        answer = stack.check.handler({"request": {"reason": "test"}, "run": "manual-telemetry"}, FakeContext())
    assert answer["years"]["2024"]["decision"] == "new"
    lines = json_lines(capfd.readouterr().out)  # the metrics (EMF blobs are printed)
    retries = [line for line in json_lines(logs.getvalue()) if str(line.get("message", "")).startswith("retrying ")]
    assert len(retries) == 1, lines
    retry = retries[0]
    assert retry["level"] == "WARNING" and retry["service"] == "mips-profiles"
    assert retry["correlation_id"] == "manual-telemetry"
    assert "HTTP 500" in retry["message"] and "waiting" in retry["message"]
    cold = [line for line in lines if "_aws" in line and "ColdStart" in line]
    assert len(cold) == 1 and cold[0]["ColdStart"] == [1.0]  # the handler's first invocation
    emf = [line for line in lines if "_aws" in line and "ColdStart" not in line]
    by_metric = {m["Name"]: line for line in emf for m in line["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    retries = by_metric["DownloadRetries"]
    assert retries["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "MipsProfiles"
    assert retries["DownloadRetries"] == [1.0] and retries["service"] == "mips-profiles"
    # the decision is a dimension of one metric, not a metric name per outcome
    checked = by_metric["YearsChecked"]
    assert checked["decision"] == "new" and "decision" in checked["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0]
    assert checked["YearsChecked"] == [1.0] and checked["service"] == "mips-profiles"
    assert not [name for name in by_metric if name.startswith("Decision_")]


def test_every_shard_step_logs_under_the_executions_name(stack, logs):
    """The state machine passes `$$.Execution.Name` as `run` to every shard step: one correlation id per run,
    the same the checker logs under. An operator's direct invoke (no `run`) logs under its request id."""
    stack.shard.logger.setLevel("INFO")
    event = {"action": "record_check_dates", "run": "scheduled-20261122", "checked": [], "outcomes": []}
    with acting_as(stack.roles["shard"]):
        stack.shard.handler(event, FakeContext())
        stack.shard.handler({**event, "run": None}, FakeContext(aws_request_id="req-1"))
    done = [line for line in json_lines(logs.getvalue()) if line.get("message") == "step done"]
    assert [line["correlation_id"] for line in done] == ["scheduled-20261122", "req-1"]


def test_every_shard_task_of_the_state_machine_passes_the_execution_name():
    asl = json.loads((ROOT / "statemachine" / "refresh.asl.json").read_text())
    payloads = []

    def walk(node):
        if isinstance(node, dict):
            if "action" in node and isinstance(node["action"], str):
                payloads.append(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(asl)
    assert len(payloads) == 5
    assert all(p.get("run.$") == "$$.Execution.Name" for p in payloads), payloads
