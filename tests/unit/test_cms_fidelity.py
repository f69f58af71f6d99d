"""Fidelity to the real CMS files: the contract against every real header, drift that is loud, values kept
as published, and every category score CMS published shown as published, never hidden."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mips_profiles.adapters.local_store import LocalDirStore
from mips_profiles.core.categories import CATEGORIES
from mips_profiles.core.contract import load_contract
from mips_profiles.core.reader import UNKNOWN_PREFIX, read_source
from mips_profiles.core.years import SUPPORTED_YEARS
from mips_profiles.errors import SourceFileError
from mips_profiles.publishing.publish import Publisher, ReleaseInfo
from mips_profiles.sandbox.generator import generate_table, real_headers, write_csv

ROOT = Path(__file__).parents[2]
REFERENCE = ROOT.parent / "shared" / "reference" / "cms-headers.json"
YEARS = sorted(real_headers())


def test_the_packaged_headers_are_the_reference_copy():
    if not REFERENCE.exists():
        pytest.skip("../shared/reference is not beside this checkout")
    packaged = json.loads(resources.files("mips_profiles").joinpath("data/cms_headers.json").read_text("utf-8"))
    assert packaged == json.loads(REFERENCE.read_text())


@pytest.mark.parametrize("year", YEARS)
def test_the_contract_maps_exactly_the_real_columns_of_each_year(year):
    real = set(real_headers()[year])
    mapped = {column for candidates in load_contract().candidate_columns(year).values() for column in candidates}
    assert real - mapped == set(), "real columns the contract does not know"
    assert mapped - real == set(), "contract columns this year's file does not have"
    assert len(real_headers()[year]) == len(real)  # no duplicate names


def audit_table(private: Path, year: int) -> pa.Table:
    (path,) = (private / "audit" / f"py={year}").rglob("audit.parquet")
    return pq.read_table(path)


@pytest.mark.parametrize("year", YEARS)
def test_every_value_of_a_row_reaches_the_audit_record_as_published(year, tmp_path):
    table = generate_table(year, 200, seed=3)
    write_csv(table, tmp_path / "cms.csv")
    result = Publisher(LocalDirStore(tmp_path / "t"), LocalDirStore(tmp_path / "p")).publish_file(
        tmp_path / "cms.csv", ReleaseInfo(year)
    )
    assert result.unknown_columns == []
    audit = audit_table(tmp_path / "p", year)
    canonical = {col: name for name, cols in load_contract().candidate_columns(year).items() for col in cols}
    rows = {line: i for i, line in enumerate(audit.column("source_line").to_pylist())}
    for line in (2, 50, 201):  # first, middle, last record
        i = rows[line]
        for column in table.column_names:
            published = table.column(column)[line - 2].as_py()
            assert audit.column(canonical[column])[i].as_py() == published, (year, column)


def test_values_keep_the_form_cms_writes(tmp_path):
    table = generate_table(2024, 300, seed=3)
    keys = table.column("provider key").to_pylist()
    assert all(len(k) == 10 and k.isdigit() for k in keys) and any(k.startswith("0") for k in keys)
    ids = [v for v in table.column("quality measure id 1").to_pylist() if v]
    assert any(v.startswith("0") for v in ids) and any(len(v) < 3 for v in ids)  # "014" and "1" both occur
    assert set(table.column("pi reweighting (euc)").to_pylist()) == {"True", "False"}
    assert set(table.column("cost category weight").to_pylist()) <= {"", "0", "0.3", "0.5"}
    assert "0" in table.column("promoting interoperability (pi) category score").to_pylist()


def with_extra_column(table: pa.Table, name: str, values: list[str]) -> pa.Table:
    return table.add_column(5, name, pa.array(values, pa.string()))


def test_an_unknown_column_is_published_around_named_everywhere_and_kept_in_the_audit(run_cli, tmp_path):
    table = generate_table(2024, 120, seed=5)
    drift = [f"=cell {i}" for i in range(table.num_rows)]
    write_csv(with_extra_column(table, "Quality Category Weight (Prior Year)", drift), tmp_path / "cms.csv")
    tree = tmp_path / "tree"

    result = run_cli("publish", "--performance-year", 2024, "--source", tmp_path / "cms.csv", "--out", tree, "--json")

    assert result.code == 0, result.err
    assert result.json["unknown_columns"] == ["Quality Category Weight (Prior Year)"]
    assert "1 column(s) the display contract does not know" in result.err
    assert "'Quality Category Weight (Prior Year)'" in result.err
    manifest = json.loads((tree / "v1" / "manifest.json").read_text())
    assert manifest["releases"][0]["unknown_columns"] == ["Quality Category Weight (Prior Year)"]
    audit = audit_table(tree.with_name("tree.private"), 2024)
    order = audit.column("source_line").to_pylist()
    kept = audit.column(f"{UNKNOWN_PREFIX}Quality Category Weight (Prior Year)").to_pylist()
    assert [kept[order.index(line)] for line in range(2, 2 + table.num_rows)] == drift
    published = "".join(p.read_text() for p in (tree / "v1").rglob("*.json") if p.name != "manifest.json")
    assert "=cell" not in published and "Prior Year" not in published  # only the manifest names the column


def test_a_missing_displayed_column_is_still_a_hard_error(tmp_path):
    table = generate_table(2024, 50)
    write_csv(table.drop_columns(["promoting interoperability (pi) category weight"]), tmp_path / "cms.csv")
    with pytest.raises(SourceFileError, match=r"missing required column.*'promoting interoperability \(pi\) category"):
        read_source(tmp_path / "cms.csv", 2024)


def documents(tree: Path) -> list[dict]:
    return [json.loads(p.read_bytes()) for p in (tree / "v1" / "npi").glob("*.json")]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(year=st.sampled_from(SUPPORTED_YEARS), seed=st.integers(0, 10_000))
def test_every_category_score_cms_published_above_0_is_the_profiles_value(year, seed, tmp_path_factory):
    """Through the whole pipeline (CSV, validation, headline, documents): a published score is never hidden,
    whatever the flags say; a null score is an exempt category (none or 0 published) or none published."""
    tmp = tmp_path_factory.mktemp("rw")
    table = generate_table(year, 150, seed=seed)
    write_csv(table, tmp / "cms.csv")
    Publisher(LocalDirStore(tmp / "t"), LocalDirStore(tmp / "p")).publish_file(tmp / "cms.csv", ReleaseInfo(year))
    columns = {name: cols[0] for name, cols in load_contract().candidate_columns(year).items()}
    names = {c.strip().lower(): c for c in table.column_names}
    rows_of: dict[str, list[int]] = {}
    for i, npi in enumerate(table.column(names["npi"]).to_pylist()):
        rows_of.setdefault(npi, []).append(i)
    statuses = set()
    for doc in documents(tmp / "t"):
        entry = doc["latest"]
        weights = list(entry["category_weights"].values())
        assert all(w is None for w in weights) or None not in weights  # never a mix of null and numbers
        if entry["scored_practices"] != 1:  # the headline of several rows: the single-row NPIs say it plainly
            continue
        (row,) = rows_of[doc["npi"]]
        for c in CATEGORIES:
            published = table.column(names[columns[c.score]])[row].as_py()
            shown, status = entry["category_scores"][c.name], entry["category_status"][c.name]
            statuses.add(status)
            if published and float(published) > 0:
                assert shown == float(published), (c.name, status, published)
            elif shown is None:
                assert status in ("reweighted", "not_scored", "unknown") and not (published and float(published))
    assert "reweighted" in statuses  # the generator reweights at realistic rates: every file has some
