"""The bad-input corpus: every case goes through the real refresh path (CMS stand-in over HTTP,
download checks, reader, validation, publish gates) as a CMS correction of a published year.

Each case names its expected outcome:
- ``Refused(reason)``: the year fails with that reason; tree, private data and state are byte-identical;
- ``Quarantined(reason)``: published, the bad row(s) in the quarantine report with that reason;
- ``Accepted()``: published with no rejected row (inputs that look odd but are fine).
"""

from __future__ import annotations

import gzip
import io
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from mips_profiles.adapters.http import HttpClient, RetryPolicy, UrlPolicy
from mips_profiles.adapters.local_state import LocalStateStore
from mips_profiles.adapters.local_store import LocalDirStore
from mips_profiles.orchestration.refresh import Refresher
from mips_profiles.publishing.publish import Publisher
from mips_profiles.sandbox.cms_standin import CmsStandIn
from mips_profiles.sandbox.generator import generate_table, write_csv

from helpers import changed_beyond_the_raw_archive, set_cells, snapshot

ROWS = 400
GOOD = generate_table(2024, ROWS)


def to_bytes(table: pa.Table, **kw) -> bytes:
    buf = Path(f"/tmp/corpus-{id(table)}.csv")
    write_csv(table, buf, **kw)
    data = buf.read_bytes()
    buf.unlink()
    return data


GOOD_BYTES = to_bytes(GOOD)


@dataclass(frozen=True)
class Refused:
    reason: str
    fault: str | None = None  # a download fault injected by the stand-in instead of different bytes


@dataclass(frozen=True)
class Quarantined:
    reason: str
    rows: int = 1


@dataclass(frozen=True)
class Accepted:
    pass


def cell(column: str, value: str, row: int = 7) -> bytes:
    return to_bytes(set_cells(GOOD, column, {row: value}))


def header_renamed(old: str, new: str) -> bytes:
    return to_bytes(GOOD.rename_columns([new if c == old else c for c in GOOD.column_names]))


