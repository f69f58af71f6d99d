"""The checker's decision table, on its own: for each catalog entry and state record, what is decided, why,
and whether anything is downloaded and kept. Real HTTP to the CMS stand-in on loopback, so the conditional
GET (ETag / Last-Modified -> 304) and the content hash are the downloader's own."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from mips_profiles.adapters.http import HttpClient, UrlPolicy
from mips_profiles.core.catalog import Release, qpp_releases
from mips_profiles.orchestration.checker import (
    PUBLISHABLE,
    CheckResult,
    check_release,
    checked_record,
    decide,
    discard,
    published_record,
)
from mips_profiles.sandbox.cms_standin import CmsStandIn

BODY = b"NPI,Final Score\n1376745471,88.5\n"
RELEASE = Release(
    source="qpp",
    performance_year=2024,
    modified="2025-07-01",
    download_url="https://data.cms.gov/sites/default/files/2025-07/x/puf.csv",
)
RECORD = {"modified": "2025-07-01", "download_url": RELEASE.download_url, "sha256": "ab" * 32}


@pytest.mark.parametrize(
    "record, decision, reason",
    [
        (None, "new", "not published before"),
        (RECORD, "unchanged", "catalog entry unchanged"),
        ({**RECORD, "modified": "2025-06-01"}, "corrected", "CMS modified date 2025-06-01 -> 2025-07-01"),
        ({**RECORD, "modified": None}, "corrected", "CMS modified date None -> 2025-07-01"),
        ({**RECORD, "download_url": RELEASE.download_url.replace("x/", "y/")}, "corrected", "download URL changed"),
        # CMS catalogs list http:// URLs its hosts serve as https://: the same file
        (
            {**RECORD, "download_url": RELEASE.download_url.replace("https://", "http://")},
            "unchanged",
            "catalog entry unchanged",
        ),
    ],
)
def test_the_decision_from_the_catalog_entry_and_the_record(record, decision, reason):
    assert decide(RELEASE, record) == (decision, reason)


def test_only_new_corrected_and_forced_are_published():
    assert {"new", "corrected", "forced"} == PUBLISHABLE
    assert not CheckResult(RELEASE, "unchanged", "x").publishable


@pytest.fixture
def cms():
    with CmsStandIn(send_validators=True) as server:
        server.publish_qpp(2024, BODY, "2025-07-01")
        yield server


def release_of(cms: CmsStandIn) -> Release:
    (release,) = qpp_releases(json.loads(cms.catalog()))
    return release


def run(cms, record, tmp_path, **kwargs) -> CheckResult:
    http = HttpClient(urls=UrlPolicy(allow_loopback_http=True), sleep=lambda s: None)
    return check_release(release_of(cms), record, http, str(tmp_path), **kwargs)


def record_of(result: CheckResult) -> dict:
    return published_record(result.release, result.fetched, 1, "2024-x", "2026-01-01T00:00:00Z")


def test_new_downloads_and_keeps_the_file_with_its_hash(cms, tmp_path):
    result = run(cms, None, tmp_path)
    assert (result.decision, result.reason) == ("new", "not published before")
    path, sha256 = result.fetched.file
    assert Path(path).read_bytes() == BODY and sha256 == hashlib.sha256(BODY).hexdigest()


def test_unchanged_with_validators_is_a_304_and_nothing_is_kept(cms, tmp_path):
    first = run(cms, None, tmp_path)
    record = record_of(first)
    discard(first.download)
    assert record["etag"] or record["last_modified"], "the stand-in sends validators in this test"
    result = run(cms, record, tmp_path)
    assert (result.decision, result.reason) == ("unchanged", "not modified (HTTP 304)")
    assert os.listdir(tmp_path) == []


def test_unchanged_without_validators_compares_the_content_hash(cms, tmp_path):
    first = run(cms, None, tmp_path)
    record = {**record_of(first), "etag": None, "last_modified": None}
    discard(first.download)
    result = run(cms, record, tmp_path)
    assert (result.decision, result.reason) == ("unchanged", "content hash unchanged")
    assert os.listdir(tmp_path) == [], "an unchanged file is not kept"


def test_a_file_replaced_in_place_is_a_correction_by_its_hash(cms, tmp_path):
    first = run(cms, None, tmp_path)
    record = {**record_of(first), "etag": None, "last_modified": None}
    discard(first.download)
    cms.correct_qpp_in_place(2024, BODY + b"1003000126,70\n")  # same catalog entry, new bytes
    result = run(cms, record, tmp_path)
    assert (result.decision, result.reason) == ("corrected", "content hash changed")
    assert result.fetched.file[1] != record["sha256"]


def test_without_the_hash_check_an_unchanged_entry_downloads_nothing(cms, tmp_path):
    first = run(cms, None, tmp_path)
    record = record_of(first)
    discard(first.download)
    result = run(cms, record, tmp_path, hash_check=False)
    assert (result.decision, result.download) == ("unchanged", None)


def test_force_downloads_whatever_the_record_says(cms, tmp_path):
    first = run(cms, None, tmp_path)
    record = record_of(first)
    discard(first.download)
    result = run(cms, record, tmp_path, force=True)
    assert (result.decision, result.reason) == ("forced", "manual re-run")
    assert result.fetched.file[1] == record["sha256"]


def test_an_unchanged_check_keeps_the_record_and_refreshes_its_validators(cms, tmp_path):
    first = run(cms, None, tmp_path)
    record = {**record_of(first), "etag": None, "last_modified": None}
    discard(first.download)
    result = run(cms, record, tmp_path)
    updated = checked_record(record, "2026-02-02T00:00:00Z", result.download)
    assert updated["last_checked"] == "2026-02-02T00:00:00Z"
    assert updated["etag"] or updated["last_modified"], "validators the server now offers are kept"
    assert {k: v for k, v in updated.items() if k not in ("last_checked", "etag", "last_modified")} == {
        k: v for k, v in record.items() if k not in ("last_checked", "etag", "last_modified")
    }


def _catalog(*distributions: dict, datasets: int = 1) -> dict:
    dataset = {"title": "Quality Payment Program Experience", "distribution": list(distributions)}
    return {"dataset": [dataset] * datasets}


def _csv(year: int, url: str) -> dict:
    return {"mediaType": "text/csv", "downloadURL": url, "temporal": f"{year}-01-01/{year}-12-31"}


def test_a_year_listed_twice_with_different_files_is_refused_never_the_first_taken():
    """Issue 38: the first distribution of a year won, so an old file listed ahead of the current one would
    roll the year back. Two files for one year is a catalog saying two things: refused by name."""
    import pytest

    from mips_profiles.errors import CatalogError

    old, new = "https://data.cms.gov/2023-old.csv", "https://data.cms.gov/2023-new.csv"
    with pytest.raises(CatalogError, match="two distributions of PY2023 with different downloadURLs"):
        qpp_releases(_catalog(_csv(2023, old), _csv(2023, new)))
    with pytest.raises(CatalogError, match="lists 2 datasets titled"):
        qpp_releases(_catalog(_csv(2023, new), datasets=2))
    (release,) = qpp_releases(_catalog(_csv(2023, new), _csv(2023, new)))  # the same file listed twice: one
    assert release.download_url == new
