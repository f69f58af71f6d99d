"""IAM as deployed: the flows run under each function role's and the state machine role's policy from
``template.yaml`` (moto with IAM enforced, see ``iam_enforcement``), and every statement of those policies
is needed by some flow (but the two ``UNPROVABLE`` ones, each with its reason)."""

from __future__ import annotations

import pytest
from aws_stack import FUNCTION_ROLES, csv_bytes, running_stack, scheduled
from botocore.exceptions import ClientError
from iam_enforcement import role_statements

from mips_profiles.sandbox.generator import generate_table, make_correction, make_pdc_table

# Statements no moto flow can prove needed, each with the reason; everything else must be.
UNPROVABLE = {
    ("machine", "EncryptForTheAlarmTopic"): "moto's SNS does not encrypt with the topic's KMS key",
    ("machine", "DeliverExecutionLogs"): "moto's Step Functions delivers no execution logs",
}
STATEMENTS = [
    (fn, i, s.get("Sid", str(i)))
    for fn, logical in FUNCTION_ROLES.items()
    for i, s in enumerate(role_statements(logical))
    if (fn, s.get("Sid")) not in UNPROVABLE
]


@pytest.fixture(scope="module")
def tables():
    """Small files: what is proved here is which calls each flow makes, not how many."""
    return {year: generate_table(year, 80, seed=year) for year in (2023, 2024)}


def run(stack, request: dict, *, expect: str = "SUCCEEDED"):
    """One execution, failing loudly: any task denied along the way (even one a Catch swallowed, as the
    alarm notification's), a checker that reports a year's failure in its answer, or an unexpected end."""
    execution = stack.run(request)
    denials = execution.denials(stack.sfn)
    if denials:
        raise AssertionError(f"denied: {denials}")
    if execution.status != expect:
        raised = [i["exception"] for i in execution.log.invocations if "exception" in i]
        raise AssertionError(f"{execution.status} {execution.error}: {execution.cause}") from (
            raised[-1] if raised else None
        )
    check = (execution.output or {}).get("check") or {}
    failed = {y: o for y, o in check.get("years", {}).items() if o["decision"] == "failed"}
    if (check.get("pdc") or {}).get("decision") == "failed":
        failed["pdc"] = check["pdc"]
    if failed:
        raise AssertionError(f"the checker failed: {failed}")
    return execution


def run_every_kind_of_work(stack, tables, tmp_path) -> None:
    """Between them, every S3 prefix, table, topic, metric and the distribution the functions and the state
    machine touch: a first publish with a PDC file; a run that finds the lock held (by a repair); a
    correction that changes, adds and removes NPIs after taking over a stale lock; a run that fails."""
    stack.cms.publish_qpp(2024, csv_bytes(tables[2024], tmp_path), "2025-07-28")
    stack.cms.publish_pdc(2024, csv_bytes(make_pdc_table(tables[2024], mismatches=2), tmp_path), "2025-08-01")
    run(stack, scheduled(22))
    stack.ddb.put_item(
        TableName="state",
        Item={"pk": {"S": "lock#refresh"}, "owner": {"S": "repair-1"}, "lease_until": {"S": "2286-01-01T00:00:00Z"}},
    )
    assert run(stack, scheduled(23)).output["outcome"] == "lock held"
    stack.ddb.put_item(
        TableName="state",
        Item={
            "pk": {"S": "lock#refresh"},
            "owner": {"S": "gone"},
            "execution_arn": {"S": f"{stack.machine_arn}:gone".replace(":stateMachine:", ":execution:")},
        },
    )
    fix = make_correction(tables[2024], changed_share=0.02, removed=2, added=2)
    stack.cms.publish_qpp(2024, csv_bytes(fix.table, tmp_path), "2025-09-15")
    run(stack, scheduled(24))
    failed = run(stack, {"performance_year": 2019, "reason": "a year this catalog does not list"}, expect="FAILED")
    assert failed.error == "CatalogError" and len(stack.alarm_messages()) == 1


def test_every_flow_runs_under_the_template_policies(tables, tmp_path, monkeypatch):
    with running_stack(tmp_path, monkeypatch) as stack:
        run_every_kind_of_work(stack, tables, tmp_path)
        assert stack.lock_holder() is None
        assert stack.keys("audit", "reconciliation/py=2024/") == ["reconciliation/py=2024/mismatches.csv"]
        assert len(stack.invalidations()) == 2


