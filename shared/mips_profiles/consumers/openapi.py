"""The OpenAPI 3.1 description of the static API (``openapi.yaml`` at the project root).

Generated, not hand-kept: the per-NPI document schema is the very JSON Schema the publisher writes to
``v1/schema/profile.schema.json`` (its ``$defs`` moved to components), so the description cannot drift
from the documents. ``python -m mips_profiles.consumers.openapi > openapi.yaml`` rewrites the file; a test keeps
the committed file equal to this output.
"""

from __future__ import annotations

import copy
import sys
from typing import Any

from ..core.categories import CATEGORIES, STATUSES
from ..core.documents import DISCLAIMER, NOT_FOUND, SCHEMA_VERSION, DocumentBuilder
from ..core.profile_schema import profile_schema
from ..core.stats import BIN_WIDTH, BREAKDOWN_MIN_CHANGED, MIN_CELL, QUANTILE_MIN_GROUP, SUPPRESSION_NOTE
from ..keys import CACHE_DOCUMENT, CACHE_MANIFEST, CHANGE_KEY_PATTERN, NPI_KEY_PATTERN
from ..publishing.bulk import BULK_FORMATS, CHANGE_SCHEMA_VERSION, RECENT_CHANGES

API_VERSION = "1.0.0"
_NULLABLE_NUMBER = {"type": ["number", "null"]}
_NULLABLE_COUNT = {"type": ["integer", "null"], "minimum": 0}

MANIFEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "What is published: one entry per performance year, newest first, with the CMS release it "
    "came from and when CMS was last checked.",
    "required": [
        "schema_version",
        "methodology_version",
        "generated_at",
        "last_checked",
        "source",
        "disclaimer",
        "documents",
        "releases",
    ],
    "properties": {
        "schema_version": {"const": SCHEMA_VERSION},
        "methodology_version": {"type": "string"},
        "contract_version": {"type": "integer"},
        "generated_at": {"type": "string", "format": "date-time"},
        "last_checked": {"type": "string", "format": "date-time"},
        "source": {"type": "object", "required": ["name"], "properties": {"name": {"const": "CMS QPP MIPS"}}},
        "disclaimer": {"type": "string"},
        "documents": {
            "type": "object",
            "required": ["key_pattern", "schema", "count"],
            "properties": {
                "key_pattern": {"const": NPI_KEY_PATTERN},
                "schema": {"type": "string"},
                "count": {"type": "integer", "minimum": 0},
                "source": {
                    "type": "object",
                    "description": "Every document's `source` block (to build documents from the bulk files).",
                },
            },
        },
        "releases": {"type": "array", "items": {"$ref": "#/components/schemas/Release"}},
        "changes": {
            "type": "object",
            "description": "The change feed: `latest` is the newest sequence number (0: none yet); `recent` the "
            f"newest {RECENT_CHANGES} change objects, newest first. Older objects stay at their keys.",
            "required": ["key_pattern", "latest", "recent"],
            "properties": {
                "key_pattern": {"const": CHANGE_KEY_PATTERN},
                "latest": {"type": "integer", "minimum": 0},
                "recent": {
                    "type": "array",
                    "maxItems": RECENT_CHANGES,
                    "items": {
                        "type": "object",
                        "required": ["sequence", "key", "performance_year", "release_id", "published_at", "counts"],
                        "properties": {
                            "sequence": {"type": "integer", "minimum": 1},
                            "key": {"type": "string"},
                            "performance_year": {"type": "integer"},
                            "release_id": {"type": "string"},
                            "published_at": {"type": "string", "format": "date-time"},
                            "counts": {"$ref": "#/components/schemas/ChangeCounts"},
                        },
                    },
                },
            },
        },
    },
}

_BULK_FILE = {
    "type": "object",
    "required": ["key", "content_encoding", "size", "uncompressed_size", "rows", "sha256"],
    "properties": {
        "key": {"type": "string"},
        "content_encoding": {"const": "gzip"},
        "size": {"type": "integer", "minimum": 0, "description": "Bytes as stored (gzip)."},
        "uncompressed_size": {"type": "integer", "minimum": 0},
        "rows": {"type": "integer", "minimum": 0},
        "sha256": {
            "type": "string",
            "pattern": "^[0-9a-f]{64}$",
            "description": "Of the uncompressed content (what `curl --compressed` saves).",
        },
    },
}

