"""Lambda configuration, parsed once from the environment at cold start: a bad deploy fails at
once with the name of what is missing, not half-way through a run."""

from __future__ import annotations

import os
from dataclasses import dataclass

from .core.catalog import DEFAULT_CATALOG_URL, DEFAULT_PDC_URL
from .errors import ConfigurationError


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

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        required = ["STATE_TABLE", "RAW_BUCKET", "AUDIT_BUCKET", "PUBLIC_BUCKET"]
        missing = [name for name in required if not env.get(name)]
        if missing:
            raise ConfigurationError("missing environment variable(s): " + ", ".join(missing))
        try:
            return cls(
                state_table=env["STATE_TABLE"],
                raw_bucket=env["RAW_BUCKET"],
                audit_bucket=env["AUDIT_BUCKET"],
                public_bucket=env["PUBLIC_BUCKET"],
                distribution_id=env.get("DISTRIBUTION_ID") or None,
                catalog_url=env.get("CATALOG_URL") or DEFAULT_CATALOG_URL,
                pdc_url=env.get("PDC_URL") or DEFAULT_PDC_URL,
                partitions=int(env.get("PARTITIONS", "8")),
                lock_lease_seconds=int(env.get("LOCK_LEASE_SECONDS", str(4 * 3600))),
                s3_concurrency=int(env.get("S3_CONCURRENCY", "16")),
            )
        except ValueError as exc:
            raise ConfigurationError(f"bad numeric setting: {exc}") from None
