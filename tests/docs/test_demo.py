"""The README's main command: the embedded default publishes a sample tree and says where it is."""

from __future__ import annotations

import json
import re
from pathlib import Path


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
    # the sample NPI the demo names is the one web/example.html and the docs' card snippets use: it has a card
    sample = next(line for line in lines if line.startswith("one document:")).rsplit("/", 1)[1].removesuffix(".json")
    root = Path(__file__).parents[2]
    for page in ("web/example.html", "web/README.md", "docs/public-api.md"):
        shown = set(re.findall(r"(?:npi=\"?|data-mips-npi=\")(\d{10})", (root / page).read_text(encoding="utf-8")))
        assert shown == {sample}, page
    assert json.loads((tmp_path / "tree" / "v1" / "npi" / f"{sample}.json").read_bytes())["latest"]["final_score"]


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


def test_the_demo_prints_a_preview_command_that_runs_as_printed(tmp_path):
    """After `make demo` the CLI is .venv/bin/mips-profiles, not on PATH: the hint prints what runs from here."""
    import shlex
    import subprocess
    import sys
    from pathlib import Path

    script = Path(sys.executable).with_name("mips-profiles")
    out = subprocess.run([str(script), "demo", "--out", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    hint = next(line for line in out.stdout.splitlines() if line.startswith("preview:"))
    command = shlex.split(hint.removeprefix("preview:").split("  (")[0])
    assert command[0] == str(script) and command[1:3] == ["serve", str(tmp_path / "tree")]
    # as printed, with --port 0 (a free port) and stopped at once: it starts, serving that tree
    proc = subprocess.Popen([*command, "--port", "0"], stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stderr.readline()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert first.startswith(f"serving {tmp_path / 'tree'} on http://127.0.0.1:")


def test_every_cli_option_says_what_it_does():
    import argparse

    from mips_profiles.cli import build_parser

    missing = []

    def walk(parser: argparse.ArgumentParser, name: str) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub, subparser in action.choices.items():
                    walk(subparser, f"{name} {sub}")
            elif not action.help:
                missing.append(f"{name} {'/'.join(action.option_strings) or action.dest}")

    walk(build_parser(), "mips-profiles")
    assert missing == []


def test_serve_refuses_a_host_that_is_not_loopback_unless_asked(run_cli, tmp_path):
    (tmp_path / "v1").mkdir()
    (tmp_path / "v1" / "manifest.json").write_text("{}")
    result = run_cli("serve", tmp_path, "--host", "0.0.0.0", "--port", "0")
    assert result.code == 1
    (line,) = result.err.strip().splitlines()
    assert "is not a loopback address" in line and "--allow-non-loopback" in line
