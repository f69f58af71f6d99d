"""The release checker against a CMS stand-in over real HTTP on loopback."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mips_profiles import cli
from mips_profiles.adapters.http import HttpClient, RetryPolicy, UrlPolicy
from mips_profiles.adapters.local_state import LocalStateStore
from mips_profiles.adapters.local_store import LocalDirStore
from mips_profiles.core.catalog import qpp_releases
from mips_profiles.errors import CatalogError, InvalidInput
from mips_profiles.orchestration.refresh import Refresher
from mips_profiles.publishing.publish import Publisher
from mips_profiles.sandbox.cms_standin import CmsStandIn
from mips_profiles.sandbox.generator import generate_table, make_correction, make_pdc_table, write_csv

from helpers import archived_by_content, changed_beyond_the_raw_archive, snapshot

ROWS = 400


def csv_bytes(table, tmp_path: Path) -> bytes:
    path = tmp_path / "x.csv"
    write_csv(table, path)
    return path.read_bytes()


@pytest.fixture(scope="module")
def tables():
    return {year: generate_table(year, ROWS) for year in (2022, 2023, 2024)}


class Env:
    def __init__(self, tmp_path: Path, cms: CmsStandIn) -> None:
        self.tmp, self.cms = tmp_path, cms
        self.tree, self.private = tmp_path / "tree", tmp_path / "tree.private"
        self.state_path = self.private / "state.json"
        self.sleeps: list[float] = []
        self.http = HttpClient(
            RetryPolicy(attempts=4, base_delay=0.01, timeout=10),
            sleep=self.sleeps.append,
            urls=UrlPolicy(allow_loopback_http=True),
        )
        self.minutes = 0

    def clock(self):
        self.minutes += 1
        return datetime(2026, 7, 1, tzinfo=UTC) + timedelta(minutes=self.minutes)

    def refresh(self, **kw):
        publisher = Publisher(LocalDirStore(self.tree), LocalDirStore(self.private), clock=self.clock)
        refresher = Refresher(self.http, publisher, LocalStateStore(self.state_path), raw=LocalDirStore(self.private))
        pdc = kw.pop("pdc_url", self.cms.pdc_url if self.cms.state.pdc else None)
        return refresher.run(self.cms.catalog_url, pdc, **kw)

    def snapshot(self):
        return snapshot(self.tree, self.private)

    def docs(self):
        return {p.stem: p.read_bytes() for p in (self.tree / "v1" / "npi").glob("*.json")}


@pytest.fixture
def env(tmp_path):
    with CmsStandIn() as cms:
        yield Env(tmp_path, cms)


def years(report) -> dict[int, str]:
    return {o.performance_year: o.decision for o in report.outcomes if o.source == "qpp"}


def test_first_run_backfills_every_year_in_the_catalog(env, tables, tmp_path):
    for year, modified in [(2022, "2024-08-01"), (2023, "2025-07-21"), (2024, "2025-07-28")]:
        env.cms.publish_qpp(year, csv_bytes(tables[year], tmp_path), modified)
    report = env.refresh()
    assert report.ok and years(report) == {2022: "new", 2023: "new", 2024: "new"}
    manifest = json.loads((env.tree / "v1" / "manifest.json").read_bytes())
    assert [r["performance_year"] for r in manifest["releases"]] == [2024, 2023, 2022]
    assert manifest["releases"][1]["cms_modified"] == "2025-07-21"
    state = LocalStateStore(env.state_path).get("qpp", 2023)
    assert state["modified"] == "2025-07-21" and state["row_count"] == ROWS and len(state["sha256"]) == 64
    assert state["api_uuid"] and state["download_url"].startswith("http://127.0.0.1")
    assert all(r["headers"].get("user-agent", "").startswith("mips-profiles/") for r in env.cms.state.requests)


def test_a_new_performance_year_is_published_and_older_ones_are_left_alone(env, tables, tmp_path):
    env.cms.publish_qpp(2023, csv_bytes(tables[2023], tmp_path), "2025-07-21")
    env.refresh()
    env.cms.publish_qpp(2024, csv_bytes(tables[2024], tmp_path), "2026-07-20")
    report = env.refresh()
    assert years(report) == {2023: "unchanged", 2024: "new"}


def test_a_second_refresh_with_nothing_changed_rewrites_nothing_but_the_check_date(env, tables, tmp_path):
    env.cms.publish_qpp(2024, csv_bytes(tables[2024], tmp_path), "2025-07-28")
    env.refresh()
    before = env.snapshot()
    manifest_before = json.loads((env.tree / "v1" / "manifest.json").read_bytes())
    state_before = LocalStateStore(env.state_path).get("qpp", 2024)
    report = env.refresh()
    assert years(report) == {2024: "unchanged"}
    after = env.snapshot()
    changed = {k for k in after if after[k] != before.get(k)}
    manifest_record = env.private / "index" / "public" / "v1" / "manifest.json"  # its private record, written first
    assert changed == {str(env.tree / "v1" / "manifest.json"), str(manifest_record), str(env.state_path)}
    assert manifest_record.read_bytes() == (env.tree / "v1" / "manifest.json").read_bytes()
    state_after = LocalStateStore(env.state_path).get("qpp", 2024)
    assert state_after.pop("last_checked") > state_before.pop("last_checked")
    assert state_after == state_before
    manifest_after = json.loads((env.tree / "v1" / "manifest.json").read_bytes())
    for m in (manifest_before, manifest_after):
        for r in m["releases"]:
            r.pop("last_checked")
        m.pop("last_checked"), m.pop("generated_at")
    assert manifest_after == manifest_before


@pytest.mark.parametrize("how", ["modified date", "new download path", "hash only"])
def test_a_correction_is_detected_and_rewrites_only_what_changed(how, env, tables, tmp_path):
    env.cms.publish_qpp(2024, csv_bytes(tables[2024], tmp_path), "2025-07-28")
    env.refresh()
    before = env.docs()
    fix = make_correction(tables[2024], changed_share=0.02, removed=1, added=1)
    body = csv_bytes(fix.table, tmp_path)
    if how == "modified date":
        env.cms.correct_qpp_in_place(2024, body, modified="2025-09-15")
    elif how == "new download path":
        env.cms.publish_qpp(2024, body, "2025-07-28")
    else:
        env.cms.correct_qpp_in_place(2024, body)
    outcome = next(o for o in env.refresh().outcomes if o.source == "qpp")
    assert outcome.decision == "corrected"
    expected = {"modified date": "modified", "new download path": "download URL", "hash only": "hash"}[how]
    assert expected in outcome.reason
    after = env.docs()
    rewritten = {npi for npi in after if before.get(npi) != after[npi]}
    assert rewritten == set(fix.changed) | set(fix.added)
    assert set(before) - set(after) == set(fix.removed)


def test_a_forced_rerun_republishes_a_year_the_catalog_shows_unchanged(env, tables, tmp_path):
    env.cms.publish_qpp(2023, csv_bytes(tables[2023], tmp_path), "2025-07-21")
    env.cms.publish_qpp(2024, csv_bytes(tables[2024], tmp_path), "2025-07-28")
    env.refresh()
    requests_before = len(env.cms.state.requests)
    report = env.refresh(performance_year=2024, force=True)
    assert years(report) == {2024: "forced"}
    outcome = report.outcomes[0]
    assert outcome.publish["docs_written"] == 0 and outcome.publish["docs_unchanged"] > 0
    fetched = [r["path"] for r in env.cms.state.requests[requests_before:]]
    assert env.cms.qpp_path(2024) in fetched and env.cms.qpp_path(2023) not in fetched


def test_force_without_a_year_and_an_unknown_year_are_refused(env, tables, tmp_path, capsys):
    env.cms.publish_qpp(2024, csv_bytes(tables[2024], tmp_path), "2025-07-28")
    with pytest.raises(InvalidInput, match="force needs performance_year"):
        env.refresh(force=True)
    with pytest.raises(SystemExit) as usage:
        cli.main(["refresh", "--out", str(tmp_path / "t"), "--force", "--catalog-url", env.cms.catalog_url])
    assert usage.value.code == 2 and "--force needs --performance-year" in capsys.readouterr().err
    assert not (tmp_path / "t").exists()
    with pytest.raises(CatalogError, match="performance year 2019 is not in the catalog"):
        env.refresh(performance_year=2019)


def test_the_catalog_is_read_as_cms_writes_it(env, tables, tmp_path):
    env.cms.publish_qpp(2023, csv_bytes(tables[2023], tmp_path), "2025-07-21", title="QPP Experience : 2023-01-02")
    env.cms.publish_qpp(2022, csv_bytes(tables[2022], tmp_path), "2024-08-01", title="Quality Payment 2021-05-30")
    raw = env.cms.catalog()
    assert b'"2023-01-01\\/2023-12-31"' in raw and b'"http:\\/\\/127.0.0.1' in raw
    releases = qpp_releases(json.loads(raw))
    assert [r.performance_year for r in releases] == [2023, 2022]  # from temporal, not the irregular titles
    assert releases[0].api_uuid and releases[0].download_url.startswith("http://")


@pytest.mark.parametrize("faults", [("429",), ("500",), ("429", "500", "429"), ("reset",)])
def test_throttling_and_server_errors_are_retried(faults, env, tables, tmp_path):
    env.cms.publish_qpp(2024, csv_bytes(tables[2024], tmp_path), "2025-07-28")
    env.cms.inject(env.cms.qpp_path(2024), *faults)
    env.cms.inject("/data.json", "429")
    report = env.refresh()
    assert years(report) == {2024: "new"}
    assert env.http.retries == len(faults) + 1
    if "429" in faults:
        assert 1.0 in env.sleeps  # Retry-After: 1 was honoured


FAILURES = {
    "HTML page with status 200": (("html200",), "HTML page instead of CSV"),
    "truncated body": (("truncate",), "the last line is cut short"),
    "Content-Length mismatch": (("short-length",), "(Content-Length)"),
    "server keeps failing": (("500",) * 4, "HTTP 500"),
}


@pytest.mark.parametrize("case", list(FAILURES))
def test_a_failed_download_changes_nothing(case, env, tables, tmp_path):
    # Given a published year
    env.cms.publish_qpp(2024, csv_bytes(tables[2024], tmp_path), "2025-07-28")
    env.refresh(pdc_url=None)
    before = env.snapshot()
    # When CMS corrects it but the download goes wrong
    env.cms.publish_qpp(2024, csv_bytes(make_correction(tables[2024]).table, tmp_path), "2025-09-15")
    faults, message = FAILURES[case]
    env.cms.inject(env.cms.qpp_path(2024), *faults)
    report = env.refresh(pdc_url=None)
    # Then the year failed with a named reason and the tree, private data and state are byte-identical
    outcome = report.outcomes[0]
    assert not report.ok and outcome.decision == "failed" and message in outcome.error
    assert env.snapshot() == before
    # And the next run, with CMS healthy, applies the correction
    assert years(env.refresh(pdc_url=None)) == {2024: "corrected"}


def test_a_bad_file_from_cms_changes_nothing(env, tables, tmp_path):
    env.cms.publish_qpp(2024, csv_bytes(tables[2024], tmp_path), "2025-07-28")
    env.refresh(pdc_url=None)
    before = env.snapshot()
    env.cms.publish_qpp(
        2024, csv_bytes(tables[2019] if 2019 in tables else generate_table(2019, 50), tmp_path), "2025-09-15"
    )
    report = env.refresh(pdc_url=None)
    assert "columns belong to the PY2017-2021 layout" in report.outcomes[0].error
    after = env.snapshot()
    assert (
        len(archived_by_content(after, before)) == 2
    )  # the refused file, kept for a person to look at, and its Check record
    assert not changed_beyond_the_raw_archive(after, before)


def test_a_catalog_without_the_dataset_is_a_clear_error_and_changes_nothing(env, tmp_path):
    with pytest.raises(CatalogError, match="dataset 'Quality Payment Program Experience' not found"):
        env.refresh()
    assert env.snapshot() == {}


def test_a_catalog_answering_html_is_a_clear_error(env, tables, tmp_path):
    env.cms.publish_qpp(2024, csv_bytes(tables[2024], tmp_path), "2025-07-28")
    env.cms.inject("/data.json", "html200")
    with pytest.raises(Exception, match="HTML page instead of JSON"):
        env.refresh()


def test_conditional_get_uses_validators_and_304_means_unchanged(tmp_path, tables):
    with CmsStandIn(send_validators=True) as cms:
        e = Env(tmp_path, cms)
        cms.publish_qpp(2024, csv_bytes(tables[2024], tmp_path), "2025-07-28")
        e.refresh(pdc_url=None)
        outcome = e.refresh(pdc_url=None).outcomes[0]
        assert outcome.decision == "unchanged" and "304" in outcome.reason
        last = [r for r in cms.state.requests if r["path"] == cms.qpp_path(2024)][-1]
        assert last["headers"].get("if-none-match")


def test_a_download_cut_mid_stream_by_a_server_with_ranges_is_resumed_and_published(tmp_path, tables):
    """CMS's files come from servers that offer byte ranges and an ETag: a body cut halfway is completed with
    Range and If-Range, and the year is published from exactly CMS's bytes."""
    with CmsStandIn(send_validators=True) as cms:
        e = Env(tmp_path, cms)
        body = csv_bytes(tables[2024], tmp_path)
        cms.publish_qpp(2024, body, "2025-07-28")
        cms.inject(cms.qpp_path(2024), "short-length")
        report = e.refresh(pdc_url=None)
        assert years(report) == {2024: "new"}
        asked = [r["headers"] for r in cms.state.requests if r["path"] == cms.qpp_path(2024)]
        assert "range" not in asked[0] and asked[1]["range"] == f"bytes={len(body) // 2}-" and asked[1]["if-range"]
        manifest = json.loads((e.tree / "v1" / "manifest.json").read_bytes())
        assert manifest["releases"][0]["source_sha256"] == hashlib.sha256(body).hexdigest()


