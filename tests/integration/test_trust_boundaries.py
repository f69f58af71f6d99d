"""What crosses a trust boundary is parsed or refused by name: CMS's files and catalogs, what CMS's text does
on a terminal or in a CSV cell, and the bounds that keep a hostile input from costing more than the code's
home can give (docs/reliability.md, section 12: the threat model)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pyarrow as pa
import pytest

from mips_profiles.adapters.http import HttpClient, RetryPolicy, UrlPolicy
from mips_profiles.core import catalog as catalog_module
from mips_profiles.core.catalog import pdc_release, qpp_releases
from mips_profiles.core.years import SUPPORTED_YEARS
from mips_profiles.errors import CatalogError, DownloadError
from mips_profiles.sandbox.cms_standin import CmsStandIn
from mips_profiles.sandbox.generator import generate_table, write_csv

ESC = "\x1b[2J\x1b]0;owned\x07"


def csv_bytes(table: pa.Table, tmp_path: Path, name: str = "f.csv") -> bytes:
    write_csv(table, tmp_path / name)
    return (tmp_path / name).read_bytes()


# -- CMS files -------------------------------------------------------------------------------------------


def test_a_utf16_file_is_named_as_such_not_as_truncated(run_cli, tmp_path):
    csv_bytes(generate_table(2024, 20), tmp_path)
    (tmp_path / "u16.csv").write_bytes((tmp_path / "f.csv").read_text().encode("utf-16"))
    result = run_cli("publish", "--performance-year", 2024, "--source", tmp_path / "u16.csv", "--out", tmp_path / "t")
    assert result.code == 1 and result.err == "error: UTF-16 text (CMS publishes UTF-8), not a CSV file\n"


def test_a_file_of_100000_columns_is_refused_before_it_costs_memory(run_cli, tmp_path):
    header = "npi,participation option,final score," + ",".join(f"c{i}" for i in range(100_000))
    (tmp_path / "wide.csv").write_text(header + "\n1376745471,Group,90" + ",x" * 100_000 + "\n")
    result = run_cli("publish", "--performance-year", 2024, "--source", tmp_path / "wide.csv", "--out", tmp_path / "t")
    assert result.code == 1
    assert result.err == "error: 100,003 columns in the header: at most 1,000 are read (CMS's files have at most 212)\n"


def test_unknown_columns_are_named_fifty_at_most_and_each_cut_and_escaped(run_cli, tmp_path):
    table = generate_table(2024, 30)
    for i in range(80):
        table = table.append_column(f"extra {i} {ESC}" + "y" * 300, pa.array(["v"] * table.num_rows))
    write_csv(table, tmp_path / "drift.csv")
    tree = tmp_path / "t"
    result = run_cli("publish", "--performance-year", 2024, "--source", tmp_path / "drift.csv", "--out", tree)
    assert result.code == 0, result.err
    manifest = json.loads((tree / "v1" / "manifest.json").read_text())
    named = manifest["releases"][0]["unknown_columns"]
    assert len(named) == 51 and named[-1] == "... and 30 more"
    assert all(len(n) < 200 and "\x1b" not in n for n in named)
    assert "\x1b" not in result.err and len(result.err) < 10_000


def test_a_file_that_changes_while_it_is_read_is_refused(run_cli, tmp_path, monkeypatch):
    """The SHA-256 recorded must be of the bytes parsed: a file that grows meanwhile is refused, nothing published."""
    from mips_profiles.core import reader

    source = tmp_path / "growing.csv"
    source.write_bytes(csv_bytes(generate_table(2024, 50), tmp_path))
    original = reader._parse_body

    def appending(path, *args, **kwargs):
        parsed = original(path, *args, **kwargs)
        with open(source, "ab") as fh:  # another process appends while the file is read
            fh.write(b"1376745471,more\n")
        return parsed

    monkeypatch.setattr(reader, "_parse_body", appending)
    result = run_cli("publish", "--performance-year", 2024, "--source", source, "--out", tmp_path / "t")
    assert result.code == 1 and "changed while it was read" in result.err
    assert not (tmp_path / "t").exists()


def test_a_quarantine_cell_never_carries_a_control_character(run_cli, tmp_path):
    table = generate_table(2024, 300)
    npi = table.column("npi").to_pylist()
    npi[0] = f"13767{ESC}45471"
    write_csv(table.set_column(table.column_names.index("npi"), "npi", pa.array(npi)), tmp_path / "cms.csv")
    assert run_cli("publish", "--performance-year", 2024, "--source", tmp_path / "cms.csv", "--out", tmp_path / "t")
    (report,) = (tmp_path / "t.private" / "quarantine").rglob("rejected.csv")
    text = report.read_text()
    assert "\x1b" not in text and "\x07" not in text
    (row,) = list(csv.DictReader(io.StringIO(text)))
    assert row["npi"] == "13767\\x1b[2J\\x1b]0;owned\\x0745471"


# -- CMS catalogs ------------------------------------------------------------------------------------------


def dataset(distributions: object, **extra: object) -> dict:
    return {"dataset": [{"title": "Quality Payment Program Experience", "distribution": distributions, **extra}]}


def csv_dist(year: object, **extra: object) -> dict:
    return {
        "mediaType": "text/csv",
        "downloadURL": f"https://data.cms.gov/{year}.csv",
        "temporal": f"{year}-01-01/{year}-12-31",
        **extra,
    }


@pytest.mark.parametrize(
    ("catalog", "message"),
    [
        (dataset({"not": "a list"}), "'distribution' is not a list"),
        (dataset("text"), "'distribution' is not a list"),
        (dataset(7), "'distribution' is not a list"),
        (dataset([{**csv_dist(2024), "temporal": 2024}]), "no CSV distribution with a yearly temporal"),
        (dataset([csv_dist(2024, downloadURL={"x": 1})]), "downloadURL of PY2024 is not text"),
        (dataset([csv_dist(2024, modified=["2025"])]), "modified of PY2024 is not text"),
        (dataset([csv_dist(2024, title=12)]), "title of PY2024 is not text"),
        (dataset([csv_dist(2024, title="t" * 1001)]), "title of PY2024 is not text of at most 1000"),
        (dataset([csv_dist(2024, modified="2025-07-28\r\n")]), "modified of PY2024 has control characters"),
        (dataset([csv_dist(y) for y in range(1000, 4000)]), "lists 3,000 performance years; at most 50"),
        ({"dataset": "nope"}, "no 'dataset' list"),
        ([], "no 'dataset' list"),
    ],
)
def test_a_catalog_of_the_wrong_shape_is_refused_by_name(catalog, message):
    with pytest.raises(CatalogError, match=message):
        qpp_releases(catalog)


@pytest.mark.parametrize(
    "item",
    [
        {"title": "PY 2024 scores", "distribution": {"downloadURL": "x"}},
        {"title": ["PY 2024"], "distribution": []},
        {"title": "PY 2024 scores", "modified": 5, "distribution": [{"downloadURL": "https://data.cms.gov/x.csv"}]},
    ],
)
def test_a_metastore_item_of_the_wrong_shape_is_refused_by_name(item):
    with pytest.raises(CatalogError):
        pdc_release(item)


def test_deep_nesting_is_a_one_line_error_not_a_recursion_traceback(tmp_path):
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    body = b"[" * 200_000 + b"]" * 200_000

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        http = HttpClient(urls=UrlPolicy(allow_loopback_http=True), sleep=lambda s: None)
        with pytest.raises(DownloadError, match="nested too deeply"):
            http.get_json(f"http://127.0.0.1:{server.server_address[1]}/data.json")
    finally:
        server.shutdown()
        server.server_close()


def refresh(cms: CmsStandIn, tree: Path) -> list[object]:
    return ["refresh", "--out", tree, "--catalog-url", cms.catalog_url, "--no-pdc", "--allow-loopback-http"]


def test_years_the_methodology_does_not_support_are_refused_without_a_download(run_cli, tmp_path):
    with CmsStandIn() as cms:
        cms.publish_qpp(2024, csv_bytes(generate_table(2024, 40), tmp_path), "2025-07-28")
        cms.publish_qpp(2031, csv_bytes(generate_table(2024, 40), tmp_path, "b.csv"), "2032-07-28")
        result = run_cli(
            "refresh",
            "--out",
            tmp_path / "t",
            "--catalog-url",
            cms.catalog_url,
            "--no-pdc",
            "--allow-loopback-http",
            "--json",
        )
        downloads = [r["path"] for r in cms.state.requests if r["path"].endswith(".csv")]
    outcome = json.loads(result.out.strip().splitlines()[-1])["years"]
    assert outcome["2024"]["decision"] == "new"
    assert outcome["2031"]["decision"] == "failed" and "not supported by the methodology" in outcome["2031"]["error"]
    assert len(downloads) == 1 and "2031" not in downloads[0]


def test_catalog_text_with_control_characters_is_refused_by_name_and_escaped(run_cli, tmp_path):
    """CMS's modified date and download URL travel in the state machine's messages and appear in the refresh
    lines: one with control characters is refused at the catalog, naming the field, shown escaped, and the
    published tree does not change."""
    table = generate_table(2024, 40)
    with CmsStandIn() as cms:
        cms.publish_qpp(2024, csv_bytes(table, tmp_path), "2025-07-28")
        tree = tmp_path / "t"
        assert (
            run_cli(
                "refresh", "--out", tree, "--catalog-url", cms.catalog_url, "--no-pdc", "--allow-loopback-http"
            ).code
            == 0
        )
        before = {p: p.read_bytes() for p in sorted(tree.rglob("*.json")) if p.name != "manifest.json"}
        cms.publish_qpp(2024, csv_bytes(generate_table(2024, 41), tmp_path, "c.csv"), f"2025-09-15{ESC}")
        corrected = run_cli(
            "refresh", "--out", tree, "--catalog-url", cms.catalog_url, "--no-pdc", "--allow-loopback-http"
        )
        cms.publish_qpp(2024, csv_bytes(generate_table(2024, 41), tmp_path, "c.csv"), "2025-09-15")
        cms.override_download_url(2024, f"https://data.cms.gov/x{ESC}.csv")
        refused = run_cli(
            "refresh", "--out", tree, "--catalog-url", cms.catalog_url, "--no-pdc", "--allow-loopback-http"
        )
    for run in (corrected, refused):
        assert "\x1b" not in run.out + run.err and "\x07" not in run.out + run.err
        assert run.code == 1 and "\\x1b[2J" in run.err
    assert "modified of PY2024" in corrected.err and "downloadURL of PY2024" in refused.err
    assert {p: p.read_bytes() for p in sorted(tree.rglob("*.json")) if p.name != "manifest.json"} == before


def test_a_url_that_can_never_be_sent_is_refused_once_without_retries():
    http = HttpClient(policy=RetryPolicy(), sleep=lambda s: None)
    with pytest.raises(DownloadError, match="spaces, control or non-ASCII characters"):
        http.get_json("https://data.cms.gov/data .json")
    with pytest.raises(DownloadError, match="control or non-ASCII"):
        http.get_json("https://data.cms.gov/\r\nHost: evil/x")
    assert http.retries == 0


def test_the_check_steps_answer_stays_small_for_the_worst_catalog_the_bounds_let_through(tmp_path):
    """Every one of the 50 years a catalog may list fails with CMS's longest text in it: the Check step's answer
    is still far under Step Functions' 256 KiB, each error one line of at most MAX_ERROR characters."""
    from mips_profiles.adapters.local_state import LocalStateStore
    from mips_profiles.adapters.local_store import MemoryStore
    from mips_profiles.orchestration.release_check import MAX_ERROR, CheckRequest, check_for_releases

    years = range(1990, 1990 + catalog_module.MAX_YEARS)
    with CmsStandIn() as cms:
        for year in years:
            cms.publish_qpp(year, b"npi\n", "2025-07-28", title="t" * catalog_module.MAX_TEXT)
        for year in SUPPORTED_YEARS:
            cms.override_download_url(
                year, "https://elsewhere.example/" + "x" * (catalog_module.MAX_TEXT - 30) + ".csv"
            )  # refused, no request
        answer = check_for_releases(
            CheckRequest(),
            http=HttpClient(urls=UrlPolicy(allow_loopback_http=True), sleep=lambda s: None),
            state=LocalStateStore(tmp_path / "state.json"),
            raw=MemoryStore(),
            catalog_url=cms.catalog_url,
        )
    assert len(answer["years"]) == catalog_module.MAX_YEARS and answer["plan"] == []
    assert all(len(d["error"]) <= MAX_ERROR + 40 and "\n" not in d["error"] for d in answer["years"].values())
    assert len(json.dumps(answer)) < 64 * 1024


@pytest.mark.parametrize("value", ["4²", "٤٢", "１２", "-1", "1e3", "0x10", " ", "9" * 40])
def test_one_number_parser_reads_only_ascii_digits(value):
    """Content-Length, Retry-After and serve's request lengths all go through text.whole_number."""
    from mips_profiles.adapters.http import _retry_after
    from mips_profiles.text import whole_number

    assert whole_number(value) is None
    assert _retry_after(value) is None


@pytest.mark.parametrize("temporal", ["２０２３-01-01/２０２３-12-31", "٢٠٢٣-01-01/٢٠٢٣-12-31"])
def test_a_catalog_year_in_other_digits_is_not_read_as_a_year(temporal):
    from mips_profiles.core import catalog

    assert catalog._TEMPORAL.match(temporal) is None
    assert catalog._PDC_YEAR.search("Clinician scores PY ٢٠٢٣") is None
