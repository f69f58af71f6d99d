"""Each bound is sized to where the code runs: a catalog at its limit is parsed by the checker's own code path
within the checker Lambda's memory (from template.yaml), with what the handler imports loaded too; a catalog of
the worst shapes (empty objects, nested arrays, tiny strings) within the same byte limit is refused by name before
it is parsed, never killed by the Lambda's memory limit. Each run's peak is measured (VmHWM) and printed."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cfnlint.decode import cfn_yaml

from mips_profiles.adapters.http import SizeLimits

ROOT = Path(__file__).parents[2]

# The peak is VmHWM, the high-water mark of this process's own memory. Not ru_maxrss: Linux carries that across
# execve, so a child started from a large pytest worker would report the worker's size (534 MiB in one CI run).
CHECKER_PATH = r"""
import json, sys
import boto3, aws_lambda_powertools  # what the handler has loaded before it reads the catalog
from mips_profiles.adapters.http import HttpClient, UrlPolicy
from mips_profiles.core.catalog import qpp_releases
from mips_profiles.errors import MipsProfilesError
from mips_profiles.adapters.http import SizeLimits
from mips_profiles.settings import NetworkSettings
limits = SizeLimits().overridden(NetworkSettings.from_env().limits)  # as the handler makes them, in Lambda's env
client = HttpClient(urls=UrlPolicy(allow_loopback_http=True), limits=limits)
try:
    releases, refused = len(qpp_releases(client.get_json(sys.argv[1]))), None
except MipsProfilesError as exc:
    releases, refused = None, str(exc)
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"releases": releases, "refused": refused, "peak_mib": int(hwm.split()[1]) / 1024}))
"""


def catalog_of(size: int) -> bytes:
    """A DCAT catalog of about ``size`` bytes: many datasets of the real shape, the QPP dataset among them."""
    other = {
        "title": "Another CMS dataset",
        "modified": "2025-07-21",
        "description": "A description of about the length CMS writes. " * 4,
        "keyword": ["medicare", "providers", "quality"],
        "distribution": [
            {
                "format": "API",
                "accessURL": "https://data.cms.gov/data-api/v1/dataset/7adb8b1b-b85c-4ed3-b314-064776e50180/data",
                "modified": "2025-07-21",
                "temporal": f"{y}-01-01/{y}-12-31",
                "title": "Another CMS dataset : 2023-01-02",
            }
            for y in range(2017, 2025)
        ],
    }
    qpp = {
        "title": "Quality Payment Program Experience",
        "distribution": [
            {
                "mediaType": "text/csv",
                "downloadURL": f"https://data.cms.gov/{y}.csv",
                "temporal": f"{y}-01-01/{y}-12-31",
            }
            for y in range(2017, 2025)
        ],
    }
    one = len(json.dumps(other))
    return json.dumps({"dataset": [qpp, *[other] * (size // (one + 2) - 1)]}).encode()


def checker_memory_mib() -> int:
    functions = cfn_yaml.load(str(ROOT / "template.yaml"))["Resources"]
    return functions["CheckReleaseFunction"]["Properties"]["MemorySize"]


def run_checker_path(tmp_path: Path, body: bytes) -> dict:
    """The checker's code path in a fresh interpreter, as the Lambda runs it (its memory size in the environment),
    reading ``body`` from a loopback server: what it made of it and its peak memory."""
    (tmp_path / "data.json").write_bytes(body)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        run = subprocess.run(
            [sys.executable, "-c", CHECKER_PATH, f"http://127.0.0.1:{port}/data.json"],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(checker_memory_mib())},
        )
    finally:
        server.terminate()
        server.wait(timeout=10)
    return json.loads(run.stdout)


def test_a_catalog_at_its_limit_fits_the_checker_lambda(tmp_path):
    limit = SizeLimits().catalog_bytes
    memory_mib = checker_memory_mib()
    body = catalog_of(limit - (1 << 20))
    assert limit - (2 << 20) < len(body) <= limit
    measured = run_checker_path(tmp_path, body)
    assert measured["refused"] is None and measured["releases"] == 8
    print(
        f"\ncatalog {len(body) / 2**20:.0f} MiB: peak {measured['peak_mib']:.0f} MiB of the checker's {memory_mib} MiB"
    )
    assert measured["peak_mib"] < 0.85 * memory_mib


WORST_SHAPES = {  # each the most objects per byte of its kind (tracemalloc: 73, 76, 128 and 60 bytes each)
    "empty objects": b"{}",
    "nested empty arrays": b"[[]]",
    "objects holding objects": b'{"a":{}}',
    "two-character strings": b'"ab"',
}


@pytest.mark.parametrize("shape", WORST_SHAPES)
def test_a_catalog_of_the_worst_shape_at_its_limit_is_refused_by_name_within_the_lambdas_memory(tmp_path, shape):
    """Issue 38: 24 MiB of empty objects peaked at 670 MB on this path, 40 MiB at 1.05 GB, and the 512 MB Lambda was
    killed. The parsed size is bounded from the document's tokens first: refused by name, in bounded memory."""
    limit = SizeLimits().catalog_bytes
    memory_mib = checker_memory_mib()
    unit = WORST_SHAPES[shape]
    body = b'{"dataset":[' + b",".join([unit] * ((limit - 64) // (len(unit) + 1))) + b"]}"
    assert limit - (1 << 20) < len(body) <= limit
    measured = run_checker_path(tmp_path, body)
    print(f"\n{shape}, {len(body) / 2**20:.0f} MiB: peak {measured['peak_mib']:.0f} MiB; {measured['refused']}")
    assert measured["refused"] is not None and "over the" in measured["refused"]
    assert measured["refused"].startswith("JSON from http://127.0.0.1:") and measured["refused"].endswith(": refused")
    assert measured["peak_mib"] < 0.85 * memory_mib


def test_the_bound_holds_over_what_the_parser_builds_for_each_shape():
    """The bound is at least what json.loads builds (tracemalloc), for the worst shapes and the real one."""
    import tracemalloc

    from mips_profiles.adapters.http import parsed_size_bound

    samples = {name: b"[" + b",".join([unit] * 20_000) + b"]" for name, unit in WORST_SHAPES.items()}
    samples["a real catalog's shape"] = catalog_of(2 << 20)
    for name, body in samples.items():
        text = body.decode()
        tracemalloc.start()
        parsed = json.loads(text)
        built = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        del parsed
        assert built + len(text) <= parsed_size_bound(body), name
