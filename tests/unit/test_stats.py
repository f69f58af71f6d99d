"""Research aggregates: computed from the audit data, small cells withheld, kept in step with corrections."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from mips_profiles.core.stats import MIN_CELL, slugify, suppress, withheld_groups

from helpers import set_cells, write

ROWS = 1200


def publish(run_cli, source: Path, tree: Path, year: int = 2024):
    result = run_cli("publish", "--performance-year", year, "--source", source, "--out", tree)
    assert result.code == 0, result.err
    return result


def load(tree: Path, key: str) -> dict:
    return json.loads((tree / key).read_text())


def every_stats_file(tree: Path) -> list[Path]:
    return sorted((tree / "v1" / "stats").rglob("*.json"))


def headline_scores(private: Path, year: int) -> pd.DataFrame:
    """Independent recomputation from the audit Parquet with pandas: one row per scored NPI."""
    (audit,) = private.glob(f"audit/py={year}/release=*/audit.parquet")
    df = pd.read_parquet(audit, columns=["npi", "final_score", "practice_state", "clinician_specialty"])
    df["score"] = pd.to_numeric(df["final_score"].replace("", None))
    df = df.dropna(subset=["score"]).sort_values(
        ["npi", "score", "practice_state", "clinician_specialty"], ascending=[True, False, True, True]
    )
    return df.drop_duplicates("npi")


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ([500, 30, 40, 12], [500, 30, 40, 12]),  # nothing small
        ([500, 3, 40, 12], [500, None, 40, None]),  # one small cell: the next smallest goes too
        ([500, 3, 4, 12], [500, None, None, 12]),  # two small cells protect each other
        ([500, 0, 40, 12], [500, 0, 40, 12]),  # a zero reveals no one
        ([10, 0, 0, 0], [None, 0, 0, 0]),  # nothing left to withhold with it
    ],
)
def test_small_cells_are_withheld_with_a_complement(counts, expected):
    assert suppress(counts) == expected


def test_national_aggregates_match_an_independent_recomputation(published_tree):
    tree, private = published_tree, published_tree.with_name("tree.private")
    national = load(tree, "v1/stats/2024/national.json")
    df = headline_scores(private, 2024)
    scores = df["score"]

    assert national["clinicians"] == len(df)
    assert national["mean"] == pytest.approx(scores.mean(), abs=0.005)
    assert national["median"] == pytest.approx(scores.median(), abs=0.005)
    assert national["attribution"] == "Source: CMS QPP MIPS · Performance Year 2024"
    assert "not a rating of clinical quality" in national["disclaimer"]
    expected = {
        "exceptional": int((scores >= 90).sum()),
        "above_average": int(((scores >= 75) & (scores < 90)).sum()),
        "meeting_threshold": int(((scores >= 50) & (scores < 75)).sum()),
        "below_threshold": int((scores < 50).sum()),
    }
    shown = suppress(list(expected.values()))
    assert [b["count"] for b in national["bands"]] == shown
    for band, count in zip(national["bands"], shown, strict=True):
        assert band["share_pct"] == (None if count is None else round(100 * count / len(df), 1))
    assert sum(b["count"] or 0 for b in national["histogram"]["bins"]) <= len(df)
    top = sorted(scores)[math.ceil(0.9 * len(df)) - 1]  # nearest rank
    assert national["top_decile_min_score"] == pytest.approx(top)

    # every state and specialty group is listed and has its own file with the same clinician count
    # every state and specialty of 11 or more has its own file with the same count; smaller ones are only counted
    by_state = df.groupby("practice_state").size()
    listed = {item["key"]: item for item in national["breakdowns"]["state"]}
    small = set(by_state[by_state < MIN_CELL].index)
    if len(small) == 1:  # one withheld state would be the national count less the others: the smallest goes too
        small.add(min((n, s) for s, n in by_state.items() if n >= MIN_CELL)[1])
    assert set(listed) == set(by_state.index) - small
    assert national["breakdowns"]["groups_withheld"]["state"] == len(small)
    for state, n in by_state.items():
        path = tree / f"v1/stats/2024/state/{state}.json"
        if state in small:
            assert not path.exists()
            continue
        body = json.loads(path.read_text())
        assert body["clinicians"] == n == listed[state]["clinicians"]
        assert body["scope"] == {"kind": "state", "key": state, "name": state}
    by_specialty = df.groupby(df["clinician_specialty"].map(slugify)).size()
    assert {item["key"] for item in national["breakdowns"]["specialty"]} == set(by_specialty.index) - withheld_groups(
        by_specialty.to_dict()
    )
    assert load(tree, "v1/manifest.json")["releases"][0]["stats"] == "v1/stats/2024/national.json"


def test_no_published_count_identifies_fewer_than_eleven_clinicians(run_cli, sample_table, tree, tmp_path):
    # a specialty of three clinicians and a state of five: neither is published, not even by name
    table = sample_table(2024, ROWS)
    table = set_cells(table, "clinician specialty", {i: "Rare Specialty" for i in range(3)})
    table = set_cells(table, "practice state or us territory", {i: "GU" for i in range(10, 15)})
    publish(run_cli, write(table, tmp_path / "f.csv"), tree)

    assert not (tree / "v1/stats/2024/specialty/rare-specialty.json").exists()
    assert not (tree / "v1/stats/2024/state/GU.json").exists()
    assert not any("Rare Specialty" in p.read_text() for p in every_stats_file(tree))
    withheld = load(tree, "v1/stats/2024/national.json")["breakdowns"]["groups_withheld"]
    assert withheld["specialty"] >= 1 and withheld["state"] >= 1

    files = every_stats_file(tree)
    assert len(files) > 10
    for path in files:
        body = json.loads(path.read_text())
        counts = (
            [body.get("clinicians")]
            + [b["count"] for b in body.get("bands", [])]
            + [b["count"] for b in body.get("histogram", {}).get("bins", [])]
        )
        assert not [c for c in counts if c is not None and 0 < c < MIN_CELL], path
        withheld = [b for b in body.get("bands", []) if b["count"] is None]
        assert len(withheld) != 1, f"{path}: a single withheld band is the total minus the others"


def test_specialty_and_state_never_appear_in_profile_documents(published_tree):
    tree = published_tree
    national = load(tree, "v1/stats/2024/national.json")
    names = {item["name"] for item in national["breakdowns"]["specialty"]}
    for path in list((tree / "v1" / "npi").glob("*.json"))[:200]:
        text = path.read_text()
        assert not any(name in text for name in names), path
        assert "practice_state" not in text and "specialty" not in text


def test_a_correction_removes_aggregates_of_a_group_that_no_longer_exists(run_cli, sample_table, tree, tmp_path):
    table = sample_table(2024, ROWS)
    with_group = set_cells(table, "clinician specialty", {i: "Rare Specialty" for i in range(40)})
    publish(run_cli, write(with_group, tmp_path / "a.csv"), tree)
    assert (tree / "v1/stats/2024/specialty/rare-specialty.json").exists()
    other_year = tree / "v1/stats/2024/national.json"
    before = other_year.read_bytes()

    publish(run_cli, write(table, tmp_path / "b.csv"), tree)
    assert not (tree / "v1/stats/2024/specialty/rare-specialty.json").exists()
    assert other_year.read_bytes() != before
    assert "rare-specialty" not in other_year.read_text()


def test_republishing_the_same_file_rewrites_no_aggregate(run_cli, sample_file, tree):
    publish(run_cli, sample_file(2024, ROWS), tree)
    mtimes = {p: p.stat().st_mtime_ns for p in every_stats_file(tree)}
    publish(run_cli, sample_file(2024, ROWS), tree)
    assert {p: p.stat().st_mtime_ns for p in every_stats_file(tree)} == mtimes


def test_a_count_of_exactly_the_minimum_cell_is_shown():
    from mips_profiles.core.stats import MIN_CELL, suppress

    assert suppress([500, MIN_CELL, 40]) == [500, MIN_CELL, 40]
    assert suppress([500, MIN_CELL - 1, 40, 12]) == [500, None, 40, None]  # and its complement


def test_a_specialty_key_has_no_leading_or_trailing_separator():
    from mips_profiles.core.stats import slugify

    assert slugify("  Nurse Practitioner ") == "nurse-practitioner"
    assert slugify("(Obstetrics/Gynecology)") == "obstetrics-gynecology"


def test_no_withheld_group_follows_from_the_national_count_less_the_published_ones():
    """Issue 38: one withheld specialty's size (1-10) followed by subtraction from the national total. Where a
    single group would be withheld, the smallest published one is withheld with it."""
    assert withheld_groups({"a": 5, "b": 40, "c": 12}) == {"a", "c"}
    assert withheld_groups({"a": 5, "b": 3, "c": 12}) == {"a", "b"}  # two withheld protect each other
    assert withheld_groups({"a": 40, "b": 12}) == set()
    assert withheld_groups({"a": 5}) == {"a"}


def test_a_groups_quantiles_are_never_one_members_score_and_small_groups_have_none():
    """Issue 38: group medians and top-decile minimums were actual members' scores, which with the bulk file named
    a clinician's write-locked specialty or state in small groups. In a group they are interpolated, rounded to a
    whole point and withheld below QUANTILE_MIN_GROUP; the mean to one decimal."""
    import numpy as np

    from mips_profiles.core.methodology import load_methodology
    from mips_profiles.core.stats import QUANTILE_MIN_GROUP, Scope, StatsBuilder

    builder = StatsBuilder(load_methodology())
    rng = np.random.default_rng(3)
    small = np.round(rng.uniform(50, 100, QUANTILE_MIN_GROUP - 1), 2)
    body = builder._summary(Scope("specialty", "rare", "Rare"), small, 2024, "r")
    assert body["median"] is None and body["top_decile_min_score"] is None
    assert body["mean"] == round(float(small.mean()), 1)
    large = np.round(rng.uniform(50, 100, 201), 2)  # odd: the exact median is one member's score
    body = builder._summary(Scope("state", "CA", "CA"), large, 2024, "r")
    assert body["median"] == round(float(np.median(large))) and float(body["median"]).is_integer()
    assert body["top_decile_min_score"] == round(float(np.quantile(large, 0.9)))
    national = builder._summary(Scope("national", "US", "National"), large, 2024, "r")
    assert national["median"] == round(float(np.median(large)), 2)  # nationally to the cent, as before


def rows_of(table, npis: list[str]) -> list[int]:
    wanted = set(npis)
    return [i for i, npi in enumerate(table.column("npi").to_pylist()) if npi in wanted]


def rescored(table, npis: list[str], delta: float = 0.01):
    """``table`` with every scored row of ``npis`` ``delta`` points higher: their headline scores move (a correction
    CMS makes), each on the same side of the year's thresholds."""
    scores = table.column("final score").to_pylist()
    return set_cells(
        table, "final score", {i: f"{float(scores[i]) + delta:.2f}" for i in rows_of(table, npis) if scores[i]}
    )


