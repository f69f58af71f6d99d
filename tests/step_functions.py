"""Run ``statemachine/refresh.asl.json`` in moto's Step Functions interpreter, with its Lambda tasks
dispatched to the real handlers in this process.

moto executes state machines (``mock_aws(config={"stepfunctions": {"execute_state_machine": True}})``,
moto >= 5.0.x; pinned in pyproject as ``moto[...]>=5.2.5,<5.3``), but it would run a Lambda task in
Docker. ``in_process_tasks`` replaces the one place where its interpreter makes AWS clients
(``moto.stepfunctions.parser.asl.utils.boto_client``):

- a ``lambda`` client becomes ``InProcessLambda``: ``Invoke`` checks that the state machine's role may
  invoke the function, runs the function's handler as the function's role, and answers as Lambda does
  (``FunctionError: Unhandled`` with ``errorType``/``errorMessage`` when the handler raises, which is how
  Step Functions names the error a Retry or Catch matches), refusing a payload over Step Functions'
  256 KiB limit as the service would;
- every other client (DynamoDB, SNS, CloudWatch, Step Functions for the lock holder) is made with the
  state machine role's credentials, so moto's IAM enforcement checks the template's policy for it
  (moto's interpreter would sign with a fixed fake key); the ``aws-sdk:sfn`` integration gets the
  PascalCase-to-camelCase mapping the service does (``_PascalCaseSdk``).

Invocations are serialized: the handlers keep module-level state (settings, cached clients), as one
Lambda sandbox does; real Lambda runs concurrent partitions in separate sandboxes. The retry waits
(``IntervalSeconds`` x ``BackoffRate`` with jitter) are recorded in ``waits`` instead of slept.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.exceptions import ClientError
from iam_enforcement import Credentials, acting_as, policy_allows

STATE_PAYLOAD_LIMIT = 256 * 1024  # bytes: Step Functions' limit on a state's input or output


@dataclass
class LambdaFunction:
    arn: str
    handler: Callable[[dict, Any], Any]
    credentials: Credentials
    context: Callable[[], Any]


@dataclass
class TaskLog:
    """What the in-process Lambda saw: every invocation's function, event and outcome; every retry wait."""

    invocations: list[dict[str, Any]] = field(default_factory=list)
    waits: list[float] = field(default_factory=list)

    def actions(self, name: str | None = None) -> list[str]:
        return [
            i["event"].get("action", "check")
            for i in self.invocations
            if name is None or i["event"].get("action", "check") == name
        ]


class InProcessLambda:
    """The ``lambda`` client moto's interpreter gets: ``invoke`` runs the function's handler here."""

    def __init__(
        self,
        functions: dict[str, LambdaFunction],
        policy: dict[str, Any],
        log: TaskLog,
        lock: threading.Lock,
        before: Callable[[str, dict], None] | None,
    ) -> None:
        self.functions, self.policy, self.log, self.lock, self.before = functions, policy, log, lock, before

    def invoke(self, FunctionName: str, Payload: bytes | None = None, **_: Any) -> dict[str, Any]:
        function = self.functions.get(FunctionName)
        if function is None:
            raise _client_error("ResourceNotFoundException", 404, f"Function not found: {FunctionName}", "Invoke")
        if not policy_allows(self.policy, "lambda:InvokeFunction", function.arn):
            raise _client_error(
                "AccessDeniedException",
                403,
                f"the state machine's role may not invoke {function.arn} (lambda:InvokeFunction)",
                "Invoke",
            )
        raw = Payload or b"{}"
        if len(raw) > STATE_PAYLOAD_LIMIT:
            raise _client_error("RequestTooLargeException", 413, f"payload of {len(raw)} bytes", "Invoke")
        event = json.loads(raw)
        with self.lock:
            entry = {"function": function.arn, "event": event}
            self.log.invocations.append(entry)
            try:
                if self.before:
                    self.before(function.arn, event)
                with acting_as(function.credentials):
                    result = function.handler(event, function.context())
                body = json.dumps(result).encode()  # what the Lambda runtime serializes, or fails to
            except Exception as exc:  # the Lambda runtime's answer for an unhandled exception
                entry["error"], entry["exception"] = type(exc).__name__, exc
                error = {"errorMessage": str(exc), "errorType": type(exc).__name__, "stackTrace": []}
                return {
                    "StatusCode": 200,
                    "FunctionError": "Unhandled",
                    "ExecutedVersion": "$LATEST",
                    "Payload": io.BytesIO(json.dumps(error).encode()),
                }
            entry["result"] = result
        if len(body) > STATE_PAYLOAD_LIMIT:
            error = {
                "errorMessage": f"the result of {len(body)} bytes exceeds the state payload limit",
                "errorType": "States.DataLimitExceeded",
                "stackTrace": [],
            }
            return {"StatusCode": 200, "FunctionError": "Unhandled", "Payload": io.BytesIO(json.dumps(error).encode())}
        return {"StatusCode": 200, "ExecutedVersion": "$LATEST", "Payload": io.BytesIO(body)}


