"""The stack as AWS and its vendors document it, where moto cannot tell: every reference to something outside
the template has its vendor's documented form, two stacks share an account and region without a colliding
physical name, a retained resource never blocks creating the stack again, and the alarms a deployed stack
needs exist (a run that did not start, a schedule that gave up, a CDN that fails)."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import cfn_yaml
from iam_enforcement import translated_template

ROOT = Path(__file__).parents[2]

# Each external reference the template may make, with the page that documents its form. A reference that
# matches none of these fails the test: add its pattern only with the vendor's page that gives it.
DOCUMENTED_FORMS: dict[str, tuple[re.Pattern[str], str]] = {
    # Powertools for AWS Lambda (Python), "Lambda Layer" > "SSM Parameter Store":
    # /aws/service/powertools/python/{arch}/{python_version}/{version}, version 3.x.y or latest.
    # https://docs.aws.amazon.com/powertools/python/latest/getting-started/install/#using-ssm-parameter-store
    "powertools-layer": (
        re.compile(r"^/aws/service/powertools/python/(x86_64|arm64)/python3\.\d+/(\d+\.\d+\.\d+|latest)$"),
        "https://docs.aws.amazon.com/powertools/python/latest/getting-started/install/",
    ),
    # AWS SDK for pandas, install page, "AWS Lambda Layer" > "Managed Layer" (SSM public parameters):
    # /aws/service/aws-sdk-pandas/{version}/py{X.Y}/{arch}/layer-arn, no region segment (a region form was
    # documented for two days in 2023, aws/aws-sdk-pandas#2486, and reverted by #2489).
    # https://aws-sdk-pandas.readthedocs.io/en/stable/install.html
    "aws-sdk-pandas-layer": (
        re.compile(
            r"^/aws/service/aws-sdk-pandas/(\d+\.\d+\.\d+|\$\{PandasSdkVersion\})/py3\.\d+/(x86_64|arm64)/layer-arn$"
        ),
        "https://aws-sdk-pandas.readthedocs.io/en/stable/install.html",
    ),
    # AWS managed policies SAM attaches (Tracing: Active on a function; a function's basic execution role):
    # https://docs.aws.amazon.com/aws-managed-policy/latest/reference/AWSXRayDaemonWriteAccess.html
    # https://docs.aws.amazon.com/aws-managed-policy/latest/reference/AWSLambdaBasicExecutionRole.html
    "aws-managed-policy": (
        re.compile(
            r"^arn:(aws[a-z-]*|\$\{AWS::Partition\}):iam::aws:policy/"
            r"(AWSXRayDaemonWriteAccess|AWSXrayWriteOnlyAccess|service-role/AWSLambdaBasicExecutionRole)$"
        ),
        "https://docs.aws.amazon.com/aws-managed-policy/latest/reference/policy-list.html",
    ),
}


def external_references() -> list[str]:
    """Every SSM public parameter, layer ARN and managed policy the deployed stack refers to."""
    raw = cfn_yaml.load(str(ROOT / "template.yaml"))
    found: list[str] = []
    for spec in raw["Parameters"].values():
        if str(spec["Type"]).startswith("AWS::SSM::Parameter::Value"):
            found.append(str(spec["Default"]))
    text = json.dumps(translated_template())
    found += re.findall(r"\{\{resolve:ssm:([^}]+(?:\}[^}]+)*)\}\}", text.replace("${PandasSdkVersion}", "\0"))
    found = [f.replace("\0", "${PandasSdkVersion}") for f in found]
    found += re.findall(r"arn:aws[a-z-]*:lambda:[^\"]*:layer:[^\"]*", text)  # a hard-coded layer ARN
    for resource in translated_template()["Resources"].values():
        for arn in resource.get("Properties", {}).get("ManagedPolicyArns", []):
            found.append(arn["Fn::Sub"] if isinstance(arn, dict) else arn)
    return found


def test_every_external_reference_has_its_vendors_documented_form():
    references = external_references()
    kinds = set()
    for ref in references:
        matching = [kind for kind, (pattern, _) in DOCUMENTED_FORMS.items() if pattern.match(ref)]
        assert matching, f"{ref!r} matches no documented form (DOCUMENTED_FORMS)"
        kinds |= set(matching)
    # the two layers and the managed policies are all there: a reference moved elsewhere is not silently unchecked
    assert kinds == set(DOCUMENTED_FORMS), set(DOCUMENTED_FORMS) - kinds


@pytest.mark.parametrize(
    "reference",
    [
        "/aws/service/aws-sdk-pandas/3.12.1/us-east-1/py3.12/x86_64/layer-arn",  # the region form: does not resolve
        "/aws/service/powertools/python/python3.12/x86_64/3.22.1",  # segments swapped
        "arn:aws:lambda:us-east-1:336392948345:layer:AWSSDKPandas-Python312:16",  # one region's ARN
    ],
)
def test_a_reference_of_another_form_is_caught(reference):
    assert not any(pattern.match(reference) for pattern, _ in DOCUMENTED_FORMS.values())


# ---------------------------------------------------------------- two stacks, one account and region

ACCOUNT, REGION = "123456789012", "us-east-1"


class Resolver:
    """Enough of CloudFormation's intrinsic functions to compute physical names for one stack."""

    def __init__(self, stack_name: str, stack_uuid: str, resources: dict[str, Any], parameters: dict[str, Any]):
        self.pseudo = {
            "AWS::StackName": stack_name,
            "AWS::StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{stack_name}/{stack_uuid}",
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
        }
        self.resources = resources
        self.parameters = {k: v.get("Default", "") for k, v in parameters.items()}
        self.conditions: dict[str, Any] = {}

    def ref(self, name: str) -> str:
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return str(self.parameters[name])
        # a name CloudFormation generates: the stack's name, the logical id and a suffix new at every creation
        return self.physical_name(name) or f"{self.pseudo['AWS::StackName']}-{name}-{self.pseudo['AWS::StackId'][-12:]}"

    def physical_name(self, logical_id: str) -> str | None:
        resource = self.resources[logical_id]
        for path in NAME_PROPERTIES.get(resource["Type"], ()):
            node: Any = resource.get("Properties", {})
            for key in path:
                node = node.get(key) if isinstance(node, dict) else None
            if node is not None:
                return str(self.value(node))
        return None

    def condition(self, name: str) -> bool:
        return bool(self.value(self.conditions[name]))

    def value(self, node: Any) -> Any:  # noqa: C901 - one branch per intrinsic
        if isinstance(node, list):
            return [self.value(n) for n in node]
        if not isinstance(node, dict) or len(node) != 1:
            return node
        ((fn, arg),) = node.items()
        if fn == "Ref":
            return self.ref(arg)
        if fn == "Fn::Sub":
            text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
            values = {k: self.value(v) for k, v in variables.items()}

            def sub(m: re.Match[str]) -> str:
                name = m.group(1)
                if name in values:
                    return str(values[name])
                if "." in name:
                    return f"<{name}:{self.pseudo['AWS::StackName']}>"
                return self.ref(name)

            return re.sub(r"\$\{([^}!]+)\}", sub, text)
        if fn == "Fn::Join":
            return str(arg[0]).join(str(v) for v in self.value(arg[1]))
        if fn == "Fn::Split":
            return str(self.value(arg[1])).split(arg[0])
        if fn == "Fn::Select":
            return self.value(arg[1])[int(arg[0])]
        if fn == "Fn::If":
            return self.value(arg[1] if self.condition(arg[0]) else arg[2])
        if fn == "Fn::Equals":
            return self.value(arg[0]) == self.value(arg[1])
        if fn == "Fn::Not":
            return not self.value(arg[0])
        if fn == "Fn::GetAtt":
            return f"<{'.'.join(arg) if isinstance(arg, list) else arg}:{self.pseudo['AWS::StackName']}>"
        if fn == "Condition":
            return self.condition(arg)
        return node


