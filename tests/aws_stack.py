"""moto harness for the serverless flow: resources named like the template's, the refresh state machine
executed by moto from the ASL file, and the two real handlers as its Lambda tasks."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import pytest
from iam_enforcement import (
    Resolver,
    acting_as,
    assume_function_role,
    create_admin,
    iam_enforced,
    iam_paused,
    resolved_policy,
    translated_template,
)
from lambda_runtime import layer_pyarrow
from moto import mock_aws
from step_functions import LambdaFunction, TaskLog, in_process_tasks

from mips_profiles.adapters.http import HttpClient, UrlPolicy
from mips_profiles.adapters.local_state import LocalStateStore
from mips_profiles.adapters.local_store import LocalDirStore
from mips_profiles.orchestration.refresh import Refresher
from mips_profiles.publishing.publish import Publisher
from mips_profiles.sandbox.cms_standin import CmsStandIn
from mips_profiles.sandbox.generator import generate_table, write_csv

ROOT = Path(__file__).parents[1]
EVENTS = ROOT / "events"
ROWS = 300  # enough for every kind of change; each row costs S3 requests under IAM enforcement
PARTITIONS = 4


def load_event(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


def load_handler(name: str):
    """Import ``functions/{name}/app.py`` fresh (inside the mock, after the environment is set)."""
    module_name = f"{name}_app"
    spec = importlib.util.spec_from_file_location(module_name, ROOT / "functions" / name / "app.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


@dataclass
class FakeContext:
    function_name: str = "fn"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:fn"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


def csv_bytes(table, tmp_path: Path) -> bytes:
    path = tmp_path / f"{uuid.uuid4().hex}.csv"
    write_csv(table, path)
    return path.read_bytes()


FUNCTION_ROLES = {
    "check": "CheckReleaseFunctionRole",
    "shard": "ShardScoresFunctionRole",
    "machine": "RefreshStateMachineRole",
}
STACK_NAME = "mips-profiles"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:{}".format
MACHINE_NAME = f"{STACK_NAME}-refresh"


@dataclass
class Execution:
    """A finished execution of the refresh state machine, as ``describe_execution`` reports it."""

    arn: str
    name: str
    status: str
    output: dict | None
    error: str | None
    cause: str | None
    log: TaskLog

    def history(self, sfn) -> list[dict]:
        return sfn.get_execution_history(executionArn=self.arn, maxResults=1000)["events"]

    def states_entered(self, sfn) -> list[str]:
        return [e["stateEnteredEventDetails"]["name"] for e in self.history(sfn) if "stateEnteredEventDetails" in e]

    def denials(self, sfn) -> list[str]:
        """The causes of the tasks that failed with an access denial, including those a Catch handled."""
        causes = [
            e["taskFailedEventDetails"].get("cause", "") for e in self.history(sfn) if "taskFailedEventDetails" in e
        ]
        return [c for c in causes if "AccessDenied" in c or "403" in c]


class Stack:
    """moto resources named like the template's, the refresh state machine from
    ``statemachine/refresh.asl.json`` with the template's substitutions, and the two real handlers.

    IAM is enforced: each handler runs as its role and the state machine's service tasks as the state
    machine's role, each with exactly the policy ``template.yaml`` gives it (``iam_enforcement``); the
    test's own clients act as an administrator. ``drop`` removes one statement from one role's policy,
    to prove that each statement is needed."""

    def __init__(
        self, cms: CmsStandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, drop: tuple[str, int] | None = None
    ) -> None:
        self.cms, self.tmp = cms, tmp_path
        self.admin = create_admin()
        for k, v in self.admin.env().items():  # everything not acting as a function acts as the admin
            monkeypatch.setenv(k, v)
        monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
        self.s3 = boto3.client("s3")
        for bucket in ("raw", "audit", "public"):
            self.s3.create_bucket(Bucket=bucket)
        self.ddb = boto3.client("dynamodb")
        self.ddb.create_table(
            TableName="state",
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        )
        self.cloudfront = boto3.client("cloudfront")
        self.distribution_id = self.cloudfront.create_distribution(
            DistributionConfig={
                "CallerReference": "mips",
                "Comment": "",
                "Enabled": True,
                "Origins": {
                    "Quantity": 1,
                    "Items": [
                        {
                            "Id": "o",
                            "DomainName": "public.s3.amazonaws.com",
                            "S3OriginConfig": {"OriginAccessIdentity": ""},
                        }
                    ],
                },
                "DefaultCacheBehavior": {
                    "TargetOriginId": "o",
                    "ViewerProtocolPolicy": "https-only",
                    "MinTTL": 0,
                    "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}},
                    "TrustedSigners": {"Enabled": False, "Quantity": 0},
                },
            }
        )["Distribution"]["Id"]
        # the alarm topic, with a queue subscribed as the test's inbox (a person's e-mail in the template)
        self.sns = boto3.client("sns")
        self.alarm_topic = self.sns.create_topic(Name="alarms")["TopicArn"]
        self.sqs = boto3.client("sqs")
        self.inbox = self.sqs.create_queue(QueueName="alarm-inbox")["QueueUrl"]
        inbox_arn = self.sqs.get_queue_attributes(QueueUrl=self.inbox, AttributeNames=["QueueArn"])
        self.sns.subscribe(TopicArn=self.alarm_topic, Protocol="sqs", Endpoint=inbox_arn["Attributes"]["QueueArn"])
        self.cloudwatch = boto3.client("cloudwatch")
        self.kms = boto3.client("kms")
        self.alarm_key = self.kms.create_key(Description="alarm topic")["KeyMetadata"]["Arn"]
        env = {
            "STATE_TABLE": "state",
            "RAW_BUCKET": "raw",
            "AUDIT_BUCKET": "audit",
            "PUBLIC_BUCKET": "public",
            "DISTRIBUTION_ID": self.distribution_id,
            "CATALOG_URL": cms.catalog_url,
            "PDC_URL": cms.pdc_url,
            "PARTITIONS": str(PARTITIONS),
            "S3_CONCURRENCY": "8",
            "MIPS_ALLOW_LOOPBACK_HTTP": "true",
        }  # the CMS stand-in is plain http on loopback
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        resolver = self.resolver()
        self.policies = {
            fn: resolved_policy(logical, resolver, drop=drop[1] if drop and drop[0] == fn else None)
            for fn, logical in FUNCTION_ROLES.items()
        }
        self.roles = {
            fn: assume_function_role(f"{fn}-role", policy, self.admin) for fn, policy in self.policies.items()
        }
        with acting_as(self.roles["check"]):
            self.check = load_handler("check_release")
        with acting_as(self.roles["shard"]):
            self.shard = load_handler("shard_scores")
            self.shard.steps.cache_clear()
            self.shard.steps()  # its clients are created here, with the shard role's credentials
        self.sfn = boto3.client("stepfunctions")
        self.machine_arn = self.sfn.create_state_machine(
            name=MACHINE_NAME,
            definition=self.definition(resolver),
            type="STANDARD",
            roleArn="arn:aws:iam::123456789012:role/machine-role",
        )["stateMachineArn"]
        self.functions = {
            FUNCTION_ARN(name): LambdaFunction(
                FUNCTION_ARN(name),
                handler.handler,
                self.roles[fn],
                lambda name=name, memory=memory: FakeContext(
                    function_name=name, memory_limit_in_mb=memory, invoked_function_arn=FUNCTION_ARN(name)
                ),
            )
            for fn, name, handler, memory in (
                ("check", "CheckReleaseFunction", self.check, 512),
                ("shard", "ShardScoresFunction", self.shard, 4096),
            )
        }
        self.before_task = None

    def resolver(self) -> Resolver:
        refs = {
            "RawBucket": "raw",
            "AuditBucket": "audit",
            "PublicContentBucket": "public",
            "StateTable": "state",
            "Distribution": self.distribution_id,
            "AlarmTopic": self.alarm_topic,
            "AWS::StackName": STACK_NAME,
        }
        table = "arn:aws:dynamodb:us-east-1:123456789012:table/{}".format
        attributes = {
            "RawBucket.Arn": "arn:aws:s3:::raw",
            "AuditBucket.Arn": "arn:aws:s3:::audit",
            "PublicContentBucket.Arn": "arn:aws:s3:::public",
            "StateTable.Arn": table("state"),
            "CheckReleaseFunction.Arn": FUNCTION_ARN("CheckReleaseFunction"),
            "ShardScoresFunction.Arn": FUNCTION_ARN("ShardScoresFunction"),
            "AlarmTopicKey.Arn": self.alarm_key,
        }
        return Resolver(refs, attributes)

    @staticmethod
    def definition(resolver: Resolver) -> str:
        """The ASL file with the template's ``DefinitionSubstitutions``, as CloudFormation substitutes them."""
        machine = translated_template()["Resources"]["RefreshStateMachine"]["Properties"]
        assert machine["DefinitionS3Location"]["Key"] == "statemachine/refresh.asl.json"
        values = {k: resolver(v) for k, v in machine["DefinitionSubstitutions"].items()}
        text = (ROOT / "statemachine" / "refresh.asl.json").read_text()
        return re.sub(r"\$\{(\w+)\}", lambda m: values[m.group(1)], text)

    # -- running the state machine ----------------------------------------------------------------------
    def start(self, execution_input: dict, name: str | None = None) -> str:
        """``name`` defaults to a fresh UUID, as Step Functions names an execution the Scheduler starts."""
        return self.sfn.start_execution(
            stateMachineArn=self.machine_arn, input=json.dumps(execution_input), name=name or str(uuid.uuid4())
        )["executionArn"]

    def tasks(self) -> AbstractContextManager[TaskLog]:
        """While active, executions run their Lambda tasks in process (``step_functions``)."""
        return in_process_tasks(
            self.functions,
            machine=self.roles["machine"],
            machine_policy=self.policies["machine"],
            before=self.before_task,
        )

    def run(self, execution_input: dict, name: str | None = None, *, timeout: float = 120) -> Execution:
        """Start an execution and wait for its end."""
        with self.tasks() as log:
            return self.wait(self.start(execution_input, name), log, timeout=timeout)

    def wait(self, arn: str, log: TaskLog, *, timeout: float = 120) -> Execution:
        deadline, pause = time.monotonic() + timeout, 0.01
        while True:
            d = self.sfn.describe_execution(executionArn=arn)
            if d["status"] != "RUNNING":
                return Execution(
                    arn,
                    d["name"],
                    d["status"],
                    json.loads(d["output"]) if d.get("output") else None,
                    d.get("error"),
                    d.get("cause"),
                    log,
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"execution {arn} still running after {timeout} s")
            time.sleep(pause)  # each poll is a moto request competing with the execution's thread
            pause = min(pause * 1.5, 0.2)

    def invoke_shard(self, event: dict) -> dict:
        """A direct invocation of the shard function (an operator action), as its role."""
        with acting_as(self.roles["shard"]):
            return self.shard.handler(event, FakeContext(function_name="ShardScoresFunction"))

    def alarm_messages(self) -> list[dict]:
        got = self.sqs.receive_message(QueueUrl=self.inbox, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(m["Body"]) for m in got]

    def lock_holder(self) -> dict | None:
        item = self.ddb.get_item(TableName="state", Key={"pk": {"S": "lock#refresh"}}, ConsistentRead=True)
        return item.get("Item")

    def state_record(self, source: str, year: int) -> dict | None:
        item = self.ddb.get_item(
            TableName="state", Key={"pk": {"S": f"release#{source}#{year}"}}, ConsistentRead=True
        ).get("Item")
        return json.loads(item["record"]["S"]) if item else None

    def public_objects(self) -> dict[str, bytes]:
        out = {}
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket="public"):
            for obj in page.get("Contents", []):
                out[obj["Key"]] = self.s3.get_object(Bucket="public", Key=obj["Key"])["Body"].read()
        return out

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return [o["Key"] for page in pages for o in page.get("Contents", [])]

    def invalidations(self) -> list[dict]:
        with iam_paused():
            listing = self.cloudfront.list_invalidations(DistributionId=self.distribution_id)["InvalidationList"]
        return listing.get("Items", [])


