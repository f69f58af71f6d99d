"""DynamoDB adapters: the release state store and the run lock, in one table keyed by ``pk`` (string).
Every write that decides something is a conditional write.

- ``release#{source}#{year}``: what was checked and published (the state-store port);
- ``lock#refresh``: one refresh or repair at a time. The state machine takes it with a direct conditional
  write naming its execution (``execution_arn``) and treats it as stale once that execution is no longer
  running; an operator action (repair) takes it here, with a lease (``expires_at`` in epoch seconds for
  this class, ``lease_until`` as an ISO timestamp for the state machine's Choice state);
- ``run#last-failure``: the latest failed run, written by the state machine's catch-all.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any, ClassVar

import boto3
from botocore.exceptions import ClientError

from ..errors import InvalidInput
from ..keys import RELEASE_ITEM_PREFIX, RUN_LOCK_ITEM, release_item_key, release_record_key
from ..ports import ReleaseRecord, parse_release_record


def _table(name: str, resource: Any = None) -> Any:
    return (resource or boto3.resource("dynamodb")).Table(name)


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _conditional_failed(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class DynamoStateStore:
    """State-store port on DynamoDB. Records are stored as one JSON attribute (no float/Decimal issues)."""

    def __init__(self, table_name: str, *, resource: Any = None) -> None:
        self.table = _table(table_name, resource)

    def get(self, source: str, year: int) -> ReleaseRecord | None:
        item = self.table.get_item(Key={"pk": release_item_key(source, year)}, ConsistentRead=True).get("Item")
        return self._record(release_record_key(source, year), item) if item else None

    def put(self, source: str, year: int, record: ReleaseRecord) -> None:
        self.table.put_item(Item={"pk": release_item_key(source, year), "record": json.dumps(record, sort_keys=True)})

    def _record(self, key: str, item: dict[str, Any]) -> ReleaseRecord:
        """An item's record, parsed as the local twin parses its file (a planted item is refused by name)."""
        where = f"state table {self.table.name}"
        try:
            record = json.loads(item["record"])
        except (KeyError, TypeError, ValueError, RecursionError):
            raise InvalidInput(f"{where}, record {key}: not JSON") from None
        return parse_release_record(where, key, record)

    def all(self) -> dict[str, ReleaseRecord]:
        out: dict[str, ReleaseRecord] = {}
        kwargs: dict[str, Any] = {}
        while True:  # small table (a few items per year): a scan is fine here, never in a hot path
            page = self.table.scan(**kwargs)
            for item in page.get("Items", []):
                if item["pk"].startswith(RELEASE_ITEM_PREFIX):
                    _, source, year = item["pk"].split("#")
                    key = release_record_key(source, int(year))
                    out[key] = self._record(key, item)
            if "LastEvaluatedKey" not in page:
                return out
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


class RunLock:
    KEY: ClassVar[dict[str, str]] = {"pk": RUN_LOCK_ITEM}

    def __init__(self, table_name: str, *, resource: Any = None, clock: Any = time.time) -> None:
        self.table = _table(table_name, resource)
        self.clock = clock

    def acquire(self, owner: str, lease_seconds: int) -> bool:
        now = int(self.clock())
        try:
            self.table.put_item(
                Item={
                    **self.KEY,
                    "owner": owner,
                    "expires_at": now + lease_seconds,
                    "acquired_at": now,
                    "lease_until": _iso(now + lease_seconds),
                },
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
        item: dict[str, Any] | None = self.table.get_item(Key=self.KEY, ConsistentRead=True).get("Item")
        return item

    def release(self, owner: str) -> bool:
        try:
            self.table.delete_item(
                Key=self.KEY,
                ConditionExpression="#o = :owner",
                ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues={":owner": owner},
            )
        except ClientError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True
