"""The shared Lambda layer as ``sam build`` makes it (``shared/Makefile``, ``BuildMethod: makefile``): it holds
every module the handlers import and none of the sandbox, the consumers or the CLI; both handlers import
from it alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cfnlint.decode import cfn_yaml

ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def layer(tmp_path_factory) -> Path:
    artifacts = tmp_path_factory.mktemp("SharedLibLayer")
    # the package part of the target sam runs; the orjson part needs the package index (make lint builds it all)
    subprocess.run(
        ["make", "--no-print-directory", "-C", str(ROOT / "shared"), "layer-package", f"ARTIFACTS_DIR={artifacts}"],
        check=True,
        capture_output=True,
    )
    return artifacts / "python"


def test_the_template_builds_the_layer_with_the_makefile():
    template = cfn_yaml.load(str(ROOT / "template.yaml"))
    layer = template["Resources"]["SharedLibLayer"]
    assert layer["Metadata"]["BuildMethod"] == "makefile"
    assert layer["Properties"]["ContentUri"] == "shared/"
    dry_run = subprocess.run(
        ["make", "-n", "-C", str(ROOT / "shared"), "build-SharedLibLayer", "ARTIFACTS_DIR=/x"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert "cp -R mips_profiles" in dry_run and "--platform manylinux2014_x86_64" in dry_run
    assert "--python-version 3.12" in dry_run  # the runtime the template names
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.12"]


def test_the_layer_ships_no_sandbox_consumer_or_cli_module(layer):
    modules = sorted(str(p.relative_to(layer)) for p in layer.rglob("*.py"))
    assert "mips_profiles/publishing/publish.py" in modules
    assert "mips_profiles/data" in {str(p.relative_to(layer)) for p in layer.rglob("data")}
    assert [
        m
        for m in modules
        if m.startswith(("mips_profiles/sandbox/", "mips_profiles/consumers/")) or m == "mips_profiles/cli.py"
    ] == []
    assert not list(layer.rglob("__pycache__"))


def test_both_handlers_import_from_the_layer_alone(layer):
    """Each handler imported in a fresh interpreter whose ``mips_profiles`` is the built layer's; no sandbox
    module is loaded on the way (a top-level import of one would fail here, as it would on Lambda)."""
    script = """
import importlib.util, json, sys
sys.path.insert(0, sys.argv[1])
import mips_profiles
assert mips_profiles.__file__.startswith(sys.argv[1]), mips_profiles.__file__
for name in ("check_release", "shard_scores"):
    spec = importlib.util.spec_from_file_location(name, sys.argv[2] + "/functions/" + name + "/app.py")
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
print(json.dumps(sorted(m for m in sys.modules if m.startswith("mips_profiles"))))
"""
    env = {
        **os.environ,
        "STATE_TABLE": "state",
        "RAW_BUCKET": "raw",
        "AUDIT_BUCKET": "audit",
        "PUBLIC_BUCKET": "public",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_SERVICE_NAME": "layer-test",
        "POWERTOOLS_METRICS_NAMESPACE": "MipsProfiles",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    done = subprocess.run(
        [sys.executable, "-c", script, str(layer), str(ROOT)], env=env, capture_output=True, text=True, cwd=layer
    )
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout.splitlines()[-1])
    assert "mips_profiles.orchestration.run_steps" in loaded
    assert [m for m in loaded if m.split(".")[1:2] in (["sandbox"], ["consumers"], ["cli"])] == []
