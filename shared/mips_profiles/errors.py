"""The whole exception hierarchy: every error a user can cause has a one-line message naming the problem.

    MipsProfilesError               the CLI prints it as one line `error: ...` and exits 1
    ├── ConfigurationError          the request or the environment is wrong (a year, a path, a variable)
    ├── InvalidInput                input across a trust boundary is not of its shape (the field named)
    ├── CatalogError                CMS's catalog lacks what is looked for, or not in its shape
    ├── DownloadError               a download failed or is not the file
    │   └── BodyCut                 the body stopped short (resumable with Range when the server allows)
    ├── SourceFileError             the CMS file as a whole is unusable
    ├── PublishRefused              a publish gate refused the release (``gate`` says which)
    ├── PublishError                publishing could not complete
    │   └── StaleRelease            the release is no longer the current one for its year
    ├── StoreError                  a store could not be read or written as asked
    └── Transient                   worth retrying as it is (the state machine retries this name only)

    Terminated (a BaseException, as KeyboardInterrupt is): SIGTERM, raised where the CLI is, ended as one line

A test (``tests/unit/test_architecture.py``) holds that no other module defines an exception.
"""

from __future__ import annotations


class MipsProfilesError(Exception):
    """Base class: the message is one line that names the problem."""


class SourceFileError(MipsProfilesError):
    """The CMS file as a whole is unusable (wrong format, wrong layout, truncated, too many bad rows)."""


class ConfigurationError(MipsProfilesError):
    """The request itself is wrong (unsupported performance year, bad path, bad contract)."""


class PublishRefused(MipsProfilesError):
    """A publish gate refused the release (too many rejected rows, too large a drop); a forced re-run may
    override it. Nothing was written."""

    def __init__(self, gate: str, message: str) -> None:
        super().__init__(message)
        self.gate = gate


class PublishError(MipsProfilesError):
    """Publishing could not complete; what was published before stays in place."""


class StaleRelease(PublishError):
    """A step was asked to publish a release that is no longer the current one for its year (a newer one was
    staged since: for example an old execution redriven days later). It refuses; nothing is written."""


class Transient(MipsProfilesError):
    """A failure worth retrying as it is (throttling, a 5xx, a reset connection): the state machine retries
    steps that fail with this error name, with backoff and jitter, and no other."""


class InvalidInput(MipsProfilesError):
    """Input that crossed a trust boundary (a Lambda event, a run request, a catalog, a state document) is not
    of the shape it must have. The message names the field; nothing was done."""


class StoreError(MipsProfilesError):
    """A store could not be read or written as asked (a full disk, a read-only file, a symbolic link where the
    tree must have a directory). What was published before stays in place."""


class DownloadError(MipsProfilesError):
    """A download failed or returned something that is not the file; nothing was kept."""


class BodyCut(DownloadError):
    """The body stopped before its Content-Length (a reset or a close mid-stream): the downloader resumes it
    with ``Range`` where the server offers ranges and a validator, and raises it only when it cannot."""


class CatalogError(MipsProfilesError):
    """The catalog does not have what we look for, or not in the expected shape."""


class Terminated(BaseException):
    """SIGTERM, raised where the process is, so that it ends as an interrupt does (one line, no traceback)."""