# Where each resource type keeps the name it is known by in the account (an absent one is generated uniquely).
NAME_PROPERTIES: dict[str, tuple[tuple[str, ...], ...]] = {
    "AWS::Scheduler::Schedule": (("Name",),),
    "AWS::Glue::Database": (("DatabaseInput", "Name"),),
    "AWS::Glue::Table": (),  # named inside its database
    "AWS::Logs::LogGroup": (("LogGroupName",),),
    "AWS::Athena::WorkGroup": (("Name",),),
    "AWS::StepFunctions::StateMachine": (("StateMachineName",),),
    "AWS::CloudWatch::Dashboard": (("DashboardName",),),
    "AWS::CloudWatch::Alarm": (("AlarmName",),),
    "AWS::CloudFront::CachePolicy": (("CachePolicyConfig", "Name"),),
    "AWS::CloudFront::ResponseHeadersPolicy": (("ResponseHeadersPolicyConfig", "Name"),),
    "AWS::CloudFront::OriginAccessControl": (("OriginAccessControlConfig", "Name"),),
    "AWS::CloudFront::Distribution": (),
    "AWS::S3::Bucket": (("BucketName",),),
    "AWS::S3::BucketPolicy": (),
    "AWS::DynamoDB::Table": (("TableName",),),
    "AWS::SQS::Queue": (("QueueName",),),
    "AWS::SNS::Topic": (("TopicName",),),
    "AWS::SNS::TopicPolicy": (),
    "AWS::SNS::Subscription": (),
    "AWS::KMS::Key": (),
    "AWS::Lambda::Function": (("FunctionName",),),
    "AWS::Lambda::LayerVersion": (("LayerName",),),
    "AWS::IAM::Role": (("RoleName",),),
}


def physical_names(stack_name: str, stack_uuid: str) -> dict[str, str]:
    template = translated_template()
    resolver = Resolver(stack_name, stack_uuid, template["Resources"], template["Parameters"])
    resolver.conditions = template.get("Conditions", {})
    unknown = {r["Type"] for r in template["Resources"].values()} - set(NAME_PROPERTIES)
    assert not unknown, f"say where these types keep their names: {unknown}"
    names = {}
    for logical_id, resource in template["Resources"].items():
        name = resolver.physical_name(logical_id)
        if name is not None:
            names[logical_id] = f"{resource['Type']}|{name}"
    return names