def group_files(tree: Path) -> dict[str, bytes]:
    return {str(p.relative_to(tree)): p.read_bytes() for p in every_stats_file(tree) if p.name != "national.json"}


def first_npis(table, count: int, *, skip: int = 0) -> list[str]:
    """``count`` NPIs of ``table`` in order after the first ``skip`` (the generated ones have a score)."""
    npis = sorted(set(table.column("npi").to_pylist()))
    return npis[skip : skip + count]


def test_a_small_correction_holds_the_specialty_and_state_aggregates_back(run_cli, sample_table, tree, tmp_path):
    """Issue 38: compared before and after a correction of a handful of clinicians (the change feed names them),
    the groups whose counts or means moved named their write-locked specialty and state. Below
    BREAKDOWN_MIN_CHANGED changed clinicians the groups stay those of the release they were computed from; the
    national figures and the documents are current, and national.json says why the breakdowns are older."""
    from mips_profiles.core.stats import BREAKDOWN_MIN_CHANGED

    table = sample_table(2024, ROWS)
    publish(run_cli, write(table, tmp_path / "a.csv"), tree)
    groups, first = group_files(tree), load(tree, "v1/stats/2024/national.json")
    changed = first_npis(table, 3)
    headline = {npi: load(tree, f"v1/npi/{npi}.json")["latest"]["final_score"] for npi in changed}
    corrected = rescored(table, changed).filter(
        pa.array([i not in rows_of(table, [changed[0]]) for i in range(len(table))])
    )

    publish(run_cli, write(corrected, tmp_path / "b.csv"), tree)
    national = load(tree, "v1/stats/2024/national.json")
    assert group_files(tree) == groups, "a specialty or state file moved for three named clinicians"
    assert national["release_id"] != first["release_id"]
    assert national["clinicians"] == first["clinicians"] - 1  # the national count is current
    held = national["breakdowns"]["held_back"]
    assert national["breakdowns"]["release_id"] == first["release_id"]
    assert held["changed_clinicians"] == 3 and held["min_changed"] == BREAKDOWN_MIN_CHANGED
    assert first["release_id"] in held["note"] and "held back" in held["note"]
    assert {k: v for k, v in national["breakdowns"].items() if k != "held_back"} == {
        k: v for k, v in first["breakdowns"].items() if k != "held_back"
    }
    now = load(tree, f"v1/npi/{changed[1]}.json")["latest"]["final_score"]
    assert now == round(headline[changed[1]] + 0.01, 2)  # the document is current
    assert not (tree / f"v1/npi/{changed[0]}.json").exists()


