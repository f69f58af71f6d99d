"""Every object key, public and private, and the release id: the storage layout is the real API.

Public keys (``v1/``) are what consumers and the CDN see; their shape is promised in docs/public-api.md and
``openapi.yaml``. Private keys (the audit bucket, or ``--private DIR``) are the publisher's ledger: a
deployed stack's data outlives any one version of the code, so a change here is a migration. Nothing else
in the package builds a key (``tests/unit/test_keys.py`` holds every module to that). Light on purpose: the
checker Lambda imports it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

# -- public: v1/ -----------------------------------------------------------------------------------

PUBLIC_ROOT = "v1/"
DOCUMENT_PREFIX = "v1/npi/"
NPI_KEY_PATTERN = "v1/npi/{npi}.json"
MANIFEST_KEY = "v1/manifest.json"
SCHEMA_PREFIX = "v1/schema/"
SCHEMA_KEY = "v1/schema/profile.schema.json"
NOT_FOUND_KEY = "v1/not-found.json"
STATS_ROOT = "v1/stats"
BULK_PREFIX = "v1/bulk/"
CHANGES_PREFIX = "v1/changes/"
CHANGE_KEY_PATTERN = CHANGES_PREFIX + "{sequence:08d}.json"
"""As the manifest gives it to consumers (``str.format`` with the sequence number)."""


def npi_key(npi: str) -> str:
    """The one key function of documents: a validated NPI -> its object key. Anything else is refused.

    >>> npi_key("1376745471")
    'v1/npi/1376745471.json'
    """
    return npi_keys([npi])[0]


def npi_keys(npis: Sequence[str]) -> list[str]:
    """:func:`npi_key` of every NPI, checked in one vectorised pass (a shard's documents at once).

    >>> npi_keys(["1376745471", "1234567893"])
    ['v1/npi/1376745471.json', 'v1/npi/1234567893.json']
    """
    valid = _npi_check()(npis)
    if not valid.all():
        raise ValueError(f"not a valid NPI: {npis[int(valid.argmin())]!r}")
    return [NPI_KEY_PATTERN.format(npi=npi) for npi in npis]


@functools.cache
def _npi_check() -> Callable[[Sequence[str]], Any]:
    """The NPI rule, imported on first use (the checker Lambda never builds a document key)."""
    from .npi import valid_npis

    return valid_npis


def national_key(year: int) -> str:
    return f"{STATS_ROOT}/{year}/national.json"


def specialty_key(year: int, slug: str) -> str:
    return f"{STATS_ROOT}/{year}/specialty/{slug}.json"


def state_key(year: int, state: str) -> str:
    return f"{STATS_ROOT}/{year}/state/{state}.json"


def bulk_key(year: int, fmt: str) -> str:
    """The key of a year's bulk file in one format (``ndjson`` or ``csv``).

    >>> bulk_key(2024, "ndjson")
    'v1/bulk/2024/scores.ndjson'
    """
    if fmt not in ("ndjson", "csv"):
        raise ValueError(f"unknown bulk format {fmt!r}")
    return f"{BULK_PREFIX}{year}/scores.{fmt}"


def bulk_prefix(year: int) -> str:
    return f"{BULK_PREFIX}{year}/"


def change_key(sequence: int) -> str:
    """The key of a change object: zero-padded, so the keys sort in publish order.

    >>> change_key(7)
    'v1/changes/00000007.json'
    """
    return CHANGE_KEY_PATTERN.format(sequence=sequence)


# -- the cache rule --------------------------------------------------------------------------------
# One deliberate caching rule, held equal to the CloudFront cache policies of template.yaml, to `serve` and
# to docs/public-api.md by tests/docs/test_caching.py. Documents and aggregates change only when a publish
# changes them, and every publish ends with one invalidation of /v1/*: so the edge keeps them a day (s-maxage), while a
# browser re-asks after 5 minutes (max-age) and so sees a correction soon after the edge does. The
# manifest (with "last checked") and the schema are short-lived everywhere.

CACHE_DOCUMENT = "public, max-age=300, s-maxage=86400"
CACHE_MANIFEST = "public, max-age=60"
SHORT_LIVED = (MANIFEST_KEY, SCHEMA_PREFIX, NOT_FOUND_KEY)


def cache_control_for(key: str) -> str:
    """The one rule for public objects: the manifest and the schema are short-lived, the rest is not."""
    return CACHE_MANIFEST if key.startswith(SHORT_LIVED) else CACHE_DOCUMENT


# -- the release id --------------------------------------------------------------------------------


def release_id(year: int, sha256: str) -> str:
    """A release: the year and the first 16 hex digits of the file's SHA-256.

    >>> release_id(2024, "a46d995ef8363944cb60f72cded888fa94dfd2e92387a88c411d4e7097c128b4")
    '2024-a46d995ef8363944'
    """
    return f"{year}-{sha256[:16]}"


# -- private: the publisher's ledger ---------------------------------------------------------------

FINGERPRINT_KEY = "index/builder-fingerprint"
SELFTEST_PREFIX = "runs/selftest"


ENTRIES_ROOT = "entries/"
SELFTEST_RAW_KEY = "raw/selftest-missing"
"""A raw key that never exists: the self-test's GET under ``raw/`` (404 with the grant, AccessDenied without)."""


def entries_prefix(year: int) -> str:
    return f"{ENTRIES_ROOT}py={year}/"


def entries_key(year: int, shard: int) -> str:
    return f"{entries_prefix(year)}shard={shard:02d}.parquet"


def index_key(shard: int) -> str:
    return f"index/shard={shard:02d}.parquet"


def staged_key(run_id: str, shard: int) -> str:
    return f"runs/{run_id}/entries/shard={shard:02d}.parquet"


def parent_prefix(key: str) -> str:
    """The folder a key is in (``audit/py=2024/release=x/``), for a listing of it."""
    return key.rpartition("/")[0] + "/"


def run_prefix(run_id: str) -> str:
    """Every private object of one staged run."""
    return f"runs/{run_id}/"


def run_key(run_id: str) -> str:
    return f"runs/{run_id}/run.json"


def current_run_key(year: int) -> str:
    """The run staged last for a year: the only one whose partitions and finalize may still act."""
    return f"runs/current/py={year}.json"


def result_key(run_id: str, group: int) -> str:
    return f"runs/{run_id}/results/group={group:03d}.json"


def changes_stage_prefix(run_id: str) -> str:
    return f"runs/{run_id}/changes/"


def changes_stage_key(run_id: str, shard: int) -> str:
    """The NPIs whose document one shard of a run added, changed or removed (for the change feed)."""
    return f"{changes_stage_prefix(run_id)}shard={shard:02d}.json"


def change_sequence_key(run_id: str) -> str:
    """The change-feed sequence number a run took: a retried finalize reuses it, never takes a second."""
    return f"runs/{run_id}/change-sequence.json"


def unpublished_key(year: int) -> str:
    """The runs of a year whose changes no listed change object carries yet (``Ledger.unpublished_runs``)."""
    return f"index/unpublished/py={year}.json"


def stats_stage_key(run_id: str) -> str:
    return f"runs/{run_id}/stats.json"


def breakdowns_stage_key(run_id: str) -> str:
    """The scored clinicians of a staged run whose specialty and state aggregates are renewed."""
    return f"runs/{run_id}/breakdowns.parquet"


def mart_stage_key(run_id: str) -> str:
    """The typed rows of a staged run, promoted into the mart by its finalize."""
    return f"runs/{run_id}/mart/clinician_scores.parquet"


MART_ROOT = "mart/"
MART_DATASETS = ("clinician_scores", "profile_headlines", "pdc_scores")


def mart_key(dataset: str, year: int) -> str:
    """One file per dataset and year, Hive-partitioned (``performance_year=YYYY``), replaced whole."""
    if dataset not in MART_DATASETS:
        raise ValueError(f"no mart dataset {dataset!r}")
    return f"{MART_ROOT}{dataset}/performance_year={year}/part-0.parquet"


def stats_record_key(year: int) -> str:
    return f"index/stats/py={year}.json"


def breakdowns_basis_key(year: int) -> str:
    """The scored clinicians the year's published specialty and state aggregates were computed from (``stats``'s
    ``breakdowns_for``), with that release's id."""
    return f"index/stats/py={year}.breakdowns.parquet"


PUBLIC_RECORD_PREFIX = "index/public/"
"""The private record of every public object no private entry can rebuild (the manifest, the change objects,
the aggregates), byte for byte: written before its public object, so the public tree is derived data."""


def public_record_key(key: str) -> str:
    """
    >>> public_record_key("v1/manifest.json")
    'index/public/v1/manifest.json'
    """
    return PUBLIC_RECORD_PREFIX + key


def bulk_part_key(year: int, shard: int) -> str:
    """One storage shard's compressed lines of a year's bulk files (both formats) and its headline rows."""
    return f"index/bulk/py={year}/shard={shard:02d}.part"


def bulk_summary_key(year: int) -> str:
    """What the year's bulk files were last assembled from, with each file's CRC-32, size and SHA-256."""
    return f"index/bulk/py={year}/summary.json"


def audit_key(year: int, release: str) -> str:
    return f"audit/py={year}/release={release}/audit.parquet"


def quarantine_key(year: int, release: str) -> str:
    return f"quarantine/py={year}/release={release}/rejected.csv"


def raw_key(source: str, year: int, sha256: str) -> str:
    """A downloaded CMS file, by content (``source``: ``qpp`` or ``pdc``)."""
    return f"raw/{source}/py={year}/{sha256}.csv"


def check_record_key(source: str, year: int, sha256: str) -> str:
    """What the Check step saw of a downloaded file (its catalog entry and HTTP validators), beside it: Finalize
    takes the state record's fields from here, never from its event."""
    return f"raw/{source}/py={year}/{sha256}.check.json"


def pdc_file_key(year: int, release: str) -> str:
    return f"pdc/py={year}/release={release}/ec_score_file.parquet"


def pdc_scores_key(year: int) -> str:
    return f"pdc/py={year}/scores.parquet"


def reconciliation_key(year: int) -> str:
    return f"reconciliation/py={year}/mismatches.csv"


def check_key(key: str) -> str:
    """A store key is relative and plain: no empty, ``.`` or ``..`` segment, no leading slash."""
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in key.split("/")):
        raise ValueError(f"unsafe key: {key!r}")
    return key


def release_record_key(source: str, year: int) -> str:
    return f"{source}/{year}"


# -- items of the DynamoDB state table (partition key ``pk``) -------------------------------------------------
RUN_LOCK_ITEM = "lock#refresh"  # statemachine/refresh.asl.json names it too (a test holds them equal)
LAST_FAILURE_ITEM = "run#last-failure"  # written by the state machine's catch-all
RELEASE_ITEM_PREFIX = "release#"


def release_item_key(source: str, year: int) -> str:
    return f"{RELEASE_ITEM_PREFIX}{source}#{year}"
