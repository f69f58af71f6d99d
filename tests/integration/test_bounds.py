"""Each bound is sized to where the code runs: a catalog at its limit is parsed by the checker's own code path
within the checker Lambda's memory (from template.yaml), with what the handler imports loaded too."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

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
releases = qpp_releases(HttpClient(urls=UrlPolicy(allow_loopback_http=True)).get_json(sys.argv[1]))
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"releases": len(releases), "peak_mib": int(hwm.split()[1]) / 1024}))
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


def test_a_catalog_at_its_limit_fits_the_checker_lambda(tmp_path):
    limit = SizeLimits().catalog_bytes
    functions = cfn_yaml.load(str(ROOT / "template.yaml"))["Resources"]
    memory_mib = functions["CheckReleaseFunction"]["Properties"]["MemorySize"]
    body = catalog_of(limit - (1 << 20))
    assert limit - (2 << 20) < len(body) <= limit
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
        )
    finally:
        server.terminate()
        server.wait(timeout=10)
    measured = json.loads(run.stdout)
    assert measured["releases"] == 8
    print(
        f"\ncatalog {len(body) / 2**20:.0f} MiB: peak {measured['peak_mib']:.0f} MiB of the checker's {memory_mib} MiB"
    )
    assert measured["peak_mib"] < 0.85 * memory_mib
