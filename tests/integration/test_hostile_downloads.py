"""The downloader (checker Lambda and `refresh`) under hostile input on loopback: SSRF, unbounded reads,
garbage from the server. Each class is refused as a named DownloadError, in bounded time, for several
variants; through `refresh` and the checker, one year's failure never stops the others or holds the lock."""

from __future__ import annotations

import time

import pytest
from hostile_http import HostileServer

from mips_profiles.adapters.http import HttpClient, RetryPolicy, SizeLimits, UrlPolicy
from mips_profiles.errors import DownloadError

FAST = RetryPolicy(attempts=2, base_delay=0, timeout=2)


def client(*, loopback: bool = True, limits: SizeLimits | None = None) -> HttpClient:
    return HttpClient(
        FAST, sleep=lambda s: None, urls=UrlPolicy(allow_loopback_http=loopback), limits=limits or SizeLimits()
    )


@pytest.fixture
def hostile():
    with HostileServer() as server:
        yield server


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://data.cms.gov/file.csv",
        "data:text/csv,npi%0A1",
        "gopher://data.cms.gov/",
        "http://169.254.169.254/latest/meta-data/iam/",
        "https://169.254.169.254/latest/meta-data/",
        "https://evil.example.org/puf.csv",
        "https://data.cms.gov.evil.example.org/x.csv",
        "https://user:secret@data.cms.gov/x.csv",
        "//data.cms.gov/x.csv",
        "data.cms.gov/x.csv",
        "http://[::ffff:169.254.169.254]/",
        "https://data.cms.gov:99999/x",
    ],
)
def test_a_url_outside_the_policy_is_refused_before_any_request(url, tmp_path):
    with pytest.raises(DownloadError, match="refused URL"):
        client(loopback=False).download(url, tmp_path)


def test_loopback_http_needs_the_explicit_opt_in(hostile, tmp_path):
    with pytest.raises(DownloadError, match="refused URL"):
        client(loopback=False).download(f"{hostile.base}/ok.csv", tmp_path)
    assert client(loopback=True).download(f"{hostile.base}/ok.csv", tmp_path).size > 0


def test_cms_http_urls_are_upgraded_not_refused():
    assert (
        UrlPolicy().check("http://data.cms.gov/sites/default/files/x.csv")
        == "https://data.cms.gov/sites/default/files/x.csv"
    )


@pytest.mark.parametrize(
    "target",
    [
        "file:///etc/passwd",
        "http://169.254.169.254/latest/meta-data/",
        "https://evil.example.org/x.csv",
        "ftp://data.cms.gov/x",
        "https://user:pw@data.cms.gov/x",
    ],
)
def test_every_redirect_hop_passes_the_same_policy(hostile, target, tmp_path):
    with pytest.raises(DownloadError, match="refused URL"):
        client().download(f"{hostile.base}/redirect?to={target}", tmp_path)
    assert list(tmp_path.iterdir()) == []  # no partial file left


def test_a_redirect_within_the_policy_is_followed(hostile, tmp_path):
    assert client().download(f"{hostile.base}/redirect?to={hostile.base}/ok.csv", tmp_path).size > 0


def test_an_absurd_content_length_is_refused_before_reading(hostile, tmp_path):
    started = time.monotonic()
    with pytest.raises(DownloadError, match="Content-Length 1,000,000,000,000 bytes is over"):
        client().download(f"{hostile.base}/huge-length", tmp_path)
    assert time.monotonic() - started < 5


def test_an_endless_body_stops_at_the_size_limit(hostile, tmp_path):
    with pytest.raises(DownloadError, match="body over the 200,000-byte limit"):
        client(limits=SizeLimits(file_bytes=200_000)).download(f"{hostile.base}/endless", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_drip_feed_stops_at_the_deadline(hostile, tmp_path):
    started = time.monotonic()
    with pytest.raises(DownloadError, match=r"not complete after 1 s"):
        client(limits=SizeLimits(file_seconds=1)).download(f"{hostile.base}/drip", tmp_path)
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    ("path", "limits", "match"),
    [
        ("/big-json", SizeLimits(catalog_bytes=1000), "over the 1,000-byte limit"),
        ("/endless", SizeLimits(catalog_bytes=50_000), "body over the 50,000-byte limit"),
    ],
)
def test_a_catalog_is_read_within_its_limit(hostile, path, limits, match):
    with pytest.raises(DownloadError, match=match):
        client(limits=limits).get_json(f"{hostile.base}{path}")


