"""Per-NPI documents: headline rule, presentation fields, determinism and the JSON Schema."""

from __future__ import annotations

import json
import random

import jsonschema
import pyarrow as pa
import pytest

from mips_profiles.core.documents import DocumentBuilder, year_entries
from mips_profiles.core.profile_schema import profile_schema
from mips_profiles.core.validate import RECORD_SCHEMA

NPI = "1376745471"


def records(rows: list[dict]) -> pa.Table:
    base = {
        "npi": NPI,
        "final_score": None,
        "payment_adjustment_pct": None,
        "quality_category_score": None,
        "pi_category_score": None,
        "ia_category_score": None,
        "cost_category_score": None,
        "participation_option": "Group",
        "_line": 2,
    }
    return pa.Table.from_pylist([{**base, **r, "_line": i + 2} for i, r in enumerate(rows)], schema=RECORD_SCHEMA)


def headline(rows: list[dict], year: int = 2024) -> dict:
    entries = year_entries(records(rows), year)
    _, data = next(DocumentBuilder().documents(entries))
    return json.loads(data)["latest"]


def test_the_headline_is_the_row_with_the_highest_final_score():
    latest = headline(
        [
            {"final_score": 60.0, "payment_adjustment_pct": -1.0},
            {"final_score": 94.79, "payment_adjustment_pct": 0.9, "participation_option": "APM Entity"},
            {"final_score": 80.0, "payment_adjustment_pct": 0.3},
        ]
    )
    assert latest["final_score"] == 94.79
    assert latest["participation_option"] == "APM Entity"
    assert latest["scored_practices"] == 3
    assert "highest final score of 3 TIN/NPI records" in latest["provenance"]


def test_missing_scores_come_last():
    latest = headline([{"final_score": None}, {"final_score": 12.5, "payment_adjustment_pct": -9.0}])
    assert latest["final_score"] == 12.5
    assert latest["score_band"] == "below_threshold"
    assert latest["payment_outcome"] == "maximum_negative"


def test_ties_go_to_the_higher_payment_adjustment():
    latest = headline(
        [{"final_score": 90.0, "payment_adjustment_pct": 0.5}, {"final_score": 90.0, "payment_adjustment_pct": 0.7}]
    )
    assert latest["payment_adjustment_pct"] == 0.7


def test_the_headline_does_not_depend_on_row_order():
    rows = [
        {"final_score": 90.0, "payment_adjustment_pct": 0.7, "quality_category_score": q, "participation_option": opt}
        for q, opt in [(80.0, "Group"), (85.0, "Individual"), (85.0, "APM Entity")]
    ]
    outputs = set()
    for seed in range(6):
        random.Random(seed).shuffle(rows)
        entries = year_entries(records(rows), 2024)
        outputs.add(next(DocumentBuilder().documents(entries))[1])
    assert len(outputs) == 1
    assert json.loads(outputs.pop())["latest"]["participation_option"] == "APM Entity"


def test_an_unscored_npi_has_no_band_and_no_outcome():
    latest = headline([{"final_score": None, "payment_adjustment_pct": None}])
    assert latest["score_band"] is None and latest["payment_outcome"] is None
    assert latest["provenance"].endswith(
        "Display rule: single TIN/NPI record; category scores as published, each marked whether it counted "
        "toward the final score"
    )


def test_the_document_has_the_agreed_shape():
    entries = year_entries(
        records(
            [
                {
                    "final_score": 96.21,  # 0.55 x 93.1 + 0.30 x 100 + 15: cost had too few cases, reweighted
                    "payment_adjustment_pct": 1.05,
                    "quality_category_score": 93.1,
                    "pi_category_score": 100.0,
                    "ia_category_score": 40.0,
                    "participation_option": "APM Entity",
                },
                {"final_score": 70.0},
            ]
        ),
        2024,
    )
    doc = json.loads(next(DocumentBuilder().documents(entries))[1])
    assert doc == {
        "schema_version": 1,
        "npi": NPI,
        "latest": doc["history"][0],
        "history": [
            {
                "performance_year": 2024,
                "payment_year": 2026,
                "final_score": 96.21,
                "payment_adjustment_pct": 1.05,
                "payment_outcome": "positive",
                "score_band": "exceptional",
                "participation_option": "APM Entity",
                "category_scores": {
                    "quality": 93.1,
                    "promoting_interoperability": 100.0,
                    "improvement_activities": 40.0,
                    "cost": None,
                },
                "category_status": {
                    "quality": "scored",
                    "promoting_interoperability": "scored",
                    "improvement_activities": "scored",
                    "cost": "reweighted",
                },
                "category_weights": {
                    "quality": 0.55,
                    "promoting_interoperability": 0.3,
                    "improvement_activities": 0.15,
                    "cost": 0.0,
                },
                "category_weights_basis": "reproduces_final_score",
                "final_score_reproduced": True,
                "scored_practices": 2,
                "comparable_to_prior_year": True,
                "attribution": "Source: CMS QPP MIPS · Performance Year 2024",
                "provenance": "Source: CMS QPP MIPS · Performance Year 2024 · Methodology cms-qpp-mips/v3 · "
                "Display rule: highest final score of 2 TIN/NPI records; category scores as published, each "
                "marked whether it counted toward the final score",
            }
        ],
        "source": {
            "name": "CMS QPP MIPS",
            "license": "U.S. government public-domain work (17 U.S.C. § 105)",
            "methodology_version": "cms-qpp-mips/v3",
            "disclaimer": "A MIPS score is a Medicare payment-program measure used to set payment adjustments; "
            "it is not a rating of clinical quality.",
        },
    }


def test_history_is_newest_first_and_latest_is_the_newest():
    from mips_profiles.core.documents import concat_entries

    entries = concat_entries(
        [year_entries(records([{"final_score": s}]), y) for y, s in [(2019, 70.0), (2024, 88.0), (2021, 91.0)]]
    )
    doc = json.loads(next(DocumentBuilder().documents(entries))[1])
    assert [e["performance_year"] for e in doc["history"]] == [2024, 2021, 2019]
    assert doc["latest"]["final_score"] == 88.0


def test_the_schema_rejects_a_write_locked_field_in_a_document():
    builder = DocumentBuilder()
    schema = profile_schema(builder)
    jsonschema.Draft202012Validator.check_schema(schema)
    doc = json.loads(next(builder.documents(year_entries(records([{"final_score": 80.0}]), 2024)))[1])
    jsonschema.validate(doc, schema)
    doc["latest"]["practice_state"] = "CA"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, schema)


def test_a_field_the_contract_locks_never_reaches_a_document(tmp_path):
    # Given a contract where final_score is write-locked (and so the score band derived from it)
    from importlib import resources

    from mips_profiles.core.contract import load_contract

    raw = json.loads((resources.files("mips_profiles") / "data/display_contract.json").read_text("utf-8"))
    for field in raw["fields"]:
        if field["name"] == "final_score":
            field["display_allowed"] = False
    path = tmp_path / "contract.json"
    path.write_text(json.dumps(raw))
    builder = DocumentBuilder(load_contract(str(path)))
    # When a document is built
    doc = json.loads(next(builder.documents(year_entries(records([{"final_score": 80.0}]), 2024)))[1])
    # Then neither the field nor what is derived from it is there, and the schema agrees
    assert "final_score" not in doc["latest"] and "score_band" not in doc["latest"]
    jsonschema.validate(doc, profile_schema(builder))