def test_the_aggregates_renew_once_enough_clinicians_changed_since_they_were_computed(
    run_cli, sample_table, tree, tmp_path
):
    """Changes count from the release the groups are of, not per correction: two corrections of 60 clinicians
    each are held back, then renewed (120 since), and the renewed groups are those a fresh publish of the last
    file makes, byte for byte."""
    table = sample_table(2024, ROWS)
    publish(run_cli, write(table, tmp_path / "a.csv"), tree)
    groups = group_files(tree)
    once = rescored(table, first_npis(table, 60))
    publish(run_cli, write(once, tmp_path / "b.csv"), tree)
    assert group_files(tree) == groups
    assert load(tree, "v1/stats/2024/national.json")["breakdowns"]["held_back"]["changed_clinicians"] == 60

    twice = rescored(once, first_npis(table, 60, skip=60))
    last = publish(run_cli, write(twice, tmp_path / "c.csv"), tree)
    national = load(tree, "v1/stats/2024/national.json")
    assert national["breakdowns"]["held_back"] is None, last.out
    assert national["breakdowns"]["release_id"] == national["release_id"]
    fresh = tmp_path / "fresh"
    publish(run_cli, tmp_path / "c.csv", fresh)
    assert group_files(tree) == group_files(fresh)
    assert group_files(tree) != groups


