"""`make mart`: build the QPP mart (warehouse/) with dbt and DuckDB over a published tree's curated dataset,
then say where everything is and show one leaderboard and one distribution.

    python tools/mart.py --dbt .venv-dbt/bin/dbt --private out/demo/tree.private --public out/demo/tree
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from mips_profiles.text import printable

ROOT = Path(__file__).resolve().parents[1]
WAREHOUSE = ROOT / "warehouse"
GLOB_CHARACTERS = set("*?[]{}")


def dbt_env(private: Path, public: Path, database: Path) -> dict[str, str]:
    """The environment the warehouse's profile and vars read; no network (no usage stats, no version check)."""
    return {
        **os.environ,
        "DBT_PROFILES_DIR": str(WAREHOUSE),
        "DBT_PROJECT_DIR": str(WAREHOUSE),
        "QPP_MART_TARGET": "duckdb",
        "QPP_MART_ROOT": str(private.resolve() / "mart"),
        "QPP_PUBLIC_ROOT": str(public.resolve()),
        "QPP_MART_DUCKDB": str(database.resolve()),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_VERSION_CHECK": "false",
        "DO_NOT_TRACK": "1",
        "DBT_USE_COLORS": "false",  # its lines are printed (and may be piped): no terminal codes
    }


def run_dbt(dbt: str, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [dbt, *args, "--project-dir", str(WAREHOUSE), "--profiles-dir", str(WAREHOUSE)],
        cwd=WAREHOUSE,
        env=env,
        capture_output=True,
        text=True,
    )


def table(rows: list[tuple], header: list[str]) -> str:
    cells = [[("" if v is None else printable(v, 60)) for v in row] for row in rows]  # CMS's text: escaped
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(header)]

    def line(values: list[str]) -> str:
        return "  ".join(v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(zip(values, widths, strict=True)))

    return "\n".join([line(header), line(["-" * w for w in widths]), *(line(r) for r in cells)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dbt", default=str(ROOT / ".venv-dbt" / "bin" / "dbt"))
    parser.add_argument("--private", type=Path, default=ROOT / "out" / "demo" / "tree.private")
    parser.add_argument("--public", type=Path, default=ROOT / "out" / "demo" / "tree")
    parser.add_argument("--database", type=Path, default=None, help="DuckDB file (default: beside --private)")
    args = parser.parse_args(argv)
    for flag, path in (("--private", args.private), ("--public", args.public)):
        glob = sorted(set(str(path.resolve())) & GLOB_CHARACTERS)
        if glob:  # the sources are read through glob patterns: site[a].private would match sitea.private
            print(
                f"error: {flag} {path}: {glob[0]!r} in the path: DuckDB reads the sources through glob patterns, so "
                "it would read another directory's data; rename the directory (or link it from a plain path)",
                file=sys.stderr,
            )
            return 1
    if not (args.private / "mart").is_dir():
        print(f"error: {args.private / 'mart'}: no curated dataset (publish or run the demo first)", file=sys.stderr)
        return 1
    dbt = Path(args.dbt).resolve()  # dbt runs in warehouse/: a relative path would point elsewhere
    if not dbt.exists():
        print(f"error: {args.dbt}: no dbt there (make .venv-dbt/.installed)", file=sys.stderr)
        return 1
    database = args.database or args.private.parent / "qpp_mart.duckdb"
    env = dbt_env(args.private, args.public, database)
    done = run_dbt(str(dbt), ["build"], env)
    print(
        done.stdout[-3000:]
        if done.returncode
        else next((line for line in reversed(done.stdout.splitlines()) if "Done." in line), "")
    )
    if done.returncode:
        print(done.stderr[-2000:], file=sys.stderr)
        return done.returncode
    docs = run_dbt(str(dbt), ["docs", "generate"], env)
    if docs.returncode:
        print(docs.stdout[-2000:], file=sys.stderr)
        return docs.returncode

    import duckdb

    con = duckdb.connect(str(database), read_only=True)
    models = [
        r[0]
        for r in con.execute(
            "select table_name from information_schema.tables where table_schema = 'main' order by 1"
        ).fetchall()
    ]
    print(f"\ndatabase:   {database}  (DuckDB; models: {', '.join(models)})")
    print(f"sources:    {args.private / 'mart'}  (Parquet, Hive-partitioned by performance_year)")
    print(f"docs:       {WAREHOUSE / 'target' / 'index.html'}  (dbt docs generate; `dbt docs serve` to browse)")

    year = con.execute("select max(performance_year) from fct_clinician_year").fetchone()[0]
    cohort = con.execute(
        "select specialty_key, practice_state from leaderboard_specialty_state where performance_year = ? "
        "group by all order by count(*) desc, 1, 2 limit 1",
        [year],
    ).fetchone()
    if cohort is None:
        print(f"\nLeaderboard: no specialty and state has a large enough cohort in PY{year} yet")
    else:
        specialty, state = cohort
        rows = con.execute(
            "select score_rank, npi, final_score, score_band, cohort_size from leaderboard_specialty_state "
            "where performance_year = ? and specialty_key = ? and practice_state = ? order by score_rank, npi "
            "limit 10",
            [year, specialty, state],
        ).fetchall()
        print(f"\nLeaderboard: {specialty} in {state}, PY{year} (top 10 of the cohort)")
        print(table(rows, ["rank", "npi", "final score", "band", "cohort"]))
    rows = con.execute(
        "select specialty, clinicians, mean_score, median_score, exceptional_share_pct, "
        "national_exceptional_share_pct from dist_specialty where performance_year = ? "
        "order by exceptional_share_pct desc nulls last, specialty limit 10",
        [year],
    ).fetchall()
    print(f"\nDistribution by specialty, PY{year} (by exceptional share; withheld cells blank)")
    print(table(rows, ["specialty", "clinicians", "mean", "median", "exceptional %", "national %"]))
    print(
        "\nA MIPS score is a Medicare payment-program measure, not a rating of clinical quality. Source: CMS QPP MIPS."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