def denied(exc: BaseException | None) -> bool:
    """AccessDenied anywhere in the exception chain (boto3's upload and Powertools wrap it); CloudFront's
    denial reaches botocore as a bare 403."""
    while exc is not None:
        if isinstance(exc, ClientError) and (
            exc.response["Error"].get("Code") == "AccessDenied"
            or exc.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        ):
            return True
        if "AccessDenied" in str(exc) or "(403)" in str(exc) or "Status Code: 403" in str(exc):  # older botocore
            return True
        exc = exc.__cause__ or exc.__context__
    return False


@pytest.mark.parametrize(
    ("function", "index"), [(fn, i) for fn, i, _ in STATEMENTS], ids=[f"{fn}-{sid}" for fn, _, sid in STATEMENTS]
)
def test_each_policy_statement_is_needed(function, index, tables, tmp_path, monkeypatch):
    with running_stack(tmp_path, monkeypatch, drop=(function, index)) as stack, pytest.raises(Exception) as caught:
        run_every_kind_of_work(stack, tables, tmp_path)
    assert denied(caught.value), caught.value


def test_the_harness_denies_what_the_policy_does_not_grant(tables, tmp_path, monkeypatch):
    """The enforcement itself: the shard role may not read the raw PDC copy it writes, nor anything
    outside its prefixes; a missing key answers 404 only to a role that may list the bucket (the checker
    may not: 403, as on AWS); DynamoDB is checked per table."""
    import boto3
    from iam_enforcement import acting_as

    with running_stack(tmp_path, monkeypatch) as stack:
        with acting_as(stack.roles["shard"]):
            s3 = boto3.client("s3")
            s3.put_object(Bucket="audit", Key="raw/pdc/py=2024/x.csv", Body=b"x")
            for bucket, key in (("audit", "raw/pdc/py=2024/x.csv"), ("audit", "elsewhere/x"), ("public", "x.json")):
                with pytest.raises(ClientError, match="AccessDenied"):
                    s3.get_object(Bucket=bucket, Key=key)
            with pytest.raises(ClientError, match="NoSuchKey"):
                s3.get_object(Bucket="raw", Key="raw/missing")
            with pytest.raises(ClientError, match="AccessDenied"):
                boto3.client("dynamodb").get_item(TableName="elsewhere", Key={"pk": {"S": "x"}})
        with acting_as(stack.roles["check"]):
            s3 = boto3.client("s3")
            s3.put_object(Bucket="raw", Key="raw/qpp/x.csv", Body=b"x")
            for key in ("raw/qpp/x.csv", "raw/missing"):
                with pytest.raises(ClientError, match="AccessDenied"):
                    s3.get_object(Bucket="raw", Key=key)


def test_every_action_moto_asks_for_is_one_iam_has(tables, tmp_path, monkeypatch):
    """Whatever a moto release calls an operation, the harness asks IAM for the action AWS authorises it as:
    a HEAD of an object is ``s3:GetObject`` (moto 5.2.6 says ``s3:HeadObject``), a listing ``s3:ListBucket``,
    a metric ``cloudwatch:PutMetricData``; and every name asked for is in IAM's own list."""
    from iam_enforcement import ASKED_ACTIONS, iam_has_action

    ASKED_ACTIONS.clear()
    with running_stack(tmp_path, monkeypatch) as stack:
        run_every_kind_of_work(stack, tables, tmp_path)
    asked = set(ASKED_ACTIONS)
    assert {"s3:GetObject", "s3:PutObject", "s3:ListBucket", "s3:DeleteObject", "cloudwatch:PutMetricData"} <= asked
    assert {"dynamodb:PutItem", "states:StartExecution", "sns:Publish"} <= asked
    assert [a for a in sorted(asked) if not iam_has_action(a)] == []


def test_an_operation_name_iam_does_not_have_fails_the_run(monkeypatch):
    """Without the mapping, moto's own name for an operation (``monitoring:PutMetricData``, CloudWatch's
    endpoint prefix) is not an IAM action: the enforced block fails, naming it and where to map it, instead
    of letting a test pass or fail on a name AWS never checks."""
    import boto3
    import iam_enforcement
    from moto import mock_aws

    monkeypatch.setattr(iam_enforcement, "IAM_PREFIXES", {})
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        admin = iam_enforcement.create_admin()
        cloudwatch = boto3.client("cloudwatch", **admin)
        with (
            pytest.raises(AssertionError, match=r"monitoring:PutMetricData.*ACTION_ALIASES"),
            iam_enforcement.iam_enforced(),
        ):
            cloudwatch.put_metric_data(Namespace="t", MetricData=[{"MetricName": "m", "Value": 1.0}])
    assert not iam_enforcement.iam_has_action("s3:HeadObject")
    assert iam_enforcement.iam_action_name("s3:HeadObject") == "s3:GetObject"
    assert iam_enforcement.iam_has_action(iam_enforcement.iam_action_name("s3:HeadObject"))
