"""Work-queue and CDN ports with their AWS adapters (SQS, CloudFront) and in-memory twins."""

from __future__ import annotations

import json
from typing import Any, Protocol


class WorkQueue(Protocol):
    def send_many(self, messages: list[dict[str, Any]]) -> None: ...


class Cdn(Protocol):
    def invalidate(self, paths: list[str], reference: str) -> str | None: ...


class SqsQueue:
    def __init__(self, queue_url: str, *, client: Any = None) -> None:
        import boto3

        self.url = queue_url
        self.client = client or boto3.client("sqs")

    def send_many(self, messages: list[dict[str, Any]]) -> None:
        for start in range(0, len(messages), 10):  # SendMessageBatch takes 10 at most
            batch = messages[start:start + 10]
            response = self.client.send_message_batch(
                QueueUrl=self.url,
                Entries=[{"Id": str(i), "MessageBody": json.dumps(m, sort_keys=True)} for i, m in enumerate(batch)],
            )
            if response.get("Failed"):
                raise RuntimeError(f"SQS refused {len(response['Failed'])} messages: {response['Failed'][0]}")


class CloudFrontCdn:
    """One invalidation per publish that changed documents, with wildcard paths (``/v1/*``), never one
    path per document; ``reference`` (the run id) makes a retried request a no-op."""

    def __init__(self, distribution_id: str, *, client: Any = None) -> None:
        import boto3

        self.distribution_id = distribution_id
        self.client = client or boto3.client("cloudfront")

    def invalidate(self, paths: list[str], reference: str) -> str | None:
        response = self.client.create_invalidation(
            DistributionId=self.distribution_id,
            InvalidationBatch={"Paths": {"Quantity": len(paths), "Items": paths}, "CallerReference": reference},
        )
        return response["Invalidation"]["Id"]


class NoCdn:
    def __init__(self) -> None:
        self.invalidations: list[tuple[list[str], str]] = []

    def invalidate(self, paths: list[str], reference: str) -> str | None:
        self.invalidations.append((paths, reference))
        return None
