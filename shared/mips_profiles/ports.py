"""The ports: every Protocol the parts of the package talk through, in one place.

Each port has an AWS adapter and a local twin in ``adapters/`` (docs/architecture.md has the table):

- ``BlobStore``: a flat key -> bytes store (S3; a directory; memory);
- ``StateStore``: what was checked and published per source and year (DynamoDB; a JSON file);
- ``Cdn``: cache invalidation (CloudFront; a recorder);
- ``Progress``: progress of long CLI work (a terminal line; ``NO_PROGRESS``, the null object here).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable
from contextlib import AbstractContextManager
from typing import Protocol, TypedDict, cast

from .errors import InvalidInput
from .text import printable


class ReleaseRecord(TypedDict, total=False):
    """What the state store keeps per source and year: the catalog entry and the download last published
    (``checker.published_record``), and when CMS was last checked. A newer version's extra fields are kept."""

    source: str
    performance_year: int
    modified: str | None
    download_url: str
    api_uuid: str | None
    title: str | None
    row_count: int
    sha256: str | None
    size_bytes: int
    etag: str | None
    last_modified: str | None
    release_id: str
    last_checked: str


_RECORD_KEY = re.compile(r"^(qpp|pdc)/[0-9]{4}$")
_TEXT = ("source", "modified", "download_url", "api_uuid", "title", "sha256", "etag", "last_modified")
_TEXT_MORE = ("release_id", "last_checked")
_NUMBERS = ("performance_year", "row_count", "size_bytes")


def parse_release_record(where: str, key: str, record: object) -> ReleaseRecord:
    """A stored record (a state file, a DynamoDB item: neither is taken on trust) as a ``ReleaseRecord``, or
    one ``InvalidInput`` naming the field."""
    where = f"{where}, record {printable(key, 40)!s}"
    if not _RECORD_KEY.match(key) or not isinstance(record, dict):
        raise InvalidInput(f"{where}: not a release record")
    for name, value in record.items():  # other fields (a newer version's) are kept, if they are plain values
        if not isinstance(value, str | int | float | bool | None):
            raise InvalidInput(f"{where}: {printable(name, 40)} is not a plain value")
    for name in (*_TEXT, *_TEXT_MORE):
        value = record.get(name)
        if value is not None and (not isinstance(value, str) or len(value) > 4096):
            raise InvalidInput(f"{where}: {name} is not text")
    for name in _NUMBERS:
        value = record.get(name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            raise InvalidInput(f"{where}: {name} is not a whole number")
    return cast(ReleaseRecord, record)


def content_hash(data: bytes) -> bytes:
    """Change detector for published bytes (not a security boundary): BLAKE2b-128."""
    return hashlib.blake2b(data, digest_size=16).digest()


class BlobStore(Protocol):
    """A flat key -> bytes store. Keys use ``/``; writes are atomic per key."""

    def read(self, key: str) -> bytes | None: ...

    def write(
        self,
        key: str,
        data: bytes,
        *,
        content_type: str = ...,
        cache_control: str = ...,
        content_encoding: str | None = ...,
    ) -> None:
        """``content_encoding`` (``gzip``) says ``data`` is stored compressed and served as such."""

    def write_many(
        self, items: Iterable[tuple[str, bytes]], *, content_type: str = ..., cache_control: str = ...
    ) -> int: ...

    def delete_many(self, keys: Iterable[str]) -> int: ...

    def publish_together(self, prefix: str) -> AbstractContextManager[bool]:
        """A block whose writes under ``prefix`` may become visible all at once when it ends, instead of one
        by one. Yields True when the store does that: until the block ends nothing written under ``prefix``
        is visible or readable, and an error in the block discards it all. Yields False when writes stay
        visible one by one. A store may do it only where nothing exists under ``prefix`` yet."""
        ...

    def put_file(self, key: str, path: str | os.PathLike[str]) -> None:
        """Take ownership of a local file (a large download) and store it under ``key``."""
        ...

    def get_file(self, key: str, path: str | os.PathLike[str]) -> bool:
        """Copy the object at ``key`` to a local file; False if there is none."""
        ...

    def describe(self) -> str: ...

    def md5_listing(self, prefix: str) -> dict[str, str | None]:
        """Every key under ``prefix`` with the MD5 (hex) of its bytes, ``None`` where the store cannot
        tell without reading (an S3 multipart ETag). For repair: compare without reading every object."""
        ...


class StateStore(Protocol):
    def get(self, source: str, year: int) -> ReleaseRecord | None: ...

    def put(self, source: str, year: int, record: ReleaseRecord) -> None: ...

    def all(self) -> dict[str, ReleaseRecord]: ...


class Cdn(Protocol):
    def invalidate(self, paths: list[str], reference: str) -> str | None: ...


class Task(Protocol):
    def advance(self, amount: float = 1) -> None: ...

    def close(self, summary: str | None = None) -> None: ...


class Progress(Protocol):
    def task(self, label: str, total: float | None = None, unit: str = "") -> Task: ...


class _NullTask:
    def advance(self, amount: float = 1) -> None:
        pass

    def close(self, summary: str | None = None) -> None:
        pass


class NullProgress:
    def task(self, label: str, total: float | None = None, unit: str = "") -> Task:
        return _NullTask()


NO_PROGRESS = NullProgress()
