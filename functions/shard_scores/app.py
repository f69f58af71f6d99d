"""ShardScoresFunction: consumes the work queue (SQS, partial batch failures), and takes two operator
actions by direct invocation: ``{"action": "selftest"}`` and ``{"action": "repair"}``.

Thin on purpose: each record is one work message handed to ``mips_profiles.shard_worker``; a failed
record is reported back to SQS alone, retried, and after the queue's max receive count lands in the
dead-letter queue; the actions are ``mips_profiles.operations``. pandas/pyarrow come from the AWS SDK
for pandas managed layer.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from mips_profiles.dynamo import DynamoStateStore, RunLock, RunTracker
from mips_profiles.messaging import CloudFrontCdn, NoCdn, SqsQueue
from mips_profiles.operations import repair, self_test
from mips_profiles.publish import Publisher
from mips_profiles.reconcile import RECONCILIATION_KEY
from mips_profiles.s3 import S3Store
from mips_profiles.settings import Settings
from mips_profiles.shard_worker import INVALIDATION_PATHS, ShardWorker

settings = Settings.from_env()
logger = Logger()
tracer = Tracer()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS)


@cache
def worker() -> ShardWorker:
    publisher = Publisher(S3Store(settings.public_bucket, concurrency=settings.s3_concurrency),
                          S3Store(settings.audit_bucket))
    return ShardWorker(
        publisher,
        raw=S3Store(settings.raw_bucket),
        state=DynamoStateStore(settings.state_table),
        lock=RunLock(settings.state_table),
        tracker=RunTracker(settings.state_table),
        queue=SqsQueue(settings.work_queue_url),
        cdn=CloudFrontCdn(settings.distribution_id) if settings.distribution_id else NoCdn(),
        partitions=settings.partitions,
        work_dir="/tmp",
    )


@tracer.capture_method
def record_handler(record: SQSRecord) -> dict[str, Any]:
    message = json.loads(record.body)
    logger.set_correlation_id(message.get("owner") or message.get("run_id"))
    try:
        outcome = worker().handle(message)
    except Exception:
        # A failed record does not fail the invocation (partial batch response), so the Lambda Errors
        # metric never sees it: count it here for the RunFailed alarm. SQS retries it.
        metrics.add_metric(name="RunFailed", unit=MetricUnit.Count, value=1)
        raise
    if outcome.kind == "run" and outcome.status == "done":
        metrics.add_metric(name="RunFinished", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="WorkMessages", unit=MetricUnit.Count, value=1)
    if outcome.partition:
        p = outcome.partition
        metrics.add_metric(name="DocumentsWritten", unit=MetricUnit.Count, value=p.docs_written)
        metrics.add_metric(name="DocumentsUnchanged", unit=MetricUnit.Count, value=p.docs_unchanged)
        metrics.add_metric(name="DocumentsDeleted", unit=MetricUnit.Count, value=p.docs_deleted)
        metrics.add_metric(name="BytesWritten", unit=MetricUnit.Bytes, value=p.bytes_written)
    if outcome.status == "staged":
        metrics.add_metric(name="RowsRejected", unit=MetricUnit.Count, value=outcome.details["rows_rejected"])
        unknown = outcome.details.get("unknown_columns") or []
        metrics.add_metric(name="UnknownColumns", unit=MetricUnit.Count, value=len(unknown))
        if unknown:
            logger.warning("columns the display contract does not know (kept in the audit record, not published)",
                           extra={"performance_year": outcome.performance_year, "unknown_columns": unknown})
    summary = outcome.details.get(RECONCILIATION_KEY) if outcome.status == "reconciled" else None
    if summary:
        metrics.add_metric(name="CmsProfileMismatches", unit=MetricUnit.Count, value=summary["mismatches"])
    if outcome.status == "refused":
        metrics.add_metric(name="PublishRefused", unit=MetricUnit.Count, value=1)
        logger.error("performance year refused", extra={"performance_year": outcome.performance_year,
                                                        "error": outcome.error})
    logger.info("work done", extra={"kind": outcome.kind, "status": outcome.status, "run_id": outcome.run_id})
    return {"kind": outcome.kind, "status": outcome.status}


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    action = event.get("action")
    if action == "selftest":
        w = worker()
        return self_test(w.publisher, raw=w.raw, lock=w.lock)
    if action == "repair":
        w = worker()
        result = repair(w.publisher, lock=w.lock, cdn=w.cdn, owner=f"repair-{context.aws_request_id}",
                        lease_seconds=settings.lock_lease_seconds, invalidation_paths=INVALIDATION_PATHS)
        metrics.add_metric(name="ObjectsRepaired", unit=MetricUnit.Count, value=len(result.get("restored", [])))
        logger.info("repair", extra={k: v for k, v in result.items() if k not in ("restored", "deleted")})
        return result
    if action is not None:
        raise ValueError(f"unknown action {action!r}: expected 'selftest' or 'repair'")
    return process_partial_response(event=event, record_handler=record_handler, processor=processor,
                                    context=context)
