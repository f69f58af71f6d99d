"""The local adapters of the blob-store port (``ports.BlobStore``): a directory, and memory for tests.

Publishing talks to two stores: the *public* one (what the CDN serves, ``v1/...``) and the
*private* one (audit Parquet, quarantine reports, the entries and content-hash index that make
incremental publishing possible). Locally both are directories; on AWS they are S3 buckets.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import stat
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ..errors import StoreError
from ..fs import DirectoryHandles, open_regular, read_file, replace_atomically, temp_name, walk_files, write_new
from ..keys import check_key


class LocalDirStore:
    """A directory as a blob store: atomic writes (temp file + rename), so readers never see half a file.

    The tree under the root is not trusted (anyone who can write there could plant a link, or swap one in while
    a run goes on): every directory below the root is opened once by handle, never through a link, and every
    write, rename and delete goes relative to that handle (``mips_profiles.fs``), so a link swapped in
    mid-run redirects nothing, and the swap itself fails the run by name. Files are opened with ``O_NOFOLLOW``
    and must be regular; temp files have unique names and are created exclusively; an OS error (a full disk, a
    read-only file, a file where a directory should be) is one ``StoreError`` naming the key.

    :meth:`publish_together` gives a first publish the cheaper way to the same guarantee: every file is
    written once, straight into a hidden directory (by a worker thread, while the caller builds the next
    batch), and one rename makes them all visible."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self._together: tuple[str, str] | None = None  # (key prefix, hidden directory) while a block is open
        self._writer: _BackgroundWriter | None = None  # the block's worker
        self._dirs = DirectoryHandles(os.fspath(self.root))

    def _location(self, key: str) -> tuple[str, str, bool]:
        """(directory relative to the root, file name, staged) of ``key``: staged, inside the hidden directory,
        while a publish-together block holds its prefix."""
        check_key(key)
        together = self._together
        staged = together is not None and key.startswith(together[0])
        if together is not None and staged:
            key = together[1] + "/" + key[len(together[0]) :]
        rel, _, name = key.rpartition("/")
        return rel, name, staged

    def read(self, key: str) -> bytes | None:
        rel, name, staged = self._location(key)
        if staged:
            return None  # not visible before the block ends
        with _store_errors("read", key):
            fd = self._dirs.get(rel, create=False)
            return None if fd is None else read_file(fd, name)

    def write(
        self,
        key: str,
        data: bytes,
        *,
        content_type: str = "",
        cache_control: str = "",
        content_encoding: str | None = None,
    ) -> None:
        rel, name, staged = self._location(key)
        with _store_errors("write", key):
            fd = self._dirs.made(rel)
            if staged:
                write_new(fd, name, data)
            else:
                replace_atomically(fd, name, data)
            self._dirs.check_unchanged()

    def write_many(self, items: Iterable[tuple[str, bytes]], *, content_type: str = "", cache_control: str = "") -> int:
        count = 0
        hidden: list[tuple[int, str, bytes]] = []  # invisible until the block ends: no temp file needed
        for key, data in items:  # the caller's own errors pass through as they are
            try:
                rel, name, staged = self._location(key)
                fd = self._dirs.made(rel)
                if staged:
                    hidden.append((fd, name, data))
                else:
                    replace_atomically(fd, name, data)
            except OSError as exc:
                raise _store_error("write", key, exc) from None
            count += 1
        with _store_errors("write", "documents"):
            if hidden:
                assert self._writer is not None
                self._writer.submit(hidden)
            self._dirs.check_unchanged()
        return count

    @contextlib.contextmanager
    def publish_together(self, prefix: str) -> Iterator[bool]:
        """Where nothing exists under ``prefix`` yet, write its files into a hidden sibling directory and
        rename that into place when the block ends: one rename instead of one per file. Elsewhere (or in a
        block already open) writes go one by one, each atomic."""
        check_key(prefix.rstrip("/"))
        parent_rel, _, name = prefix.rstrip("/").rpartition("/")
        hidden_name = f".{name}.together"
        hidden_rel = f"{parent_rel}/{hidden_name}" if parent_rel else hidden_name
        with _store_errors("write", prefix):
            parent = self._dirs.made(parent_rel)
            if self._together is not None or _exists(parent, name):
                yield False
                return
            _remove(parent, hidden_name)  # left by a run that died inside its block
            os.mkdir(hidden_name, 0o777, dir_fd=parent)
        self._together = (prefix if prefix.endswith("/") else prefix + "/", hidden_rel)
        self._writer = _BackgroundWriter()
        try:
            yield True
            with _store_errors("write", prefix):  # the worker's own error (a full disk), as one line
                self._writer.finish()
                self._dirs.check_unchanged()
        except BaseException:
            self._writer.abandon()
            self._dirs.forget(hidden_rel)
            _remove(parent, hidden_name)
            raise
        finally:
            self._together = self._writer = None
        with _store_errors("write", prefix):
            try:
                os.rename(hidden_name, name, src_dir_fd=parent, dst_dir_fd=parent)  # replaces no more than an
            except OSError:  # empty directory; something appeared at the target meanwhile: file by file
                self._move_into(hidden_rel, prefix.rstrip("/"))
                _remove(parent, hidden_name)
            finally:
                self._dirs.forget(hidden_rel)

    def _move_into(self, source_rel: str, target_rel: str) -> None:
        source = self._dirs.get(source_rel, create=False)
        assert source is not None
        for rel, fd, name in walk_files(source):
            dest = self._dirs.made(f"{target_rel}/{rel}" if rel else target_rel)
            os.replace(name, name, src_dir_fd=fd, dst_dir_fd=dest)

    def delete_many(self, keys: Iterable[str]) -> int:
        if self._writer is not None:
            with _store_errors("write", "documents"):
                self._writer.drain()  # a key deleted after it was written stays deleted
        count = 0
        for key in keys:
            rel, name, _ = self._location(key)
            with _store_errors("delete", key):
                fd = self._dirs.get(rel, create=False)
                if fd is None:
                    continue
                try:
                    os.unlink(name, dir_fd=fd)  # a link planted here is removed itself, never what it points at
                    count += 1
                except FileNotFoundError:
                    pass
        with _store_errors("delete", "documents"):
            self._dirs.check_unchanged()
        return count

    def put_file(self, key: str, path: str | os.PathLike[str]) -> None:
        rel, name, _ = self._location(key)
        with _store_errors("write", key):
            fd = self._dirs.made(rel)
            tmp = temp_name(name)
            try:
                os.rename(path, tmp, dst_dir_fd=fd)  # our own temp file, on the same file system
            except OSError as exc:
                if exc.errno != errno.EXDEV:
                    raise
                with open(path, "rb") as src:
                    write_new(fd, tmp, src.read())
                os.unlink(path)
            os.replace(tmp, name, src_dir_fd=fd, dst_dir_fd=fd)
            self._dirs.check_unchanged()

    def get_file(self, key: str, path: str | os.PathLike[str]) -> bool:
        rel, name, _ = self._location(key)
        with _store_errors("read", key):
            fd = self._dirs.get(rel, create=False)
            if fd is None:
                return False
            try:
                source = open_regular(fd, name)
            except FileNotFoundError:
                return False
            with os.fdopen(source, "rb") as src, open(path, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        return True

    def describe(self) -> str:
        return str(self.root)

    def md5_listing(self, prefix: str) -> dict[str, str | None]:
        """Every regular file under ``prefix`` (links and hidden files are not listed, nor followed)."""
        base = check_key(prefix.rstrip("/"))
        with _store_errors("list", prefix):
            fd = self._dirs.get(base, create=False)
            out: dict[str, str | None] = {}
            for rel, dir_fd, name in walk_files(fd) if fd is not None else ():
                with os.fdopen(open_regular(dir_fd, name), "rb") as fh:
                    out[f"{base}/{rel}/{name}" if rel else f"{base}/{name}"] = hashlib.md5(fh.read()).hexdigest()
            return out

    def close(self) -> None:
        """Close the tree's directory handles (also done when the store is collected)."""
        self._dirs.close()


def _exists(dir_fd: int, name: str) -> bool:
    try:
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def _remove(dir_fd: int, name: str) -> None:
    """Remove ``name`` (a link itself, a file, or a directory tree, never through a link) if it is there."""
    if not _exists(dir_fd, name):
        return
    if stat.S_ISDIR(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode):
        shutil.rmtree(name, dir_fd=dir_fd)
    else:
        os.unlink(name, dir_fd=dir_fd)


def _store_error(action: str, key: str, exc: OSError) -> StoreError:
    """An OS error as one line naming the key (a full disk, a read-only file, a file where a directory is)."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    if exc.errno == errno.ELOOP:
        reason = "a symbolic link is in the way (nothing is written through a link)"
    return StoreError(f"cannot {action} {key}: {reason}")


@contextlib.contextmanager
def _store_errors(action: str, key: str) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise _store_error(action, key, exc) from None


class _BackgroundWriter:
    """Batches of files written on one worker thread, in order (the system calls release the GIL). At most two
    batches wait; the first error is raised by the next submit, by :meth:`drain` or by :meth:`finish`."""

    MAX_PENDING = 2

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="local-writer")
        self._pending: deque[Future[None]] = deque()

    def submit(self, batch: list[tuple[int, str, bytes]]) -> None:
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


def _write_files(batch: list[tuple[int, str, bytes]]) -> None:
    for dir_fd, name, data in batch:
        write_new(dir_fd, name, data)


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
        try:  # never through a link (a planted .run.lock link would have its target truncated), never a FIFO
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            reason = "it is a symbolic link" if exc.errno == errno.ELOOP else exc.strerror
            raise StoreError(f"cannot take the run lock {self.path}: {reason}") from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise StoreError(f"cannot take the run lock {self.path}: not a regular file (a FIFO, a device?)")
        os.set_blocking(fd, True)
        fh = os.fdopen(fd, "r+")
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
