"""Configuration, parsed once from the environment at cold start (the Lambdas) or at start (the CLI): a bad
deploy fails at once with one line naming the variable, not half-way through a run. Nothing else in the
package reads a variable of its own (``adapters.terminal_progress`` asks the terminal's ``CI`` and ``TERM``).

- ``Settings``: the Lambdas' resources and sizes, set by ``template.yaml``;
- ``NetworkSettings``: what the HTTP client may fetch and how much (``MIPS_*``), for both roads.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from .core.catalog import DEFAULT_CATALOG_URL, DEFAULT_PDC_URL
from .errors import ConfigurationError

# MIPS_* variable -> the ``adapters.http.SizeLimits`` field it overrides, and its kind
LIMIT_VARIABLES: dict[str, tuple[str, type]] = {
    "MIPS_MAX_CATALOG_BYTES": ("catalog_bytes", int),
    "MIPS_MAX_ITEM_BYTES": ("item_bytes", int),
    "MIPS_MAX_FILE_BYTES": ("file_bytes", int),
    "MIPS_JSON_DEADLINE_SECONDS": ("json_seconds", float),
    "MIPS_DOWNLOAD_DEADLINE_SECONDS": ("file_seconds", float),
}


def _positive(env: Mapping[str, str], name: str, kind: type, default: float | None = None) -> float | None:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value: float | None = float(kind(text))
    except ValueError:
        value = None
    if value is None or not 0 < value < float("inf"):  # also NaN
        raise ConfigurationError(f"{name} must be a positive {'whole ' if kind is int else ''}number, got {text!r}")
    return value


def _flag(env: Mapping[str, str], name: str) -> bool:
    text = env.get(name, "").strip().lower()
    if text not in ("", "true", "false"):
        raise ConfigurationError(f"{name} must be true or false, got {env[name]!r}")
    return text == "true"


@dataclass(frozen=True)
class NetworkSettings:
    """``MIPS_ALLOWED_HOSTS`` (hosts added to CMS's, comma-separated), ``MIPS_ALLOW_LOOPBACK_HTTP`` (tests and the
    demo only), the size and time limits of ``LIMIT_VARIABLES`` (only those set; the rest keep ``SizeLimits``'
    defaults), and in Lambda its ``AWS_LAMBDA_FUNCTION_MEMORY_SIZE`` (what a JSON parse may take)."""

    extra_hosts: tuple[str, ...] = ()
    allow_loopback_http: bool = False
    limits: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> NetworkSettings:
        env = os.environ if env is None else env
        hosts = tuple(h.strip().lower() for h in env.get("MIPS_ALLOWED_HOSTS", "").split(",") if h.strip())
        bad = [h for h in hosts if not all(part.isalnum() or "-" in part for part in h.split("."))]
        if bad:
            raise ConfigurationError(f"MIPS_ALLOWED_HOSTS must name hosts, got {bad[0]!r}")
        limits = {}
        for name, (limit, kind) in LIMIT_VARIABLES.items():
            value = _positive(env, name, kind)
            if value is not None:
                limits[limit] = value
        memory_mib = _positive(env, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", int)  # set by Lambda: what a parse may take
        if memory_mib is not None:
            limits["memory_bytes"] = memory_mib * (1 << 20)
        return cls(hosts, _flag(env, "MIPS_ALLOW_LOOPBACK_HTTP"), limits)


@dataclass(frozen=True)
class Settings:
    state_table: str
    raw_bucket: str
    audit_bucket: str
    public_bucket: str
    distribution_id: str | None
    catalog_url: str = DEFAULT_CATALOG_URL
    pdc_url: str = DEFAULT_PDC_URL
    partitions: int = 8
    lock_lease_seconds: int = 4 * 3600
    s3_concurrency: int = 16
    network: NetworkSettings = field(default_factory=NetworkSettings)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        required = ["STATE_TABLE", "RAW_BUCKET", "AUDIT_BUCKET", "PUBLIC_BUCKET"]
        missing = [name for name in required if not env.get(name)]
        if missing:
            raise ConfigurationError("missing environment variable(s): " + ", ".join(missing))
        return cls(
            state_table=env["STATE_TABLE"],
            raw_bucket=env["RAW_BUCKET"],
            audit_bucket=env["AUDIT_BUCKET"],
            public_bucket=env["PUBLIC_BUCKET"],
            distribution_id=env.get("DISTRIBUTION_ID") or None,
            catalog_url=env.get("CATALOG_URL") or DEFAULT_CATALOG_URL,
            pdc_url=env.get("PDC_URL") or DEFAULT_PDC_URL,
            partitions=int(_positive(env, "PARTITIONS", int, 8) or 8),
            lock_lease_seconds=int(_positive(env, "LOCK_LEASE_SECONDS", int, 4 * 3600) or 4 * 3600),
            s3_concurrency=int(_positive(env, "S3_CONCURRENCY", int, 16) or 16),
            network=NetworkSettings.from_env(env),
        )
