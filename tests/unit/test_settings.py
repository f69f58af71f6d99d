"""Lambda settings: every variable the template sets is read, defaults are the template's, and a bad
deploy fails at cold start with one line naming what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
from cfnlint.decode import cfn_yaml

from mips_profiles.core.catalog import DEFAULT_CATALOG_URL, DEFAULT_PDC_URL
from mips_profiles.errors import ConfigurationError
from mips_profiles.settings import Settings

ROOT = Path(__file__).parents[2]
REQUIRED = {"STATE_TABLE": "state", "RAW_BUCKET": "raw", "AUDIT_BUCKET": "audit", "PUBLIC_BUCKET": "public"}


def test_the_required_settings_and_the_defaults():
    settings = Settings.from_env(REQUIRED)
    assert (settings.state_table, settings.raw_bucket, settings.audit_bucket, settings.public_bucket) == (
        "state",
        "raw",
        "audit",
        "public",
    )
    assert settings.distribution_id is None
    assert (settings.catalog_url, settings.pdc_url) == (DEFAULT_CATALOG_URL, DEFAULT_PDC_URL)
    assert (settings.partitions, settings.lock_lease_seconds, settings.s3_concurrency) == (8, 4 * 3600, 16)


def test_every_optional_setting_is_read():
    env = {
        **REQUIRED,
        "DISTRIBUTION_ID": "E123",
        "CATALOG_URL": "https://data.cms.gov/x.json",
        "PDC_URL": "https://data.cms.gov/y",
        "PARTITIONS": "4",
        "LOCK_LEASE_SECONDS": "60",
        "S3_CONCURRENCY": "32",
    }
    settings = Settings.from_env(env)
    assert (settings.distribution_id, settings.catalog_url, settings.pdc_url) == (
        "E123",
        "https://data.cms.gov/x.json",
        "https://data.cms.gov/y",
    )
    assert (settings.partitions, settings.lock_lease_seconds, settings.s3_concurrency) == (4, 60, 32)


def test_an_empty_optional_value_means_the_default():
    """The template passes ``DISTRIBUTION_ID: ""`` when there is no CDN; that must not be a distribution."""
    settings = Settings.from_env({**REQUIRED, "DISTRIBUTION_ID": "", "CATALOG_URL": "", "PDC_URL": ""})
    assert settings.distribution_id is None and settings.catalog_url == DEFAULT_CATALOG_URL


@pytest.mark.parametrize("missing", sorted(REQUIRED))
def test_a_missing_required_variable_is_named(missing):
    env = {k: v for k, v in REQUIRED.items() if k != missing}
    with pytest.raises(ConfigurationError, match=f"^missing environment variable\\(s\\): {missing}$"):
        Settings.from_env(env)


def test_all_missing_variables_are_named_at_once():
    with pytest.raises(ConfigurationError) as info:
        Settings.from_env({"STATE_TABLE": ""})
    assert str(info.value) == ("missing environment variable(s): STATE_TABLE, RAW_BUCKET, AUDIT_BUCKET, PUBLIC_BUCKET")


@pytest.mark.parametrize("name", ["PARTITIONS", "LOCK_LEASE_SECONDS", "S3_CONCURRENCY"])
def test_a_number_that_is_not_one_is_refused_in_one_line(name):
    with pytest.raises(ConfigurationError, match=r"^bad numeric setting: ") as info:
        Settings.from_env({**REQUIRED, name: "eight"})
    assert "\n" not in str(info.value)


def test_the_template_sets_what_the_settings_read():
    """Each function's environment (with the globals) names only variables the settings know, and sets the
    required ones: a renamed variable would otherwise fall back to a default in silence."""
    template = cfn_yaml.load(str(ROOT / "template.yaml"))
    known = set(REQUIRED) | {
        "DISTRIBUTION_ID",
        "CATALOG_URL",
        "PDC_URL",
        "PARTITIONS",
        "LOCK_LEASE_SECONDS",
        "S3_CONCURRENCY",
    }
    shared = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    for name in ("CheckReleaseFunction", "ShardScoresFunction"):
        own = template["Resources"][name]["Properties"].get("Environment", {}).get("Variables", {})
        variables = {**shared, **own}
        ours = {k for k in variables if not k.startswith(("POWERTOOLS_", "AWS_", "MIPS_"))}
        assert ours <= known, (name, ours - known)
        assert set(REQUIRED) <= set(variables), (name, set(REQUIRED) - set(variables))
