"""CheckReleaseFunction: the daily EventBridge Scheduler run and manual re-runs for one year.

Thin on purpose: parse the event, delegate to ``mips_profiles.release_check``, return a small result.
Imports no pandas or pyarrow, so it cold-starts light. A duplicated event (same payload) returns the
first result and does nothing twice (Powertools idempotency on DynamoDB).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from mips_profiles.dynamo import DynamoStateStore, RunLock
from mips_profiles.http import HttpClient, SizeLimits, UrlPolicy
from mips_profiles.messaging import SqsQueue
from mips_profiles.release_check import CheckRequest, check_for_releases
from mips_profiles.s3 import S3Store
from mips_profiles.settings import Settings

settings = Settings.from_env()
logger = Logger()
tracer = Tracer()
metrics = Metrics()
persistence = DynamoDBPersistenceLayer(table_name=settings.idempotency_table or "")
idempotency = IdempotencyConfig(
    event_key_jmespath="[performance_year, force, reason, scheduled_time]",
    expires_after_seconds=24 * 3600,
)


@logger.inject_lambda_context(log_event=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
@idempotent(config=idempotency, persistence_store=persistence)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = CheckRequest.from_event(event)
    logger.set_correlation_id(context.aws_request_id)
    result = check_for_releases(
        request,
        http=HttpClient(urls=UrlPolicy.from_env(), limits=SizeLimits.from_env()),
        state=DynamoStateStore(settings.state_table),
        lock=RunLock(settings.state_table),
        raw=S3Store(settings.raw_bucket),
        queue=SqsQueue(settings.work_queue_url),
        catalog_url=settings.catalog_url,
        owner=context.aws_request_id,
        lease_seconds=settings.lock_lease_seconds,
        work_dir="/tmp",
        pdc_url=settings.pdc_url or None,
    )
    if result["status"] == "refused":
        metrics.add_metric(name="RunRefusedByLock", unit=MetricUnit.Count, value=1)
    else:  # the plan (possibly empty) was handed over; the shard function counts RunFinished at its end
        metrics.add_metric(name="RunStarted", unit=MetricUnit.Count, value=1)
    outcomes = [*result.get("years", {}).values(), *([result["pdc"]] if "pdc" in result else [])]
    if any(o.get("decision") == "failed" for o in outcomes):
        metrics.add_metric(name="RunFailed", unit=MetricUnit.Count, value=1)
    for year, outcome in result.get("years", {}).items():
        metrics.add_metric(name=f"Decision_{outcome['decision']}", unit=MetricUnit.Count, value=1)
        logger.info("performance year checked", extra={"performance_year": year, **outcome})
    if "pdc" in result:
        logger.info("PDC score file checked", extra={"source": "pdc", **result["pdc"]})
    return result