CHANGE_COUNTS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["added", "changed", "removed"],
    "properties": {k: {"type": "integer", "minimum": 0} for k in ("added", "changed", "removed")},
}

_NPIS = {"type": "array", "items": {"type": "string", "pattern": "^[0-9]{10}$"}}

CHANGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "description": "The NPIs whose document one publish added, changed or removed. Fetch `v1/npi/{npi}.json` "
    "for the added and changed ones; delete the removed ones.",
    "required": [
        "schema_version",
        "sequence",
        "performance_year",
        "release_id",
        "previous_release_id",
        "cms_modified",
        "counts",
        "added",
        "changed",
        "removed",
    ],
    "properties": {
        "schema_version": {"const": CHANGE_SCHEMA_VERSION},
        "sequence": {"type": "integer", "minimum": 1},
        "performance_year": {"type": "integer", "minimum": 2017},
        "release_id": {"type": "string"},
        "previous_release_id": {"type": ["string", "null"]},
        "cms_modified": {"type": ["string", "null"]},
        "counts": {"$ref": "#/components/schemas/ChangeCounts"},
        "added": _NPIS,
        "changed": _NPIS,
        "removed": _NPIS,
    },
}

RELEASE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": [
        "performance_year",
        "payment_year",
        "release_id",
        "source_sha256",
        "last_checked",
        "rows_read",
        "rows_rejected",
        "npis",
        "attribution",
    ],
    "properties": {
        "performance_year": {"type": "integer", "minimum": 2017},
        "payment_year": {"type": "integer"},
        "release_id": {"type": "string"},
        "cms_modified": {"type": ["string", "null"]},
        "source_url": {"type": ["string", "null"]},
        "api_uuid": {"type": ["string", "null"]},
        "source_sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "layout": {"type": "string"},
        "retrieved_at": {"type": ["string", "null"], "format": "date-time"},
        "published_at": {"type": ["string", "null"], "format": "date-time"},
        "last_checked": {"type": "string", "format": "date-time"},
        "rows_read": {"type": "integer", "minimum": 0},
        "rows_rejected": {"type": "integer", "minimum": 0},
        "rows_accepted": {"type": "integer", "minimum": 0},
        "npis": {"type": "integer", "minimum": 0},
        "attribution": {"type": "string", "pattern": "^Source: CMS QPP MIPS · Performance Year [0-9]{4}$"},
        "stats": {"type": "string", "description": "Key of the year's national aggregates."},
        "bulk": {
            "type": "object",
            "required": list(BULK_FORMATS),
            "properties": {fmt: _BULK_FILE for fmt in BULK_FORMATS},
        },
        "cms_profile_reconciliation": {"type": "object"},
        "final_score_check": {
            "type": "object",
            "additionalProperties": False,
            "required": ["entries_with_final_score", "reproduced", "share"],
            "description": "The release's fidelity self-check: of its entries with a final score, how many the "
            "category scores and weights their documents show (with the bonuses CMS's file carries) add up to, "
            "within the rounding of what CMS printed (``tolerance``). A share far below the year before's means a "
            "layout or a rule may be misread.",
            "properties": {
                "entries_with_final_score": {"type": "integer", "minimum": 0},
                "reproduced": {"type": "integer", "minimum": 0},
                "share": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
                "tolerance": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["rule", "largest"],
                    "description": "How close is close enough: the rule, and the widest allowance a reproduced "
                    "entry of this release needed (points of the final score).",
                    "properties": {
                        "rule": {"type": "string"},
                        "largest": {"type": ["number", "null"], "minimum": 0},
                    },
                },
            },
        },
        "unknown_columns": {
            "type": "array",
            "items": {"type": "string"},
            "description": "Columns of the CMS file the display contract does not know (drift): "
            "kept verbatim in the private audit record, never published.",
        },
    },
}

