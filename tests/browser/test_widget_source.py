"""The widget's source: dependency-free, unable to inject markup whatever a document holds, one source for both
builds (the ES module is the source; the classic script is built from it by tools/build_web.py)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODULE = ROOT / "web" / "mips-score-card.mjs"
CLASSIC = ROOT / "web" / "mips-score-card.js"


@pytest.mark.parametrize("build", [MODULE, CLASSIC], ids=["module", "classic"])
def test_the_widget_sets_text_never_markup(build):
    source = build.read_text(encoding="utf-8")
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in source, sink
    assert "textContent" in source


@pytest.mark.parametrize("build", [MODULE, CLASSIC], ids=["module", "classic"])
def test_the_widget_has_no_dependencies_and_calls_no_other_host(build):
    source = build.read_text(encoding="utf-8")
    code = re.sub(r"/\*.*?\*/", "", source, flags=re.DOTALL)  # the usage comment shows example URLs
    assert not re.search(r"\b(import|require)\s*\(|^\s*import\s", code, re.MULTILINE)
    assert not re.findall(r"https?://", code)  # every URL comes from the page's base-url
    assert len(source.encode()) < 24_000  # one small script (about 6 KB gzipped)


def test_the_classic_script_is_the_module_built():
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "build_web.py"), "--check"], capture_output=True)
    assert done.returncode == 0, done.stderr.decode()
    module, classic = MODULE.read_text(), CLASSIC.read_text()
    assert module.rstrip().endswith("export { VERSION as version, render, renderAll, define, MipsScoreCardElement };")
    assert (
        "export" not in classic.split("*/", 1)[1]
        and "g.MipsScoreCard =" not in module
        and "g.MipsScoreCard =" in classic
    )
