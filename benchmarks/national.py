"""National-scale benchmark: speed, memory and publish economy, with a naive reference and raw floors.

One command generates a national-size PY2024 file in the real layout (default 500,000 rows, 211
columns, ~13% of NPIs with several TINs) and a CMS-style 1% correction, then measures each step in a
fresh child process (so peak RSS is that step's own), ``--repeat`` times, and reports medians:

- ``floor_parse``: pyarrow alone parsing every column of the same CSV as text;
- ``build``: read + validate + build every per-NPI document's bytes (nothing written);
- ``reference_build``: the same job as most people would write it (pandas ``read_csv``, per-row
  checks with ``apply``, ``groupby``, a dict and ``json.dumps`` per document);
- ``publish_first``: publish into an empty local tree; ``publish_unchanged``: the same file again;
- ``correction``: publish the 1% correction; documents written vs documents whose bytes changed;
- ``floor_write``: writing the same bytes to the same number of files with nothing else;
- ``reference_publish``: the reference build plus writing its documents file by file;
- ``--history``: all eight PYs (2017-2024) published into one tree in one process, peak RSS per year.

    .venv/bin/python benchmarks/national.py --rows 500000 --repeat 3 --reference-repeat 1 \
        --skip-reference-publish --work /dev/shm/mips-bench
    .venv/bin/python benchmarks/national.py --rows 500000 --repeat 0 --history --work /dev/shm/mips-history
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()


def peak_rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


# -- steps (each runs in its own process) ----------------------------------------------------------


def step_generate(work: Path, rows: int) -> dict[str, Any]:
    from mips_profiles.sandbox.generator import generate_table, make_correction, write_csv

    table = generate_table(2024, rows)
    write_csv(table, work / "py2024.csv")
    npis = len(set(table.column("npi").to_pylist()))
    fix = make_correction(table, changed_share=0.01, removed=25, added=25)
    write_csv(fix.table, work / "py2024-corrected.csv")
    counts: dict[str, int] = {}
    for npi in table.column("npi").to_pylist():
        counts[npi] = counts.get(npi, 0) + 1
    multi = sum(1 for c in counts.values() if c > 1)
    return {
        "rows": table.num_rows,
        "columns": table.num_columns,
        "npis": npis,
        "multi_tin_share": round(multi / npis, 3),
        "csv_mb": round((work / "py2024.csv").stat().st_size / 2**20),
        "correction": {"changed": len(fix.changed), "removed": len(fix.removed), "added": len(fix.added)},
    }


def step_floor_parse(work: Path) -> dict[str, Any]:
    import csv

    import pyarrow as pa
    import pyarrow.csv as pacsv

    path = work / "py2024.csv"
    with open(path, newline="") as fh:
        header = next(csv.reader(fh))
    t0 = time.perf_counter()
    table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(column_types={h: pa.string() for h in header}))
    return {"seconds": time.perf_counter() - t0, "rows": table.num_rows}


def step_build(work: Path) -> dict[str, Any]:
    from mips_profiles.core.documents import DocumentBuilder, year_entries
    from mips_profiles.core.reader import read_source
    from mips_profiles.core.validate import validate

    t0 = time.perf_counter()
    validated = validate(read_source(work / "py2024.csv", 2024))
    entries = year_entries(validated.records, 2024)
    documents = 0
    total = 0
    for _, data in DocumentBuilder().documents(entries):
        documents += 1
        total += len(data)
    return {"seconds": time.perf_counter() - t0, "documents": documents, "bytes": total}


def _reference_documents(path: Path):
    """The straightforward pandas way (the reference, not used by the product)."""
    import json as std_json

    import pandas as pd

    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    df.columns = [c.strip().lower() for c in df.columns]

    def luhn_ok(npi: str) -> bool:
        if len(npi) != 10 or not npi.isdigit() or npi[0] not in "12":
            return False
        total = 24
        for i, ch in enumerate(reversed(npi[:9])):
            d = int(ch) * (2 if i % 2 == 0 else 1)
            total += d - 9 if d > 9 else d
        return (10 - total % 10) % 10 == int(npi[9])

    df = df[df["npi"].apply(luhn_ok)]
    names = {
        "final score": "final_score",
        "payment adjustment percentage": "payment_adjustment_pct",
        "quality category score": "quality",
        "promoting interoperability (pi) category score": "promoting_interoperability",
        "improvement activities (ia) category score": "improvement_activities",
        "cost category score": "cost",
    }
    for column, name in names.items():
        df[name] = pd.to_numeric(df[column], errors="coerce")
    df = df[(df["final_score"].isna()) | df["final_score"].between(0, 100)]
    df = df.sort_values(
        ["npi", "final_score", "payment_adjustment_pct"], ascending=[True, False, False], na_position="last"
    )
    practices = df.groupby("npi").size()
    best = df.groupby("npi", sort=True).head(1)

    def num(v):
        return None if pd.isna(v) else float(v)

    for row in best.to_dict("records"):
        npi = row["npi"]
        score = num(row["final_score"])
        adj = num(row["payment_adjustment_pct"])
        band = (
            None
            if score is None
            else (
                "exceptional"
                if score >= 90
                else "above_average"
                if score >= 75
                else "meeting_threshold"
                if score >= 50
                else "below_threshold"
            )
        )
        outcome = (
            None
            if adj is None
            else ("positive" if adj > 0 else "neutral" if adj == 0 else "maximum_negative" if adj <= -9 else "negative")
        )
        entry = {
            "performance_year": 2024,
            "payment_year": 2026,
            "final_score": score,
            "payment_adjustment_pct": adj,
            "payment_outcome": outcome,
            "score_band": band,
            "participation_option": row["participation option"],
            "category_scores": {
                k: num(row[k]) for k in ("quality", "promoting_interoperability", "improvement_activities", "cost")
            },
            "scored_practices": int(practices[npi]),
            "attribution": "Source: CMS QPP MIPS · Performance Year 2024",
        }
        doc = {"schema_version": 1, "npi": npi, "latest": entry, "history": [entry], "source": {"name": "CMS QPP MIPS"}}
        yield npi, std_json.dumps(doc, ensure_ascii=False).encode()


def step_reference_build(work: Path) -> dict[str, Any]:
    t0 = time.perf_counter()
    documents = sum(1 for _ in _reference_documents(work / "py2024.csv"))
    return {"seconds": time.perf_counter() - t0, "documents": documents}


def step_reference_publish(work: Path, run: int) -> dict[str, Any]:
    out = work / f"reference-tree-{run}" / "v1" / "npi"
    shutil.rmtree(out.parent.parent, ignore_errors=True)
    out.mkdir(parents=True)
    t0 = time.perf_counter()
    documents = 0
    for npi, data in _reference_documents(work / "py2024.csv"):
        with open(out / f"{npi}.json", "wb") as fh:
            fh.write(data)
        documents += 1
    seconds = time.perf_counter() - t0
    shutil.rmtree(out.parent.parent, ignore_errors=True)
    return {"seconds": seconds, "documents": documents}


def _publisher(work: Path, run: int):
    from mips_profiles.adapters.local_store import LocalDirStore
    from mips_profiles.publishing.publish import Publisher

    return Publisher(LocalDirStore(work / f"tree-{run}"), LocalDirStore(work / f"tree-{run}.private"))


def _index(work: Path, run: int) -> dict[str, bytes]:
    import pyarrow.parquet as pq

    out: dict[str, bytes] = {}
    for path in (work / f"tree-{run}.private" / "index").glob("*.parquet"):
        t = pq.read_table(path)
        out.update(zip(t.column("npi").to_pylist(), t.column("hash").to_pylist(), strict=True))
    return out


def step_publish(work: Path, run: int, source: str) -> dict[str, Any]:
    from mips_profiles.publishing.publish import ReleaseInfo

    before = _index(work, run) if source != "py2024.csv" or (work / f"tree-{run}.private").exists() else {}
    t0 = time.perf_counter()
    result = _publisher(work, run).publish_file(work / source, ReleaseInfo(2024), force=True)
    seconds = time.perf_counter() - t0
    after = _index(work, run)
    changed = sum(1 for k, v in after.items() if before.get(k) != v)
    removed = sum(1 for k in before if k not in after)
    return {
        "seconds": seconds,
        "docs_written": result.docs_written,
        "docs_deleted": result.docs_deleted,
        "docs_unchanged": result.docs_unchanged,
        "docs_whose_bytes_changed": changed,
        "docs_removed": removed,
    }


def step_floor_write(work: Path, run: int) -> dict[str, Any]:
    tree = work / f"tree-{run}" / "v1" / "npi"
    payload = [(p.name, p.read_bytes()) for p in tree.iterdir()]
    out = work / f"floor-{run}" / "v1" / "npi"
    shutil.rmtree(out.parent.parent, ignore_errors=True)
    out.mkdir(parents=True)
    t0 = time.perf_counter()
    for name, data in payload:
        with open(out / name, "wb") as fh:
            fh.write(data)
    seconds = time.perf_counter() - t0
    shutil.rmtree(out.parent.parent, ignore_errors=True)
    return {"seconds": seconds, "files": len(payload)}


def step_history(work: Path, rows: int) -> dict[str, Any]:
    from mips_profiles.adapters.local_store import LocalDirStore
    from mips_profiles.publishing.publish import Publisher, ReleaseInfo
    from mips_profiles.sandbox.generator import generate_table, write_csv

    tree, private = work / "history-tree", work / "history-tree.private"
    shutil.rmtree(tree, ignore_errors=True)
    shutil.rmtree(private, ignore_errors=True)
    publisher = Publisher(LocalDirStore(tree), LocalDirStore(private))
    years = []
    for year in range(2017, 2025):
        source = work / f"history-{year}.csv"
        write_csv(generate_table(year, rows), source)
        t0 = time.perf_counter()
        result = publisher.publish_file(source, ReleaseInfo(year))
        years.append(
            {
                "year": year,
                "seconds": round(time.perf_counter() - t0, 1),
                "rows": result.rows_read,
                "docs_written": result.docs_written,
                "peak_rss_mb_so_far": round(peak_rss_mb()),
            }
        )
        source.unlink()
    return {"years": years, "total_rows": sum(y["rows"] for y in years)}


STEPS = {
    "generate",
    "floor_parse",
    "build",
    "reference_build",
    "reference_publish",
    "publish_first",
    "publish_unchanged",
    "correction",
    "floor_write",
    "history",
}


def child(args: argparse.Namespace) -> None:
    work = Path(args.work)
    name = args.step
    if name == "generate":
        out = step_generate(work, args.rows)
    elif name == "floor_parse":
        out = step_floor_parse(work)
    elif name == "build":
        out = step_build(work)
    elif name == "reference_build":
        out = step_reference_build(work)
    elif name == "reference_publish":
        out = step_reference_publish(work, args.run)
    elif name == "publish_first":
        shutil.rmtree(work / f"tree-{args.run}", ignore_errors=True)
        shutil.rmtree(work / f"tree-{args.run}.private", ignore_errors=True)
        out = step_publish(work, args.run, "py2024.csv")
    elif name == "publish_unchanged":
        out = step_publish(work, args.run, "py2024.csv")
    elif name == "correction":
        out = step_publish(work, args.run, "py2024-corrected.csv")
    elif name == "floor_write":
        out = step_floor_write(work, args.run)
    else:
        out = step_history(work, args.rows)
    out["peak_rss_mb"] = round(peak_rss_mb())
    print(json.dumps(out))


def run_step(work: Path, step: str, *, run: int = 0, rows: int = 0) -> dict[str, Any]:
    command = [
        sys.executable,
        str(HERE),
        "--child",
        "--step",
        step,
        "--work",
        str(work),
        "--run",
        str(run),
        "--rows",
        str(rows),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"step {step} failed:\n{done.stderr}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(
        f"  {step:<18} run {run}: "
        + ", ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in result.items()),
        file=sys.stderr,
        flush=True,
    )
    return result


def median(results: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--work", default="/tmp/mips-bench")
    parser.add_argument("--out", default=None, help="write the summary JSON here too")
    parser.add_argument("--history", action="store_true", help="also publish eight PYs into one tree")
    parser.add_argument(
        "--reference-repeat", type=int, default=None, help="runs of the (slow) pandas reference; default: --repeat"
    )
    parser.add_argument("--skip-reference-publish", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--step", choices=sorted(STEPS), help=argparse.SUPPRESS)
    parser.add_argument("--run", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)

    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    generated = {}
    if args.repeat:
        print(f"generating {args.rows} rows into {work}", file=sys.stderr)
        generated = run_step(work, "generate", rows=args.rows)
    runs: dict[str, list[dict[str, Any]]] = {s: [] for s in STEPS}
    for run in range(args.repeat):
        for step in ("floor_parse", "build", "publish_first", "publish_unchanged", "correction", "floor_write"):
            runs[step].append(run_step(work, step, run=run))
        if run < (args.reference_repeat if args.reference_repeat is not None else args.repeat):
            runs["reference_build"].append(run_step(work, "reference_build", run=run))
            if not args.skip_reference_publish:
                runs["reference_publish"].append(run_step(work, "reference_publish", run=run))
        for leftover in (f"tree-{run}", f"tree-{run}.private"):
            shutil.rmtree(work / leftover, ignore_errors=True)
    summary: dict[str, Any] = {
        "input": generated,
        "repeat": args.repeat,
        "runs": {step: len(results) for step, results in runs.items() if results},
        "medians": {},
    }
    for step, results in runs.items():
        if results:
            summary["medians"][step] = {
                k: round(statistics.median(r[k] for r in results), 2)
                for k in results[0]
                if isinstance(results[0][k], (int, float))
            }
    m = summary["medians"]
    summary["ratios"] = (
        {}
        if not m
        else {
            "build_over_floor_parse": round(m["build"]["seconds"] / m["floor_parse"]["seconds"], 2),
            "reference_build_over_build": round(
                m.get("reference_build", {"seconds": float("nan")})["seconds"] / m["build"]["seconds"], 1
            ),
            "publish_first_over_floor_write": round(m["publish_first"]["seconds"] / m["floor_write"]["seconds"], 2),
            "correction_written_over_changed": round(
                m["correction"]["docs_written"] / max(1, m["correction"]["docs_whose_bytes_changed"]), 3
            ),
            "correction_time_over_first_publish": round(m["correction"]["seconds"] / m["publish_first"]["seconds"], 3),
        }
    )
    if "reference_publish" in m and "publish_first" in m:
        summary["ratios"]["reference_publish_over_publish_first"] = round(
            m["reference_publish"]["seconds"] / m["publish_first"]["seconds"], 1
        )
    if args.history:
        summary["history"] = run_step(work, "history", rows=args.rows)
    text = json.dumps(summary, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
