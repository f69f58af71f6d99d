"""The blob-store port and its local-directory adapter.

Publishing talks to two stores: the *public* one (what the CDN serves, ``v1/...``) and the
*private* one (audit Parquet, quarantine reports, the entries and content-hash index that make
incremental publishing possible). Locally both are directories; on AWS they are S3 buckets.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol


def content_hash(data: bytes) -> bytes:
    """Change detector for published bytes (not a security boundary): BLAKE2b-128."""
    return hashlib.blake2b(data, digest_size=16).digest()


CACHE_DOCUMENT = "public, max-age=3600, stale-while-revalidate=86400"
CACHE_MANIFEST = "public, max-age=60"


class BlobStore(Protocol):
    """A flat key -> bytes store. Keys use ``/``; writes are atomic per key."""

    def read(self, key: str) -> bytes | None: ...

    def write(self, key: str, data: bytes, *, content_type: str = ..., cache_control: str = ...) -> None: ...

    def write_many(
        self, items: Iterable[tuple[str, bytes]], *, content_type: str = ..., cache_control: str = ...
    ) -> int: ...

    def delete_many(self, keys: Iterable[str]) -> int: ...

    def put_file(self, key: str, path: str | os.PathLike[str]) -> None:
        """Take ownership of a local file (a large download) and store it under ``key``."""
        ...

    def get_file(self, key: str, path: str | os.PathLike[str]) -> bool:
        """Copy the object at ``key`` to a local file; False if there is none."""
        ...

    def describe(self) -> str: ...


class LocalDirStore:
    """A directory as a blob store: atomic writes (temp file + rename), so readers never see half a file."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        parts = key.split("/")
        if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise ValueError(f"unsafe key: {key!r}")
        return self.root.joinpath(*parts)

    def read(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None

    def write(self, key: str, data: bytes, *, content_type: str = "", cache_control: str = "") -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def write_many(self, items: Iterable[tuple[str, bytes]], *, content_type: str = "", cache_control: str = "") -> int:
        count = 0
        made: set[Path] = set()
        for key, data in items:
            path = self._path(key)
            if path.parent not in made:
                path.parent.mkdir(parents=True, exist_ok=True)
                made.add(path.parent)
            tmp = path.with_name(f".tmp-{path.name}")
            tmp.write_bytes(data)
            os.replace(tmp, path)
            count += 1
        return count

    def delete_many(self, keys: Iterable[str]) -> int:
        count = 0
        for key in keys:
            try:
                self._path(key).unlink()
                count += 1
            except FileNotFoundError:
                pass
        return count

    def put_file(self, key: str, path: str | os.PathLike[str]) -> None:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(os.fspath(path), target)

    def get_file(self, key: str, path: str | os.PathLike[str]) -> bool:
        try:
            shutil.copyfile(self._path(key), path)
        except FileNotFoundError:
            return False
        return True

    def describe(self) -> str:
        return str(self.root)
