"""moto harness for the serverless flow: resources named like the template's, the two real handlers,
and a queue drained the way the SQS event source mapping delivers messages."""

from __future__ import annotations

import copy
import importlib.util
import json
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from iam_enforcement import (
    Resolver,
    acting_as,
    assume_function_role,
    create_admin,
    iam_enforced,
    iam_paused,
    resolved_policy,
)
from lambda_runtime import layer_pyarrow
from moto import mock_aws

from mips_profiles.cms_standin import CmsStandIn
from mips_profiles.generator import generate_table, write_csv
from mips_profiles.http import HttpClient, UrlPolicy
from mips_profiles.publish import Publisher
from mips_profiles.refresh import Refresher
from mips_profiles.state import LocalStateStore
from mips_profiles.store import LocalDirStore

ROOT = Path(__file__).parents[1]
EVENTS = ROOT / "events"
ROWS = 600
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


class DeadLettered(AssertionError):
    """A work message failed as often as the queue allows before dead-lettering it."""


FUNCTION_ROLES = {"check": "CheckReleaseFunctionRole", "shard": "ShardScoresFunctionRole"}


class Stack:
    """moto resources named like the template's, the two handlers, and a way to drain the queue.

    IAM is enforced: each handler runs as its role with exactly the policy ``template.yaml`` gives it
    (``iam_enforcement``); the test's own clients act as an administrator. ``drop`` removes one statement
    from one role's policy, to prove that each statement is needed."""

    def __init__(self, cms: CmsStandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                 drop: tuple[str, int] | None = None) -> None:
        self.cms, self.tmp = cms, tmp_path
        self.admin = create_admin()
        for k, v in self.admin.env().items():  # everything not acting as a function acts as the admin
            monkeypatch.setenv(k, v)
        monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
        self.s3 = boto3.client("s3")
        for bucket in ("raw", "audit", "public"):
            self.s3.create_bucket(Bucket=bucket)
        ddb = boto3.client("dynamodb")
        ddb.create_table(TableName="state", BillingMode="PAY_PER_REQUEST",
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                         KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
        ddb.create_table(TableName="idempotency", BillingMode="PAY_PER_REQUEST",
                         AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                         KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}])
        self.sqs = boto3.client("sqs")
        self.queue_url = self.sqs.create_queue(QueueName="work", Attributes={"VisibilityTimeout": "0"})["QueueUrl"]
        self.cloudfront = boto3.client("cloudfront")
        self.distribution_id = self.cloudfront.create_distribution(DistributionConfig={
            "CallerReference": "mips", "Comment": "", "Enabled": True,
            "Origins": {"Quantity": 1, "Items": [{"Id": "o", "DomainName": "public.s3.amazonaws.com",
                                                   "S3OriginConfig": {"OriginAccessIdentity": ""}}]},
            "DefaultCacheBehavior": {"TargetOriginId": "o", "ViewerProtocolPolicy": "https-only",
                                     "MinTTL": 0, "ForwardedValues": {"QueryString": False,
                                                                       "Cookies": {"Forward": "none"}},
                                     "TrustedSigners": {"Enabled": False, "Quantity": 0}},
        })["Distribution"]["Id"]
        env = {"STATE_TABLE": "state", "IDEMPOTENCY_TABLE": "idempotency", "RAW_BUCKET": "raw",
               "AUDIT_BUCKET": "audit", "PUBLIC_BUCKET": "public", "WORK_QUEUE_URL": self.queue_url,
               "DISTRIBUTION_ID": self.distribution_id, "CATALOG_URL": cms.catalog_url, "PDC_URL": cms.pdc_url,
               "PARTITIONS": str(PARTITIONS), "S3_CONCURRENCY": "8",
               "MIPS_ALLOW_LOOPBACK_HTTP": "true"}  # the CMS stand-in is plain http on loopback
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        resolver = self.resolver()
        self.roles = {
            fn: assume_function_role(f"{fn}-role", resolved_policy(
                logical, resolver, drop=drop[1] if drop and drop[0] == fn else None), self.admin)
            for fn, logical in FUNCTION_ROLES.items()
        }
        with acting_as(self.roles["check"]):
            self.check = load_handler("check_release")
        with acting_as(self.roles["shard"]):
            self.shard = load_handler("shard_scores")
            self.shard.worker.cache_clear()
            self.shard.worker()  # its clients are created here, with the shard role's credentials

    def resolver(self) -> Resolver:
        queue_arn = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])
        refs = {"RawBucket": "raw", "AuditBucket": "audit", "PublicContentBucket": "public", "StateTable": "state",
                "IdempotencyTable": "idempotency", "WorkQueue": self.queue_url, "Distribution": self.distribution_id}
        table = "arn:aws:dynamodb:us-east-1:123456789012:table/{}".format
        attributes = {
            "RawBucket.Arn": "arn:aws:s3:::raw", "AuditBucket.Arn": "arn:aws:s3:::audit",
            "PublicContentBucket.Arn": "arn:aws:s3:::public", "StateTable.Arn": table("state"),
            "IdempotencyTable.Arn": table("idempotency"), "WorkQueue.Arn": queue_arn["Attributes"]["QueueArn"],
        }
        return Resolver(refs, attributes)

    def invoke_check(self, event: dict) -> dict:
        with acting_as(self.roles["check"]):
            return self.check.handler(event, FakeContext(function_name="CheckReleaseFunction"))

    def invoke_shard(self, event: dict) -> dict:
        """A direct invocation of the shard function (an operator action), as its role."""
        with acting_as(self.roles["shard"]):
            return self.shard.handler(event, FakeContext(function_name="ShardScoresFunction"))

    def drain(self, *, max_rounds: int = 200, max_receives: int = 3) -> list[dict]:
        """Deliver every queued message to the shard handler as the SQS event source mapping would.

        A message that fails ``max_receives`` times (the queue's ``maxReceiveCount``) would be
        dead-lettered: that raises ``DeadLettered`` with the handler's last exception."""
        template = load_event("sqs_work.json")["Records"][0]
        responses, receives = [], Counter()
        for _ in range(max_rounds):
            got = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=1).get("Messages", [])
            if not got:
                return responses
            message = got[0]
            record = copy.deepcopy(template)
            record.update(messageId=message["MessageId"], receiptHandle=message["ReceiptHandle"],
                          body=message["Body"])
            try:
                with acting_as(self.roles["shard"]):
                    response = self.shard.handler({"Records": [record]}, FakeContext(
                        function_name="ShardScoresFunction", memory_limit_in_mb=3008))
            except BatchProcessingError:  # the invocation failed: SQS makes the message visible again
                response = {"batchItemFailures": [{"itemIdentifier": message["MessageId"]}]}
            responses.append(response)
            if not response["batchItemFailures"]:
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
                continue
            receives[message["MessageId"]] += 1
            if receives[message["MessageId"]] >= max_receives:
                errors = self.shard.processor.exceptions
                last = errors[-1][1] if errors else None
                raise DeadLettered(f"{json.loads(message['Body'])['kind']} message failed {max_receives} times: "
                                   f"{last!r}") from last
        raise AssertionError("queue did not drain")

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
def running_stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                  drop: tuple[str, int] | None = None) -> Iterator[Stack]:
    for k, v in {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
                 "AWS_SECRET_ACCESS_KEY": "testing", "POWERTOOLS_TRACE_DISABLED": "true",
                 "POWERTOOLS_SERVICE_NAME": "mips-profiles", "POWERTOOLS_METRICS_NAMESPACE": "MipsProfiles",
                 "POWERTOOLS_LOG_LEVEL": "WARNING"}.items():
        monkeypatch.setenv(k, v)
    with CmsStandIn() as cms, mock_aws(), layer_pyarrow():
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
    Refresher(http, publisher, LocalStateStore(tmp_path / "local-state.json")).run(cms.catalog_url, None)
    return tree


def without_dates(manifest: bytes) -> dict:
    body = json.loads(manifest)
    for key in ("generated_at", "last_checked"):
        body.pop(key)
    for release in body["releases"]:
        for key in ("retrieved_at", "published_at", "last_checked"):
            release.pop(key)
    return body


