"""DynamoDB adapters: the release state store, the run lock and the run tracker, all in one table
keyed by ``pk`` (string). Every write that decides something is a conditional write.

- ``release#{source}#{year}``: what was checked and published (the state-store port);
- ``lock#refresh``: one refresh at a time, with a lease so a crashed run cannot block forever;
- ``run#{run_id}``: a publish fanned out over partitions; each partition adds itself to a set, and the
  caller that completes the set finalizes (finalizing is idempotent, so a retry may do it again).
"""

from __future__ import annotations

import json
import time
from typing import Any, ClassVar

import boto3
from botocore.exceptions import ClientError


def _table(name: str, resource: Any = None) -> Any:
    return (resource or boto3.resource("dynamodb")).Table(name)


def _conditional_failed(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class DynamoStateStore:
    """State-store port on DynamoDB. Records are stored as one JSON attribute (no float/Decimal issues)."""

    PREFIX = "release#"

    def __init__(self, table_name: str, *, resource: Any = None) -> None:
        self.table = _table(table_name, resource)

    def get(self, source: str, year: int) -> dict[str, Any] | None:
        item = self.table.get_item(Key={"pk": f"{self.PREFIX}{source}#{year}"}, ConsistentRead=True).get("Item")
        return json.loads(item["record"]) if item else None

    def put(self, source: str, year: int, record: dict[str, Any]) -> None:
        self.table.put_item(Item={"pk": f"{self.PREFIX}{source}#{year}", "record": json.dumps(record, sort_keys=True)})

    def all(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        kwargs: dict[str, Any] = {}
        while True:  # small table (a few items per year): a scan is fine here, never in a hot path
            page = self.table.scan(**kwargs)
            for item in page.get("Items", []):
                if item["pk"].startswith(self.PREFIX):
                    _, source, year = item["pk"].split("#")
                    out[f"{source}/{year}"] = json.loads(item["record"])
            if "LastEvaluatedKey" not in page:
                return out
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


class RunLock:
    KEY: ClassVar[dict[str, str]] = {"pk": "lock#refresh"}

    def __init__(self, table_name: str, *, resource: Any = None, clock: Any = time.time) -> None:
        self.table = _table(table_name, resource)
        self.clock = clock

    def acquire(self, owner: str, lease_seconds: int) -> bool:
        now = int(self.clock())
        try:
            self.table.put_item(
                Item={**self.KEY, "owner": owner, "expires_at": now + lease_seconds, "acquired_at": now},
                ConditionExpression="attribute_not_exists(pk) OR expires_at < :now OR #o = :owner",
                ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues={":now": now, ":owner": owner},
            )
        except ClientError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True

    def holder(self) -> dict[str, Any] | None:
        return self.table.get_item(Key=self.KEY, ConsistentRead=True).get("Item")

    def release(self, owner: str) -> bool:
        try:
            self.table.delete_item(Key=self.KEY, ConditionExpression="#o = :owner",
                                   ExpressionAttributeNames={"#o": "owner"},
                                   ExpressionAttributeValues={":owner": owner})
        except ClientError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True


class RunTracker:
    def __init__(self, table_name: str, *, resource: Any = None) -> None:
        self.table = _table(table_name, resource)

    def start(self, run_id: str, partitions: int, context: dict[str, Any]) -> None:
        self.table.put_item(
            Item={"pk": f"run#{run_id}", "partitions": partitions, "context": json.dumps(context, sort_keys=True),
                  "status": "publishing"},
            ConditionExpression="attribute_not_exists(pk)",
        )

    def context(self, run_id: str) -> dict[str, Any]:
        item = self.table.get_item(Key={"pk": f"run#{run_id}"}, ConsistentRead=True)["Item"]
        return json.loads(item["context"])

    def partition_done(self, run_id: str, group: int) -> bool:
        """Record ``group`` as done; True once every partition is done and the run is not yet published.
        Finalizing is idempotent, so a retried last partition may finalize again safely."""
        item = self.table.update_item(
            Key={"pk": f"run#{run_id}"},
            UpdateExpression="ADD done_groups :g",
            ExpressionAttributeValues={":g": {f"{group:03d}"}},
            ReturnValues="ALL_NEW",
        )["Attributes"]
        return len(item.get("done_groups", ())) >= int(item["partitions"]) and item.get("status") != "published"

    def finish(self, run_id: str, status: str) -> None:
        self.table.update_item(Key={"pk": f"run#{run_id}"}, UpdateExpression="SET #s = :s",
                               ExpressionAttributeNames={"#s": "status"}, ExpressionAttributeValues={":s": status})
