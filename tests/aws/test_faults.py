"""Fault injection on the AWS path (moto): throttled and failing S3, a finalize that dies after every
partition succeeded. Each ends with the same bytes as a fault-free run, and the manifest never counts
documents that are not there."""

from __future__ import annotations

import json

import pytest
from aws_stack import csv_bytes, local_publish, scheduled
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ConnectionClosedError


class _Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_: object):
        yield self.data

    def read(self, *_: object, **__: object) -> bytes:
        return self.data


S3_ERROR = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>{message}</Message>'
    b"<RequestId>FAULT</RequestId></Error>"
)


class PutFaults:
    """Fails the first attempt of every ``every``-th PUT with the given fault; later attempts succeed."""

    def __init__(self, kind: str, every: int) -> None:
        self.kind, self.every = kind, every
        self.seen: set[str] = set()
        self.count = 0
        self.injected = 0

    def __call__(self, request, **_: object):
        key = request.url
        if key in self.seen:
            return None
        self.seen.add(key)
        self.count += 1
        if self.count % self.every:
            return None
        self.injected += 1
        if self.kind == "reset":
            raise ConnectionClosedError(endpoint_url=request.url)
        status, code, message = {
            "slowdown": (503, b"SlowDown", b"Please reduce your request rate."),
            "internal": (500, b"InternalError", b"We encountered an internal error."),
        }[self.kind]
        body = S3_ERROR.replace(b"{code}", code).replace(b"{message}", message)
        return AWSResponse(request.url, status, {"Content-Type": "application/xml"}, _Body(body))


def assert_consistent(stack) -> dict[str, bytes]:
    objects = stack.public_objects()
    manifest = json.loads(objects["v1/manifest.json"])
    assert manifest["documents"]["count"] == sum(1 for k in objects if k.startswith("v1/npi/"))
    return objects


# A 503 SlowDown makes botocore's adaptive mode throttle the client itself (by design), which is slow
# in a test: fewer of those, more of the others.
@pytest.mark.parametrize(("kind", "every"), [("slowdown", 50), ("internal", 10), ("reset", 10)])
def test_failing_puts_are_retried_and_the_tree_equals_a_fault_free_run(kind, every, stack, tables, tmp_path):
    # Given S3 that fails a share of PUTs on their first attempt
    faults = PutFaults(kind, every)
    client = stack.shard.steps().publisher.public.client
    client.meta.events.register_first("before-send.s3.PutObject", faults)
    stack.cms.publish_qpp(2024, csv_bytes(tables[2024], tmp_path), "2025-07-28")
    # When the whole flow runs
    run = stack.run(scheduled(22))
    # Then botocore retried every fault, no step failed, and the bytes equal a fault-free publish
    print(f"\n{kind}: {faults.injected} of {faults.count} PUTs failed on the first attempt")
    assert faults.injected >= (5 if kind == "slowdown" else 20)
    assert run.status == "SUCCEEDED" and not [i for i in run.log.invocations if "error" in i]
    objects = assert_consistent(stack)
    local = local_publish(stack.cms, tmp_path)
    for path in local.rglob("*.json"):
        key = path.relative_to(local).as_posix()
        if key != "v1/manifest.json":
            assert objects[key] == path.read_bytes(), key


def test_a_finalize_that_fails_after_every_partition_succeeded_is_retried_and_converges(
    stack, tables, tmp_path, monkeypatch
):
    stack.cms.publish_qpp(2024, csv_bytes(tables[2024], tmp_path), "2025-07-28")
    assert stack.run(scheduled(22)).status == "SUCCEEDED"
    before = stack.public_objects()
    # CMS corrects the year, and the first finalize dies just before writing the manifest
    from mips_profiles.sandbox.generator import make_correction

    fix = make_correction(tables[2024], changed_share=0.05)
    stack.cms.publish_qpp(2024, csv_bytes(fix.table, tmp_path), "2025-09-15")
    publisher = stack.shard.steps().publisher
    original = publisher.finalize
    failures = {"left": 1}

    def finalize_dies_once(run, results):
        if failures["left"]:
            failures["left"] -= 1
            raise TimeoutError("Lambda timed out during finalize")
        return original(run, results)

    monkeypatch.setattr(publisher, "finalize", finalize_dies_once)
    run = stack.run(scheduled(23))
    assert run.status == "SUCCEEDED"
    assert [i.get("error") for i in run.log.invocations if i["event"].get("action") == "finalize"] == [
        "Transient",
        None,
    ]  # the Lambda's TimeoutError, named for the state machine's Retry, then done
    after = assert_consistent(stack)
    manifest = json.loads(after["v1/manifest.json"])
    assert manifest["releases"][0]["cms_modified"] == "2025-09-15"
    changed = {k for k in after if k.startswith("v1/npi/") and after[k] != before.get(k)}
    assert changed == {f"v1/npi/{n}.json" for n in fix.changed + fix.added}
    assert len(stack.invalidations()) == 2  # one per publish; the retried finalize reused its reference
    assert stack.lock_holder() is None
