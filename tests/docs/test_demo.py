"""The README's main command: the embedded default publishes a sample tree and says where it is."""

from __future__ import annotations

import json


def test_demo_refreshes_from_the_loopback_cms_then_applies_a_correction(run_cli, tmp_path):
    result = run_cli("demo", "--out", tmp_path)
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    new = [line for line in lines if " new " in line and line.startswith("QPP")]
    assert [line.split()[1] for line in new] == ["PY2023", "PY2024"]
    corrected = next(line for line in lines if line.startswith("QPP PY2024   corrected"))
    written = int(corrected.split("documents ")[1].split()[0])
    assert 0 < written < 100  # a correction rewrites a small fraction of ~2,500 documents
    after = lines[lines.index("3. refresh again with nothing changed at CMS") + 1 :]
    assert all(" unchanged " in line for line in after if line.startswith(("QPP", "PDC")))
    assert f"public tree:   {tmp_path}/tree/v1/" in result.out
    manifest = json.loads((tmp_path / "tree" / "v1" / "manifest.json").read_bytes())
    assert [r["performance_year"] for r in manifest["releases"]] == [2024, 2023]
    assert manifest["documents"]["count"] == len(list((tmp_path / "tree" / "v1" / "npi").glob("*.json")))


def test_the_docs_show_the_display_contract_as_it_is():
    from pathlib import Path

    from mips_profiles.cli import contract_markdown

    readme = (Path(__file__).parents[2] / "docs" / "display-contract.md").read_text(encoding="utf-8")
    embedded = readme.split("<!-- contract:start -->\n", 1)[1].split("<!-- contract:end -->", 1)[0]
    assert embedded == contract_markdown()


def test_the_readme_gives_exactly_the_two_commands():
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    block = readme.split("## The two commands", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    assert [line.split("#")[0].strip() for line in block.strip().splitlines()] == ["make demo", "make test"]
