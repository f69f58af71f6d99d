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
import secrets
import shutil
import stat
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ..errors import StoreError
from ..keys import check_key


class LocalDirStore:
    """A directory as a blob store: atomic writes (temp file + rename), so readers never see half a file.

    The tree under the root is not trusted (anyone who can write there could plant a link): no symbolic link
    below the root is followed (each directory on a path is checked once with ``lstat``; files are opened with
    ``O_NOFOLLOW``), temp files have unique names and are created exclusively, and an OS error (a full disk,
    a read-only file, a file where a directory should be) is one ``StoreError`` naming the key.

    :meth:`publish_together` gives a first publish the cheaper way to the same guarantee: every file is
    written once, straight into a hidden directory (by a worker thread, while the caller builds the next
    batch), and one rename makes them all visible."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self._root = os.fspath(self.root)
        self._together: tuple[str, str] | None = None  # (key prefix, hidden directory) while a block is open
        self._writer: _BackgroundWriter | None = None  # the block's worker
        self._dirs = _LinkFreeDirectories(self._root)

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
        path = os.fspath(self._path(key))
        with _store_errors("read", key):
            self._dirs.check(os.path.dirname(path))
            try:
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            except FileNotFoundError:
                return None
            with os.fdopen(fd, "rb") as fh:
                return fh.read()

    def write(
        self,
        key: str,
        data: bytes,
        *,
        content_type: str = "",
        cache_control: str = "",
        content_encoding: str | None = None,
    ) -> None:
        with _store_errors("write", key):
            staged = self._staged(key)
            if staged:
                self._dirs.made_parent(staged)
                _write_file(staged, data)
                return
            path = os.fspath(self._path(key))
            self._dirs.made_parent(path)
            _atomic_write(path, data)

    def write_many(self, items: Iterable[tuple[str, bytes]], *, content_type: str = "", cache_control: str = "") -> int:
        root = self._root
        count = 0
        hidden: list[tuple[str, bytes]] = []  # invisible until the block ends: no temp file needed
        for key, data in items:  # the caller's own errors pass through as they are
            try:
                staged = self._staged(key)
                path = staged or os.path.join(root, check_key(key))  # string paths: a first publish writes ~500k
                self._dirs.made_parent(path)
                if staged:
                    hidden.append((path, data))
                else:
                    _atomic_write(path, data)
            except OSError as exc:
                raise _store_error("write", key, exc) from None
            count += 1
        if hidden:
            assert self._writer is not None
            with _store_errors("write", "documents"):
                self._writer.submit(hidden)
        return count

    @contextlib.contextmanager
    def publish_together(self, prefix: str) -> Iterator[bool]:
        """Where nothing exists under ``prefix`` yet, write its files into a hidden sibling directory and
        rename that into place when the block ends: one rename instead of one per file. Elsewhere (or in a
        block already open) writes go one by one, each atomic."""
        target = self._path(prefix.rstrip("/"))
        with _store_errors("write", prefix):
            self._dirs.check(os.fspath(target.parent))
            if self._together is not None or os.path.lexists(target):
                yield False
                return
            hidden = target.with_name(f".{target.name}.together")
            if hidden.is_symlink():
                hidden.unlink()
            shutil.rmtree(hidden, ignore_errors=True)  # left by a run that died inside its block
            hidden.mkdir(parents=True)
        self._together = (prefix if prefix.endswith("/") else prefix + "/", os.fspath(hidden))
        self._writer = _BackgroundWriter()
        try:
            yield True
            with _store_errors("write", prefix):  # the worker's own error (a full disk), as one line
                self._writer.finish()
        except BaseException:
            self._writer.abandon()
            shutil.rmtree(hidden, ignore_errors=True)
            raise
        finally:
            self._together = self._writer = None
            self._dirs.forget(os.fspath(hidden))
        with _store_errors("write", prefix):
            try:
                os.rename(hidden, target)  # replaces nothing but an empty directory
            except OSError:  # something appeared at the target meanwhile: move file by file, each atomic
                for path in sorted(hidden.rglob("*")):
                    if path.is_file():
                        dest = os.fspath(target / path.relative_to(hidden))
                        self._dirs.made_parent(dest)
                        os.replace(path, dest)
                shutil.rmtree(hidden, ignore_errors=True)

    def delete_many(self, keys: Iterable[str]) -> int:
        if self._writer is not None:
            with _store_errors("write", "documents"):
                self._writer.drain()  # a key deleted after it was written stays deleted
        count = 0
        for key in keys:
            path = self._staged(key) or os.fspath(self._path(key))
            with _store_errors("delete", key):
                self._dirs.check(os.path.dirname(path))
                try:
                    os.unlink(path)  # a link planted here is removed itself, never what it points at
                    count += 1
                except FileNotFoundError:
                    pass
        return count

    def put_file(self, key: str, path: str | os.PathLike[str]) -> None:
        target = os.fspath(self._path(key))
        with _store_errors("write", key):
            self._dirs.made_parent(target)
            shutil.move(os.fspath(path), target)

    def get_file(self, key: str, path: str | os.PathLike[str]) -> bool:
        source = os.fspath(self._path(key))
        with _store_errors("read", key):
            self._dirs.check(os.path.dirname(source))
            try:
                fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            except FileNotFoundError:
                return False
            with os.fdopen(fd, "rb") as src, open(path, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        return True

    def describe(self) -> str:
        return str(self.root)

    def md5_listing(self, prefix: str) -> dict[str, str | None]:
        """Every regular file under ``prefix`` (links and hidden files are not listed, nor followed)."""
        base = os.fspath(self._path(prefix.rstrip("/")))
        with _store_errors("list", prefix):
            self._dirs.check(base)
            if not os.path.isdir(base) or os.path.islink(base):
                return {}
            return _md5_walk(base, self._root)


class _LinkFreeDirectories:
    """The directories below a root, each checked once with ``lstat``: a symbolic link or a non-directory on a
    path is refused, so nothing is read or written through a link planted in the tree."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.checked: set[str] = set()  # found to be real directories (not links) below the root

    def check(self, directory: str) -> None:
        """Refuse ``directory`` (below the root) if it or a directory between it and the root is a symbolic link
        or not a directory. Missing ones are fine: they are made as directories."""
        if directory in self.checked or directory == self.root:
            return
        current = self.root
        for part in os.path.relpath(directory, self.root).split(os.sep):
            current = os.path.join(current, part)
            if current in self.checked:
                continue
            try:
                info = os.lstat(current)
            except FileNotFoundError:
                return
            if stat.S_ISLNK(info.st_mode):
                raise StoreError(f"{current} is a symbolic link: refused (nothing is read or written through a link)")
            if not stat.S_ISDIR(info.st_mode):
                raise StoreError(f"{current} is not a directory: refused")
            self.checked.add(current)

    def made_parent(self, path: str) -> str:
        """The directory of ``path``, checked and made (as real directories)."""
        parent = os.path.dirname(path)
        if parent not in self.checked:
            self.check(parent)
            os.makedirs(parent, exist_ok=True)
            self.check(parent)  # made just now: a link planted meanwhile is refused all the same
        return parent

    def forget(self, below: str) -> None:
        """Directories that were renamed away (a publish-together block's hidden one) are checked again."""
        self.checked = {d for d in self.checked if not d.startswith(below)}