def zipped(data: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("puf.csv", data)
    return buf.getvalue()


CASES: dict[str, tuple[object, object]] = {
    # file level: refused, nothing changes
    "empty file": (lambda: b"", Refused("empty body")),
    "header only": (lambda: GOOD_BYTES.split(b"\n", 1)[0] + b"\n", Refused("no data rows")),
    "HTML error page with status 200": (
        lambda: b"<!DOCTYPE html><html><body>Error</body></html>\n",
        Refused("HTML page instead of CSV"),
    ),
    "JSON error body": (
        lambda: b'{"errors": [{"message": "Internal error"}]}\n',
        Refused("JSON document instead of CSV"),
    ),
    "gzip bytes where CSV was expected": (lambda: gzip.compress(GOOD_BYTES), Refused("gzip-compressed bytes")),
    "ZIP archive where CSV was expected": (lambda: zipped(GOOD_BYTES), Refused("ZIP archive")),
    "truncated last line": (lambda: GOOD_BYTES, Refused("the last line is cut short", fault="truncate")),
    "Content-Length mismatch": (lambda: GOOD_BYTES, Refused("(Content-Length)", fault="short-length")),
    "another year's layout": (
        lambda: to_bytes(generate_table(2019, ROWS)),
        Refused("columns belong to the PY2017-2021 layout"),
    ),
    "duplicate header names": (
        lambda: header_renamed("complex patient bonus", "final score"),
        Refused("duplicate column 'final score'"),
    ),
    "missing npi column": (lambda: to_bytes(GOOD.drop_columns(["npi"])), Refused("missing required column(s): 'npi'")),
    "non-UTF-8 bytes": (lambda: GOOD_BYTES.replace(b"Group", b"Gr\xfcup", 1), Refused("not UTF-8")),
    "record with too few fields": (
        lambda: GOOD_BYTES.replace(b"\n", b"\n1234567893,1,2\n", 1),
        Refused("malformed CSV"),
    ),
    "over 1% of rows rejected": (
        lambda: to_bytes(set_cells(GOOD, "final score", {i: "N/A" for i in range(6)})),
        Refused("6 of 400 rows rejected (1.5%, limit 1%)"),
    ),
    "a file 30% shorter than the last release": (
        lambda: to_bytes(GOOD.slice(0, int(ROWS * 0.7))),
        Refused("accepted rows fell 30.0% from the last release"),
    ),
    # row level: quarantined, the rest is published
    "NPI with a bad check digit": (lambda: cell("npi", "1234567890"), Quarantined("has a wrong check digit")),
    "NPI of 9 digits": (lambda: cell("npi", "123456789"), Quarantined("is not 10 digits")),
    "NPI with letters": (lambda: cell("npi", "12345ABCDE"), Quarantined("is not 10 digits")),
    "NPI in scientific notation": (lambda: cell("npi", "1.23457E+09"), Quarantined("is not 10 digits")),
    "score above 100": (lambda: cell("final score", "100.01"), Quarantined("final score '100.01' is outside 0 to 100")),
    "negative category score": (
        lambda: cell("quality category score", "-0.5"),
        Quarantined("quality category score '-0.5' is outside 0 to 100"),
    ),
    "N/A value": (lambda: cell("final score", "N/A"), Quarantined("final score is not a number: 'N/A'")),
    "NaN value": (lambda: cell("cost category score", "NaN"), Quarantined("cost category score is not a number")),
    "adjustment beyond the year's bounds": (
        lambda: cell("payment adjustment percentage", "-9.01"),
        Quarantined("is outside -9 to 27 for PY2024"),
    ),
    "unknown participation option": (
        lambda: cell("participation option", "Solo practice"),
        Quarantined("participation option 'Solo practice' is not one of"),
    ),
    "the same TIN/NPI row twice": (
        lambda: to_bytes(pa.concat_tables([GOOD, GOOD.slice(3, 1)])),
        Quarantined("duplicate row: provider key"),
    ),
    # odd but fine
    "CRLF line endings": (lambda: to_bytes(GOOD, line_ending="\r\n"), Accepted()),
    "UTF-8 BOM": (lambda: b"\xef\xbb\xbf" + GOOD_BYTES, Accepted()),
    "quoted commas and newlines inside fields": (
        lambda: to_bytes(set_cells(GOOD, "clinician specialty", {2: 'Surgery, "General"\nand Trauma'})),
        Accepted(),
    ),
    "Title Case header with stray spaces": (
        lambda: to_bytes(GOOD.rename_columns([f" {c.title()}  " for c in GOOD.column_names])),
        Accepted(),
    ),
    "an unknown extra column": (
        lambda: to_bytes(GOOD.append_column("new cms column", pa.array(["x"] * ROWS))),
        Accepted(),
    ),
}


class Clock:
    def __init__(self) -> None:
        self.t = datetime(2026, 7, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.t += timedelta(minutes=1)
        return self.t


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_corpus(case, tmp_path):
    make, expected = CASES[case]
    tree, private = tmp_path / "tree", tmp_path / "tree.private"
    state_path = tmp_path / "state.json"
    clock = Clock()

    def refresh(cms: CmsStandIn):
        publisher = Publisher(LocalDirStore(tree), LocalDirStore(private), clock=clock)
        http = HttpClient(
            RetryPolicy(attempts=2, base_delay=0), sleep=lambda s: None, urls=UrlPolicy(allow_loopback_http=True)
        )
        return Refresher(http, publisher, LocalStateStore(state_path), raw=LocalDirStore(private)).run(
            cms.catalog_url, None
        )

    with CmsStandIn() as cms:
        # Given PY2024 published from a good file
        cms.publish_qpp(2024, GOOD_BYTES, "2025-07-28")
        assert refresh(cms).ok
        before = snapshot(tree, private, state_path)
        # When CMS re-publishes it as this case
        cms.publish_qpp(2024, make(), "2025-09-15")
        if isinstance(expected, Refused) and expected.fault:
            cms.inject(cms.qpp_path(2024), expected.fault, expected.fault)
        outcome = refresh(cms).outcomes[0]

    if isinstance(expected, Refused):
        assert outcome.decision == "failed", outcome
        assert expected.reason in outcome.error
        assert "\n" not in outcome.error
        after = snapshot(tree, private, state_path)
        assert not changed_beyond_the_raw_archive(after, before), "a refused run changed something"
    elif isinstance(expected, Quarantined):
        assert outcome.decision == "corrected", outcome.error
        assert outcome.publish["rows_rejected"] == expected.rows
        report = (private / outcome.publish["quarantine_key"]).read_text()
        assert expected.reason in report
    else:
        assert outcome.decision == "corrected", outcome.error
        assert outcome.publish["rows_rejected"] == 0
        assert outcome.publish["rows_read"] == ROWS


def test_the_corpus_has_at_least_25_cases_of_each_kind_named():
    kinds = {type(expected).__name__ for _, expected in CASES.values()}
    assert len(CASES) >= 25 and kinds == {"Refused", "Quarantined", "Accepted"}
