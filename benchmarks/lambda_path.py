"""The Lambda path at national scale: the state machine's steps (Stage, PublishPartition, Finalize, IngestPdc)
through the S3 and DynamoDB adapters against moto, with a per-request S3 latency injected, at the template's
partition count and S3 concurrency. Each step runs in its own process, as each is its own Lambda invocation,
so its peak RSS is its own; moto runs as a server in this process (``ThreadedMotoServer``).

For each step: duration, peak RSS, S3 requests, the size of its output (the state the step hands on, against
Step Functions' 256 KiB) and what it needs in ``/tmp``; then the projected wall time of a first publish and of
a 1% correction on AWS (the partitions run side by side there, ``MaxConcurrency`` 8), and which limit (the
900 s timeout, ``MemorySize``, the state limit, ``EphemeralStorage``) breaks first as the volume doubles.

    .venv/bin/python benchmarks/lambda_path.py --rows 500000 --pdc-rows 930000 --latency-ms 20 \\
        --work /dev/shm/mips-lambda --out benchmarks/results-lambda.json

``--measured-partitions`` (default 1) partitions of each publish run against moto with the latency; the others
write their documents to a local directory (their private records still go to moto, so Finalize sees a whole
run). They are the same code on the same share of the NPIs: partition 0 stands for each of them. moto's server
shares this machine's two cores with the step, so S3 here costs CPU that AWS's does not: the figures are an
upper bound of the step's own work.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from national import peak_rss_mb  # this directory is on sys.path when a benchmark runs as a script

HERE = Path(__file__).resolve()
ROOT = HERE.parents[1]
PUBLIC, AUDIT, RAW, TABLE = "mips-public", "mips-audit", "mips-raw", "mips-state"
STATE_LIMIT = 256 * 1024  # Step Functions: the largest input or output of a state


def template_figures() -> dict[str, int]:
    """What the template sets for the shard function and the publish (read from template.yaml's text)."""
    text = (ROOT / "template.yaml").read_text()
    shard = text[text.index("  ShardScoresFunction:") :]
    shard = shard[: shard.index("\n  # ---")] if "\n  # ---" in shard else shard

    def first(pattern: str, where: str) -> int:
        found = re.search(pattern, where)
        if not found:
            raise SystemExit(f"template.yaml: {pattern!r} not found")
        return int(found.group(1))

    return {
        "timeout_s": first(r"Timeout: (\d+)", text),
        "memory_mb": first(r"MemorySize: (\d+)", shard),
        "ephemeral_mb": first(r"EphemeralStorage:\s+Size: (\d+)", shard),
        "partitions": first(r"Partitions:\n(?:.*\n)*?\s+Default: (\d+)", text),
        "s3_concurrency": first(r'S3_CONCURRENCY: "(\d+)"', shard),
    }


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def plan_item(source: str, year: int, path: Path, decision: str) -> dict[str, Any]:
    """A plan item as the Check step makes it for a downloaded file."""
    from mips_profiles.keys import raw_key

    sha = sha256_file(path)
    return {
        "source": source,
        "raw_key": raw_key(source, year, sha),
        "decision": decision,
        "reason": "benchmark",
        "release": {
            "source": source,
            "performance_year": year,
            "modified": "2025-07-28",
            "download_url": f"https://data.cms.gov/{path.name}",
        },
        "download": {"sha256": sha, "size": path.stat().st_size, "etag": None, "last_modified": None},
    }


# -- the child: one step, one process --------------------------------------------------------------------


def child(args: argparse.Namespace) -> None:
    import boto3

    requests = {"s3": 0}

    def latency(**_: Any) -> None:  # every S3 request waits as a real round trip would (in its own thread)
        requests["s3"] += 1
        time.sleep(args.latency_ms / 1000)

    boto3.setup_default_session()
    boto3.DEFAULT_SESSION.events.register("before-send.s3", latency)

    from mips_profiles.adapters.cloudfront import NoCdn
    from mips_profiles.adapters.dynamo import DynamoStateStore
    from mips_profiles.adapters.local_store import LocalDirStore
    from mips_profiles.adapters.s3 import S3Store
    from mips_profiles.orchestration.run_steps import RunSteps
    from mips_profiles.publishing.publish import Publisher

    figures = template_figures()
    work = Path(args.work)
    fast = args.step == "partition" and args.group >= args.measured_partitions
    public = LocalDirStore(work / "fast-public") if fast else S3Store(PUBLIC, concurrency=figures["s3_concurrency"])
    scratch = work / f"tmp-{args.step}-{args.group}"
    scratch.mkdir(exist_ok=True)
    steps = RunSteps(
        Publisher(public, S3Store(AUDIT)),
        raw=S3Store(RAW),
        state=DynamoStateStore(TABLE),
        cdn=NoCdn(),
        partitions=figures["partitions"],
        work_dir=str(scratch),
    )
    item = json.loads(args.item) if args.item else None
    t0 = time.perf_counter()
    out: Any
    if args.step == "stage":
        out = steps.stage(item)
    elif args.step == "partition":
        out = steps.publish_partition(args.run_id, args.group)
    elif args.step == "finalize":
        out = steps.finalize(args.run_id, item)
    else:
        out = steps.ingest_pdc(item)
    seconds = time.perf_counter() - t0
    shutil.rmtree(scratch, ignore_errors=True)
    print(
        json.dumps(
            {
                "seconds": round(seconds, 2),
                "peak_rss_mb": round(peak_rss_mb()),
                "s3_requests": requests["s3"],
                "state_bytes": len(json.dumps(out, default=str)),
                "measured": not fast,
                "output": out,
            },
            default=str,
        )
    )


def run_child(args: argparse.Namespace, env: dict[str, str], step: str, **kw: Any) -> dict[str, Any]:
    command = [
        sys.executable,
        str(HERE),
        "--child",
        "--step",
        step,
        "--work",
        args.work,
        "--latency-ms",
        str(args.latency_ms),
        "--measured-partitions",
        str(args.measured_partitions),
    ]
    for name, value in kw.items():
        command += [f"--{name.replace('_', '-')}", value if isinstance(value, str) else json.dumps(value)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode:
        raise SystemExit(f"step {step} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    shown = {k: v for k, v in result.items() if k != "output"}
    print(f"  {step:<10} {kw.get('group', '')!s:>3} {shown}", file=sys.stderr, flush=True)
    return result


# -- the parent ------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def publish(args: argparse.Namespace, env: dict[str, str], item: dict[str, Any], partitions: int) -> dict[str, Any]:
    stage = run_child(args, env, "stage", item=item)
    run_id = stage["output"]["run_id"]
    parts = [run_child(args, env, "partition", run_id=run_id, group=str(g)) for g in range(partitions)]
    final = run_child(args, env, "finalize", run_id=run_id, item=item)
    measured = [p for p in parts if p["measured"]]
    slowest = max(p["seconds"] for p in measured)
    return {
        "stage": stage,
        "partition": {
            "measured": len(measured),
            "seconds": slowest,
            "peak_rss_mb": max(p["peak_rss_mb"] for p in measured),
            "s3_requests": max(p["s3_requests"] for p in measured),
            "state_bytes": max(p["state_bytes"] for p in parts),
            "documents_written": sum(p["output"]["docs_written"] for p in parts),
        },
        "finalize": final,
        # on AWS the partitions run side by side (MaxConcurrency 8 >= Partitions): the slowest one counts
        "projected_wall_seconds": round(stage["seconds"] + slowest + final["seconds"], 1),
    }


def sizing(result: dict[str, Any], figures: dict[str, int], csv_mb: float, pdc_mb: float) -> dict[str, Any]:
    """For each step and limit, the volume factor (× today's) at which it breaks, assuming linear growth (the
    scaling benchmark found time and memory linear in the rows); the first to break."""
    first = result["first_publish"]
    steps = {
        "stage": first["stage"],
        "partition": first["partition"],
        "finalize": first["finalize"],
        "ingest_pdc": result["ingest_pdc"],
    }
    limits = []
    for name, step in steps.items():
        limits.append((figures["timeout_s"] / step["seconds"], f"{name}: the {figures['timeout_s']} s timeout"))
        limits.append((figures["memory_mb"] / step["peak_rss_mb"], f"{name}: MemorySize {figures['memory_mb']} MB"))
        limits.append((STATE_LIMIT / max(1, step["state_bytes"]), f"{name}: the 256 KiB state limit"))
    # /tmp holds the raw file while a step reads it (stage: the QPP file; ingest: the PDC file)
    limits.append((figures["ephemeral_mb"] / csv_mb, f"stage: EphemeralStorage {figures['ephemeral_mb']} MB"))
    limits.append((figures["ephemeral_mb"] / pdc_mb, f"ingest_pdc: EphemeralStorage {figures['ephemeral_mb']} MB"))
    limits.sort()
    return {
        "breaks_first": {"at_volume_factor": round(limits[0][0], 1), "limit": limits[0][1]},
        "next": [{"at_volume_factor": round(f, 1), "limit": what} for f, what in limits[1:5]],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--pdc-rows", type=int, default=930_000)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--measured-partitions", type=int, default=1)
    parser.add_argument("--work", default="/tmp/mips-lambda")
    parser.add_argument("--out", default=None)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--step", choices=["stage", "partition", "finalize", "ingest_pdc"], help=argparse.SUPPRESS)
    parser.add_argument("--item", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--run-id", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--group", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)

    import boto3
    import pyarrow as pa
    from moto.server import ThreadedMotoServer

    from mips_profiles.adapters.s3 import S3Store
    from mips_profiles.sandbox.generator import generate_table, make_correction, make_pdc_table, write_csv

    figures = template_figures()
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
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
    }
    os.environ.update({k: env[k] for k in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")})
    os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
    try:
        s3 = boto3.client("s3")
        for bucket in (PUBLIC, AUDIT, RAW):
            s3.create_bucket(Bucket=bucket)
        boto3.client("dynamodb").create_table(
            TableName=TABLE,
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        print(f"generating {args.rows} QPP rows, a 1% correction and {args.pdc_rows} PDC rows", file=sys.stderr)
        table = generate_table(2024, args.rows)
        write_csv(table, work / "qpp.csv")
        write_csv(make_correction(table, changed_share=0.01, removed=25, added=25).table, work / "qpp-fixed.csv")
        # the PDC file has a row per NPI and practice (PAC id): the same NPIs, more rows (PY2020's had 933,504)
        repeats = [table] * (args.pdc_rows // table.num_rows) + [table.slice(0, args.pdc_rows % table.num_rows)]
        write_csv(make_pdc_table(pa.concat_tables(repeats)), work / "pdc.csv")
        del table, repeats
        csv_mb = (work / "qpp.csv").stat().st_size / 2**20
        pdc_mb = (work / "pdc.csv").stat().st_size / 2**20
        from mips_profiles.keys import check_record_key
        from mips_profiles.orchestration.release_check import check_record

        raw = S3Store(RAW)
        items = {}
        for name, source, decision in (("qpp", "qpp", "new"), ("qpp-fixed", "qpp", "corrected"), ("pdc", "pdc", "new")):
            items[name] = plan_item(source, 2024, work / f"{name}.csv", decision)
            raw.put_file(items[name]["raw_key"], work / f"{name}.csv")
            # and the Check step's record of it, beside it: Finalize takes the item's fields from there
            sha = items[name]["download"]["sha256"]
            raw.write(check_record_key(source, 2024, sha), check_record(items[name]))
        result: dict[str, Any] = {
            "date": time.strftime("%Y-%m-%d"),
            "input": {
                "qpp_rows": args.rows,
                "qpp_mb": round(csv_mb),
                "pdc_rows": args.pdc_rows,
                "pdc_mb": round(pdc_mb),
                "latency_ms": args.latency_ms,
            },
            "template": figures,
        }
        result["first_publish"] = publish(args, env, items["qpp"], figures["partitions"])
        result["ingest_pdc"] = run_child(args, env, "ingest_pdc", item=items["pdc"])
        result["correction"] = publish(args, env, items["qpp-fixed"], figures["partitions"])
        result["sizing"] = sizing(result, figures, csv_mb, pdc_mb)
    finally:
        server.stop()
    text = json.dumps(result, indent=1, default=str)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
