"""A directory tree handled by open directories, not by paths: the local store's file-system safety.

A check made on a path holds only for the moment it runs: a directory of the tree replaced by a symbolic link
after it was checked would send every later write, rename and delete by that path into the link's target.
Here each directory below the root is opened once, relative to its parent's handle, with
``O_DIRECTORY | O_NOFOLLOW`` (a link is refused there and then), and every file operation afterwards goes
relative to that handle (``dir_fd``): a link swapped in later cannot redirect anything, since nothing is looked up
by path again. :meth:`DirectoryHandles.check_unchanged` then notices the swap itself (the path no longer leads to
the directory that was opened), so the run that met it fails by name instead of finishing in a moved directory.

Files are opened with ``O_NOFOLLOW | O_NONBLOCK`` and must be regular files: a link is refused, and a FIFO or a
device planted under a document's name is refused instead of blocking the reader.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
import weakref
from collections.abc import Iterator

from .errors import StoreError

DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def _close_all(fds: dict[str, int]) -> None:
    for fd in fds.values():
        with contextlib.suppress(OSError):
            os.close(fd)
    fds.clear()


class DirectoryHandles:
    """The open directories of one tree, by their path relative to the root (``""`` is the root, ``"v1/npi"``
    a directory below it). The root itself is the caller's to choose (it may be a link); below it, none is."""

    def __init__(self, root: str) -> None:
        self.root = root
        self._fds: dict[str, int] = {}
        self._finalizer = weakref.finalize(self, _close_all, self._fds)

    def get(self, rel: str, *, create: bool) -> int | None:
        """The handle of directory ``rel``, opened (and made, with ``create``) one level at a time from the root;
        None when it does not exist and ``create`` is false."""
        fd = self._fds.get(rel)
        if fd is not None:
            return fd
        if not rel:
            if create:
                os.makedirs(self.root, exist_ok=True)
            try:
                fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            except FileNotFoundError:
                if create:
                    raise
                return None
        else:
            parent_rel, _, name = rel.rpartition("/")
            parent = self.get(parent_rel, create=create)
            if parent is None:
                return None
            fd = self._open_below(parent, rel, name, create=create)
            if fd is None:
                return None
        self._fds[rel] = fd
        return fd

    def made(self, rel: str) -> int:
        """The handle of directory ``rel``, made (as real directories, one level at a time) where missing."""
        fd = self.get(rel, create=True)
        assert fd is not None  # made, or an error was raised
        return fd

    def _open_below(self, parent: int, rel: str, name: str, *, create: bool) -> int | None:
        try:
            return self._open_directory(parent, rel, name)
        except FileNotFoundError:
            if not create:
                return None
        with contextlib.suppress(FileExistsError):
            os.mkdir(name, 0o777, dir_fd=parent)
        return self._open_directory(parent, rel, name)

    def _open_directory(self, parent: int, rel: str, name: str) -> int:
        try:
            return os.open(name, DIRECTORY_FLAGS, dir_fd=parent)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                raise self._refusal(parent, rel, name) from None
            raise

    def _refusal(self, parent: int, rel: str, name: str) -> StoreError:
        shown = os.path.join(self.root, *rel.split("/"))
        try:
            mode = os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode
        except OSError:
            mode = 0
        if stat.S_ISLNK(mode):
            return StoreError(f"{shown} is a symbolic link: refused (nothing is read or written through a link)")
        return StoreError(f"{shown} is not a directory: refused")

    def forget(self, rel: str) -> None:
        """Close ``rel`` and every directory below it (renamed or removed: opened again from its path)."""
        for key in [k for k in self._fds if k == rel or k.startswith(rel + "/")]:
            os.close(self._fds.pop(key))

    def check_unchanged(self) -> None:
        """Every directory opened is still the one its path leads to (no link, no other directory swapped in
        since): a check that holds for the whole run, made again after its writes rather than trusted from
        before them."""
        for rel, fd in sorted(self._fds.items()):
            if not rel:
                continue
            parent_rel, _, name = rel.rpartition("/")
            opened = os.fstat(fd)
            try:
                now = os.stat(name, dir_fd=self._fds[parent_rel], follow_symlinks=False)
            except (FileNotFoundError, KeyError):
                now = None
            if now is None or (now.st_dev, now.st_ino) != (opened.st_dev, opened.st_ino):
                shown = os.path.join(self.root, *rel.split("/"))
                raise StoreError(
                    f"{shown} was replaced during the run (a link or another directory): refused; nothing was "
                    "written through it, check the tree"
                )

    def close(self) -> None:
        self._finalizer()


def open_regular(dir_fd: int, name: str) -> int:
    """A file for reading, never through a link, and only a regular file (a FIFO would block the reader)."""
    fd = os.open(name, READ_FLAGS, dir_fd=dir_fd)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, "not a regular file (a FIFO, a device or a directory)")
    os.set_blocking(fd, True)
    return fd


def read_file(dir_fd: int, name: str) -> bytes | None:
    try:
        fd = open_regular(dir_fd, name)
    except FileNotFoundError:
        return None
    with os.fdopen(fd, "rb") as fh:
        return fh.read()


def write_new(dir_fd: int, name: str, data: bytes | memoryview) -> None:
    """Create ``name`` and write ``data``: exclusively (a file or a link already there is an error)."""
    fd = os.open(name, CREATE_FLAGS, 0o666, dir_fd=dir_fd)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def temp_name(name: str) -> str:
    return f".tmp-{name}.{secrets.token_hex(8)}"


def replace_atomically(dir_fd: int, name: str, data: bytes) -> None:
    """A temp file beside the target, then a rename, both in the same open directory: a reader sees the old bytes
    or the new ones; the rename replaces a link planted at the target, never what it points at."""
    tmp = temp_name(name)
    try:
        write_new(dir_fd, tmp, data)
        os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp, dir_fd=dir_fd)
        raise


def walk_files(dir_fd: int, rel: str = "") -> Iterator[tuple[str, int, str]]:
    """(relative directory, its handle, file name) of every regular file below ``dir_fd``; hidden names, links
    and anything else are neither listed nor followed. Handles yielded are valid until the next item."""
    with os.scandir(dir_fd) as scan:
        entries = sorted((e.name, e.is_dir(follow_symlinks=False), e.is_file(follow_symlinks=False)) for e in scan)
    for name, is_dir, is_file in entries:
        if name.startswith("."):
            continue
        if is_file:
            yield rel, dir_fd, name
        elif is_dir:
            try:
                child = os.open(name, DIRECTORY_FLAGS, dir_fd=dir_fd)
            except OSError:
                continue  # swapped for a link (or removed) since the scan: not followed
            try:
                yield from walk_files(child, f"{rel}/{name}" if rel else name)
            finally:
                os.close(child)