def _client_error(code: str, status: int, message: str, operation: str) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status, "RequestId": "in-process"},
        },
        operation,
    )


class _AnswersLikeAws:
    """A service client whose errors carry a ``RequestId`` as AWS's always do (moto's IAM denials come
    without one, and moto's SNS integration then crashes instead of raising the named error)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def __getattr__(self, operation: str) -> Any:
        call = getattr(self.client, operation)
        if not callable(call):
            return call

        def answered(**params: Any) -> Any:
            try:
                return call(**params)
            except ClientError as exc:
                meta = exc.response.setdefault("ResponseMetadata", {})
                meta.setdefault("RequestId", meta.get("HTTPHeaders", {}).get("x-amzn-requestid", "moto"))
                raise

        return answered


class _PascalCaseSdk:
    """Step Functions' ``aws-sdk:sfn:*`` integration takes and answers PascalCase member names
    (``ExecutionArn``, ``Status``) and maps them to the camelCase API; moto's interpreter passes them to boto3
    as written, which the API refuses. This does the mapping the service does."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def __getattr__(self, operation: str) -> Any:
        call = getattr(self.client, operation)

        def mapped(**params: Any) -> Any:
            response = call(**{k[:1].lower() + k[1:]: v for k, v in params.items()})
            return {k[:1].upper() + k[1:]: v for k, v in response.items()}

        return mapped


class _Clients:
    """Stands in for the ``boto3`` module inside moto's ``boto_client`` (only ``client`` is used)."""

    def __init__(self, machine: Credentials, lambdas: InProcessLambda) -> None:
        self.machine, self.lambdas = machine, lambdas

    def client(self, service_name: str, region_name: str | None = None, **kwargs: Any) -> Any:
        if service_name == "lambda":
            return self.lambdas
        for key in ("aws_access_key_id", "aws_secret_access_key", "aws_session_token"):
            kwargs.pop(key, None)
        client = boto3.client(service_name, region_name=region_name, **kwargs, **self.machine)
        client = _AnswersLikeAws(client)
        return _PascalCaseSdk(client) if service_name in ("stepfunctions", "sfn") else client


@contextmanager
def in_process_tasks(
    functions: dict[str, LambdaFunction],
    *,
    machine: Credentials,
    machine_policy: dict[str, Any],
    before: Callable[[str, dict], None] | None = None,
) -> Iterator[TaskLog]:
    """While active, state machines executed by moto call ``functions`` (by ARN) in this process and reach
    the other services as ``machine`` (the state machine's role). Yields the log of what ran."""
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
    from moto.stepfunctions.parser.asl.utils import boto_client

    log = TaskLog()
    lambdas = InProcessLambda(functions, machine_policy, log, threading.Lock(), before)
    saved_boto3, saved_time = boto_client.boto3, retrier_decl.time

    class _Clock:
        @staticmethod
        def sleep(seconds: float) -> None:
            log.waits.append(seconds)

    boto_client.boto3 = _Clients(machine, lambdas)
    retrier_decl.time = _Clock
    try:
        yield log
    finally:
        boto_client.boto3, retrier_decl.time = saved_boto3, saved_time