def _atomic_write(path: str, data: bytes) -> None:
    """Temp file beside the target (a unique name, created exclusively), then rename: a reader sees the old
    bytes or the new ones; the rename replaces a link planted at the target, never what it points at."""
    head, name = os.path.split(path)
    tmp = os.path.join(head, f".tmp-{name}.{secrets.token_hex(8)}")
    try:
        _write_file(tmp, data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _md5_walk(base: str, root: str) -> dict[str, str | None]:
    """Key -> MD5 of every regular file under ``base`` (links and hidden files are not listed, nor followed)."""
    out: dict[str, str | None] = {}
    stack = [base]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                elif entry.is_file(follow_symlinks=False):
                    key = os.path.relpath(entry.path, root).replace(os.sep, "/")
                    with open(entry.path, "rb") as fh:
                        out[key] = hashlib.md5(fh.read()).hexdigest()
    return out


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


def _write_file(path: str, data: bytes) -> None:
    """Create ``path`` and write ``data``: exclusively (a file or a link already there is an error), never
    through a link."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
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
        try:  # never through a link (a planted .run.lock link would have its target truncated)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            reason = "it is a symbolic link" if exc.errno == errno.ELOOP else exc.strerror
            raise StoreError(f"cannot take the run lock {self.path}: {reason}") from None
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