AGGREGATE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "description": f"Score distribution of scored clinicians in one scope. {SUPPRESSION_NOTE}",
    "required": [
        "schema_version",
        "performance_year",
        "payment_year",
        "scope",
        "release_id",
        "unit",
        "suppressed",
        "clinicians",
        "suppression",
        "attribution",
        "disclaimer",
    ],
    "properties": {
        "schema_version": {"const": SCHEMA_VERSION},
        "performance_year": {"type": "integer", "minimum": 2017},
        "payment_year": {"type": "integer"},
        "scope": {
            "type": "object",
            "additionalProperties": False,
            "required": ["kind", "key", "name"],
            "properties": {
                "kind": {"enum": ["national", "specialty", "state"]},
                "key": {"type": "string"},
                "name": {"type": "string"},
            },
        },
        "release_id": {"type": "string"},
        "unit": {"type": "string"},
        "suppressed": {
            "type": "boolean",
            "description": f"True when the scope has fewer than {MIN_CELL} clinicians: no statistics are published.",
        },
        "clinicians": {**_NULLABLE_COUNT, "description": "Scored clinicians (null when suppressed)."},
        "mean": {
            "type": "number",
            "description": "Mean final score: to the cent nationally, to one decimal in a specialty or a state.",
        },
        "median": {
            "type": ["number", "null"],
            "description": "Median final score: to the cent nationally; in a specialty or a state interpolated and "
            f"rounded to a whole point, and null below {QUANTILE_MIN_GROUP} clinicians (never one member's score).",
        },
        "top_decile_min_score": {
            "type": ["number", "null"],
            "description": "Where the top decile begins: nationally the lowest score in it (nearest rank); in a "
            f"specialty or a state the 90th percentile interpolated and rounded to a whole point, and null below "
            f"{QUANTILE_MIN_GROUP} clinicians.",
        },
        "bands": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["band", "min_score", "count", "share_pct"],
                "properties": {
                    "band": {"enum": ["exceptional", "above_average", "meeting_threshold", "below_threshold"]},
                    "min_score": {"type": "number"},
                    "count": _NULLABLE_COUNT,
                    "share_pct": _NULLABLE_NUMBER,
                },
            },
        },
        "histogram": {
            "type": "object",
            "additionalProperties": False,
            "required": ["bin_width", "note", "bins"],
            "properties": {
                "bin_width": {"const": BIN_WIDTH},
                "note": {"type": "string"},
                "bins": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["min", "max", "count"],
                        "properties": {
                            "min": {"type": "integer"},
                            "max": {"type": "integer"},
                            "count": _NULLABLE_COUNT,
                        },
                    },
                },
            },
        },
        "categories": {
            "type": "object",
            "additionalProperties": False,
            "required": ["note", "counts"],
            "description": "National document only: whether each category counted toward the final scores.",
            "properties": {
                "note": {"type": "string"},
                "counts": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": [c.name for c in CATEGORIES],
                    "properties": {
                        c.name: {
                            "type": "object",
                            "additionalProperties": False,
                            "required": list(STATUSES),
                            "properties": {status: _NULLABLE_COUNT for status in STATUSES},
                        }
                        for c in CATEGORIES
                    },
                },
            },
        },
        "breakdowns": {
            "type": "object",
            "description": "National document only: every specialty and state published.",
            "properties": {
                "release_id": {
                    "type": "string",
                    "description": "The release the specialty and state aggregates are of: this document's release, "
                    "or an earlier one of the year where they are held back.",
                },
                "held_back": {
                    "type": ["object", "null"],
                    "additionalProperties": False,
                    "required": ["changed_clinicians", "min_changed", "note"],
                    "description": "Why the specialty and state aggregates are of an earlier release: a correction "
                    f"renews them once at least {BREAKDOWN_MIN_CHANGED} clinicians' published scores changed since "
                    "the release they are of (fewer would let the groups that moved name those clinicians' "
                    "specialty and state). Null where they are current.",
                    "properties": {
                        "changed_clinicians": {"type": "integer", "minimum": 1},
                        "min_changed": {"const": BREAKDOWN_MIN_CHANGED},
                        "note": {"type": "string"},
                    },
                },
                **{
                    kind: {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["key", "name", "clinicians", "url"],
                            "properties": {
                                "key": {"type": "string"},
                                "name": {"type": "string"},
                                "clinicians": {"type": "integer", "minimum": MIN_CELL},
                                "url": {"type": "string"},
                            },
                        },
                    }
                    for kind in ("specialty", "state")
                },
                "groups_withheld": {
                    "type": "object",
                    "description": f"Groups of fewer than {MIN_CELL} clinicians, not published.",
                    "properties": {
                        "specialty": {"type": "integer", "minimum": 0},
                        "state": {"type": "integer", "minimum": 0},
                    },
                },
            },
        },
        "suppression": {
            "type": "object",
            "required": ["min_cell", "rule"],
            "properties": {"min_cell": {"const": MIN_CELL}, "rule": {"type": "string"}},
        },
        "attribution": {"type": "string"},
        "disclaimer": {"type": "string"},
    },
}

