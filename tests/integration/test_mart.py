"""The QPP mart: the curated dataset every publish writes (typed, Hive-partitioned, private), and the dbt
project (warehouse/) built on it with DuckDB, tied to the public aggregates."""

from __future__ import annotations

import gzip
import itertools
import json
import os
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import duckdb
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mips_profiles.adapters.local_store import LocalDirStore
from mips_profiles.core import mart
from mips_profiles.keys import mart_key
from mips_profiles.publishing.publish import Publisher, ReleaseInfo
from mips_profiles.sandbox.generator import generate_table, make_correction, make_pdc_table, write_csv

ROOT = Path(__file__).parents[2]
DBT = ROOT / ".venv-dbt" / "bin" / "dbt"
YEARS = (2022, 2023, 2024)
sys.path.insert(0, str(ROOT / "tools"))
from mart import dbt_env  # noqa: E402  (tools/mart.py: the environment make mart gives dbt)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """Three years published, PY2024 corrected once (15% of its clinicians: its specialty and state aggregates
    renewed), PY2023 corrected a little (14 clinicians: held back at its first release), and the PDC file of PY2024
    ingested."""
    root = tmp_path_factory.mktemp("mart")
    publisher = Publisher(LocalDirStore(root / "tree"), LocalDirStore(root / "tree.private"))
    for year in YEARS:
        write_csv(generate_table(year, 900), root / f"{year}.csv")  # one NPI population: history
        publisher.publish_file(root / f"{year}.csv", ReleaseInfo(year, cms_modified=f"{year + 1}-07-01"))
    corrected = make_correction(generate_table(2024, 900), changed_share=0.15, seed=7).table
    write_csv(corrected, root / "2024-corrected.csv")
    publisher.publish_file(root / "2024-corrected.csv", ReleaseInfo(2024, cms_modified="2025-09-01"))
    write_csv(make_correction(generate_table(2023, 900), changed_share=0.01, seed=5).table, root / "2023-corrected.csv")
    publisher.publish_file(root / "2023-corrected.csv", ReleaseInfo(2023, cms_modified="2024-09-01"))
    write_csv(make_pdc_table(corrected), root / "pdc.csv")
    publisher.reconciler.ingest(root / "pdc.csv", 2024, "ab" * 32)
    return root


def read(root: Path, dataset: str, year: int) -> pa.Table:
    return pq.read_table(root / "tree.private" / mart_key(dataset, year))


def test_each_dataset_is_one_typed_file_per_year_under_its_hive_partition(site):
    schemas = mart.schemas()
    for dataset in ("clinician_scores", "profile_headlines"):
        for year in YEARS:
            files = list((site / "tree.private" / "mart" / dataset / f"performance_year={year}").iterdir())
            assert [f.name for f in files] == ["part-0.parquet"]
            assert read(site, dataset, year).schema == mart.arrow_schema(schemas[dataset])
    assert read(site, "pdc_scores", 2024).schema == mart.arrow_schema(schemas["pdc_scores"])
    assert not list((site / "tree").rglob("*.parquet")), "nothing of the mart under the public tree"


def test_clinician_scores_are_the_accepted_rows_typed_exactly_as_cms_wrote_them(site):
    manifest = json.loads((site / "tree" / "v1" / "manifest.json").read_text())
    release = next(r for r in manifest["releases"] if r["performance_year"] == 2022)
    typed = read(site, "clinician_scores", 2022)
    audit = pq.read_table(next((site / "tree.private" / "audit" / "py=2022").rglob("audit.parquet")))
    assert typed.num_rows == audit.num_rows == release["rows_accepted"]
    assert set(typed.column("release_id").to_pylist()) == {release["release_id"]}
    assert set(typed.column("cms_modified").to_pylist()) == {"2023-07-01"}
    by_line = {row["source_line"]: row for row in typed.to_pylist()}
    for text in audit.slice(0, 300).to_pylist():
        row = by_line[text["source_line"]]
        for name, kind in (
            ("final_score", "decimal"),
            ("payment_adjustment_pct", "decimal"),
            ("practice_size", "integer"),
            ("rural_status", "boolean"),
            ("practice_state", "text"),
        ):
            raw = (text.get(name) or "").strip()
            if raw == "":
                assert row[name] is None, (name, text["source_line"])
            elif kind == "decimal":
                assert row[name] == Decimal(raw), (name, raw)
            elif kind == "integer":
                assert row[name] == int(raw)
            elif kind == "boolean":
                assert row[name] is (raw.lower() == "true")
            else:
                assert row[name] == text[name]


def test_a_correction_replaces_the_year_and_leaves_the_others(site):
    manifest = json.loads((site / "tree" / "v1" / "manifest.json").read_text())
    current = {r["performance_year"]: r["release_id"] for r in manifest["releases"]}
    for year in YEARS:
        assert set(read(site, "clinician_scores", year).column("release_id").to_pylist()) == {current[year]}
    assert set(read(site, "clinician_scores", 2024).column("cms_modified").to_pylist()) == {"2025-09-01"}


def test_profile_headlines_are_exactly_the_public_documents_entries(site):
    """Analysts and profiles never disagree: every headline row is the year's entry of the NPI's document."""
    lines = gzip.decompress((site / "tree" / "v1" / "bulk" / "2024" / "scores.ndjson").read_bytes()).splitlines()
    published = {(e := orjson.loads(line))["npi"]: e for line in lines}
    rows = read(site, "profile_headlines", 2024).to_pylist()
    assert len(rows) == len(published)
    for row in rows:
        entry = published[row["npi"]]
        assert row["final_score"] == entry["final_score"] and row["score_band"] == entry["score_band"]
        assert row["payment_outcome"] == entry["payment_outcome"] and row["attribution"] == entry["attribution"]
        for category, status in entry["category_status"].items():
            assert row[f"{category}_status"] == status
            assert row[f"{category}_score"] == entry["category_scores"][category]
    doc = json.loads((site / "tree" / "v1" / "npi" / f"{rows[0]['npi']}.json").read_text())
    assert any(h["final_score"] == rows[0]["final_score"] for h in [doc["latest"], *doc["history"]])


def test_the_dbt_sources_and_the_parameters_seed_are_generated_from_the_schemas():
    assert (ROOT / "warehouse" / "models" / "sources.yml").read_text() == mart.dbt_sources_yaml(), (
        "run: python -m mips_profiles.core.mart > warehouse/models/sources.yml"
    )
    assert (ROOT / "warehouse" / "seeds" / "mips_parameters.csv").read_text() == mart.mips_parameters_csv(), (
        "run: python -m mips_profiles.core.mart parameters > warehouse/seeds/mips_parameters.csv"
    )


def test_the_distribution_macro_uses_the_methodology_bands():
    bands = json.loads((ROOT / "shared" / "mips_profiles" / "data" / "methodology.json").read_text())["score_bands"]
    macro = (ROOT / "warehouse" / "macros" / "distribution.sql").read_text()
    listed = ", ".join(f"('{b['band']}', {b['min_score']:g})" for b in bands)
    assert f"bands = [{listed}]" in macro


def test_the_marts_suppression_variables_are_the_public_aggregates():
    import yaml

    from mips_profiles.core.stats import MIN_CELL, QUANTILE_MIN_GROUP

    variables = yaml.safe_load((ROOT / "warehouse" / "dbt_project.yml").read_text())["vars"]
    assert (variables["min_cell"], variables["quantile_min_group"]) == (MIN_CELL, QUANTILE_MIN_GROUP)


def dbt(args: list[str], site: Path, database: Path, public: Path | None = None) -> subprocess.CompletedProcess:
    if not DBT.exists():
        pytest.fail(f"{DBT} is missing: make test installs it (make .venv-dbt/.installed)")
    env = dbt_env(site / "tree.private", public or site / "tree", database)
    target = database.parent / "dbt-target"
    return subprocess.run(
        [
            str(DBT),
            *args,
            "--project-dir",
            str(ROOT / "warehouse"),
            "--profiles-dir",
            str(ROOT / "warehouse"),
            "--target-path",
            str(target),
            "--log-path",
            str(target),
        ],
        cwd=ROOT / "warehouse",
        env={**env, "DBT_PARTIAL_PARSE": "false"},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def built(site) -> Path:
    database = site / "qpp_mart.duckdb"
    done = dbt(
        ["--warn-error", "build", "--vars", '{"min_leaderboard_cohort": 3}'], site, database
    )  # 900 rows: small cohorts
    assert done.returncode == 0, done.stdout[-4000:]
    assert "ERROR=0" in done.stdout and "FAIL" not in done.stdout.split("Done.")[-1]
    return database


def test_dbt_build_passes_every_model_and_test_including_the_tie_to_the_public_aggregates(built, site):
    log = (site / "dbt-target" / "dbt.log").read_text()
    for test in ("national_matches_published", "specialty_matches_published"):
        assert f"PASS {test}" in log
    con = duckdb.connect(str(built), read_only=True)
    years = [
        r[0] for r in con.execute("select distinct performance_year from fct_clinician_year order by 1").fetchall()
    ]
    assert years == list(YEARS)
    assert con.execute("select count(*) from yoy_change where is_consecutive").fetchone()[0] > 0
    tiers = {r[0] for r in con.execute("select distinct credentialing_tier from credentialing_tier").fetchall()}
    assert {"tier_1", "tier_2", "tier_4"} <= tiers


def test_the_tie_compares_a_held_back_year_with_the_release_its_aggregates_are_of(built, site, tmp_path):
    """PY2023's correction changed 14 clinicians: its public specialty and state aggregates stay those of its first
    release, which the mart (the current release) no longer is; the tie test passes over that year, and the
    aggregates are byte for byte those a publish of the first file alone makes. PY2024's correction renewed them:
    the tie above held them to the corrected mart."""
    national = {y: json.loads((site / "tree" / "v1" / "stats" / str(y) / "national.json").read_text()) for y in YEARS}
    assert national[2023]["breakdowns"]["held_back"]["changed_clinicians"] == 14
    assert national[2024]["breakdowns"]["held_back"] is None
    assert national[2024]["breakdowns"]["release_id"] == national[2024]["release_id"]
    first = Publisher(LocalDirStore(tmp_path / "tree"), LocalDirStore(tmp_path / "tree.private"))
    first.publish_file(site / "2023.csv", ReleaseInfo(2023, cms_modified="2024-07-01"))

    def groups(tree: Path) -> dict[str, bytes]:
        stats = tree / "v1" / "stats" / "2023"
        return {str(p.relative_to(stats)): p.read_bytes() for p in stats.rglob("*.json") if p.name != "national.json"}

    assert groups(site / "tree") == groups(tmp_path / "tree") and groups(site / "tree")
    assert national[2023]["breakdowns"]["release_id"] != national[2023]["release_id"]


def test_a_leaderboard_ranks_with_ties_inside_one_specialty_and_state(built):
    con = duckdb.connect(str(built), read_only=True)
    rows = con.execute(
        "select performance_year, specialty_key, practice_state, score_rank, final_score, cohort_size "
        "from leaderboard_specialty_state order by 1, 2, 3, 4"
    ).fetchall()
    assert rows and all(r[5] >= 3 for r in rows)
    for (y, s, st, rank, score, _), (y2, s2, st2, rank2, score2, _) in itertools.pairwise(rows):
        if (y, s, st) == (y2, s2, st2):
            assert score2 <= score and (rank2 == rank if score2 == score else rank2 > rank)


def test_the_tie_to_the_public_aggregates_fails_when_they_disagree(built, site, tmp_path):
    """The singular test is not vacuous: one published count off by one, and it fails."""
    public = tmp_path / "tree"
    shutil.copytree(site / "tree" / "v1" / "stats", public / "v1" / "stats")
    national = public / "v1" / "stats" / "2023" / "national.json"
    body = json.loads(national.read_text())
    body["bands"][0]["count"] += 1
    national.write_text(json.dumps(body))
    done = dbt(["test", "--select", "national_matches_published"], site, tmp_path / "copy.duckdb", public)
    if done.returncode == 0 or "FAIL 1" not in done.stdout:
        # the test reads the models: build them into this database first
        assert dbt(["build", "--exclude", "test_type:singular"], site, tmp_path / "copy.duckdb", public).returncode == 0
        done = dbt(["test", "--select", "national_matches_published"], site, tmp_path / "copy.duckdb", public)
    assert done.returncode != 0 and "FAIL 1" in done.stdout


def test_dbt_docs_generate_works(built, site):
    done = dbt(["docs", "generate"], site, built)
    assert done.returncode == 0, done.stdout[-2000:]
    catalog = json.loads((site / "dbt-target" / "catalog.json").read_text())
    assert "model.qpp_mart.fct_clinician_year" in catalog["nodes"]


def test_make_mart_prints_where_things_are_and_a_leaderboard_and_a_distribution(built, site):
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "tools" / "mart.py"),
            "--dbt",
            str(DBT),
            "--private",
            str(site / "tree.private"),
            "--public",
            str(site / "tree"),
            "--database",
            str(site / "make-mart.duckdb"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ},
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    out = done.stdout
    assert "database:" in out and "make-mart.duckdb" in out and "Leaderboard:" in out
    assert "Distribution by specialty" in out and "not a rating of clinical quality" in out
    assert "\x1b" not in out + done.stderr  # dbt's colour codes are off: the output is plain text


def test_the_mart_tables_on_the_terminal_escape_what_cms_wrote():
    from mart import table

    shown = table([("Cardiology\x1b[2J", 1, None)], ["specialty", "n", "x"])
    assert "\x1b" not in shown and "Cardiology\\x1b[2J" in shown


def test_the_mart_builds_on_a_tree_made_by_publish_alone_with_a_withheld_band(tmp_path):
    """Issue 31's two bugs: a tree that never ingested a PDC file has no pdc_scores files (an empty source, not
    "No files found"), and a 60-row year has bands of 1 to 10 clinicians, which the national statistics withhold
    (compared only where shown). `make mart`'s script builds it all and prints its tables."""
    write_csv(generate_table(2023, 60), tmp_path / "2023.csv")
    published = subprocess.run(
        [
            sys.executable,
            "-m",
            "mips_profiles.cli",
            "publish",
            "--performance-year",
            "2023",
            "--source",
            str(tmp_path / "2023.csv"),
            "--out",
            str(tmp_path / "tree"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert published.returncode == 0, published.stderr
    assert not (tmp_path / "tree.private" / "mart" / "pdc_scores").exists()
    national = json.loads((tmp_path / "tree" / "v1" / "stats" / "2023" / "national.json").read_text())
    assert None in [band["count"] for band in national["bands"]], "the year needs a withheld band"
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "tools" / "mart.py"),
            "--dbt",
            str(DBT),
            "--private",
            str(tmp_path / "tree.private"),
            "--public",
            str(tmp_path / "tree"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "Distribution by specialty, PY2023" in done.stdout
    con = duckdb.connect(str(tmp_path / "qpp_mart.duckdb"), read_only=True)
    assert con.execute("select count(*) from stg_pdc_scores").fetchone() == (0,)
    assert con.execute("select count(*) from fct_clinician_year").fetchone()[0] > 0


@pytest.mark.parametrize("target", ["duckdb", "athena"])
def test_dbt_parse_is_clean_on_both_targets_and_every_model_descends_from_a_source(target, tmp_path):
    """`dbt --warn-error parse` (no deprecation, no warning) with the DuckDB adapter and with dbt-athena (installed
    from requirements/dbt.txt; parsing needs no AWS account), and the lineage dbt docs draws: every model reaches
    a source() through its parents; the unit tests and exposures are in the graph."""
    env = {**dbt_env(tmp_path, tmp_path, tmp_path / "x.duckdb"), "QPP_MART_TARGET": target}
    done = subprocess.run(
        [
            str(DBT),
            "--warn-error",
            "parse",
            "--no-partial-parse",
            "--target",
            target,
            "--project-dir",
            str(ROOT / "warehouse"),
            "--profiles-dir",
            str(ROOT / "warehouse"),
            "--target-path",
            str(tmp_path / "target"),
            "--log-path",
            str(tmp_path / "target"),
        ],
        cwd=ROOT / "warehouse",
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:]
    assert "WARNING" not in done.stdout and "Deprecat" not in done.stdout.replace(
        "This version of dbt is deprecated", ""
    )
    manifest = json.loads((tmp_path / "target" / "manifest.json").read_text())
    nodes = manifest["nodes"]
    assert manifest["metadata"]["adapter_type"] == target

    def reaches_a_source(unique_id: str) -> bool:
        parents = nodes[unique_id]["depends_on"]["nodes"]
        return any(p.startswith("source.") or (p in nodes and reaches_a_source(p)) for p in parents)

    models = [uid for uid, node in nodes.items() if node["resource_type"] == "model"]
    assert len(models) >= 10
    assert [m for m in models if not reaches_a_source(m)] == []
    assert {"credentialing_tier_maps_band_and_payment_outcome", "dist_specialty_bands_and_small_cell_suppression"} <= {
        u["name"] for u in manifest["unit_tests"].values()
    }
    assert {e["name"] for e in manifest["exposures"].values()} == {"research_page", "credentialing_export"}
    marts = [nodes[m] for m in models if nodes[m]["fqn"][1] == "marts"]
    assert marts and all(node["config"]["contract"]["enforced"] for node in marts)


@pytest.mark.parametrize("name", ["site[a].private", "site*.private", "site{a,b}.private"])
def test_a_private_directory_with_glob_characters_is_refused_not_read_as_a_pattern(tmp_path, name):
    """Issue 38: DuckDB reads the curated files through glob patterns, so `site[a].private` read the data of
    `sitea.private`, another tree's. Such a path is refused with one line before dbt runs."""
    (tmp_path / name / "mart").mkdir(parents=True)
    (tmp_path / "sitea.private" / "mart").mkdir(parents=True)
    done = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "mart.py"), "--private", str(tmp_path / name), "--public", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1 and done.stderr.startswith(f"error: --private {tmp_path / name}: ")
    assert "glob patterns" in done.stderr and done.stderr.count("\n") == 1
