"""Publish one CMS release (one performance year) into the public tree, incrementally and safely.

Order of work, chosen so that a crash at any point leaves a tree a reader can trust and a rerun
converges to the same bytes:

1. read and validate the whole file: any file-level problem raises before anything is written;
2. write the audit Parquet and quarantine report under release-specific private keys;
3. rebuild the documents of the NPIs this year touches (old and new), write only those whose bytes
   changed (by content hash, without reading objects back), delete documents left with no year;
4. record the year's entries and the content-hash index in the private store;
5. write ``v1/manifest.json`` last.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from .contract import Contract, load_contract
from .documents import (
    CONTENT_TYPE,
    DISCLAIMER,
    ENTRY_SCHEMA,
    MANIFEST_KEY,
    SCHEMA_KEY,
    SCHEMA_VERSION,
    DocumentBuilder,
    concat_entries,
    dumps,
    npi_key,
    year_entries,
)
from .methodology import Methodology, load_methodology
from .reader import LINE_COLUMN, read_source
from .store import CACHE_DOCUMENT, CACHE_MANIFEST, BlobStore
from .validate import Validated, validate

INDEX_KEY = "index/documents.parquet"
INDEX_SCHEMA = pa.schema([("npi", pa.string()), ("hash", pa.binary(16))])


def entries_key(year: int) -> str:
    return f"entries/py={year}.parquet"


def audit_key(year: int, release_id: str) -> str:
    return f"audit/py={year}/release={release_id}/audit.parquet"


def quarantine_key(year: int, release_id: str) -> str:
    return f"quarantine/py={year}/release={release_id}/rejected.csv"


def content_hash(data: bytes) -> bytes:
    """Change detector for published bytes (not a security boundary): BLAKE2b-128."""
    return hashlib.blake2b(data, digest_size=16).digest()


def utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def iso(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class ReleaseInfo:
    """What is known about where a file came from (the checker fills in the CMS side)."""

    performance_year: int
    source_url: str | None = None
    cms_modified: str | None = None
    api_uuid: str | None = None


@dataclass
class PublishResult:
    performance_year: int
    release_id: str
    source_sha256: str
    rows_read: int
    rows_rejected: int
    npis: int
    docs_written: int
    docs_unchanged: int
    docs_deleted: int
    audit_key: str
    quarantine_key: str | None
    unknown_columns: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {
            "rows_read": self.rows_read,
            "rows_rejected": self.rows_rejected,
            "docs_written": self.docs_written,
            "docs_unchanged": self.docs_unchanged,
            "docs_deleted": self.docs_deleted,
        }


class Publisher:
    def __init__(
        self,
        public: BlobStore,
        private: BlobStore,
        *,
        contract: Contract | None = None,
        methodology: Methodology | None = None,
        clock: Callable[[], datetime] = utc_now,
        max_rejected_share: float = 0.01,
    ) -> None:
        self.public = public
        self.private = private
        self.contract = contract or load_contract()
        self.methodology = methodology or load_methodology()
        self.builder = DocumentBuilder(self.contract, self.methodology)
        self.clock = clock
        self.max_rejected_share = max_rejected_share

    # -- entry point ---------------------------------------------------------------------------
    def publish_file(
        self, path: str | os.PathLike[str], release: ReleaseInfo, *, sha256: str | None = None
    ) -> PublishResult:
        year = release.performance_year
        self.methodology.parameters(year)  # unsupported year: fail before reading
        source = read_source(path, year, self.contract, sha256=sha256)
        validated = validate(source, self.methodology, max_rejected_share=self.max_rejected_share)
        return self.publish_validated(validated, release)

    def publish_validated(self, validated: Validated, release: ReleaseInfo) -> PublishResult:
        year = release.performance_year
        source = validated.source
        release_id = f"{year}-{source.sha256[:16]}"
        now = self.clock()

        # 2. audit and quarantine (release-specific keys: harmless if we stop here)
        a_key = audit_key(year, release_id)
        self.private.write(a_key, self._audit_bytes(validated, release_id))
        q_key = None
        if validated.rows_rejected:
            q_key = quarantine_key(year, release_id)
            self.private.write(q_key, _csv_bytes(validated.rejected))

        # 3. documents
        new_entries = year_entries(validated.records, year)
        manifest = self.read_manifest()
        years = sorted({int(r["performance_year"]) for r in manifest.get("releases", [])} | {year})
        old_entries = self._read_entries(year)
        affected = pa.concat_arrays(
            [old_entries.column("npi").combine_chunks(), new_entries.column("npi").combine_chunks()]
        ).unique()
        others = [self._read_entries(y, only=affected) for y in years if y != year]
        combined = concat_entries([new_entries, *others])
        index = self._read_index()
        stats = {"written": 0, "unchanged": 0}

        def changed_documents() -> Iterator[tuple[str, bytes]]:
            for npi, data in self.builder.documents(combined):
                digest = content_hash(data)
                if index.get(npi) == digest:
                    stats["unchanged"] += 1
                    continue
                index[npi] = digest
                stats["written"] += 1
                yield npi_key(npi), data

        self.public.write_many(changed_documents(), content_type=CONTENT_TYPE, cache_control=CACHE_DOCUMENT)
        still_published = set(combined.column("npi").to_pylist())
        vanished = [npi for npi in affected.to_pylist() if npi not in still_published and npi in index]
        deleted = self.public.delete_many(npi_key(npi) for npi in vanished)
        for npi in vanished:
            del index[npi]
        schema_bytes = dumps(self.builder.json_schema())
        if self.public.read(SCHEMA_KEY) != schema_bytes:
            self.public.write(SCHEMA_KEY, schema_bytes, content_type=CONTENT_TYPE, cache_control=CACHE_MANIFEST)

        # 4. private state that the next publish starts from
        self.private.write(entries_key(year), _parquet_bytes(new_entries))
        self.private.write(INDEX_KEY, _parquet_bytes(_index_table(index)))

        result = PublishResult(
            performance_year=year,
            release_id=release_id,
            source_sha256=source.sha256,
            rows_read=validated.rows_read,
            rows_rejected=validated.rows_rejected,
            npis=new_entries.num_rows,
            docs_written=stats["written"],
            docs_unchanged=stats["unchanged"],
            docs_deleted=deleted,
            audit_key=a_key,
            quarantine_key=q_key,
            unknown_columns=source.unknown_columns,
        )
        # 5. manifest last
        self._write_manifest(manifest, release, result, source.layout.name, len(index), now)
        return result

    # -- manifest -------------------------------------------------------------------------------
    def read_manifest(self) -> dict[str, Any]:
        data = self.public.read(MANIFEST_KEY)
        return orjson.loads(data) if data else {}

    def _write_manifest(
        self,
        manifest: dict[str, Any],
        release: ReleaseInfo,
        result: PublishResult,
        layout: str,
        documents: int,
        now: datetime,
    ) -> None:
        year = release.performance_year
        releases = {int(r["performance_year"]): r for r in manifest.get("releases", [])}
        previous = releases.get(year, {})
        same_release = previous.get("release_id") == result.release_id
        releases[year] = {
            "performance_year": year,
            "payment_year": self.methodology.payment_year(year),
            "release_id": result.release_id,
            "cms_modified": release.cms_modified,
            "source_url": release.source_url,
            "api_uuid": release.api_uuid,
            "source_sha256": result.source_sha256,
            "layout": layout,
            "retrieved_at": previous.get("retrieved_at") if same_release else iso(now),
            "published_at": previous.get("published_at") if same_release else iso(now),
            "last_checked": iso(now),
            "rows_read": result.rows_read,
            "rows_rejected": result.rows_rejected,
            "rows_accepted": result.rows_read - result.rows_rejected,
            "npis": result.npis,
            "attribution": f"Source: CMS QPP MIPS · Performance Year {year}",
        }
        self.write_manifest(releases.values(), documents, now)

    def write_manifest(self, releases: Any, documents: int, now: datetime,
                       keep_dates: dict[str, Any] | None = None) -> None:
        body = {
            "schema_version": SCHEMA_VERSION,
            "methodology_version": self.methodology.version,
            "contract_version": self.contract.version,
            "generated_at": iso(now),
            "last_checked": keep_dates.get("last_checked", iso(now)) if keep_dates else iso(now),
            "source": {"name": "CMS QPP MIPS", "dataset": "Quality Payment Program Experience",
                       "publisher": "Centers for Medicare & Medicaid Services"},
            "disclaimer": DISCLAIMER,
            "documents": {"key_pattern": "v1/npi/{npi}.json", "schema": SCHEMA_KEY, "count": documents},
            "releases": sorted(releases, key=lambda r: -int(r["performance_year"])),
        }
        self.public.write(MANIFEST_KEY, orjson.dumps(body, option=orjson.OPT_INDENT_2),
                          content_type=CONTENT_TYPE, cache_control=CACHE_MANIFEST)

    def touch_last_checked(self, years: set[int], now: datetime | None = None) -> None:
        """Record that CMS was checked: only the manifest's last-checked dates change."""
        manifest = self.read_manifest()
        if not manifest or not years:
            return
        now = now or self.clock()
        for release in manifest.get("releases", []):
            if int(release["performance_year"]) in years:
                release["last_checked"] = iso(now)
        self.write_manifest(manifest["releases"], manifest["documents"]["count"], now)

    def annotate_release(self, year: int, key: str, value: Any) -> bool:
        """Attach ``value`` under ``key`` to the manifest entry of ``year`` (False if not published)."""
        manifest = self.read_manifest()
        releases = manifest.get("releases", [])
        hit = [r for r in releases if int(r["performance_year"]) == year]
        if not hit:
            return False
        hit[0][key] = value
        self.write_manifest(releases, manifest["documents"]["count"], self.clock(), keep_dates=manifest)
        return True

    # -- private state ----------------------------------------------------------------------------
    def read_entries(self, year: int) -> pa.Table:
        return self._read_entries(year)

    def _read_entries(self, year: int, only: pa.Array | None = None) -> pa.Table:
        data = self.private.read(entries_key(year))
        if data is None:
            return ENTRY_SCHEMA.empty_table()
        table = pq.read_table(pa.BufferReader(data)).cast(ENTRY_SCHEMA)
        if only is not None:
            table = table.filter(pc.is_in(table.column("npi"), value_set=only))
        return table

    def _read_index(self) -> dict[str, bytes]:
        data = self.private.read(INDEX_KEY)
        if data is None:
            return {}
        table = pq.read_table(pa.BufferReader(data))
        return dict(zip(table.column("npi").to_pylist(), table.column("hash").to_pylist(), strict=True))

    def _audit_bytes(self, validated: Validated, release_id: str) -> bytes:
        table = validated.accepted_text
        n = table.num_rows
        source = validated.source
        table = table.rename_columns(["source_line" if c == LINE_COLUMN else c for c in table.column_names])
        table = table.append_column("performance_year", pa.array([source.performance_year] * n, pa.int32()))
        table = table.append_column("release_id", pa.array([release_id] * n, pa.string()).dictionary_encode())
        table = table.append_column("source_sha256", pa.array([source.sha256] * n, pa.string()).dictionary_encode())
        return _parquet_bytes(table)


def _index_table(index: dict[str, bytes]) -> pa.Table:
    keys = sorted(index)
    return pa.table({"npi": pa.array(keys, pa.string()), "hash": pa.array([index[k] for k in keys], pa.binary(16))},
                    schema=INDEX_SCHEMA)


def _parquet_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue().to_pybytes()


def _csv_bytes(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pacsv.write_csv(table, buf)
    return buf.getvalue()


def result_dict(result: PublishResult) -> dict[str, Any]:
    return asdict(result)
