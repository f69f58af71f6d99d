"""CheckReleaseFunction: the ``Check`` step of the refresh state machine (statemachine/refresh.asl.json).

Thin on purpose: parse the execution input, delegate to ``mips_profiles.orchestration.release_check``, answer the plan.
The state machine holds the run lock around this step and starts one execution per schedule tick or
manual request. Imports no pandas or pyarrow, so it cold-starts light.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.typing import LambdaContext

from mips_profiles.adapters.dynamo import DynamoStateStore
from mips_profiles.adapters.http import HttpClient, SizeLimits, UrlPolicy
from mips_profiles.adapters.s3 import S3Store
from mips_profiles.orchestration.messages import CheckAnswer, parse_check_event
from mips_profiles.orchestration.release_check import CheckRequest, check_for_releases
from mips_profiles.settings import Settings

settings = Settings.from_env()  # every variable, once, at cold start: a bad one fails here, naming it
URLS = UrlPolicy.allowing(settings.network.extra_hosts, loopback_http=settings.network.allow_loopback_http)
LIMITS = SizeLimits().overridden(settings.network.limits)
logger = Logger()
tracer = Tracer()
metrics = Metrics()
# the package's own logging (the downloader's retries, ...) goes out as this function's structured logs
copy_config_to_registered_loggers(source_logger=logger, include={"mips_profiles"})


@logger.inject_lambda_context(log_event=True)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> CheckAnswer:
    """``event``: ``{"request": <the execution input>, "run": <the execution name>}``."""
    body, run = parse_check_event(event)  # the event's shape and the execution name, before anything is fetched
    request = CheckRequest.from_event(body)
    logger.set_correlation_id(run or context.aws_request_id)
    http = HttpClient(urls=URLS, limits=LIMITS)
    result = check_for_releases(
        request,
        http=http,
        state=DynamoStateStore(settings.state_table),
        raw=S3Store(settings.raw_bucket),
        catalog_url=settings.catalog_url,
        work_dir="/tmp",
        pdc_url=settings.pdc_url or None,
    )
    for year, outcome in result["years"].items():
        # one metric, YearsChecked, with the decision as a dimension (new, corrected, unchanged, forced, failed)
        with single_metric(
            name="YearsChecked", unit=MetricUnit.Count, value=1, namespace=metrics.namespace
        ) as decision_metric:
            decision_metric.add_dimension(name="decision", value=outcome["decision"])
        if outcome["decision"] == "failed":
            metrics.add_metric(name="PublishRefused", unit=MetricUnit.Count, value=1)
        logger.info("performance year checked", extra={"performance_year": year, **outcome})
    metrics.add_metric(name="DownloadRetries", unit=MetricUnit.Count, value=len(http.retry_log))
    if result["pdc"]:
        logger.info("PDC score file checked", extra={"source": "pdc", **result["pdc"]})
    return result