@pytest.fixture(scope="module")
def tables():
    return {year: generate_table(year, ROWS) for year in (2023, 2024)}


@contextmanager
def running_stack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, drop: tuple[str, int] | None = None
) -> Iterator[Stack]:
    for k, v in {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_SERVICE_NAME": "mips-profiles",
        "POWERTOOLS_METRICS_NAMESPACE": "MipsProfiles",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }.items():
        monkeypatch.setenv(k, v)
    with CmsStandIn() as cms, mock_aws(config={"stepfunctions": {"execute_state_machine": True}}), layer_pyarrow():
        stack = Stack(cms, tmp_path, monkeypatch, drop=drop)
        with iam_enforced():
            yield stack


@pytest.fixture
def stack(tmp_path, monkeypatch):
    with running_stack(tmp_path, monkeypatch) as running:
        yield running


def scheduled(day: int) -> dict:
    return {**load_event("scheduler.json"), "scheduled_time": f"2026-11-{day:02d}T06:00:00Z"}


def local_publish(cms: CmsStandIn, tmp_path: Path) -> Path:
    tree = tmp_path / "local"
    publisher = Publisher(LocalDirStore(tree), LocalDirStore(tmp_path / "local.private"))
    http = HttpClient(urls=UrlPolicy(allow_loopback_http=True))
    Refresher(
        http, publisher, LocalStateStore(tmp_path / "local-state.json"), raw=LocalDirStore(tmp_path / "local.private")
    ).run(cms.catalog_url, cms.pdc_url)
    return tree


def without_dates(manifest: bytes) -> dict:
    body = json.loads(manifest)
    for key in ("generated_at", "last_checked"):
        body.pop(key)
    for release in body["releases"]:
        for key in ("retrieved_at", "published_at", "last_checked"):
            release.pop(key)
    for change in body["changes"]["recent"]:
        change.pop("published_at")
    return body
