"""The CDN port's (``ports.Cdn``) AWS adapter, CloudFront, and its twin that records the invalidations."""

from __future__ import annotations

from typing import Any


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
        return str(response["Invalidation"]["Id"])


class NoCdn:
    def __init__(self) -> None:
        self.invalidations: list[tuple[list[str], str]] = []

    def invalidate(self, paths: list[str], reference: str) -> str | None:
        self.invalidations.append((paths, reference))
        return None
