"""The local target of the CLI and the demo: locations as stores (a directory, or ``s3://``), the run lock
of a private directory, and one refresh of a tree with typed arguments (``refresh_tree``), which both
``mips-profiles refresh`` and ``mips-profiles demo`` call. No argparse here, so the demo does not need the
CLI (and the CLI imports the demo only to run it).
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

from ..adapters.local_store import LocalDirStore, LocalRunLock
from ..adapters.terminal_progress import for_cli
from ..core.catalog import DEFAULT_CATALOG_URL, DEFAULT_PDC_URL
from ..errors import ConfigurationError
from ..ports import NO_PROGRESS, BlobStore
from ..publishing.publish import Publisher
from ..settings import NetworkSettings
from ..text import printable
from .refresh import RefreshReport


def default_private_dir(out: str) -> str:
    """Private data (audit, quarantine, index) lives beside the public tree, never inside it."""
    path = Path(out).resolve()
    return str(path.with_name(path.name + ".private"))


def store_for(location: str) -> BlobStore:
    """A local directory, or S3 for ``s3://bucket/prefix`` (``AWS_ENDPOINT_URL`` is honoured by boto3)."""
    if location.startswith("s3://"):
        _need_boto3(location)
        from ..adapters.s3 import S3Store

        return S3Store.from_url(location)
    return LocalDirStore(location)


def _need_boto3(location: str) -> None:
    """An s3:// location without boto3 installed: one line naming the extra, not a traceback."""
    import importlib.util

    if importlib.util.find_spec("boto3") is None:
        raise ConfigurationError(f"{location}: S3 needs boto3, which is not installed: pip install 'mips-profiles[s3]'")


def stores(out: str, private: str | None, *, existing: bool = False) -> tuple[BlobStore, BlobStore]:
    """The public and private stores of ``--out`` and ``--private``; ``existing``: local ones must be there
    already (``repair`` restores a tree, it never makes one)."""
    if out.startswith("s3://") != (private or "").startswith("s3://"):
        raise ConfigurationError(
            "with S3, give both --out s3://PUBLIC-BUCKET/... and --private "
            "s3://PRIVATE-BUCKET/...: private data never goes to the public bucket"
        )
    private = private or default_private_dir(out)
    if out.startswith("s3://"):
        _need_boto3(out)
    if overlap(out, private):
        raise ConfigurationError(
            f"--private {private!r} overlaps --out {out!r}: the public tree would serve the "
            "audit data; give separate locations"
        )
    for flag, location in (("--out", out), ("--private", private)):
        if location.startswith("s3://"):
            continue
        if os.path.exists(location) and not os.path.isdir(location):
            raise ConfigurationError(f"{flag} {location!r} exists and is not a directory")
        if existing and not os.path.isdir(location):
            raise ConfigurationError(
                f"{flag} {location!r} does not exist: repair restores a published tree from its private data, "
                "it does not create one (publish or refresh first)"
            )
    return store_for(out), store_for(private)


def overlap(a: str, b: str) -> bool:
    """Whether one location is, or is inside, the other (local paths resolved; S3 by bucket and prefix)."""
    if a.startswith("s3://") and b.startswith("s3://"):
        from ..adapters.s3 import parse_s3_url

        (ba, pa_), (bb, pb) = parse_s3_url(a), parse_s3_url(b)
        if ba != bb:
            return False
        x, y = pa_.strip("/").split("/") if pa_ else [], pb.strip("/").split("/") if pb else []
        return x[: len(y)] == y or y[: len(x)] == x
    ra, rb = Path(a).resolve(), Path(b).resolve()
    return ra == rb or ra.is_relative_to(rb) or rb.is_relative_to(ra)


def run_lock(private: BlobStore) -> contextlib.AbstractContextManager[object]:
    """Local runs lock their private directory; on S3 the Lambdas' DynamoDB lock is the one that counts."""
    return LocalRunLock(private.describe()) if isinstance(private, LocalDirStore) else contextlib.nullcontext()


