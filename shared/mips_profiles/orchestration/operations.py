"""Operator actions of the shard function, invoked directly (not through the state machine):

- ``{"action": "selftest"}``: after ``sam deploy``, prove the function works *as deployed*: its
  layers import, the Lambda layer's pyarrow writes and reads the private Parquet codec, a CMS-shaped
  CSV parses, and its own role reaches the buckets and the table it needs. Writes only a tiny object
  under ``runs/selftest/`` (expired by the bucket's lifecycle rule).
- ``{"action": "repair"}``: under the run lock, make the public tree equal to what the private state
  says (``repair.Repairer``), and invalidate the CDN if anything was restored.
"""

from __future__ import annotations

import io
import time
import uuid
from collections.abc import Callable
from typing import Any

from ..adapters.dynamo import RunLock
from ..keys import SELFTEST_PREFIX, SELFTEST_RAW_KEY
from ..ports import BlobStore, Cdn
from ..publishing.ledger import PARQUET_COMPRESSION
from ..publishing.publish import Publisher


def self_test(publisher: Publisher, *, raw: BlobStore, lock: RunLock) -> dict[str, Any]:
    checks: dict[str, str] = {}

    def check(name: str, fn: Callable[[], str | None]) -> None:
        try:
            detail = fn()
            checks[name] = f"ok{': ' + detail if detail else ''}"
        except Exception as exc:  # a self-test reports every failure, it does not stop at the first
            checks[name] = f"FAILED: {type(exc).__name__}: {exc}"

    def imports() -> str:
        import aws_lambda_powertools
        import orjson
        import pyarrow

        return (
            f"pyarrow {pyarrow.__version__}, powertools {aws_lambda_powertools.__version__}, "
            f"orjson {orjson.__version__}"
        )

    def parquet() -> str:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.table({"npi": ["1376745471"], "final_score": [94.79]})
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, compression=PARQUET_COMPRESSION)
        if not pq.read_table(pa.BufferReader(sink.getvalue())).equals(table):
            raise AssertionError("Parquet round trip changed the table")
        return PARQUET_COMPRESSION

    def csv() -> str:
        import pyarrow.csv as pacsv

        text = b'\xef\xbb\xbf"npi","final score"\n"1376745471","94.79"\n'
        table = pacsv.read_csv(io.BytesIO(text), convert_options=pacsv.ConvertOptions(strings_can_be_null=False))
        return f"{table.num_rows} row"

    def private_store() -> str:
        key = f"{SELFTEST_PREFIX}/{uuid.uuid4().hex}.txt"
        return publisher.probe_private(key)

    def public_store() -> str:
        return publisher.probe_public()

    def raw_store() -> str:
        raw.read(SELFTEST_RAW_KEY)  # a GET under raw/: AccessDenied here means the role lacks it
        return raw.describe()

    def state_table() -> str:
        holder = lock.holder()
        return f"lock {'held by ' + holder['owner'] if holder else 'free'}"

    for name, fn in (
        ("imports", imports),
        ("parquet", parquet),
        ("csv", csv),
        ("private_store", private_store),
        ("public_store", public_store),
        ("raw_store", raw_store),
        ("state_table", state_table),
    ):
        check(name, fn)
    ok = all(v.startswith("ok") for v in checks.values())
    return {"action": "selftest", "status": "ok" if ok else "failed", "checks": checks}


def repair(
    publisher: Publisher, *, lock: RunLock, cdn: Cdn, owner: str, lease_seconds: int, invalidation_paths: list[str]
) -> dict[str, Any]:
    if not lock.acquire(owner, lease_seconds):
        return {"action": "repair", "status": "refused", "reason": "a run holds the lock; try again after it"}
    try:
        report = publisher.repairer().repair()
        if report.changed:
            cdn.invalidate(invalidation_paths, f"repair-{owner}-{int(time.time())}")
    finally:
        lock.release(owner)
    return {"action": "repair", "status": "repaired" if report.changed else "intact", **report.to_dict()}
