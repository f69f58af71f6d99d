"""The QPP mart on AWS as template.yaml declares it: Glue tables that are the curated dataset's schema with
partition projection, an Athena workgroup that encrypts and caps, and an analyst role that reads the mart
and nothing else of the private data (IAM enforced in moto for S3; Glue and Athena, which moto checks
against ``*``, by evaluating the same resolved policy)."""

from __future__ import annotations

import boto3
import pytest
from aws_stack import ROOT
from botocore.exceptions import ClientError
from cfnlint.decode import cfn_yaml
from iam_enforcement import (
    ACCOUNT,
    REGION,
    Resolver,
    assume_function_role,
    create_admin,
    iam_enforced,
    policy_allows,
    resolved_policy,
    translated_template,
)
from moto import mock_aws

from mips_profiles.core import mart
from mips_profiles.keys import MART_DATASETS, mart_key

TEMPLATE = cfn_yaml.load(str(ROOT / "template.yaml"))
TABLES = {
    "clinician_scores": "MartClinicianScoresTable",
    "profile_headlines": "MartProfileHeadlinesTable",
    "pdc_scores": "MartPdcScoresTable",
}
GLUE = f"arn:aws:glue:{REGION}:{ACCOUNT}"


def test_each_dataset_has_a_glue_table_with_its_exact_columns():
    assert set(TABLES) == set(MART_DATASETS)
    for dataset, logical in TABLES.items():
        table = TEMPLATE["Resources"][logical]["Properties"]["TableInput"]
        assert table["Name"] == dataset
        assert table["StorageDescriptor"]["Columns"] == mart.glue_columns(dataset)
        assert table["PartitionKeys"] == [{"Name": "performance_year", "Type": "int"}]
        assert table["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"].endswith("ParquetHiveSerDe")


@pytest.mark.parametrize("dataset", sorted(TABLES))
def test_partitions_are_projected_onto_the_publishers_keys(dataset):
    """No crawler and no MSCK REPAIR: the projection's location template is where mart_key() writes."""
    params = TEMPLATE["Resources"][TABLES[dataset]]["Properties"]["TableInput"]["Parameters"]
    assert params["projection.enabled"] == "true" and params["projection.performance_year.type"] == "integer"
    low, high = map(int, params["projection.performance_year.range"].split(","))
    assert low <= 2017 and high >= 2030
    template = params["storage.location.template"]["Fn::Sub"]
    written = mart_key(dataset, 2024).rsplit("/", 1)[0] + "/"
    assert template == "s3://${AuditBucket}/" + written.replace("2024", "${!performance_year}")
    assert not any(r["Type"] == "AWS::Glue::Crawler" for r in TEMPLATE["Resources"].values())


def test_the_workgroup_encrypts_results_and_caps_each_query():
    config = TEMPLATE["Resources"]["MartWorkgroup"]["Properties"]["WorkGroupConfiguration"]
    assert config["EnforceWorkGroupConfiguration"] is True
    assert config["ResultConfiguration"]["EncryptionConfiguration"]["EncryptionOption"] in ("SSE_S3", "SSE_KMS")
    assert config["BytesScannedCutoffPerQuery"] == {"Ref": "MartBytesScannedCutoff"}
    assert TEMPLATE["Parameters"]["MartBytesScannedCutoff"]["Default"] <= 100 * 2**30


def analyst_policy() -> dict:
    refs = {
        "AuditBucket": "audit",
        "RawBucket": "raw",
        "PublicContentBucket": "public",
        "MartResultsBucket": "results",
        "MartWorkgroup": "stack-mart",
        "MartDatabase": "mips_profiles_mart",
        "MartModelsDatabase": "mips_profiles_mart_models",
    }
    attributes = {"AuditBucket.Arn": "arn:aws:s3:::audit", "MartResultsBucket.Arn": "arn:aws:s3:::results"}
    return resolved_policy("MartAnalystRole", Resolver(refs, attributes))


def test_the_analyst_reads_the_mart_catalog_and_writes_only_the_models_catalog():
    policy = analyst_policy()
    assert policy_allows(policy, "glue:GetTable", f"{GLUE}:table/mips_profiles_mart/clinician_scores")
    assert policy_allows(policy, "glue:GetPartitions", f"{GLUE}:table/mips_profiles_mart/clinician_scores")
    assert policy_allows(policy, "glue:CreateTable", f"{GLUE}:table/mips_profiles_mart_models/fct_clinician_year")
    assert not policy_allows(policy, "glue:CreateTable", f"{GLUE}:table/mips_profiles_mart/x")
    assert not policy_allows(policy, "glue:DeleteTable", f"{GLUE}:table/mips_profiles_mart/clinician_scores")
    assert not policy_allows(policy, "glue:UpdateTable", f"{GLUE}:table/mips_profiles_mart/clinician_scores")
    workgroup = f"arn:aws:athena:{REGION}:{ACCOUNT}:workgroup/stack-mart"
    assert policy_allows(policy, "athena:StartQueryExecution", workgroup)
    assert not policy_allows(
        policy, "athena:StartQueryExecution", f"arn:aws:athena:{REGION}:{ACCOUNT}:workgroup/primary"
    )
    assert not policy_allows(policy, "athena:UpdateWorkGroup", workgroup), "the scan cap is not the analyst's to lift"


