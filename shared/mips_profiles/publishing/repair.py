"""Repair: make the public tree what the private state says it is, after someone or something
deleted, overwrote or truncated public objects. The public tree is derived data:

- documents and bulk files are rebuilt from the published entries of every year (``entries/py=*/shard=*``),
  byte for byte as publishing made them: repair lists the public tree (one LIST per 1,000 keys, MD5 from the
  ETag; no object is read), re-puts every document that is missing or differs, deletes documents that no entry
  explains, and rebuilds the bulk files that are missing or differ;
- the manifest, the change objects and the aggregates are restored from their private records
  (``records.PublicRecords``, written before each public object), so a lost or damaged manifest comes back with
  every release and the change feed's position, and a tampered one is named and put right;
- the JSON Schema and the not-found body are written again.

What has no record (an aggregate or a change object of a tree published before records were kept) is reported
as not repairable: restore it from the bucket's previous object version, or re-publish the year with ``force``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from ..core.documents import CONTENT_TYPE
from ..keys import (
    BULK_PREFIX,
    CACHE_DOCUMENT,
    CACHE_MANIFEST,
    CHANGES_PREFIX,
    DOCUMENT_PREFIX,
    MANIFEST_KEY,
    npi_key,
)
from ..ports import BlobStore, content_hash
from .bulk import BulkFile
from .ledger import SHARDS
from .manifest import Manifest
from .records import PublicRecords


@dataclass
class RepairReport:
    documents_checked: int = 0
    restored: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    not_repairable: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.restored or self.deleted)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "restored_count": len(self.restored), "deleted_count": len(self.deleted)}


DOCUMENT_KEY = re.compile(re.escape(DOCUMENT_PREFIX) + r"[12][0-9]{9}\.json")


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


class PublishedState(Protocol):
    """What repair rebuilds from: the private state, through the publisher that wrote it."""

    def private_years(self) -> set[int]: ...
    def shard_documents(self, shard: int, years: list[int]) -> Iterator[tuple[str, bytes]]: ...
    def write_fixed_objects(self) -> list[str]: ...
    def bulk_files(self, year: int) -> list[BulkFile]: ...
    def write_bulk_file(self, file: BulkFile) -> None: ...
    def recorded_stats(self, years: list[int]) -> dict[str, str]: ...


class Repairer:
    """Built by ``Publisher.repairer()`` with the publisher's own public store and manifest."""

    def __init__(
        self, public: BlobStore, manifest: Manifest, published: PublishedState, records: PublicRecords
    ) -> None:
        self.public = public
        self.manifest = manifest
        self.published = published
        self.records = records

    def repair(self) -> RepairReport:
        public, publisher, report = self.public, self.published, RepairReport()
        manifest = self.manifest.read()
        if not manifest:
            report.not_repairable.append(MANIFEST_KEY)
        self._restore_recorded([MANIFEST_KEY], report)
        years = sorted({int(r["performance_year"]) for r in manifest.get("releases", [])} | publisher.private_years())
        listing = public.md5_listing(DOCUMENT_PREFIX)
        expected: set[str] = set()

        def to_restore() -> Iterator[tuple[str, bytes]]:
            for shard in range(SHARDS):
                for npi, data in publisher.shard_documents(shard, years):
                    key = npi_key(npi)
                    expected.add(key)
                    report.documents_checked += 1
                    if listing.get(key) != _md5(data):
                        report.restored.append(key)
                        yield key, data

        public.write_many(to_restore(), content_type=CONTENT_TYPE, cache_control=CACHE_DOCUMENT)
        # only what repair would itself write: a document file of a well-formed NPI key, directly under v1/npi/
        stray = sorted(k for k in set(listing) - expected if DOCUMENT_KEY.fullmatch(k))
        public.delete_many(stray)
        report.deleted.extend(stray)
        report.restored.extend(publisher.write_fixed_objects())
        # the bulk files are rebuilt from the same private entries, byte for byte (deterministic gzip)
        bulk_listing = public.md5_listing(BULK_PREFIX)
        for year in sorted({int(r["performance_year"]) for r in manifest.get("releases", []) if "bulk" in r}):
            for file in publisher.bulk_files(year):
                if bulk_listing.get(file.key) != _md5(file.data):
                    publisher.write_bulk_file(file)
                    report.restored.append(file.key)
        # a change object records one publish: restored from its private record, never made anew
        recorded_changes = self.records.keys(CHANGES_PREFIX)
        self._restore_recorded(recorded_changes, report)
        changes = public.md5_listing(CHANGES_PREFIX)
        for change in (manifest.get("changes") or {}).get("recent", []):
            if change["key"] not in changes and change["key"] not in recorded_changes:
                report.not_repairable.append(change["key"])
        for key, digest in sorted(publisher.recorded_stats(years).items()):
            stored = public.read(key)
            if stored is not None and content_hash(stored).hex() == digest:
                continue
            record = self.records.recorded(key)
            if record is not None and content_hash(record).hex() == digest:
                self._put(key, record)
                report.restored.append(key)
            else:
                report.not_repairable.append(key)
        return report

    def _restore_recorded(self, keys: list[str], report: RepairReport) -> None:
        """Put back each recorded object whose public copy is missing or differs (one LIST per prefix)."""
        listings: dict[str, dict[str, str | None]] = {}
        for key in keys:
            prefix = key.rsplit("/", 1)[0] + "/"
            listing = listings.setdefault(prefix, self.public.md5_listing(prefix))
            record = self.records.recorded(key)
            if record is not None and listing.get(key) != _md5(record):
                self._put(key, record)
                report.restored.append(key)

    def _put(self, key: str, data: bytes) -> None:
        cache = CACHE_MANIFEST if key == MANIFEST_KEY else CACHE_DOCUMENT
        self.public.write(key, data, content_type=CONTENT_TYPE, cache_control=cache)
