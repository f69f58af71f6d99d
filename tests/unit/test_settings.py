"""Lambda settings: every variable the template sets is read, defaults are the template's, and a bad
deploy fails at cold start with one line naming what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
from cfnlint.decode import cfn_yaml

from mips_profiles.adapters.http import SizeLimits, UrlPolicy
from mips_profiles.core.catalog import DEFAULT_CATALOG_URL, DEFAULT_PDC_URL
from mips_profiles.errors import ConfigurationError
from mips_profiles.settings import LIMIT_VARIABLES, NetworkSettings, Settings

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
@pytest.mark.parametrize("value", ["eight", "0", "-2", "2.5", "1e400"])
def test_a_number_that_is_not_one_is_refused_in_one_line(name, value):
    with pytest.raises(ConfigurationError, match=rf"^{name} must be a positive whole number, got ") as info:
        Settings.from_env({**REQUIRED, name: value})
    assert "\n" not in str(info.value)


def test_the_network_settings_are_parsed_with_the_rest_at_cold_start():
    env = {
        **REQUIRED,
        "MIPS_ALLOWED_HOSTS": "Mirror.example.org, data.example.com",
        "MIPS_ALLOW_LOOPBACK_HTTP": "true",
        "MIPS_MAX_CATALOG_BYTES": "1000",
        "MIPS_DOWNLOAD_DEADLINE_SECONDS": "12.5",
    }
    network = Settings.from_env(env).network
    assert network == NetworkSettings(
        ("mirror.example.org", "data.example.com"), True, {"catalog_bytes": 1000.0, "file_seconds": 12.5}
    )
    limits = SizeLimits().overridden(network.limits)
    assert (limits.catalog_bytes, limits.file_seconds, limits.item_bytes) == (1000, 12.5, SizeLimits().item_bytes)
    urls = UrlPolicy.allowing(network.extra_hosts, loopback_http=network.allow_loopback_http)
    assert urls.check("https://sub.mirror.example.org/x.csv") and urls.check("http://127.0.0.1:9/x")
    assert NetworkSettings.from_env({}) == NetworkSettings()


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("MIPS_MAX_CATALOG_BYTES", "48MB", "MIPS_MAX_CATALOG_BYTES must be a positive whole number"),
        ("MIPS_MAX_FILE_BYTES", "0", "MIPS_MAX_FILE_BYTES must be a positive whole number"),
        ("MIPS_JSON_DEADLINE_SECONDS", "nan", "MIPS_JSON_DEADLINE_SECONDS must be a positive number"),
        ("MIPS_ALLOW_LOOPBACK_HTTP", "yes", "MIPS_ALLOW_LOOPBACK_HTTP must be true or false"),
        ("MIPS_ALLOWED_HOSTS", "cms.gov/evil", "MIPS_ALLOWED_HOSTS must name hosts"),
    ],
)
def test_a_bad_network_setting_fails_at_cold_start_naming_it(name, value, message):
    with pytest.raises(ConfigurationError, match=f"^{message}, got "):
        Settings.from_env({**REQUIRED, name: value})


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
        "MIPS_ALLOWED_HOSTS",
        "MIPS_ALLOW_LOOPBACK_HTTP",
        *LIMIT_VARIABLES,
    }
    shared = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    for name in ("CheckReleaseFunction", "ShardScoresFunction"):
        own = template["Resources"][name]["Properties"].get("Environment", {}).get("Variables", {})
        variables = {**shared, **own}
        ours = {k for k in variables if not k.startswith(("POWERTOOLS_", "AWS_"))}
        assert ours <= known, (name, ours - known)
        assert set(REQUIRED) <= set(variables), (name, set(REQUIRED) - set(variables))


def test_nothing_but_the_settings_reads_the_projects_environment():
    package = Path(Settings.__module__.replace(".", "/")).parent
    readers = {
        str(path.relative_to(ROOT / "shared"))
        for path in sorted((ROOT / "shared" / package).rglob("*.py"))
        if "os.environ" in path.read_text() or "getenv" in path.read_text()
    }
    assert readers == {"mips_profiles/settings.py", "mips_profiles/adapters/terminal_progress.py"}
    for handler in ("check_release", "shard_scores"):
        assert "os.environ" not in (ROOT / "functions" / handler / "app.py").read_text()
