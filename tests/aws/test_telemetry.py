"""The checker's telemetry as CloudWatch receives it: Powertools writes one JSON log line per record and one
EMF blob of metrics to stdout. A download that CMS answers with a 500 once is retried; the retry reaches the
structured logs through the package's own ``logging`` (with the run's correlation id) and the
``DownloadRetries`` metric counts it."""

from __future__ import annotations

import json
import logging
import sys

from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_stack import FakeContext, csv_bytes
from iam_enforcement import acting_as


def json_lines(text: str) -> list[dict]:
    out = []
    for line in text.splitlines():
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


def test_a_retried_download_is_a_structured_log_line_and_a_metric(stack, tables, tmp_path, capfd):
    stack.cms.publish_qpp(2024, csv_bytes(tables[2024], tmp_path), "2025-07-28")
    stack.cms.inject(stack.cms.qpp_path(2024), "500")
    # Powertools' handler holds the stdout of the moment the handler module was imported (the fixture's): point
    # it, and every package logger that shares it, at this test's captured stdout
    for handler in {*stack.check.logger.handlers, *logging.getLogger("mips_profiles").handlers}:
        if isinstance(handler.formatter, LambdaPowertoolsFormatter):  # not pytest's own capture handler
            handler.setStream(sys.stdout)
    capfd.readouterr()
    with acting_as(stack.roles["check"]):
        answer = stack.check.handler({"request": {"reason": "test"}, "run": "manual-telemetry"}, FakeContext())
    assert answer["years"]["2024"]["decision"] == "new"
    lines = json_lines(capfd.readouterr().out)
    retries = [line for line in lines if str(line.get("message", "")).startswith("retrying ")]
    assert len(retries) == 1, lines
    retry = retries[0]
    assert retry["level"] == "WARNING" and retry["service"] == "mips-profiles"
    assert retry["correlation_id"] == "manual-telemetry"
    assert "HTTP 500" in retry["message"] and "waiting" in retry["message"]
    cold = [line for line in lines if "_aws" in line and "ColdStart" in line]
    assert len(cold) == 1 and cold[0]["ColdStart"] == [1.0]  # the handler's first invocation
    emf = [line for line in lines if "_aws" in line and "ColdStart" not in line]
    assert len(emf) == 1
    directive = emf[0]["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "MipsProfiles"
    assert {"Name": "DownloadRetries", "Unit": "Count"} in directive["Metrics"]
    assert emf[0]["DownloadRetries"] == [1.0] and emf[0]["Decision_new"] == [1.0]
