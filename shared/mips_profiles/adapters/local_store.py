"""The local adapters of the blob-store port (``ports.BlobStore``): a directory, and memory for tests.

Publishing talks to two stores: the *public* one (what the CDN serves, ``v1/...``) and the
*private* one (audit Parquet, quarantine reports, the entries and content-hash index that make
incremental publishing possible). Locally both are directories; on AWS they are S3 buckets.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ..keys import check_key


class LocalDirStore:
    """A directory as a blob store: atomic writes (temp file + rename), so readers never see half a file.

    :meth:`publish_together` gives a first publish the cheaper way to the same guarantee: every file is
    written once, straight into a hidden directory (by a worker thread, while the caller builds the next
    batch), and one rename makes them all visible."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self._together: tuple[str, str] | None = None  # (key prefix, hidden directory) while a block is open
        self._writer: _BackgroundWriter | None = None  # the block's worker

    def _staged(self, key: str) -> str | None:
        """The hidden path of ``key`` while a publish-together block holds its prefix, else None."""
        if self._together is None or not key.startswith(self._together[0]):
            return None
        return os.path.join(self._together[1], check_key(key)[len(self._together[0]) :])

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*check_key(key).split("/"))

    def read(self, key: str) -> bytes | None:
        if self._staged(key):
            return None  # not visible before the block ends
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None

    @staticmethod
    def _atomic_write(path: str | os.PathLike[str], data: bytes) -> None:
        """Temp file beside the target, then rename: a reader sees the old bytes or the new ones."""
        head, name = os.path.split(os.fspath(path))
        tmp = os.path.join(head, f".tmp-{name}")
        try:
            _write_file(tmp, data)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def write(
        self,
        key: str,
        data: bytes,
        *,
        content_type: str = "",
        cache_control: str = "",
        content_encoding: str | None = None,
    ) -> None:
        staged = self._staged(key)
        if staged:
            os.makedirs(os.path.dirname(staged), exist_ok=True)
            _write_file(staged, data)
            return
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._atomic_write(path, data)

    def write_many(self, items: Iterable[tuple[str, bytes]], *, content_type: str = "", cache_control: str = "") -> int:
        root = os.fspath(self.root)
        count = 0
        made: set[str] = set()
        hidden: list[tuple[str, bytes]] = []  # invisible until the block ends: no temp file needed
        for key, data in items:
            staged = self._staged(key)
            path = staged or os.path.join(root, check_key(key))  # string paths: a first publish writes ~500k
            parent = path.rpartition("/")[0]
            if parent not in made:
                os.makedirs(parent, exist_ok=True)
                made.add(parent)
            if staged:
                hidden.append((path, data))
            else:
                self._atomic_write(path, data)
            count += 1
        if hidden:
            assert self._writer is not None
            self._writer.submit(hidden)
        return count

    @contextlib.contextmanager
    def publish_together(self, prefix: str) -> Iterator[bool]:
        """Where nothing exists under ``prefix`` yet, write its files into a hidden sibling directory and
        rename that into place when the block ends: one rename instead of one per file. Elsewhere (or in a
        block already open) writes go one by one, each atomic."""
        target = self._path(prefix.rstrip("/"))
        if self._together is not None or target.exists():
            yield False
            return
        hidden = target.with_name(f".{target.name}.together")
        shutil.rmtree(hidden, ignore_errors=True)  # left by a run that died inside its block
        hidden.mkdir(parents=True)
        self._together = (prefix if prefix.endswith("/") else prefix + "/", os.fspath(hidden))
        self._writer = _BackgroundWriter()
        try:
            yield True
            self._writer.finish()
        except BaseException:
            self._writer.abandon()
            shutil.rmtree(hidden, ignore_errors=True)
            raise
        finally:
            self._together = self._writer = None
        try:
            os.rename(hidden, target)  # replaces nothing but an empty directory
        except OSError:  # something appeared at the target meanwhile: move file by file, each atomic
            for path in sorted(hidden.rglob("*")):
                if path.is_file():
                    dest = target / path.relative_to(hidden)
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(path, dest)
            shutil.rmtree(hidden, ignore_errors=True)

    def delete_many(self, keys: Iterable[str]) -> int:
        if self._writer is not None:
            self._writer.drain()  # a key deleted after it was written stays deleted
        count = 0
        for key in keys:
            try:
                os.unlink(self._staged(key) or self._path(key))
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

    def md5_listing(self, prefix: str) -> dict[str, str | None]:
        base = self._path(prefix.rstrip("/"))
        if not base.is_dir():
            return {}
        return {
            path.relative_to(self.root).as_posix(): hashlib.md5(path.read_bytes()).hexdigest()
            for path in base.rglob("*")
            if path.is_file() and not path.name.startswith(".")
        }


