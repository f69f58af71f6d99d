"""A file published under the wrong performance year is refused before anything is written: by its header where
CMS's real headers differ (PY2023's 204 columns against PY2024's 212), by the year's payment-adjustment rules
where they are the same (PY2017-2021), on the CLI and on the state machine's road (Check, Stage) alike."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pyarrow as pa
import pytest

from mips_profiles.core.methodology import load_methodology
from mips_profiles.core.reader import read_source
from mips_profiles.core.year_identity import header_years, identify, known_headers
from mips_profiles.sandbox.generator import generate_table, header_for, write_csv

from helpers import YEARS_WITH_FILES

ROWS = 1500


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[int, Path]:
    folder = tmp_path_factory.mktemp("years")
    out = {}
    for year in YEARS_WITH_FILES:
        write_csv(generate_table(year, ROWS, seed=3), folder / f"py{year}.csv")
        out[year] = folder / f"py{year}.csv"
    return out


def test_the_generated_files_carry_cms_real_header_of_their_year():
    for year in YEARS_WITH_FILES:
        assert year in header_years(header_for(year))


def distinct_header_pairs() -> list[tuple[int, int]]:
    """Every (file's year, claimed year) whose real headers differ but whose layouts the reader shares."""
    from mips_profiles.core.contract import load_contract

    contract = load_contract()
    pairs = []
    for a in YEARS_WITH_FILES:
        for b in YEARS_WITH_FILES:
            same_layout = contract.layout_for_year(a).name == contract.layout_for_year(b).name
            if a != b and same_layout and known_headers()[a] != known_headers()[b]:
                pairs.append((a, b))
    return pairs


@pytest.mark.parametrize(("actual", "claimed"), distinct_header_pairs())
def test_a_file_with_another_known_years_header_is_refused_naming_both_and_nothing_is_written(
    actual, claimed, files, run_cli, tmp_path
):
    tree = tmp_path / "tree"
    result = run_cli("publish", "--performance-year", claimed, "--source", files[actual], "--out", tree)
    assert result.code == 1
    (line,) = result.err.strip().splitlines()
    assert line.startswith("error: refused: the file's header is ")
    assert f"PY{actual}" in line and f"not PY{claimed}'s" in line and "--force" in line
    assert not tree.exists()
    private = tmp_path / "tree.private"  # only the run lock the CLI takes before reading
    assert not private.exists() or [p.name for p in private.iterdir()] == [".run.lock"]


def test_the_pairs_with_distinct_headers_include_py2023_and_py2024():
    assert {(2023, 2024), (2024, 2023)} <= set(distinct_header_pairs())


# PY2017-2021 share one header exactly: the year's adjustment rules decide. In the generator's data almost no
# clinician scores between PY2017's and PY2018's thresholds (3 and 15), so those two cannot be told apart there
# (a real PY2017 file, with its many scores of exactly 3 and no adjustment, can); every other pair is decided.
SAME_HEADER = [(a, b) for a in range(2017, 2022) for b in range(2017, 2022) if a != b and {a, b} != {2017, 2018}]


@pytest.mark.parametrize(("actual", "claimed"), SAME_HEADER)
def test_a_file_that_breaks_the_claimed_years_adjustment_rules_is_refused(actual, claimed, files, run_cli, tmp_path):
    tree = tmp_path / "tree"
    result = run_cli("publish", "--performance-year", claimed, "--source", files[actual], "--out", tree)
    assert result.code == 1, result.out
    (line,) = result.err.strip().splitlines()
    assert f"error: refused: the file does not follow PY{claimed}'s payment-adjustment rules" in line
    assert re.search(r"\d+ of \d+ rows", line) and "--force" in line
    assert not tree.exists()


def test_the_refusal_names_the_years_whose_rules_the_file_fits(files):
    identity = identify(read_source(files[2021], 2020), load_methodology())
    assert 2021 in identity.fitting_years and 2020 not in identity.fitting_years
    assert "it fits the rules of " in identity.refusal() and "PY2021" in identity.refusal()


@pytest.mark.parametrize("year", YEARS_WITH_FILES)
def test_every_years_own_file_passes(year, files):
    assert identify(read_source(files[year], year), load_methodology()).refusal() is None


def test_force_publishes_a_file_a_person_checked(files, run_cli, tmp_path):
    tree = tmp_path / "tree"
    result = run_cli("publish", "--performance-year", 2024, "--source", files[2023], "--out", tree, "--force")
    assert result.code == 0, result.err
    assert (tree / "v1" / "manifest.json").exists()


def test_a_few_stray_rows_do_not_refuse_a_file(files, tmp_path):
    """Two rows below PY2024's threshold without a negative adjustment: not enough to call it another year's."""
    table = generate_table(2024, ROWS, seed=3)
    final = table.column("final score").to_pylist()
    adjustment = table.column("payment adjustment percentage").to_pylist()
    for i in range(2):
        final[i], adjustment[i] = "40", "0"
    table = table.set_column(table.column_names.index("final score"), "final score", pa.array(final))
    table = table.set_column(
        table.column_names.index("payment adjustment percentage"), "payment adjustment percentage", pa.array(adjustment)
    )
    write_csv(table, tmp_path / "f.csv")
    identity = identify(read_source(tmp_path / "f.csv", 2024), load_methodology())
    assert identity.fit.wrong_side == 2 and identity.refusal() is None


def test_a_year_whose_header_is_not_recorded_yet_says_which_known_header_the_file_has(files, caplog, tmp_path):
    from mips_profiles.adapters.local_store import LocalDirStore
    from mips_profiles.publishing.publish import Publisher

    future = max(known_headers()) + 1
    load_methodology().parameters(future)  # the methodology already has its rules
    publisher = Publisher(LocalDirStore(tmp_path / "t"), LocalDirStore(tmp_path / "p"))
    with caplog.at_level(logging.WARNING):
        publisher.read_and_check(files[max(known_headers())], future)
    assert f"PY{future}'s header is not recorded yet; the file has PY{max(known_headers())}'s header" in caplog.text


def test_a_distribution_cms_mislabels_is_refused_on_the_state_machines_road(files, tmp_path):
    """CMS's catalog lists PY2023's file as PY2024's: Check downloads it, Stage refuses it by its header, and the
    tree and the state are as before."""
    from mips_profiles.adapters.http import HttpClient, UrlPolicy
    from mips_profiles.adapters.local_state import LocalStateStore
    from mips_profiles.adapters.local_store import LocalDirStore
    from mips_profiles.orchestration.refresh import Refresher
    from mips_profiles.publishing.publish import Publisher
    from mips_profiles.sandbox.cms_standin import CmsStandIn

    from helpers import changed_beyond_the_raw_archive, snapshot

    tree, private = tmp_path / "tree", tmp_path / "tree.private"

    def refresh(cms: CmsStandIn):
        publisher = Publisher(LocalDirStore(tree), LocalDirStore(private))
        http = HttpClient(urls=UrlPolicy(allow_loopback_http=True))
        refresher = Refresher(http, publisher, LocalStateStore(private / "state.json"), raw=LocalDirStore(private))
        return refresher.run(cms.catalog_url, None)

    with CmsStandIn() as cms:
        cms.publish_qpp(2023, files[2023].read_bytes(), "2025-07-21")
        assert [o.published is not None for o in refresh(cms).outcomes] == [True]
        before = snapshot(tree, private)
        cms.publish_qpp(2024, files[2023].read_bytes(), "2025-07-28")  # the same bytes, listed as PY2024
        report = refresh(cms)
    (refused,) = [o for o in report.outcomes if o.performance_year == 2024]
    assert refused.published is None
    assert "the file's header is PY2023's (204 columns), not PY2024's (212)" in refused.error

    def without_check_dates(files: dict[str, str]) -> dict[str, str]:  # PY2023 was checked again: its date moves
        return {k: v for k, v in files.items() if not k.endswith(("manifest.json", "state.json"))}

    after = snapshot(tree, private)
    assert not changed_beyond_the_raw_archive(without_check_dates(after), without_check_dates(before))
    manifest = json.loads((tree / "v1" / "manifest.json").read_bytes())
    assert [r["performance_year"] for r in manifest["releases"]] == [2023]  # PY2024 never listed
