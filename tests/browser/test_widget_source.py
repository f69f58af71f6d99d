"""The widget's source: dependency-free and unable to inject markup, whatever a document holds."""

from __future__ import annotations

import re
from pathlib import Path

WIDGET = Path(__file__).resolve().parents[2] / "web" / "mips-score-card.js"


def test_the_widget_sets_text_never_markup():
    source = WIDGET.read_text(encoding="utf-8")
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in source, sink
    assert "textContent" in source


def test_the_widget_has_no_dependencies_and_calls_no_other_host():
    source = WIDGET.read_text(encoding="utf-8")
    code = re.sub(r"/\*.*?\*/", "", source, flags=re.DOTALL)  # the usage comment shows example URLs
    assert not re.search(r"\b(import|require)\s*\(|^\s*import\s", code, re.MULTILINE)
    assert not re.findall(r"https?://", code)  # every URL comes from the page's data-mips-base
    assert len(source.encode()) < 20_000  # one small script
