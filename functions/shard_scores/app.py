"""ShardScoresFunction: the publishing steps of the refresh state machine (statemachine/refresh.asl.json)
and two operator actions, chosen by the event's ``action``.

One function for all the publishing steps, not one per step: they share the heavy layer (pandas/pyarrow
from the AWS SDK for pandas managed layer), the memory size, the role and the warm caches (contract,
methodology, the private index), and a step is one line of the table below. Thin on purpose: each step
is a method of ``mips_profiles.orchestration.run_steps.RunSteps``; the actions are
``mips_profiles.orchestration.operations``.

A failure the state machine should retry as it is (throttling, a 5xx, a reset connection) is raised as
``Transient``, the only error name its Retry clauses list besides Lambda's own; anything else fails the
step at once and the state machine's catch-all releases the lock and raises the alarm.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cache
from typing import Any

from mips_profiles.lean_imports import refuse_pandas

refuse_pandas()  # before pyarrow is used: its pandas shim would import the layer's pandas (1.5-2.5 s of CPU)

from aws_lambda_powertools import Logger, Metrics, Tracer  # noqa: E402
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers  # noqa: E402
from aws_lambda_powertools.metrics import MetricUnit  # noqa: E402
from aws_lambda_powertools.utilities.typing import LambdaContext  # noqa: E402

from mips_profiles.adapters.cloudfront import CloudFrontCdn, NoCdn  # noqa: E402
from mips_profiles.adapters.dynamo import DynamoStateStore, RunLock  # noqa: E402
from mips_profiles.adapters.s3 import S3Store, is_transient  # noqa: E402
from mips_profiles.errors import Transient  # noqa: E402
from mips_profiles.orchestration.messages import parse_step_event  # noqa: E402
from mips_profiles.orchestration.operations import repair, self_test  # noqa: E402
from mips_profiles.orchestration.run_steps import INVALIDATION_PATHS, RunSteps  # noqa: E402
from mips_profiles.publishing.publish import Publisher  # noqa: E402
from mips_profiles.publishing.reconcile import RECONCILIATION_KEY  # noqa: E402
from mips_profiles.settings import Settings  # noqa: E402

settings = Settings.from_env()
logger = Logger()
# No botocore patching: a first publish makes ~430,000 S3 PUTs, one subsegment each would pass X-Ray's trace size
# limit and cost 0.1-0.9 ms of CPU per PUT. Each step keeps its own subsegment (capture_method below).
tracer = Tracer(auto_patch=False)
metrics = Metrics()
# the package's own logging goes out as this function's structured logs
copy_config_to_registered_loggers(source_logger=logger, include={"mips_profiles"})


@cache
def steps() -> RunSteps:
    publisher = Publisher(
        S3Store(settings.public_bucket, concurrency=settings.s3_concurrency), S3Store(settings.audit_bucket)
    )
    return RunSteps(
        publisher,
        raw=S3Store(settings.raw_bucket),
        state=DynamoStateStore(settings.state_table),
        cdn=CloudFrontCdn(settings.distribution_id) if settings.distribution_id else NoCdn(),
        partitions=settings.partitions,
        work_dir="/tmp",
    )


@tracer.capture_method(capture_response=False)
def stage(e: dict[str, Any]) -> Mapping[str, Any]:
    return steps().stage(e["item"])


@tracer.capture_method(capture_response=False)
def publish_partition(e: dict[str, Any]) -> Mapping[str, Any]:
    return steps().publish_partition(e["run_id"], e["group"])


@tracer.capture_method(capture_response=False)
def finalize(e: dict[str, Any]) -> Mapping[str, Any]:
    return steps().finalize(e["run_id"], e["item"])


@tracer.capture_method(capture_response=False)
def ingest_pdc(e: dict[str, Any]) -> Mapping[str, Any]:
    return steps().ingest_pdc(e["item"])


@tracer.capture_method(capture_response=False)
def record_check_dates(e: dict[str, Any]) -> Mapping[str, Any]:
    return steps().record_check_dates(e["checked"], e["outcomes"])


# Each step is its own X-Ray subsegment (capture_method), so a trace shows where a run's time went.
STEPS: dict[str, Callable[[dict[str, Any]], Mapping[str, Any]]] = {
    "stage": stage,
    "publish_partition": publish_partition,
    "finalize": finalize,
    "ingest_pdc": ingest_pdc,
    "record_check_dates": record_check_dates,
}


def _emit(action: str, result: Mapping[str, Any]) -> None:
    if action == "publish_partition":
        metrics.add_metric(name="DocumentsWritten", unit=MetricUnit.Count, value=result["docs_written"])
        metrics.add_metric(name="DocumentsUnchanged", unit=MetricUnit.Count, value=result["docs_unchanged"])
        metrics.add_metric(name="DocumentsDeleted", unit=MetricUnit.Count, value=result["docs_deleted"])
        metrics.add_metric(name="BytesWritten", unit=MetricUnit.Bytes, value=result["bytes_written"])
    if result.get("status") == "staged":
        metrics.add_metric(name="RowsRejected", unit=MetricUnit.Count, value=result["rows_rejected"])
        unknown = result.get("unknown_columns") or []
        metrics.add_metric(name="UnknownColumns", unit=MetricUnit.Count, value=len(unknown))
        if unknown:
            logger.warning(
                "columns the display contract does not know (kept in the audit record, not published)",
                extra={"performance_year": result["performance_year"], "unknown_columns": unknown},
            )
    if result.get("status") == "published":
        check = result.get("final_score_check") or {}
        if check.get("share") is not None:  # the fidelity self-check of the release
            metrics.add_metric(name="FinalScoresReproduced", unit=MetricUnit.Percent, value=100 * check["share"])
        for warning in result.get("warnings") or []:
            metrics.add_metric(name="FinalScoreCheckDropped", unit=MetricUnit.Count, value=1)
            logger.warning(warning, extra={"performance_year": result["performance_year"]})
    summary = result.get(RECONCILIATION_KEY)
    if summary:
        metrics.add_metric(name="CmsProfileMismatches", unit=MetricUnit.Count, value=summary["mismatches"])
    if result.get("status") == "refused":
        metrics.add_metric(name="PublishRefused", unit=MetricUnit.Count, value=1)
        logger.error(
            "file refused",
            extra={
                "performance_year": result["performance_year"],
                "source": result["source"],
                "error": result["error"],
            },
        )


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> Mapping[str, Any]:
    event = parse_step_event(event)  # every field of its type, no unknown one: refused by name otherwise
    action = event["action"]
    # the execution name, as the checker's: every step of one run shares it (an operator's invoke: its request id)
    logger.set_correlation_id(event.get("run") or context.aws_request_id)
    if action == "selftest":
        s = steps()
        return self_test(s.publisher, raw=s.raw, lock=RunLock(settings.state_table))
    if action == "repair":
        s = steps()
        repaired = repair(
            s.publisher,
            lock=RunLock(settings.state_table),
            cdn=s.cdn,
            owner=f"repair-{context.aws_request_id}",
            lease_seconds=settings.lock_lease_seconds,
            invalidation_paths=INVALIDATION_PATHS,
        )
        metrics.add_metric(name="ObjectsRepaired", unit=MetricUnit.Count, value=len(repaired.get("restored", [])))
        logger.info("repair", extra={k: v for k, v in repaired.items() if k not in ("restored", "deleted")})
        return repaired
    step = STEPS[action]
    try:
        result = step(event)
    except Exception as exc:
        if is_transient(exc):
            raise Transient(f"{action}: {type(exc).__name__}: {exc}") from exc
        raise
    _emit(str(action), result)
    logger.info("step done", extra={"action": action, "status": result.get("status")})
    return result