def test_which_breakdowns_a_correction_publishes():
    """The rule on its own: the first release renews; nothing changed keeps the basis (its release id, no note);
    only write-locked fields moved renews (nothing a reader can put it on); below the threshold holds back; at the
    threshold renews."""
    from mips_profiles.core.stats import BREAKDOWN_MIN_CHANGED, CLINICIANS_SCHEMA, breakdowns_for

    def scored(scores: dict[str, float], specialty: str = "Cardiology"):
        npis = sorted(scores)
        return pa.table(
            {
                "npi": npis,
                "final_score": [scores[n] for n in npis],
                "state": ["CA"] * len(npis),
                "specialty": [specialty] * len(npis),
            },
            schema=CLINICIANS_SCHEMA,
        )

    base = {f"{1000000000 + i}": 50.0 for i in range(300)}
    basis = ("2024-" + "a" * 16, scored(base))
    first = breakdowns_for(basis[1], basis[0], None)
    assert first.renewed and first.held_back is None
    same = breakdowns_for(scored(base), "2024-" + "b" * 16, basis)
    assert (same.renewed, same.release_id, same.held_back) == (False, basis[0], None)
    relabelled = breakdowns_for(scored(base, "Dermatology"), "2024-" + "b" * 16, basis)
    assert relabelled.renewed and relabelled.release_id == "2024-" + "b" * 16
    for changed, renewed in ((1, False), (BREAKDOWN_MIN_CHANGED - 1, False), (BREAKDOWN_MIN_CHANGED, True)):
        moved = {npi: (60.0 if i < changed else score) for i, (npi, score) in enumerate(sorted(base.items()))}
        decision = breakdowns_for(scored(moved), "2024-" + "c" * 16, basis)
        assert decision.renewed is renewed, changed
        assert (decision.held_back or {}).get("changed_clinicians", changed) == changed
    gone = dict(sorted(base.items())[1:]) | {"1999999999": 50.0}  # one left, one came: two changed
    assert breakdowns_for(scored(gone), "2024-" + "c" * 16, basis).held_back["changed_clinicians"] == 2


@pytest.mark.parametrize("damage", ["not parquet", "foreign release", "other columns"])
def test_a_damaged_breakdowns_basis_is_refused_by_name_and_nothing_changes(
    run_cli, sample_table, tree, private, tmp_path, damage
):
    import pyarrow.parquet as pq

    table = sample_table(2024, ROWS)
    publish(run_cli, write(table, tmp_path / "a.csv"), tree)
    basis = private / "index/stats/py=2024.breakdowns.parquet"
    if damage == "not parquet":
        basis.write_bytes(b"PAR1 cut short")
    elif damage == "foreign release":
        pq.write_table(pq.read_table(basis).replace_schema_metadata({"release_id": "2023-" + "0" * 16}), basis)
    else:
        pq.write_table(pq.read_table(basis).drop_columns(["state"]), basis)
    before = {p: p.read_bytes() for p in tree.rglob("*") if p.is_file()}
    result = run_cli(
        "publish",
        "--performance-year",
        2024,
        "--source",
        write(rescored(table, first_npis(table, 2)), tmp_path / "b.csv"),
        "--out",
        tree,
    )
    assert result.code != 0
    assert "index/stats/py=2024.breakdowns.parquet" in result.err and len(result.err.strip().splitlines()) == 1
    assert {p: p.read_bytes() for p in tree.rglob("*") if p.is_file()} == before