def test_pdc_scores_are_reconciled_and_its_title_moving_to_a_new_year_is_a_new_release(env, tables, tmp_path):
    env.cms.publish_qpp(2023, csv_bytes(tables[2023], tmp_path), "2025-07-21")
    env.cms.publish_qpp(2024, csv_bytes(tables[2024], tmp_path), "2025-07-28")
    env.cms.publish_pdc(2023, csv_bytes(make_pdc_table(tables[2023], mismatches=3), tmp_path), "2024-12-01")
    first = env.refresh()
    pdc = next(o for o in first.outcomes if o.source == "pdc")
    assert (pdc.performance_year, pdc.decision) == (2023, "new")
    recon = pdc.extra["cms_profile_reconciliation"]
    assert recon["mismatches"] == 3 and recon["matches"] == recon["npis_compared"] - 3
    report = (env.private / "reconciliation" / "py=2023" / "mismatches.csv").read_text().splitlines()
    assert report[0] == '"npi","qpp_final_score","pdc_final_score"' and len(report) == 4
    manifest = json.loads((env.tree / "v1" / "manifest.json").read_bytes())
    py2023 = next(r for r in manifest["releases"] if r["performance_year"] == 2023)
    assert py2023["cms_profile_reconciliation"]["mismatches"] == 3
    # CMS swaps in the PY2024 file under the same dataset id
    env.cms.publish_pdc(2024, csv_bytes(make_pdc_table(tables[2024]), tmp_path), "2025-12-01")
    pdc = next(o for o in env.refresh().outcomes if o.source == "pdc")
    assert (pdc.performance_year, pdc.decision) == (2024, "new")
    assert pdc.extra["cms_profile_reconciliation"]["mismatches"] == 0


def test_pdc_names_and_pac_ids_never_reach_the_public_tree(env, tables, tmp_path):
    env.cms.publish_qpp(2024, csv_bytes(tables[2024], tmp_path), "2025-07-28")
    pdc = make_pdc_table(tables[2024])
    env.cms.publish_pdc(2024, csv_bytes(pdc, tmp_path), "2025-12-01")
    env.refresh()
    public = b"".join(p.read_bytes() for p in env.tree.rglob("*") if p.is_file())
    for value in set(pdc.column(" Org_PAC_ID").to_pylist()[:50]) | {"SMITH", "PRIYA", "Org_PAC_ID", "Last Name"}:
        assert value.encode() not in public