def print_outcomes(report: RefreshReport) -> None:
    """One line per year checked (stdout); warnings and errors on stderr."""
    for o in report.outcomes:
        label = f"{o.source.upper()} PY{o.performance_year}"
        line = f"{label:<12} {o.decision:<10} ({printable(o.reason, 300)})"  # the reason quotes CMS's catalog
        p = o.published
        if p:
            line += (
                f": {p['rows_read']} rows, {p['rows_rejected']} rejected; documents {p['docs_written']} written, "
                f"{p['docs_unchanged']} unchanged, {p['docs_deleted']} deleted"
            )
            share = (p["final_score_check"] or {}).get("share")
            if share is not None:
                line += f"; final scores reproduced by their parts: {share:.1%}"
        recon = o.extra.get("cms_profile_reconciliation")
        if recon:
            line += (
                f"; vs CMS profile scores: {recon['matches']} match, {recon['mismatches']} differ"
                f" (report: {recon['mismatch_report']})"
            )
        print(line)
        if p:
            warn_published(label, p["unknown_columns"], p["warnings"])
        if o.error:
            print(f"error: {label}: {printable(o.error, 500)}", file=sys.stderr)


def warn_published(label: str, unknown_columns: list[str], warnings: list[str]) -> None:
    """What a publish asks a person to look at (stderr): columns nobody mapped, a sharp drop of the final-score
    check. Neither stopped it."""
    warn_unknown(label, unknown_columns)
    for warning in warnings:
        print(f"warning: {printable(warning, 1000)}", file=sys.stderr)


def warn_unknown(label: str, columns: list[str]) -> None:
    if columns:
        print(
            f"warning: {label}: {len(columns)} column(s) the display contract does not know, kept in the audit "
            f"record and not published: {printable(', '.join(repr(c) for c in columns[:20]), 2000)}"
            + (f" and {len(columns) - 20:,} more" if len(columns) > 20 else ""),
            file=sys.stderr,
        )


def refresh_tree(
    out: str,
    private: str | None = None,
    *,
    catalog_url: str = DEFAULT_CATALOG_URL,
    pdc_url: str | None = DEFAULT_PDC_URL,
    state_path: str | None = None,
    performance_year: int | None = None,
    force: bool = False,
    hash_check: bool = True,
    allow_hosts: tuple[str, ...] = (),
    allow_loopback_http: bool = False,
    quiet: bool = False,
) -> RefreshReport:
    """Check CMS and publish what is new or corrected into the tree at ``out`` (private data at ``private``,
    by default beside it), under the private directory's run lock."""
    from ..adapters.http import HttpClient, SizeLimits, UrlPolicy
    from ..adapters.local_state import LocalStateStore
    from .refresh import Refresher

    public, private_store = stores(out, private)
    if state_path is None and not isinstance(private_store, LocalDirStore):
        raise ConfigurationError(
            "with an S3 --private, give --state PATH (or use the Lambdas, which keep state in DynamoDB)"
        )
    state_path = state_path or os.path.join(private_store.describe(), "state.json")
    if os.path.exists(state_path) and not os.path.isfile(state_path):
        raise ConfigurationError(f"--state {state_path!r} is not a regular file")
    progress = NO_PROGRESS if quiet else for_cli()
    work_dir = (
        private_store.describe()
        if isinstance(private_store, LocalDirStore) and os.path.isdir(private_store.describe())
        else None
    )
    network = NetworkSettings.from_env()  # the MIPS_* variables, parsed before anything is fetched
    urls = UrlPolicy.allowing(
        network.extra_hosts + tuple(allow_hosts), loopback_http=network.allow_loopback_http or allow_loopback_http
    )
    http = HttpClient(progress=progress, urls=urls, limits=SizeLimits().overridden(network.limits))
    refresher = Refresher(
        http,
        Publisher(public, private_store, progress=progress),
        LocalStateStore(state_path),
        raw=private_store,  # one machine: the raw file is archived beside the private state
        hash_check=hash_check,
        work_dir=work_dir,
    )
    with run_lock(private_store):
        return refresher.run(catalog_url, pdc_url, performance_year=performance_year, force=force)
