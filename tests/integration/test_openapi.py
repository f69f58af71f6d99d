"""The API description: valid OpenAPI 3.1, equal to its generator, and what ``serve`` answers conforms to it."""

from __future__ import annotations

import gzip
import json
import threading
from pathlib import Path

import jsonschema
import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, settings
from openapi_spec_validator import validate

from mips_profiles.consumers.openapi import openapi_document, openapi_yaml
from mips_profiles.consumers.serve import make_server

from helpers import pick_documents

SPEC = Path(__file__).resolve().parents[2] / "openapi.yaml"
schema = schemathesis.openapi.from_path(SPEC)


@pytest.fixture(scope="module")
def base_url(published_tree: Path):
    server = make_server(published_tree, port=0, quiet=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_description_is_valid_openapi_3_1():
    spec = yaml.safe_load(SPEC.read_text())
    validate(spec)
    assert spec["openapi"].startswith("3.1")


def test_the_committed_file_is_the_generators_output():
    assert SPEC.read_text() == openapi_yaml(), "run: python -m mips_profiles.consumers.openapi > openapi.yaml"


def test_the_profile_schema_is_the_published_json_schema(published_tree):
    """Same constraints as v1/schema/profile.schema.json, with $defs moved to components."""
    published = json.loads((published_tree / "v1/schema/profile.schema.json").read_text())
    components = openapi_document()["components"]["schemas"]
    assert set(published["properties"]) == set(components["ProfileDocument"]["properties"])
    assert published["$defs"]["entry"]["properties"] == components["ProfileEntry"]["properties"]


def component_validator(name: str) -> jsonschema.Draft202012Validator:
    spec = openapi_document()
    return jsonschema.Draft202012Validator({"$ref": f"#/components/schemas/{name}", **spec})


def test_every_published_object_matches_its_component(published_tree):
    component_validator("Manifest").validate(json.loads((published_tree / "v1/manifest.json").read_text()))
    aggregate = component_validator("Aggregate")
    files = sorted((published_tree / "v1/stats").rglob("*.json"))
    assert files
    for path in files:
        aggregate.validate(json.loads(path.read_text()))
    profile = component_validator("ProfileDocument")
    for doc in pick_documents(published_tree).values():
        profile.validate(doc)
    change = component_validator("Change")
    changes = sorted((published_tree / "v1/changes").glob("*.json"))
    assert len(changes) == 2  # one per year published
    for path in changes:
        change.validate(json.loads(path.read_text()))
    line = component_validator("BulkLine")
    for path in sorted((published_tree / "v1/bulk").rglob("scores.ndjson")):
        for text in gzip.decompress(path.read_bytes()).splitlines()[:200]:
            line.validate(json.loads(text))


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_serve_conforms_to_the_description(case, base_url):
    """Generated requests (mostly unknown keys: 404 in the declared shape), every default check."""
    case.call_and_validate(base_url=base_url)


def real_cases(tree: Path) -> list[tuple[str, dict[str, str]]]:
    national = json.loads((tree / "v1/stats/2024/national.json").read_text())
    specialty = national["breakdowns"]["specialty"][0]["key"]
    state = national["breakdowns"]["state"][0]["key"]
    npi = pick_documents(tree)["history"]["npi"]
    return [
        ("/v1/npi/{npi}.json", {"npi": npi}),
        ("/v1/manifest.json", {}),
        ("/v1/schema/profile.schema.json", {}),
        ("/v1/stats/{performance_year}/national.json", {"performance_year": "2024"}),
        (
            "/v1/stats/{performance_year}/specialty/{specialty}.json",
            {"performance_year": "2023", "specialty": specialty},
        ),
        ("/v1/stats/{performance_year}/state/{state}.json", {"performance_year": "2024", "state": state}),
        ("/v1/bulk/{performance_year}/scores.ndjson", {"performance_year": "2024"}),
        ("/v1/bulk/{performance_year}/scores.csv", {"performance_year": "2023"}),
        ("/v1/changes/{sequence}.json", {"sequence": "00000001"}),
    ]


def test_published_objects_conform_to_the_description(base_url, published_tree):
    """Every operation with keys that exist: 200 in the declared shape, then 304 for its own ETag."""
    for path, parameters in real_cases(published_tree):
        operation = schema[path]["GET"]
        response = operation.Case(path_parameters=parameters).call_and_validate(base_url=base_url)
        assert response.status_code == 200, path
        etag = response.headers["etag"][0] if isinstance(response.headers["etag"], list) else response.headers["etag"]
        again = operation.Case(path_parameters=parameters, headers={"If-None-Match": etag}).call_and_validate(
            base_url=base_url
        )
        assert again.status_code == 304, path
