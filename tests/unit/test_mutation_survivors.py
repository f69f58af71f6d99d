"""Tests for the plausible bugs a manual mutation run let through (issue "Tests that catch real bugs"). Each
test names the mutation it kills; each was checked once by applying that mutation.

- payment outcome ``adj > 0`` -> ``adj >= 0``: test_a_payment_neutral_clinician_is_neutral_not_positive
- score band ``>=`` -> ``>``: test_a_score_at_a_band_edge_gets_the_higher_band
- a derived field published although its input is write-locked: test_a_derived_field_goes_when_an_input_is_write_locked
- aggregates written after the manifest: test_aggregates_are_written_before_the_manifest
- exactly 1% rejected rows refused: test_exactly_the_rejected_limit_publishes_one_more_row_refuses
- the content-hash skip removed: test_a_full_rebuild_rewrites_no_document_with_the_same_bytes
- S3 retry attempts cut from 10 to 1 or 2: test_a_put_failing_three_times_still_lands
- weak ETag comparison lost in ``serve``: test_serve_matches_a_weak_etag (tests/integration/test_serve.py)
- finalize's "partitions not finished" guard removed: test_finalize_refuses_until_every_partition_is_done
- ``pytest`` run directly fails the console-script test: test_the_console_script_is_installed (test_publish.py)
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mips_profiles.adapters.local_store import LocalDirStore, MemoryStore
from mips_profiles.core.contract import load_contract
from mips_profiles.core.documents import DERIVED_INPUTS, DocumentBuilder, year_entries
from mips_profiles.core.methodology import load_methodology
from mips_profiles.core.profile_schema import profile_schema
from mips_profiles.core.validate import RECORD_SCHEMA
from mips_profiles.errors import PublishError, PublishRefused
from mips_profiles.keys import FINGERPRINT_KEY
from mips_profiles.publishing.publish import Publisher, ReleaseInfo
from mips_profiles.sandbox.generator import generate_table, write_csv

NPIS = [
    "1376745471",
    "1234567893",
    "1932365699",
    "1003000126",
    "1003000134",
    "1003000142",
    "1003000159",
    "1003000167",
    "1003000175",
    "1003000183",
]


def latest_of_each(rows: list[dict], year: int = 2024, builder: DocumentBuilder | None = None) -> list[dict]:
    """One NPI per row, through the code that builds the public documents."""
    base = {
        "final_score": None,
        "payment_adjustment_pct": None,
        "quality_category_score": None,
        "pi_category_score": None,
        "ia_category_score": None,
        "cost_category_score": None,
        "participation_option": "Group",
    }
    table = pa.Table.from_pylist(
        [{**base, **r, "npi": NPIS[i], "_line": i + 2} for i, r in enumerate(rows)], schema=RECORD_SCHEMA
    )
    docs = dict((builder or DocumentBuilder()).documents(year_entries(table, year)))
    return [json.loads(docs[NPIS[i]])["latest"] for i in range(len(rows))]


def test_a_payment_neutral_clinician_is_neutral_not_positive():
    adjustments = [0.0, 0.01, -0.01, -9.0, -8.99, 1.05, None]
    latest = latest_of_each([{"final_score": 75.0, "payment_adjustment_pct": a} for a in adjustments])
    assert [e["payment_outcome"] for e in latest] == [
        "neutral",
        "positive",
        "negative",
        "maximum_negative",
        "negative",
        "positive",
        None,
    ]


def test_a_score_at_a_band_edge_gets_the_higher_band():
    scores = [90.0, 89.99, 75.0, 74.99, 50.0, 49.99, 0.0, 100.0, None]
    latest = latest_of_each([{"final_score": s, "payment_adjustment_pct": 0.0} for s in scores])
    assert [e["score_band"] for e in latest] == [
        "exceptional",
        "above_average",
        "above_average",
        "meeting_threshold",
        "meeting_threshold",
        "below_threshold",
        "below_threshold",
        "exceptional",
        None,
    ]


@given(
    st.lists(st.one_of(st.none(), st.floats(0, 100, allow_nan=False)), min_size=1, max_size=20),
    st.lists(st.one_of(st.none(), st.floats(-9, 3, allow_nan=False)), min_size=1, max_size=20),
)
def test_the_scalar_rules_are_the_column_rules(scores, adjustments):
    """The scalar forms (docs, doctests) call the column-wise rules the documents use: equal on any input."""
    m = load_methodology()
    as_array = np.array([np.nan if s is None else s for s in scores])
    assert [m.score_band(s) for s in scores] == m.score_bands(as_array)
    years = np.full(len(adjustments), 2024)
    adj = np.array([np.nan if a is None else a for a in adjustments])
    assert [m.payment_outcome(2024, a) for a in adjustments] == m.payment_outcomes(years, adj)


def write_locked(name: str):
    contract = load_contract()
    fields = tuple(dataclasses.replace(f, display_allowed=False) if f.name == name else f for f in contract.fields)
    return dataclasses.replace(contract, fields=fields)


# Stated here independently of DERIVED_INPUTS (a test derived from the table it tests cannot catch a wrong
# table): what each derived field shows is computed from these displayed fields.
DERIVED_PAIRS = [
    ("payment_outcome", "payment_adjustment_pct"),
    ("score_band", "final_score"),
    *[
        ("category_status", f)
        for f in (
            "quality_category_score",
            "pi_category_score",
            "ia_category_score",
            "cost_category_score",
            "quality_category_weight",
            "pi_category_weight",
            "ia_category_weight",
            "cost_category_weight",
        )
    ],
    ("category_status", "final_score"),  # the final score decides which weighting counted
    *[
        (derived, f)
        for derived in ("category_weights", "final_score_reproduced")
        for f in (
            "final_score",
            "quality_category_score",
            "pi_category_score",
            "ia_category_score",
            "cost_category_score",
            "quality_category_weight",
            "pi_category_weight",
            "ia_category_weight",
            "cost_category_weight",
        )
    ],
    *[
        ("category_weights_basis", f)
        for f in (
            "final_score",
            "quality_category_weight",
            "pi_category_weight",
            "ia_category_weight",
            "cost_category_weight",
        )
    ],
]


def test_every_derived_field_with_inputs_is_covered_here():
    assert {d for d, s in DERIVED_INPUTS.items() if set(s) - {"performance_year"}} == {d for d, _ in DERIVED_PAIRS}


@pytest.mark.parametrize(("derived", "source"), DERIVED_PAIRS, ids=[f"{d}<-{s}" for d, s in DERIVED_PAIRS])
def test_a_derived_field_goes_when_an_input_is_write_locked(derived, source):
    builder = DocumentBuilder(write_locked(source))
    latest = latest_of_each(
        [{"final_score": 88.0, "payment_adjustment_pct": 0.5, "quality_category_score": 80.0}], builder=builder
    )[0]
    assert derived not in latest and derived not in profile_schema(builder)["$defs"]["entry"]["properties"]
    assert derived in latest_of_each([{"final_score": 88.0, "payment_adjustment_pct": 0.5}])[0]


class RecordingStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.order: list[str] = []

    def write(self, key, data, **kw):
        self.order.append(key)
        super().write(key, data, **kw)


def test_aggregates_are_written_before_the_manifest(sample_file):
    public = RecordingStore()
    Publisher(public, MemoryStore()).publish_file(sample_file(2024), ReleaseInfo(2024))
    stats = [i for i, k in enumerate(public.order) if k.startswith("v1/stats/")]
    assert stats and public.order[-1] == "v1/manifest.json"
    assert max(stats) < public.order.index("v1/manifest.json")


def file_with_bad_rows(tmp_path, rows: int, bad: int):
    table = generate_table(2024, rows, seed=21)
    npi = table.column("npi").to_pylist()
    for i in range(bad):
        npi[i] = "1234567890"  # wrong check digit
    write_csv(table.set_column(table.column_names.index("npi"), "npi", pa.array(npi)), tmp_path / f"{bad}.csv")
    return tmp_path / f"{bad}.csv"


def test_exactly_the_rejected_limit_publishes_one_more_row_refuses(tmp_path):
    publisher = Publisher(MemoryStore(), MemoryStore())
    result = publisher.publish_file(file_with_bad_rows(tmp_path, 300, 3), ReleaseInfo(2024))  # exactly 1%
    assert result.rows_rejected == 3
    with pytest.raises(PublishRefused, match=r"4 of 300 rows rejected \(1.3%, limit 1%\)"):
        Publisher(MemoryStore(), MemoryStore()).publish_file(file_with_bad_rows(tmp_path, 300, 4), ReleaseInfo(2024))


def test_a_full_rebuild_rewrites_no_document_with_the_same_bytes(sample_file, tmp_path):
    public, private = LocalDirStore(tmp_path / "t"), LocalDirStore(tmp_path / "p")
    Publisher(public, private).publish_file(sample_file(2024), ReleaseInfo(2024))
    private.delete_many([FINGERPRINT_KEY])  # as if the builder had changed: every shard is rebuilt
    again = Publisher(public, private).publish_file(sample_file(2024), ReleaseInfo(2024))
    assert again.docs_written == 0 and again.docs_unchanged > 0


def test_a_put_failing_three_times_still_lands():
    from botocore.awsrequest import AWSResponse
    from moto import mock_aws

    from mips_profiles.adapters.s3 import S3Store

    class Body:
        def __init__(self, data: bytes) -> None:
            self.data = data

        def stream(self, **_):
            yield self.data

        def read(self, *_, **__):
            return self.data

    attempts = {"n": 0}

    def fail_three_times(request, **_):
        attempts["n"] += 1
        if attempts["n"] <= 3:
            body = b"<Error><Code>InternalError</Code><Message>retry me</Message></Error>"
            return AWSResponse(request.url, 500, {"Content-Type": "application/xml"}, Body(body))
        return None

    with mock_aws():
        store = S3Store("bucket")
        store.client.create_bucket(Bucket="bucket")
        store.client.meta.events.register_first("before-send.s3.PutObject", fail_three_times)
        store.write("v1/npi/1376745471.json", b"{}")
        assert store.read("v1/npi/1376745471.json") == b"{}"
    assert attempts["n"] == 4


def test_finalize_refuses_until_every_partition_is_done(sample_file):
    public, private = MemoryStore(), MemoryStore()
    publisher = Publisher(public, private)
    validated = publisher.read_and_check(sample_file(2024), 2024)
    run = publisher.stage(validated, ReleaseInfo(2024), partitions=2)
    first = publisher.publish_partition(run, 0)
    with pytest.raises(PublishError, match=r"partitions \[1\] have not finished; manifest not written"):
        publisher.finalize(run, [first])
    assert public.read("v1/manifest.json") is None
    publisher.finalize(run, [first, publisher.publish_partition(run, 1)])
    assert public.read("v1/manifest.json") is not None
