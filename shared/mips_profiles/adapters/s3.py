"""S3 adapter of the blob-store port.

- concurrent PUTs through a bounded thread pool whose size matches botocore's connection pool;
- ``Content-Type: application/json; charset=utf-8`` and an explicit ``Cache-Control`` on every object;
- botocore *adaptive* retries, which back off on 503 SlowDown and throttle the client;
- the content hash in object metadata (``x-amz-meta-content-blake2b``); change detection itself uses
  the private per-shard index, so unchanged documents are skipped without reading them back and the
  hot path never lists the bucket;
- deletes in batches of 1,000 keys.

``AWS_ENDPOINT_URL`` (or ``AWS_ENDPOINT_URL_S3``) is honoured by boto3 itself, so the same code runs
against a moto server or real AWS.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from ..errors import PublishError
from ..keys import check_key
from ..ports import content_hash

DEFAULT_CONCURRENCY = 32


def s3_client(concurrency: int = DEFAULT_CONCURRENCY) -> Any:
    config = Config(
        retries={"mode": "adaptive", "max_attempts": 10},
        max_pool_connections=concurrency,
        connect_timeout=5,
        read_timeout=30,
    )
    return boto3.client("s3", config=config)


# Error codes AWS services answer when a request may simply be tried again later.
TRANSIENT_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestThrottled",
        "RequestTimeout",
        "RequestTimeoutException",
        "InternalError",
        "InternalFailure",
        "ServiceUnavailable",
        "InternalServerError",
    }
)


def is_transient(exc: BaseException) -> bool:
    """True for failures worth retrying as they are: throttling, a 5xx, a dropped or timed-out connection.
    A refused file, a missing object or an access denial is not: retrying it only delays the alarm."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        return error.get("Code") in TRANSIENT_CODES or status >= 500
    return isinstance(exc, (ConnectionError, TimeoutError, BotoConnectionError)) or (
        isinstance(exc, BotoCoreError) and "timeout" in type(exc).__name__.lower()
    )


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> (``bucket``, ``some/prefix``)."""
    if not url.startswith("s3://"):
        raise ValueError(f"not an s3:// URL: {url!r}")
    bucket, _, prefix = url[len("s3://") :].partition("/")
    if not bucket:
        raise ValueError(f"no bucket in {url!r}")
    return bucket, prefix.strip("/")


class S3Store:
    def __init__(
        self, bucket: str, prefix: str = "", *, client: Any = None, concurrency: int = DEFAULT_CONCURRENCY
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.client = client or s3_client(concurrency)
        self.concurrency = concurrency
        self._lock = threading.Lock()
        self.puts = 0
        self.deletes = 0

    @classmethod
    def from_url(cls, url: str, **kw: Any) -> S3Store:
        bucket, prefix = parse_s3_url(url)
        return cls(bucket, prefix, **kw)

    def _key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def read(self, key: str) -> bytes | None:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise
        return bytes(response["Body"].read())

    def write(
        self,
        key: str,
        data: bytes,
        *,
        content_type: str = "application/octet-stream",
        cache_control: str = "no-cache",
        content_encoding: str | None = None,
    ) -> None:
        full_key = self._key(key)
        extra = {"ContentEncoding": content_encoding} if content_encoding else {}
        self.client.put_object(
            Bucket=self.bucket,
            Key=full_key,
            Body=data,
            ContentType=content_type,
            CacheControl=cache_control,
            Metadata={"content-blake2b": content_hash(data).hex()},
            **extra,
        )
        with self._lock:
            self.puts += 1

    def write_many(
        self,
        items: Iterable[tuple[str, bytes]],
        *,
        content_type: str = "application/octet-stream",
        cache_control: str = "no-cache",
    ) -> int:
        """PUT every item with at most ``concurrency`` requests in flight (the iterator is consumed lazily,
        so memory stays bounded). Any failure after botocore's retries is raised once all in-flight
        requests have settled."""
        count = 0
        pending: set[Future[None]] = set()
        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="s3put") as pool:
            iterator: Iterator[tuple[str, bytes]] = iter(items)
            for key, data in iterator:
                if len(pending) >= self.concurrency * 2:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for f in done:
                        f.result()
                pending.add(pool.submit(self.write, key, data, content_type=content_type, cache_control=cache_control))
                count += 1
            for f in pending:
                f.result()
        return count

    def delete_many(self, keys: Iterable[str]) -> int:
        batch: list[str] = []
        deleted = 0

        def flush() -> int:
            if not batch:
                return 0
            response = self.client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True}
            )
            errors = response.get("Errors") or []
            if errors:
                raise PublishError(f"S3 refused to delete {len(errors)} objects, first: {errors[0]}")
            n = len(batch)
            batch.clear()
            return n

        for key in keys:
            batch.append(self._key(key))
            if len(batch) == 1000:
                deleted += flush()
        deleted += flush()
        with self._lock:
            self.deletes += deleted
        return deleted

    def publish_together(self, prefix: str) -> contextlib.AbstractContextManager[bool]:
        """S3 has no rename: every object is visible when its PUT returns."""
        return contextlib.nullcontext(False)

    def put_file(self, key: str, path: str | os.PathLike[str]) -> None:
        self.client.upload_file(os.fspath(path), self.bucket, self._key(key))
        os.unlink(path)

    def get_file(self, key: str, path: str | os.PathLike[str]) -> bool:
        try:
            self.client.download_file(self.bucket, self._key(key), os.fspath(path))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return False
            raise
        return True

    def md5_listing(self, prefix: str) -> dict[str, str | None]:
        """One LIST per 1,000 keys; the ETag of a single-part PUT is the MD5 of the bytes."""
        out: dict[str, str | None] = {}
        strip = len(self.prefix) + 1 if self.prefix else 0
        full = f"{self.prefix}/{prefix}" if self.prefix else prefix
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=full):
            for obj in page.get("Contents", []):
                etag = obj["ETag"].strip('"')
                out[obj["Key"][strip:]] = None if "-" in etag else etag
        return out

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"
