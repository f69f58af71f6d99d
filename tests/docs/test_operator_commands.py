"""The operator commands in docs/operations.md and events/README.md, run as written with the real AWS CLI v2.

AWS itself is not reachable from tests, so the CLI talks to a loopback recorder of the Lambda Invoke and
Step Functions StartExecution APIs (``--endpoint-url``): what matters here is what the CLI sends. AWS
CLI v2 reads a ``--payload`` blob as base64 unless told otherwise, and a synchronous invoke times out
after 60 s, so a line that works on v1 can fail on v2 or send garbage. CI installs Debian's awscli (v2)
and these tests fail, not skip, without it.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

ROOT = Path(__file__).parents[2]
DOCS = [ROOT / "docs" / "operations.md", ROOT / "events" / "README.md"]
FUNCTIONS = {"SHARD_FN": "mips-profiles-ShardScoresFunction-abc"}


def aws_cli_v2() -> str | None:
    for candidate in ("/usr/bin/aws", shutil.which("aws")):
        if candidate and os.path.exists(candidate):
            out = subprocess.run([candidate, "--version"], capture_output=True, text=True, timeout=60)
            if out.stdout.startswith("aws-cli/2."):
                return candidate
    return None


AWS = aws_cli_v2()
pytestmark = pytest.mark.skipif(
    AWS is None and not os.environ.get("CI"), reason="AWS CLI v2 is not installed (apt-get install awscli)"
)


class Recorder(BaseHTTPRequestHandler):
    calls: ClassVar[list[dict]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        target = self.headers.get("X-Amz-Target", "")
        if target.startswith("AWSStepFunctions."):  # the Step Functions JSON API
            self.calls.append({"target": target, "body": body})
            sent = json.loads(body)
            reply = json.dumps(
                {
                    "executionArn": sent["stateMachineArn"].replace(":stateMachine:", ":execution:")
                    + ":"
                    + sent.get("name", "generated"),
                    "startDate": 1795500000,
                }
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-amz-json-1.0")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)
            return
        match = re.fullmatch(r"/2015-03-31/functions/([^/]+)/invocations", self.path)
        kind = self.headers.get("X-Amz-Invocation-Type", "RequestResponse")
        self.calls.append({"function": match and match.group(1), "type": kind, "body": body})
        reply = b"" if kind == "Event" else b'{"status": "ok"}'
        self.send_response(202 if kind == "Event" else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def lambda_api():
    Recorder.calls = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", Recorder.calls
    server.shutdown()


def documented_invocations() -> list[str]:
    lines = []
    for doc in DOCS:
        for line in doc.read_text().splitlines():
            if line.startswith("aws lambda invoke "):
                lines.append(line.split(" && ")[0].split("  #")[0].strip())
    return lines


def documented_starts() -> list[str]:
    return [
        line.split("  #")[0].strip()
        for doc in DOCS
        for line in doc.read_text().splitlines()
        if line.startswith("aws stepfunctions start-execution ")
    ]


def run_aws(line: str, endpoint: str, tmp_path: Path) -> subprocess.CompletedProcess:
    argv = shlex.split(line)
    argv = [FUNCTIONS.get(a.lstrip("$"), a) for a in argv]
    argv = [str(tmp_path / Path(a).name) if a.endswith(".out") else a for a in argv]
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_PAGER": "",
        "AWS_CONFIG_FILE": str(tmp_path / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "creds"),
    }
    return subprocess.run(
        [AWS, *argv[1:], "--endpoint-url", endpoint], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_the_documentation_has_the_operator_invocations():
    lines = documented_invocations()
    for event in ("selftest.json", "repair.json"):
        assert any(event in line for line in lines), event


@pytest.mark.parametrize("line", documented_invocations())
def test_each_documented_invocation_sends_the_event_file_as_written(line, lambda_api, tmp_path):
    assert AWS is not None, "AWS CLI v2 missing: apt-get install awscli"
    endpoint, calls = lambda_api
    result = run_aws(line, endpoint, tmp_path)
    assert result.returncode == 0, result.stderr
    event_file = re.search(r"file://(\S+)", line).group(1)
    assert len(calls) == 1
    assert json.loads(calls[0]["body"]) == json.loads((ROOT / event_file).read_text())
    assert calls[0]["function"] in FUNCTIONS.values()
    # a repair can take longer than the CLI's 60 s read timeout; the self-test takes seconds
    if "repair" in event_file:
        assert calls[0]["type"] == "Event" or "--cli-read-timeout 0" in line
    else:
        assert calls[0]["type"] == "RequestResponse"
        assert (tmp_path / "selftest.out").read_text() == '{"status": "ok"}'  # the answer is where the docs cat it


MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:mips-profiles-refresh"


def test_the_documentation_starts_a_manual_run_with_a_name_derived_from_the_request():
    assert any("events/manual_rerun.json" in line and "--name" in line for line in documented_starts())


@pytest.mark.parametrize("line", documented_starts())
def test_each_documented_start_sends_the_input_file_under_its_derived_name(line, lambda_api, tmp_path):
    """Run as a shell would (the name comes from ``mips-profiles execution-name`` in a command
    substitution), with the real CLI against the recorder."""
    from mips_profiles.orchestration.execution_names import execution_name

    assert AWS is not None, "AWS CLI v2 missing: apt-get install awscli"
    endpoint, calls = lambda_api
    env = {
        "PATH": f"{ROOT / '.venv' / 'bin'}:{os.path.dirname(AWS)}:{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_PAGER": "",
        "AWS_CONFIG_FILE": str(tmp_path / "config"),
        "MACHINE": MACHINE,
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "creds"),
    }
    command = line.replace("aws ", f"{AWS} ", 1) + f" --endpoint-url {endpoint}"
    result = subprocess.run(["bash", "-c", command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert [c["target"] for c in calls] == ["AWSStepFunctions.StartExecution"]
    sent = json.loads(calls[0]["body"])
    input_file = re.search(r"--input file://(\S+)", line).group(1)
    request = json.loads((ROOT / input_file).read_text())
    assert sent["stateMachineArn"] == MACHINE
    assert json.loads(sent["input"]) == request
    assert sent["name"] == execution_name(request)  # today's name: the same request again is refused


def test_the_old_readme_line_fails_on_cli_v2(lambda_api, tmp_path):
    """Why this test exists: the line the docs used to give is refused by v2 before anything is sent."""
    assert AWS is not None, "AWS CLI v2 missing: apt-get install awscli"
    endpoint, calls = lambda_api
    old = "aws lambda invoke --function-name $SHARD_FN --payload file://events/selftest.json out.out"
    result = run_aws(old, endpoint, tmp_path)
    assert result.returncode != 0 and "base64" in result.stderr.lower()
    assert calls == []