def test_two_stacks_in_one_account_and_region_share_no_physical_name():
    dev = physical_names("mips-profiles-dev", "aaaaaaaa-0000-0000-0000-000000000001")
    prod = physical_names("mips-profiles", "bbbbbbbb-0000-0000-0000-000000000002")
    assert dev.keys() == prod.keys()
    assert set(dev.values()).isdisjoint(prod.values()), set(dev.values()) & set(prod.values())
    # what collided before: the schedule's fixed name, the Glue databases, the layer's name
    template = translated_template()["Resources"]
    schedules = [r for r in template.values() if r["Type"] == "AWS::Scheduler::Schedule"]
    assert schedules and all("Name" not in s["Properties"] for s in schedules)
    assert prod["MartDatabase"].endswith("|mips_profiles_mart")  # dbt's default (warehouse/profiles.yml)
    assert dev["MartDatabase"].endswith("|mips_profiles_dev_mart")


def test_a_retained_resource_never_blocks_creating_the_stack_again_under_its_name():
    """A stack deleted keeps its retained resources; created again under the same name (a new stack id), none
    of them may hold a name the new stack needs."""
    first = physical_names("mips-profiles", "11111111-0000-0000-0000-000000000001")
    again = physical_names("mips-profiles", "22222222-0000-0000-0000-000000000002")
    template = translated_template()["Resources"]
    retained = {k for k, r in template.items() if r.get("DeletionPolicy") == "Retain"}
    assert {"RefreshStateMachineLogGroup", "RawBucket", "StateTable"} <= retained
    for logical_id in retained & first.keys():
        if template[logical_id]["Type"] == "AWS::Lambda::LayerVersion":
            continue  # a layer name takes a new version when published again; it never answers "already exists"
        assert first[logical_id] != again[logical_id], f"{logical_id} keeps {first[logical_id]} across re-creates"


def test_samconfig_environments_name_the_cors_origins_and_the_derived_names_hold():
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    for env in ("default", "prod"):
        overrides = config[env]["deploy"]["parameters"]["parameter_overrides"]
        assert re.search(r"(^| )AllowedOrigins=", overrides), f"{env}: set AllowedOrigins (docs/deploy.md)"
    parameters = cfn_yaml.load(str(ROOT / "template.yaml"))["Parameters"]
    assert parameters["AllowedOrigins"]["Default"] == "*"  # any customer page, without credentials


# ---------------------------------------------------------------- alarms a deployed stack needs


def test_a_day_without_a_start_and_a_schedule_that_gave_up_raise_alarms():
    resources = cfn_yaml.load(str(ROOT / "template.yaml"))["Resources"]
    not_started = resources["DailyRunNotStartedAlarm"]["Properties"]
    assert (not_started["Namespace"], not_started["MetricName"]) == ("AWS/States", "ExecutionsStarted")
    assert not_started["ComparisonOperator"] == "LessThanThreshold" and not_started["Threshold"] == 1
    assert not_started["TreatMissingData"] == "breaching"  # no start at all is no data point at all
    assert not_started["Period"] * not_started["EvaluationPeriods"] <= 86400  # CloudWatch's longest window
    schedule = resources["RefreshStateMachine"]["Properties"]["Events"]["Daily"]["Properties"]
    assert schedule["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["ScheduleDeadLetterQueue", "Arn"]}}
    dlq = resources["ScheduleDeadLetterAlarm"]["Properties"]
    assert dlq["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["ScheduleDeadLetterQueue", "QueueName"]}}
    ]
    # SAM grants the schedule's own role sqs:SendMessage on that queue (Scheduler sends with it)
    role = translated_template()["Resources"]["RefreshStateMachineDailyRole"]
    statements = [s for p in role["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]]
    assert any(
        "sqs:SendMessage" in json.dumps(s["Action"]) and "ScheduleDeadLetterQueue" in json.dumps(s["Resource"])
        for s in statements
    )


def test_the_cdn_error_rates_raise_alarms_where_cloudfront_publishes_its_metrics():
    resources = cfn_yaml.load(str(ROOT / "template.yaml"))["Resources"]
    for name, metric in (("CdnServerErrorRateAlarm", "5xxErrorRate"), ("CdnClientErrorRateAlarm", "4xxErrorRate")):
        alarm = resources[name]
        props = alarm["Properties"]
        assert (props["Namespace"], props["MetricName"]) == ("AWS/CloudFront", metric)
        assert {d["Name"]: d["Value"] for d in props["Dimensions"]} == {
            "DistributionId": {"Ref": "Distribution"},
            "Region": "Global",
        }
        assert alarm["Condition"] == "SeesCloudFrontMetrics"  # CloudFront's metrics exist in us-east-1 only
    conditions = cfn_yaml.load(str(ROOT / "template.yaml"))["Conditions"]
    assert conditions["SeesCloudFrontMetrics"] == {"Fn::Equals": [{"Ref": "AWS::Region"}, "us-east-1"]}
