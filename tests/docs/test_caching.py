"""One caching rule: what the publisher stores on S3 objects (and `serve` sends), what the CloudFront cache
policies of template.yaml do with it, and what docs/public-api.md promises, held equal."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cfnlint.decode import cfn_yaml

from mips_profiles.keys import CACHE_DOCUMENT, CACHE_MANIFEST, cache_control_for

ROOT = Path(__file__).parents[2]
KEYS = {  # a key of every kind the public tree has -> the edge and browser lifetimes the docs promise
    "v1/npi/1376745471.json": (86400, 300),
    "v1/stats/2024/national.json": (86400, 300),
    "v1/bulk/2024/scores.ndjson": (86400, 300),  # rewritten only by a publish, which invalidates /v1/*
    "v1/bulk/2024/scores.csv": (86400, 300),
    "v1/changes/00000001.json": (86400, 300),  # never rewritten
    "v1/manifest.json": (60, 60),
    "v1/schema/profile.schema.json": (60, 60),
    "v1/not-found.json": (60, 60),
}


def directives(header: str) -> dict[str, int]:
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"([a-z-]+)=(\d+)", header)}


@pytest.fixture(scope="module")
def template():
    return cfn_yaml.load(str(ROOT / "template.yaml"))


def cache_policy_for(template, key: str) -> dict:
    config = template["Resources"]["Distribution"]["Properties"]["DistributionConfig"]
    behaviour = next(
        (b for b in config.get("CacheBehaviors", []) if re.fullmatch(b["PathPattern"].replace("*", ".*"), key)),
        config["DefaultCacheBehavior"],
    )
    return template["Resources"][behaviour["CachePolicyId"]["Ref"]]["Properties"]["CachePolicyConfig"]


@pytest.mark.parametrize("key", list(KEYS))
def test_the_edge_and_the_browser_keep_each_kind_of_object_as_documented(template, key):
    header = directives(cache_control_for(key))
    policy = cache_policy_for(template, key)
    # CloudFront: s-maxage wins over max-age for the edge, clamped to the policy's MinTTL..MaxTTL
    edge = min(max(header.get("s-maxage", header["max-age"]), policy["MinTTL"]), policy["MaxTTL"])
    assert (edge, header["max-age"]) == KEYS[key]
    # an object stored without Cache-Control would get DefaultTTL: the same lifetime, by design
    assert policy["DefaultTTL"] == edge


def test_the_docs_state_the_rule_the_code_applies():
    readme = (ROOT / "docs" / "public-api.md").read_text()
    assert f"`{CACHE_DOCUMENT}`" in readme and f"`{CACHE_MANIFEST}`" in readme
    assert "invalidat" in readme
