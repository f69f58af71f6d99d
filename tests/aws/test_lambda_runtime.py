"""The code runs on the Lambda runtime's pyarrow (the AWS SDK for pandas layer), not only on the wheel's."""

from __future__ import annotations

import ast
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from lambda_runtime import LAYER_PYARROW_MODULES, layer_pyarrow

from mips_profiles.adapters.local_store import LocalDirStore
from mips_profiles.publishing.publish import Publisher, ReleaseInfo

PACKAGE = Path(__file__).parents[2] / "shared" / "mips_profiles"


def test_the_emulated_layer_refuses_zstd_as_the_real_one_does(tmp_path):
    table = pa.table({"x": [1, 2, 3]})
    pq.write_table(table, tmp_path / "z.parquet", compression="zstd")  # the wheel can
    with layer_pyarrow():
        with pytest.raises(pa.ArrowNotImplementedError, match="codec 'zstd' not built"):
            pq.write_table(table, tmp_path / "y.parquet", compression="zstd")
        with pytest.raises(pa.ArrowNotImplementedError, match="codec 'zstd' not built"):
            pq.read_table(tmp_path / "z.parquet")
        pq.write_table(table, tmp_path / "s.parquet")  # snappy, the default
        assert pq.read_table(tmp_path / "s.parquet").equals(table)


def test_a_local_publish_writes_and_reads_only_codecs_the_layer_has(sample_file, tmp_path):
    with layer_pyarrow():
        publisher = Publisher(LocalDirStore(tmp_path / "out"), LocalDirStore(tmp_path / "private"))
        publisher.publish_file(sample_file(2024), ReleaseInfo(2024))
        publisher.publish_file(sample_file(2024), ReleaseInfo(2024))  # reads back the index and entries
    written = list((tmp_path / "private").rglob("*.parquet"))
    assert written
    for path in written:
        metadata = pq.ParquetFile(path).metadata
        assert {metadata.row_group(0).column(c).compression for c in range(metadata.num_columns)} <= {"SNAPPY"}


def test_the_package_imports_only_pyarrow_modules_the_layer_builds():
    used = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                used |= {a.name for a in node.names if a.name.startswith("pyarrow")}
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pyarrow"):
                used.add(node.module)
    assert used and used <= LAYER_PYARROW_MODULES, used - LAYER_PYARROW_MODULES


def test_the_tests_run_the_powertools_release_the_template_deploys():
    from importlib.metadata import version

    from cfnlint.decode import cfn_yaml

    template = cfn_yaml.load(str(Path(__file__).parents[2] / "template.yaml"))
    parameter = template["Parameters"]["PowertoolsLayerArn"]
    assert parameter["Type"] == "AWS::SSM::Parameter::Value<String>"
    installed = version("aws-lambda-powertools")
    assert parameter["Default"] == f"/aws/service/powertools/python/x86_64/python3.12/{installed}"
    layers = [
        str(layer)
        for fn in ("CheckReleaseFunction", "ShardScoresFunction")
        for layer in template["Resources"][fn]["Properties"]["Layers"]
    ]
    assert not [layer for layer in layers if ":layer:" in layer], "pin layers through SSM, not region-specific ARNs"
    assert any("/aws/service/aws-sdk-pandas/" in layer for layer in layers)