def test_the_analyst_role_is_assumed_with_mfa_only():
    role = translated_template()["Resources"]["MartAnalystRole"]["Properties"]
    (statement,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Condition"] == {"Bool": {"aws:MultiFactorAuthPresent": "true"}}


@pytest.fixture
def buckets(monkeypatch):
    for k, v in {
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    with mock_aws():
        admin = create_admin()
        s3 = boto3.client("s3", **admin)
        for bucket in ("raw", "audit", "public", "results"):
            s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket="audit", Key=mart_key("clinician_scores", 2024), Body=b"PAR1")
        s3.put_object(Bucket="audit", Key="audit/py=2024/release=2024-x/audit.parquet", Body=b"PAR1")
        s3.put_object(Bucket="audit", Key="entries/py=2024/shard=00.parquet", Body=b"PAR1")
        s3.put_object(Bucket="raw", Key="raw/qpp/py=2024/ab.csv", Body=b"npi\n")
        s3.put_object(Bucket="public", Key="v1/manifest.json", Body=b"{}")
        yield boto3.client("s3", **assume_function_role("mart-analyst", analyst_policy(), admin))


def denied(call) -> bool:
    try:
        call()
    except ClientError as exc:
        return exc.response["Error"]["Code"] in ("AccessDenied", "403")
    return False


def test_the_analyst_reads_the_mart_and_writes_query_results(buckets):
    s3 = buckets
    with iam_enforced():
        assert s3.get_object(Bucket="audit", Key=mart_key("clinician_scores", 2024))["Body"].read() == b"PAR1"
        listed = s3.list_objects_v2(Bucket="audit", Prefix="mart/")
        assert [o["Key"] for o in listed["Contents"]] == [mart_key("clinician_scores", 2024)]
        s3.put_object(Bucket="results", Key="athena/q1.csv", Body=b"x")
        assert s3.get_object(Bucket="results", Key="athena/q1.csv")["Body"].read() == b"x"


@pytest.mark.parametrize(
    "attempt",
    [
        "raw file",
        "audit rows",
        "private entries",
        "list the private store",
        "write the mart",
        "delete the mart",
        "write the public tree",
        "read the public bucket directly",
    ],
)
def test_the_analyst_cannot_read_raw_or_private_files_or_write_anything_but_results(buckets, attempt):
    s3 = buckets
    calls = {
        "raw file": lambda: s3.get_object(Bucket="raw", Key="raw/qpp/py=2024/ab.csv"),
        "audit rows": lambda: s3.get_object(Bucket="audit", Key="audit/py=2024/release=2024-x/audit.parquet"),
        "private entries": lambda: s3.get_object(Bucket="audit", Key="entries/py=2024/shard=00.parquet"),
        "list the private store": lambda: s3.list_objects_v2(Bucket="audit", Prefix="audit/"),
        "write the mart": lambda: s3.put_object(Bucket="audit", Key=mart_key("clinician_scores", 2025), Body=b"x"),
        "delete the mart": lambda: s3.delete_object(Bucket="audit", Key=mart_key("clinician_scores", 2024)),
        "write the public tree": lambda: s3.put_object(Bucket="public", Key="v1/npi/1.json", Body=b"{}"),
        "read the public bucket directly": lambda: s3.get_object(Bucket="public", Key="v1/manifest.json"),
    }
    with iam_enforced():
        assert denied(calls[attempt])


def test_the_state_machine_run_writes_the_mart_the_glue_tables_point_at(stack, tables, tmp_path):
    """The Lambda finalize and PDC steps write the curated dataset, under the shard role's IAM, exactly where
    the projected partitions are, and it reads back as the schemas say (as a local publish writes it)."""
    import io

    import pyarrow.parquet as pq
    from aws_stack import csv_bytes, scheduled

    from mips_profiles.sandbox.generator import make_pdc_table

    stack.cms.publish_qpp(2023, csv_bytes(tables[2023], tmp_path), "2025-07-21")
    stack.cms.publish_qpp(2024, csv_bytes(tables[2024], tmp_path), "2025-07-28")
    stack.cms.publish_pdc(2024, csv_bytes(make_pdc_table(tables[2024]), tmp_path), "2025-08-01")
    run = stack.run(scheduled(22))
    assert run.status == "SUCCEEDED", (run.error, run.cause)
    expected = sorted(
        [mart_key(d, y) for d in ("clinician_scores", "profile_headlines") for y in (2023, 2024)]
        + [mart_key("pdc_scores", 2024)]
    )
    assert sorted(stack.keys("audit", "mart/")) == expected
    schemas = mart.schemas()
    for key in expected:
        dataset = key.split("/")[1]
        body = stack.s3.get_object(Bucket="audit", Key=key)["Body"].read()
        assert pq.read_table(io.BytesIO(body)).schema == mart.arrow_schema(schemas[dataset])
    assert not [k for k in stack.keys("public") if "mart" in k]
