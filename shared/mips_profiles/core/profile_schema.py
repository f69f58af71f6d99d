"""The JSON Schema (2020-12) of the per-NPI document, generated from the display contract: only allowed fields are
declared and ``additionalProperties`` is false everywhere, so a write-locked field in a document fails validation.
Published at ``v1/schema/profile.schema.json``; the OpenAPI description embeds it."""

from __future__ import annotations

from typing import Any

from .categories import CATEGORIES, STATUSES, WEIGHTS_BASES
from .documents import DISCLAIMER, SCHEMA_VERSION, SOURCE_NAME, DocumentBuilder

SCORE = {"type": ["number", "null"], "minimum": 0, "maximum": 100}
WEIGHT = {"type": ["number", "null"], "minimum": 0, "maximum": 1}
ATTRIBUTION = "^Source: CMS QPP MIPS · Performance Year [0-9]{4}"


def profile_schema(builder: DocumentBuilder) -> dict[str, Any]:
    """The document's schema for what ``builder`` publishes."""
    props = {**_score_properties(builder), **_category_properties(builder), **_provenance_properties(builder)}
    entry = {"type": "object", "additionalProperties": False, "required": list(props), "properties": props}
    doc_props: dict[str, Any] = {"schema_version": {"const": SCHEMA_VERSION}}
    if "npi" in builder.public:
        described = next(f.description for f in builder.contract.fields if f.name == "npi")
        doc_props["npi"] = {"type": "string", "pattern": "^[12][0-9]{9}$", "description": described}
    doc_props["latest"] = {"$ref": "#/$defs/entry"}
    doc_props["history"] = {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/entry"}}
    doc_props["source"] = {
        "type": "object",
        "additionalProperties": False,
        "required": ["name", "license", "methodology_version", "disclaimer"],
        "properties": {
            "name": {"const": SOURCE_NAME},
            "license": {"type": "string"},
            "methodology_version": {"type": "string"},
            "disclaimer": {"type": "string"},
        },
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://mips-profiles.example/v1/schema/profile.schema.json",
        "title": "MIPS profile document (schema version 1)",
        "description": DISCLAIMER,
        "type": "object",
        "additionalProperties": False,
        "required": list(doc_props),
        "properties": doc_props,
        "$defs": {"entry": entry},
    }


def _score_properties(builder: DocumentBuilder) -> dict[str, Any]:
    """The year, the final score and the payment adjustment, in the entry's field order."""
    described = {f.name: f.description for f in builder.contract.fields}
    public, derived = builder.public, builder.derived
    props: dict[str, Any] = {}
    if "performance_year" in public:
        props["performance_year"] = {"type": "integer", "minimum": 2017, "description": described["performance_year"]}
    if "payment_year" in derived:
        props["payment_year"] = {"type": "integer", "minimum": 2019}
    if "final_score" in public:
        props["final_score"] = {**SCORE, "description": described["final_score"]}
    if "payment_adjustment_pct" in public:
        props["payment_adjustment_pct"] = {
            "type": ["number", "null"],
            "description": described["payment_adjustment_pct"],
        }
    if "payment_outcome" in derived:
        props["payment_outcome"] = {"enum": ["positive", "neutral", "negative", "maximum_negative", None]}
    if "score_band" in derived:
        props["score_band"] = {"enum": [b for b, _ in builder.methodology.bands] + [None]}
    if "participation_option" in public:
        props["participation_option"] = {"type": "string", "description": described["participation_option"]}
    return props


def _category_properties(builder: DocumentBuilder) -> dict[str, Any]:
    """The four categories as published, whether each counted, its weight and what the weights rest on."""
    if not builder.category_paths:
        return {}
    described = {f.name: f.description for f in builder.contract.fields}
    text = {d: builder.contract.derived_description(d) for d in builder.derived}
    props: dict[str, Any] = {
        "category_scores": {
            "type": "object",
            "additionalProperties": False,
            "required": [p for _, p in builder.category_paths],
            "properties": {p: {**SCORE, "description": described[f]} for f, p in builder.category_paths},
        }
    }
    if "category_status" in builder.derived:
        props["category_status"] = _per_category(
            text["category_status"], {c.name: {"enum": list(STATUSES)} for c in CATEGORIES}
        )
    if "category_weights" in builder.derived:
        weight = dict(WEIGHT)
        props["category_weights"] = _per_category(text["category_weights"], {c.name: weight for c in CATEGORIES})
    if "category_weights_basis" in builder.derived:
        props["category_weights_basis"] = {"enum": list(WEIGHTS_BASES), "description": text["category_weights_basis"]}
    if "final_score_reproduced" in builder.derived:
        props["final_score_reproduced"] = {"type": ["boolean", "null"], "description": text["final_score_reproduced"]}
    return props


def _per_category(description: str, properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": [c.name for c in CATEGORIES],
        "description": description,
        "properties": properties,
    }


def _provenance_properties(builder: DocumentBuilder) -> dict[str, Any]:
    """How the entry was chosen, whether it compares with the year before, and where it comes from."""
    derived = builder.derived
    props: dict[str, Any] = {}
    if "scored_practices" in derived:
        props["scored_practices"] = {"type": "integer", "minimum": 1}
    if "comparable_to_prior_year" in derived:
        props["comparable_to_prior_year"] = {
            "type": "boolean",
            "description": builder.contract.derived_description("comparable_to_prior_year"),
        }
    if "attribution" in derived:
        props["attribution"] = {"type": "string", "pattern": f"{ATTRIBUTION}$"}
    if "provenance" in derived:
        props["provenance"] = {"type": "string", "pattern": f"{ATTRIBUTION} · "}
    return props