def _write_file(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


class _BackgroundWriter:
    """Batches of files written on one worker thread, in order (the system calls release the GIL). At most two
    batches wait; the first error is raised by the next submit, by :meth:`drain` or by :meth:`finish`."""

    MAX_PENDING = 2

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="local-writer")
        self._pending: deque[Future[None]] = deque()

    def submit(self, batch: list[tuple[str, bytes]]) -> None:
        while len(self._pending) >= self.MAX_PENDING:
            self._pending.popleft().result()
        self._pending.append(self._pool.submit(_write_files, batch))

    def drain(self) -> None:
        while self._pending:
            self._pending.popleft().result()

    def finish(self) -> None:
        try:
            self.drain()
        finally:
            self._pool.shutdown(wait=True)

    def abandon(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def _write_files(batch: list[tuple[str, bytes]]) -> None:
    for path, data in batch:
        _write_file(path, data)


class MemoryStore:
    """In-memory twin of the blob-store port (tests and property checks)."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.meta: dict[str, dict[str, str]] = {}

    def read(self, key: str) -> bytes | None:
        return self.objects.get(key)

    def write(
        self,
        key: str,
        data: bytes,
        *,
        content_type: str = "",
        cache_control: str = "",
        content_encoding: str | None = None,
    ) -> None:
        self.objects[check_key(key)] = bytes(data)
        self.meta[key] = {
            "content_type": content_type,
            "cache_control": cache_control,
            "content_encoding": content_encoding or "",
        }

    def write_many(self, items: Iterable[tuple[str, bytes]], *, content_type: str = "", cache_control: str = "") -> int:
        count = 0
        for key, data in items:
            self.write(key, data, content_type=content_type, cache_control=cache_control)
            count += 1
        return count

    def delete_many(self, keys: Iterable[str]) -> int:
        return sum(1 for key in list(keys) if self.objects.pop(key, None) is not None)

    def put_file(self, key: str, path: str | os.PathLike[str]) -> None:
        self.objects[key] = Path(path).read_bytes()
        os.unlink(path)

    def get_file(self, key: str, path: str | os.PathLike[str]) -> bool:
        if key not in self.objects:
            return False
        Path(path).write_bytes(self.objects[key])
        return True

    def describe(self) -> str:
        return "memory"

    def publish_together(self, prefix: str) -> contextlib.AbstractContextManager[bool]:
        return contextlib.nullcontext(False)

    def md5_listing(self, prefix: str) -> dict[str, str | None]:
        return {k: hashlib.md5(v).hexdigest() for k, v in self.objects.items() if k.startswith(prefix)}


class LocalRunLock:
    """One run at a time per private directory (``flock``: released by the OS if the process dies)."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.path = Path(directory) / ".run.lock"
        self._fh: Any = None

    def __enter__(self) -> LocalRunLock:
        import fcntl

        from ..errors import PublishRefused

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "unknown"
            fh.close()
            raise PublishRefused("run_lock", f"another run holds the lock on {self.path.parent} ({holder})") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}")
        fh.flush()
        self._fh = fh
        return self

    def __exit__(self, *exc: object) -> None:
        import fcntl

        if self._fh:
            fcntl.flock(self._fh, fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None
