"""What a cold start of each function loads, in a fresh interpreter as Lambda starts one: no pandas (pyarrow's
shim would import the layer's pandas), and on the shard function no botocore patching by X-Ray (one subsegment
per S3 PUT of a publish). Each probe runs where pandas is importable, as it is from the AWS SDK for pandas layer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]

PROBE = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("app", sys.argv[1])
app = importlib.util.module_from_spec(spec); spec.loader.exec_module(app)
after_import = "pandas" in sys.modules
work = sys.argv[2]
if work == "publish":  # the document path itself: build entries and documents of a small year
    from mips_profiles.sandbox.generator import generate_table
    from mips_profiles.adapters.local_store import LocalDirStore
    from mips_profiles.publishing.publish import Publisher, ReleaseInfo
    import pyarrow.csv as pacsv, tempfile, pathlib
    tmp = pathlib.Path(tempfile.mkdtemp())
    pacsv.write_csv(generate_table(2024, 200), tmp / "f.csv")
    Publisher(LocalDirStore(tmp / "out"), LocalDirStore(tmp / "private")).publish_file(tmp / "f.csv", ReleaseInfo(2024))
from aws_xray_sdk.core.patcher import _PATCHED_MODULES
print(json.dumps({"pandas_at_import": after_import, "pandas_after_work": "pandas" in sys.modules,
                  "patched": sorted(_PATCHED_MODULES)}))
"""


def cold_start(function: str, work: str = "import") -> dict:
    env = {
        **os.environ,
        "LAMBDA_TASK_ROOT": "/var/task",  # Powertools enables its Tracer (and patching) only inside Lambda
        "AWS_LAMBDA_FUNCTION_NAME": function,
        "AWS_DEFAULT_REGION": "us-east-1",
        "STATE_TABLE": "state",
        "RAW_BUCKET": "raw",
        "AUDIT_BUCKET": "audit",
        "PUBLIC_BUCKET": "public",
        "CATALOG_URL": "https://data.cms.gov/data.json",
        "PARTITIONS": "8",
        "POWERTOOLS_SERVICE_NAME": "mips-profiles",
        "POWERTOOLS_METRICS_NAMESPACE": "MipsProfiles",
        "PYTHONPATH": str(ROOT / "shared"),
    }
    app = ROOT / "functions" / function / "app.py"
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(app), work], env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_pandas_is_importable_here_as_in_the_layer():
    import importlib.util

    assert importlib.util.find_spec("pandas") is not None  # else the probes below would pass for no reason


@pytest.mark.parametrize("function", ["check_release", "shard_scores"])
def test_a_cold_start_imports_no_pandas(function):
    assert cold_start(function)["pandas_at_import"] is False


def test_the_document_path_of_the_shard_function_never_imports_pandas():
    probe = cold_start("shard_scores", "publish")
    assert probe["pandas_after_work"] is False


def test_the_shard_function_does_not_patch_botocore_and_the_checker_does():
    assert "botocore" not in cold_start("shard_scores")["patched"]
    assert "botocore" in cold_start("check_release")["patched"]  # the probe sees patching where there is some


def test_refusing_pandas_changes_nothing_where_pandas_is_already_imported():
    code = (
        "import pandas, sys\n"
        "from mips_profiles.lean_imports import refuse_pandas\n"
        "refuse_pandas()\n"
        "import pandas.api.types\n"  # a submodule of the imported pandas still imports
        "import pyarrow as pa; pa.array([1])\n"
        "print(len([f for f in sys.meta_path if type(f).__name__ == '_PandasRefused']))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "shared")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0"
