"""Security review of the template with explicit rules (on top of cfn-lint in CI), a scan for secrets,
and the key function refusing path tricks."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cfnlint.decode import decode_str

from mips_profiles.adapters.local_store import LocalDirStore, MemoryStore
from mips_profiles.adapters.s3 import S3Store
from mips_profiles.keys import npi_key

ROOT = Path(__file__).parents[2]
TEMPLATE, _ = decode_str((ROOT / "template.yaml").read_text())
RESOURCES = TEMPLATE["Resources"]


def of_type(kind: str) -> dict[str, dict]:
    return {name: r for name, r in RESOURCES.items() if r["Type"] == kind}


def policies_for(bucket: str) -> list[dict]:
    return [
        r["Properties"]["PolicyDocument"]
        for r in of_type("AWS::S3::BucketPolicy").values()
        if r["Properties"]["Bucket"] == {"Ref": bucket}
    ]


@pytest.mark.parametrize("bucket", sorted(of_type("AWS::S3::Bucket")))
def test_every_bucket_blocks_public_access_encrypts_and_refuses_plain_http(bucket):
    props = RESOURCES[bucket]["Properties"]
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    statements = [s for p in policies_for(bucket) for s in p["Statement"]]
    tls = [
        s
        for s in statements
        if s["Effect"] == "Deny" and s.get("Condition", {}).get("Bool") == {"aws:SecureTransport": "false"}
    ]
    assert tls, f"{bucket} has no TLS-only policy"


def test_no_bucket_policy_allows_anyone_and_only_cloudfront_reads_the_public_tree():
    for resource in of_type("AWS::S3::BucketPolicy").values():
        policy, bucket = resource["Properties"]["PolicyDocument"], resource["Properties"]["Bucket"]
        for statement in policy["Statement"]:
            if statement["Effect"] != "Allow":
                continue
            if bucket == {"Ref": "AccessLogBucket"}:  # S3 server access logs of this account, under s3/ only
                assert statement["Principal"] == {"Service": "logging.s3.amazonaws.com"}
                assert statement["Action"] == "s3:PutObject"
                assert "aws:SourceAccount" in statement["Condition"]["StringEquals"]
                assert "/s3/*" in str(statement["Resource"])
                continue
            assert bucket == {"Ref": "PublicContentBucket"}
            assert statement["Principal"] == {"Service": "cloudfront.amazonaws.com"}
            assert statement["Action"] == "s3:GetObject"
            assert "AWS:SourceArn" in statement["Condition"]["StringEquals"]
            assert str(statement["Resource"]).find("/v1/*") > 0


def test_the_distribution_is_https_only_and_reaches_s3_through_origin_access_control():
    config = RESOURCES["Distribution"]["Properties"]["DistributionConfig"]
    behaviors = [config["DefaultCacheBehavior"], *config.get("CacheBehaviors", [])]
    assert {b["ViewerProtocolPolicy"] for b in behaviors} == {"https-only"}
    assert all(b["Compress"] for b in behaviors)
    for origin in config["Origins"]:
        assert "OriginAccessControlId" in origin
        assert origin["S3OriginConfig"]["OriginAccessIdentity"] == ""


def function_statements():
    for name, fn in of_type("AWS::Serverless::Function").items():
        for policy in fn["Properties"].get("Policies", []):
            for statement in policy["Statement"]:
                yield name, statement


def test_function_policies_name_actions_and_resources_never_wildcards():
    statements = list(function_statements())
    assert len(statements) >= 8
    for name, statement in statements:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert all(a != "*" and not a.endswith(":*") for a in actions), (name, actions)
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        assert all(r != "*" for r in resources), (name, statement)


def test_only_the_shard_function_touches_the_public_tree_and_only_under_v1():
    for name, statement in function_statements():
        text = str(statement["Resource"])
        if "PublicContentBucket" in text and "s3:PutObject" in statement["Action"]:
            assert name == "ShardScoresFunction" and "/v1/*" in text


def test_the_checker_has_no_access_to_audit_or_public_data():
    for name, statement in function_statements():
        if name == "CheckReleaseFunction":
            assert "AuditBucket" not in str(statement) and "PublicContentBucket" not in str(statement)


SECRET_PATTERNS = [
    re.compile(r"AKIA[0-9A-Z]{16}"),
    re.compile(r"(?i)aws_secret_access_key\s*[=:]\s*['\"]?[A-Za-z0-9/+]{40}"),
    re.compile(r"-----BEGIN (RSA |EC |OPENSSH )?PRIVATE KEY-----"),
    re.compile(r"(?i)(password|passwd|api[_-]?key|secret)\s*[=:]\s*['\"][^'\"]{8,}['\"]"),
]


def test_no_secrets_in_code_or_template():
    import subprocess

    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    scanned = 0
    for rel in files:
        path = ROOT / rel
        if path.suffix not in {".py", ".yaml", ".yml", ".json", ".md", ".toml", ".sh", ""} or not path.is_file():
            continue
        text = path.read_text(errors="ignore")
        scanned += 1
        for pattern in SECRET_PATTERNS:
            assert not pattern.search(text), f"{rel} matches {pattern.pattern}"
    assert scanned > 20


@pytest.mark.parametrize(
    "bad",
    [
        "../etc/passwd",
        "1234567893/../../x",
        "/1234567893",
        "1234567893.json",
        "12345678931",
        " 1234567893",
        "1234567893\n",
        "１２３４５６７８９３",
    ],
)
def test_object_keys_come_only_from_a_validated_npi(bad):
    with pytest.raises(ValueError):
        npi_key(bad)


@pytest.mark.parametrize(
    "store", [LocalDirStore("/tmp/unused"), MemoryStore(), S3Store("bucket", "prefix", client=object())]
)
@pytest.mark.parametrize("key", ["../x", "v1/../../x", "/abs", "v1//x", "v1/./x", ""])
def test_stores_refuse_keys_that_escape_their_root(store, key):
    with pytest.raises(ValueError):
        store.write(key, b"x")