NOT_FOUND_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {
        "schema_version": {"const": SCHEMA_VERSION},
        "error": {"const": NOT_FOUND["error"]},
        "message": {"type": "string"},
    },
}


def bulk_line_schema(builder: DocumentBuilder | None = None) -> dict[str, Any]:
    """One line of a year's NDJSON bulk file: the NPI, then the year's entry as in the documents."""
    schema = profile_schema(builder or DocumentBuilder())
    entry = copy.deepcopy(schema["$defs"]["entry"])
    return {
        "type": "object",
        "additionalProperties": False,
        "description": "One line of `v1/bulk/{performance_year}/scores.ndjson`.",
        "required": ["npi", *entry["required"]],
        "properties": {"npi": schema["properties"]["npi"], **entry["properties"]},
    }


def profile_schemas(builder: DocumentBuilder | None = None) -> dict[str, Any]:
    """The published profile JSON Schema as OpenAPI components: ``$defs`` become siblings."""
    schema = copy.deepcopy(profile_schema(builder or DocumentBuilder()))
    defs = schema.pop("$defs", {})
    for key in ("$schema", "$id"):
        schema.pop(key, None)
    names = {name: "Profile" + "".join(p.title() for p in name.split("_")) for name in defs}

    def rewrite(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                k: (
                    f"#/components/schemas/{names[v.rsplit('/', 1)[1]]}"
                    if k == "$ref" and isinstance(v, str) and v.startswith("#/$defs/")
                    else rewrite(v)
                )
                for k, v in node.items()
            }
        if isinstance(node, list):
            return [rewrite(v) for v in node]
        return node

    return {"ProfileDocument": rewrite(schema), **{names[n]: rewrite(d) for n, d in defs.items()}}


def _headers(cache_control: str) -> dict[str, Any]:
    return {
        "ETag": {
            "description": "Strong entity tag of the bytes (weak when the CDN compressed them).",
            "schema": {"type": "string"},
        },
        "Cache-Control": {"description": f"For example `{cache_control}`.", "schema": {"type": "string"}},
    }


def _json_operation(
    summary: str,
    description: str,
    schema_ref: str,
    cache_control: str,
    parameters: list[dict[str, Any]],
    operation_id: str,
    not_found: str,
) -> dict[str, Any]:
    return {
        "get": {
            "operationId": operation_id,
            "summary": summary,
            "description": description,
            "parameters": [*parameters, {"$ref": "#/components/parameters/IfNoneMatch"}],
            "responses": {
                "200": {
                    "description": "The object.",
                    "headers": _headers(cache_control),
                    "content": {"application/json": {"schema": {"$ref": schema_ref}}},
                },
                "304": {
                    "description": "Not modified: the `If-None-Match` tag matches.",
                    "headers": {"ETag": {"schema": {"type": "string"}}},
                },
                "404": {"$ref": f"#/components/responses/{not_found}"},
            },
        }
    }


