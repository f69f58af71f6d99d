"""Init (cold start) CPU of both Lambda handlers: a fresh interpreter imports ``functions/{name}/app.py`` as the
Lambda runtime does, with pandas importable as it is from the AWS SDK for pandas layer, and the child's CPU time
(user + system) and wall time are read. A third variant imports pandas before the shard handler: what each cold
start of the shard function paid before the handler refused pandas (pyarrow's shim imported it).

Variants run interleaved, ``--runs`` rounds; medians with the spread (min-max) are printed and written:

    .venv/bin/python benchmarks/cold_start.py --runs 9 --out benchmarks/results-cold-start.json \\
        --markdown docs/performance.md

``--from-json FILE --markdown docs/performance.md`` re-renders the table without measuring again.

Lambda gives a function CPU in proportion to its memory (one vCPU at 1,769 MB): the CPU seconds here are the
work; at the checker's 512 MB (0.29 vCPU) its init takes about CPU / 0.29 of wall time, at the shard
function's 4,096 MB (2.3 vCPU, one thread here) about the CPU time itself.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Lambda: one full vCPU at 1,769 MB (docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html)
VCPU_PER_MB = 1 / 1769
MEMORY_MB = {"check_release": 512, "shard_scores": 4096}

IMPORT = (
    "import importlib.util, sys\n"
    "{pre}"
    "spec = importlib.util.spec_from_file_location('app', sys.argv[1])\n"
    "app = importlib.util.module_from_spec(spec); spec.loader.exec_module(app)\n"
)
VARIANTS = {
    "check_release": ("check_release", ""),
    "shard_scores": ("shard_scores", ""),
    "shard_scores, pandas imported (before)": ("shard_scores", "import pandas\n"),
}


def environment(function: str) -> dict[str, str]:
    return {
        **os.environ,
        "LAMBDA_TASK_ROOT": "/var/task",  # Powertools' Tracer patches (or not) as in Lambda
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
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def one_init(function: str, pre: str) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one fresh interpreter importing the handler."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", IMPORT.format(pre=pre), str(ROOT / "functions" / function / "app.py")],
        env=environment(function),
        check=True,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), wall


BEGIN, END = "<!-- cold-start:begin -->", "<!-- cold-start:end -->"


def table(result: dict) -> str:
    """The figures as the Markdown table docs/performance.md shows between its cold-start markers."""
    lines = [
        f"Measured {result['date']} on Python {result['python']}, {result['runs']} interleaved runs, with "
        f"`{result['command']}`.",
        "",
        "| handler | init CPU, median (min-max) | memory | init at that memory's CPU share |",
        "|---|---|---|---|",
    ]
    for name, v in result["variants"].items():
        cpu = v["cpu_s"]
        lines.append(
            f"| {name} | {cpu['median']:.2f} s ({cpu['min']:.2f}-{cpu['max']:.2f}) | {v['memory_mb']:,} MB "
            f"| about {v['projected_init_s_on_lambda']:.2f} s |"
        )
    return "\n".join(lines)


def render(result: dict, markdown: Path) -> None:
    text = markdown.read_text()
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    markdown.write_text(text[:start] + "\n" + table(result) + "\n" + text[end:])


def summary(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 3), "min": round(min(values), 3), "max": round(max(values), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=9, help="interleaved rounds of every variant (default 9)")
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    parser.add_argument("--markdown", type=Path, help="rewrite the table between the cold-start markers of this file")
    parser.add_argument("--from-json", type=Path, help="render --markdown from these figures, without measuring")
    args = parser.parse_args()
    if args.from_json:
        if args.markdown:
            render(json.loads(args.from_json.read_text()), args.markdown)
        return
    for function, pre in VARIANTS.values():  # one warm-up each: the first import compiles bytecode caches
        one_init(function, pre)
    samples: dict[str, dict[str, list[float]]] = {name: {"cpu": [], "wall": []} for name in VARIANTS}
    for _ in range(args.runs):
        for name, (function, pre) in VARIANTS.items():
            cpu, wall = one_init(function, pre)
            samples[name]["cpu"].append(cpu)
            samples[name]["wall"].append(wall)
    result = {
        "command": f"python benchmarks/cold_start.py --runs {args.runs}",
        "date": time.strftime("%Y-%m-%d"),
        "python": sys.version.split()[0],
        "runs": args.runs,
        "variants": {},
    }
    for name, (function, _) in VARIANTS.items():
        cpu = summary(samples[name]["cpu"])
        share = min(1.0, MEMORY_MB[function] * VCPU_PER_MB)
        result["variants"][name] = {
            "cpu_s": cpu,
            "wall_s_here": summary(samples[name]["wall"]),
            "memory_mb": MEMORY_MB[function],
            "projected_init_s_on_lambda": round(cpu["median"] / share, 2),
        }
        print(
            f"{name:42s} CPU {cpu['median']:.2f} s ({cpu['min']:.2f}-{cpu['max']:.2f}); "
            f"at {MEMORY_MB[function]} MB about {cpu['median'] / share:.2f} s of init"
        )
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    if args.markdown:
        render(result, args.markdown)


if __name__ == "__main__":
    main()