def test_a_metastore_item_has_its_own_smaller_limit(hostile):
    with pytest.raises(DownloadError, match="over the 1,000-byte limit"):
        client(limits=SizeLimits(item_bytes=1000)).get_item(f"{hostile.base}/big-json")


@pytest.mark.parametrize("path", ["/garbage"])
def test_garbage_from_the_server_is_a_download_error(hostile, path, tmp_path):  # BadStatusLine
    with pytest.raises(DownloadError, match=r"connection failed .*BadStatusLine"):
        client().download(f"{hostile.base}{path}", tmp_path)
    with pytest.raises(DownloadError, match="connection failed"):
        client().get_json(f"{hostile.base}{path}")


def test_one_hostile_year_fails_alone_in_refresh(tmp_path, hostile):
    """Through `refresh`: PY2023's file URL is garbage, PY2024's redirects to the metadata address; PY2022's
    is good. Each bad year is a named failure and the good one publishes."""
    from mips_profiles.adapters.local_state import LocalStateStore
    from mips_profiles.adapters.local_store import LocalDirStore
    from mips_profiles.orchestration.refresh import Refresher
    from mips_profiles.publishing.publish import Publisher
    from mips_profiles.sandbox.cms_standin import CmsStandIn
    from mips_profiles.sandbox.generator import generate_table, write_csv

    with CmsStandIn() as cms:
        for year in (2022, 2023, 2024):
            write_csv(generate_table(year, 100), tmp_path / f"{year}.csv")
            cms.publish_qpp(year, (tmp_path / f"{year}.csv").read_bytes(), "2025-07-01")
        cms.override_download_url(2023, f"{hostile.base}/garbage")
        cms.override_download_url(2024, f"{hostile.base}/redirect?to=http://169.254.169.254/latest/meta-data/")
        publisher = Publisher(LocalDirStore(tmp_path / "t"), LocalDirStore(tmp_path / "p"))
        report = Refresher(
            client(), publisher, LocalStateStore(tmp_path / "s.json"), raw=LocalDirStore(tmp_path / "p")
        ).run(cms.catalog_url, None)
    outcomes = {o.performance_year: o for o in report.outcomes}
    assert outcomes[2022].decision == "new"
    assert outcomes[2023].decision == "failed" and "BadStatusLine" in outcomes[2023].error
    assert outcomes[2024].decision == "failed" and "refused URL" in outcomes[2024].error
    assert (tmp_path / "t" / "v1" / "manifest.json").exists()


def test_an_unexpected_error_in_one_year_is_that_years_named_failure(tmp_path, hostile):
    from mips_profiles.adapters.local_state import LocalStateStore
    from mips_profiles.adapters.local_store import MemoryStore
    from mips_profiles.orchestration.release_check import CheckRequest, check_for_releases
    from mips_profiles.sandbox.cms_standin import CmsStandIn
    from mips_profiles.sandbox.generator import generate_table, write_csv

    class BrokenRaw(MemoryStore):
        def put_file(self, key, path):
            if "py=2023" in key:
                raise RuntimeError("raw bucket unreachable")
            super().put_file(key, path)

    with CmsStandIn() as cms:
        for year in (2023, 2024):
            write_csv(generate_table(year, 80), tmp_path / f"{year}.csv")
            cms.publish_qpp(year, (tmp_path / f"{year}.csv").read_bytes(), "2025-07-01")
        result = check_for_releases(
            CheckRequest(),
            http=client(),
            state=LocalStateStore(tmp_path / "s.json"),
            raw=BrokenRaw(),
            catalog_url=cms.catalog_url,
            work_dir=str(tmp_path),
        )
        # the other years' plan is answered all the same (the state machine publishes it)
        assert result["years"]["2023"]["decision"] == "failed"
        assert "unexpected RuntimeError: raw bucket unreachable" in result["years"]["2023"]["error"]
        assert result["years"]["2024"]["decision"] == "new"
        assert [item["release"]["performance_year"] for item in result["plan"]] == [2024]
        assert result["checked"] == [2024]
