"""The checker's work when CMS does not answer 304: the Check step downloads a national-size file over real HTTP
from the loopback CMS stand-in, hashes it (SHA-256) and puts it in the raw bucket (S3Store against a moto server),
through ``check_for_releases`` exactly as the Lambda runs it. The step runs in its own process; its CPU time
(user + system), wall time and peak RSS are its own (the stand-in and moto run in the parent).

    .venv/bin/python benchmarks/checker_path.py --mb 300 --runs 3 --work /dev/shm/mips-checker \\
        --out benchmarks/results-checker.json

Lambda gives a function CPU in proportion to its memory (one vCPU at 1,769 MB). The work is CPU-bound on
loopback, so its duration at a memory size is about CPU / (MB / 1,769); on AWS the download from CMS adds
network time this measurement cannot see (a 300 MB file at 50-100 MB/s is 3-6 s more). A first run of a new
stack downloads every year with a file, one after another: the sizing below is for that run.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from national import peak_rss_mb  # this directory is on sys.path when a benchmark runs as a script

HERE = Path(__file__).resolve()
ROOT = HERE.parents[1]
RAW, TABLE = "bench-raw", "bench-state"
VCPU_MB = 1769


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def national_size_body(mb: int) -> bytes:
    """A PY2024 file of about ``mb`` MB: the generator's rows repeated (the checker never parses past the header)."""
    import pyarrow.csv as pacsv

    from mips_profiles.sandbox.generator import generate_table

    sink = Path(os.environ.get("TMPDIR", "/tmp")) / "mips-checker-sample.csv"
    pacsv.write_csv(generate_table(2024, 5_000), sink)
    text = sink.read_bytes()
    sink.unlink()
    header, _, rows = text.partition(b"\n")
    copies = max(1, (mb << 20) // len(rows))
    return header + b"\n" + rows * copies


def child(args: argparse.Namespace) -> None:
    from mips_profiles.adapters.dynamo import DynamoStateStore
    from mips_profiles.adapters.http import HttpClient, UrlPolicy
    from mips_profiles.adapters.s3 import S3Store
    from mips_profiles.orchestration.release_check import CheckRequest, check_for_releases

    work = Path(args.work) / f"tmp-{os.getpid()}"
    work.mkdir(parents=True)
    start = time.perf_counter()
    answer = check_for_releases(
        CheckRequest(performance_year=2024, force=True, reason="benchmark"),
        http=HttpClient(urls=UrlPolicy(allow_loopback_http=True)),
        state=DynamoStateStore(TABLE),
        raw=S3Store(RAW),
        catalog_url=args.catalog_url,
        work_dir=str(work),
    )
    wall = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    shutil.rmtree(work, ignore_errors=True)
    assert answer["plan"], answer
    print(
        json.dumps(
            {
                "wall_s": round(wall, 2),
                "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
                "peak_rss_mb": round(peak_rss_mb()),  # VmHWM: ru_maxrss would keep the parent's size across exec
                "size_mb": round(answer["plan"][0]["download"]["size"] / 2**20),
            }
        )
    )


def summary(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 2), "min": round(min(values), 2), "max": round(max(values), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=300, help="size of the file CMS serves (default 300 MB)")
    parser.add_argument("--runs", type=int, default=3, help="Check runs, each in a fresh process (default 3)")
    parser.add_argument("--work", default="/tmp/mips-checker", help="scratch directory (the Lambda's /tmp)")
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--catalog-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)

    from importlib import resources

    import boto3
    from moto.server import ThreadedMotoServer

    headers = json.loads(resources.files("mips_profiles").joinpath("data/cms_headers.json").read_text("utf-8"))
    from mips_profiles.sandbox.cms_standin import CmsStandIn

    shutil.rmtree(args.work, ignore_errors=True)
    Path(args.work).mkdir(parents=True)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "PYTHONPATH": str(ROOT / "shared"),
    }
    os.environ.update({k: env[k] for k in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")})
    os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
    runs: list[dict[str, Any]] = []
    try:
        boto3.client("s3").create_bucket(Bucket=RAW)
        boto3.client("dynamodb").create_table(
            TableName=TABLE,
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        with CmsStandIn() as cms:
            cms.publish_qpp(2024, national_size_body(args.mb), "2025-07-28")
            for _ in range(args.runs):
                command = [sys.executable, str(HERE), "--child", "--work", args.work, "--catalog-url", cms.catalog_url]
                out = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
                runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
                print(runs[-1], file=sys.stderr)
    finally:
        server.stop()
        shutil.rmtree(args.work, ignore_errors=True)
    cpu = summary([r["cpu_s"] for r in runs])
    per_year_at: dict[str, float] = {}
    for memory in (512, 1024, 1769):
        per_year_at[str(memory)] = round(cpu["median"] / (memory / VCPU_MB), 1)
    years = len(headers["headers"])  # the years CMS has published a file for
    result = {
        "command": f"python benchmarks/checker_path.py --mb {args.mb} --runs {args.runs}",
        "file_mb": runs[0]["size_mb"],
        "runs": runs,
        "cpu_s": cpu,
        "wall_s_here": summary([r["wall_s"] for r in runs]),
        "peak_rss_mb": summary([r["peak_rss_mb"] for r in runs]),
        "projected_s_per_year_by_memory_mb": per_year_at,
        "years_with_files": years,
        "projected_first_run_s_by_memory_mb": {m: round(s * years, 0) for m, s in per_year_at.items()},
    }
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