def _bulk_operation(
    fmt: str, summary: str, description: str, schema: dict[str, Any], parameters: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "get": {
            "operationId": f"getBulk{fmt.title()}",
            "summary": summary,
            "description": description + " Stored gzip-compressed and always served with `Content-Encoding: gzip` "
            "(`curl --compressed`, browsers and HTTP libraries decompress it).",
            "parameters": [*parameters, {"$ref": "#/components/parameters/IfNoneMatch"}],
            "responses": {
                "200": {
                    "description": "The file.",
                    "headers": {
                        **_headers(CACHE_DOCUMENT),
                        "Content-Encoding": {"description": "Always `gzip`.", "schema": {"const": "gzip"}},
                    },
                    "content": {BULK_FORMATS[fmt].split(";")[0]: {"schema": schema}},
                },
                "304": {
                    "description": "Not modified: the `If-None-Match` tag matches.",
                    "headers": {"ETag": {"schema": {"type": "string"}}},
                },
                "404": {"$ref": "#/components/responses/NotFound"},
            },
        }
    }


def _path_parameter(name: str, description: str, schema: dict[str, Any], example: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": schema,
        "example": example,
    }


def openapi_document(builder: DocumentBuilder | None = None) -> dict[str, Any]:
    year = _path_parameter(
        "performance_year", "MIPS performance year.", {"type": "integer", "minimum": 2017, "maximum": 2099}, 2024
    )
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
        "info": {
            "title": "mips-profiles static API",
            "version": API_VERSION,
            "summary": "CMS MIPS scores as one small JSON document per clinician NPI, behind a CDN.",
            "description": (
                "Static JSON objects on a CDN: read-only, `GET`/`HEAD`/`OPTIONS`, CORS for configured origins, "
                "`ETag` with `If-None-Match`, gzip on request. Numbers are exactly as CMS published them; "
                "every document carries its attribution (`Source: CMS QPP MIPS · Performance Year YYYY`). " + DISCLAIMER
            ),
            "license": {
                "name": "Data: U.S. government public-domain work (17 U.S.C. § 105)",
                "url": "https://www.usa.gov/government-works",
            },
        },
        "servers": [
            {
                "url": "https://{distribution}",
                "description": "The CloudFront distribution (stack output).",
                "variables": {"distribution": {"default": "d111111abcdef8.cloudfront.net"}},
            },
            {"url": "http://127.0.0.1:8000", "description": "`mips-profiles serve DIR` (local preview)."},
        ],
        "paths": {
            "/v1/npi/{npi}.json": _json_operation(
                "The MIPS profile document of one clinician",
                "The newest performance year as `latest`, every published year in `history` (newest first). "
                "404 when CMS published no MIPS score for the NPI.",
                "#/components/schemas/ProfileDocument",
                CACHE_DOCUMENT,
                [
                    _path_parameter(
                        "npi",
                        "National Provider Identifier (10 digits).",
                        {"type": "string", "pattern": "^[0-9]{10}$"},
                        "1376745471",
                    )
                ],
                "getProfile",
                "NoScore",
            ),
            "/v1/manifest.json": _json_operation(
                "What is published",
                "Releases per performance year, their CMS provenance and last-checked dates.",
                "#/components/schemas/Manifest",
                CACHE_MANIFEST,
                [],
                "getManifest",
                "NotFound",
            ),
            "/v1/schema/profile.schema.json": _json_operation(
                "The JSON Schema of profile documents",
                "JSON Schema 2020-12, generated from the display contract.",
                "#/components/schemas/JsonSchema",
                CACHE_MANIFEST,
                [],
                "getProfileSchema",
                "NotFound",
            ),
            "/v1/stats/{performance_year}/national.json": _json_operation(
                "National score distribution of a performance year",
                "Count, mean, median, top-decile cut-off, band counts and shares, a 5-point histogram, and the "
                "list of published specialty and state aggregates.",
                "#/components/schemas/Aggregate",
                CACHE_DOCUMENT,
                [year],
                "getNationalStats",
                "NotFound",
            ),
            "/v1/stats/{performance_year}/specialty/{specialty}.json": _json_operation(
                "Score distribution of one specialty",
                "Specialty is write-locked per clinician; it is published only as this aggregate.",
                "#/components/schemas/Aggregate",
                CACHE_DOCUMENT,
                [
                    year,
                    _path_parameter(
                        "specialty",
                        "Specialty slug, as listed in the national document.",
                        {"type": "string", "pattern": "^[a-z0-9]+(-[a-z0-9]+)*$"},
                        "internal-medicine",
                    ),
                ],
                "getSpecialtyStats",
                "NotFound",
            ),
            "/v1/stats/{performance_year}/state/{state}.json": _json_operation(
                "Score distribution of one state or territory",
                "Practice state is write-locked per clinician; it is published only as this aggregate.",
                "#/components/schemas/Aggregate",
                CACHE_DOCUMENT,
                [
                    year,
                    _path_parameter(
                        "state",
                        "Two-letter state or territory code.",
                        {"type": "string", "pattern": "^[A-Z]{2}$"},
                        "CA",
                    ),
                ],
                "getStateStats",
                "NotFound",
            ),
            "/v1/bulk/{performance_year}/scores.ndjson": _bulk_operation(
                "ndjson",
                "Every NPI's entry of a performance year, one JSON object per line",
                'Each line is `{"npi": ..., <the year\'s entry>}`, the entry exactly as in the documents; '
                "the manifest lists size, rows and SHA-256.",
                {"type": "string", "description": "Lines, each a `BulkLine` (see components)."},
                [year],
            ),
            "/v1/bulk/{performance_year}/scores.csv": _bulk_operation(
                "csv",
                "The displayed fields of every NPI's entry of a performance year, as CSV",
                "A header row of the display contract's public fields, then one row per NPI; numbers as in the "
                "documents, empty for null.",
                {"type": "string"},
                [year],
            ),
            "/v1/changes/{sequence}.json": _json_operation(
                "One change object of the change feed",
                "The NPIs whose document one publish added, changed or removed. Sequence numbers count up from "
                "1; walk them from your marker to the manifest's `changes.latest`.",
                "#/components/schemas/Change",
                CACHE_DOCUMENT,
                [
                    _path_parameter(
                        "sequence",
                        "Sequence number, zero-padded to 8 digits.",
                        {"type": "string", "pattern": "^[0-9]{8}$"},
                        "00000001",
                    )
                ],
                "getChange",
                "NotFound",
            ),
        },
        "components": {
            "parameters": {
                "IfNoneMatch": {
                    "name": "If-None-Match",
                    "in": "header",
                    "required": False,
                    "description": "An `ETag` from an earlier response: 304 when the object is unchanged.",
                    "schema": {"type": "string"},
                }
            },
            "responses": {
                "NoScore": {
                    "description": "No MIPS score is published for this NPI (neutral: render nothing "
                    "or 'No MIPS score published').",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NotFound"}}},
                },
                "NotFound": {
                    "description": "No such object.",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NotFound"}}},
                },
            },
            "schemas": {
                **profile_schemas(builder),
                "Manifest": MANIFEST_SCHEMA,
                "Release": RELEASE_SCHEMA,
                "Aggregate": AGGREGATE_SCHEMA,
                "BulkLine": bulk_line_schema(builder),
                "Change": CHANGE_SCHEMA,
                "ChangeCounts": CHANGE_COUNTS_SCHEMA,
                "NotFound": NOT_FOUND_SCHEMA,
                "JsonSchema": {
                    "type": "object",
                    "required": ["$schema"],
                    "properties": {"$schema": {"const": "https://json-schema.org/draft/2020-12/schema"}},
                },
            },
        },
    }


def openapi_yaml() -> str:
    import yaml  # a dev dependency: only the generator and its test need it

    header = (
        "# Generated by `python -m mips_profiles.consumers.openapi > openapi.yaml`; "
        "edit the generator, not this file.\n"
    )
    return header + yaml.safe_dump(openapi_document(), sort_keys=False, allow_unicode=True, width=110)


if __name__ == "__main__":
    sys.stdout.write(openapi_yaml())
