"""Build the score card's classic script from its one source, the ES module.

    python tools/build_web.py          # writes web/mips-score-card.js
    python tools/build_web.py --check  # exit 1 if the committed build differs (a test runs this)

``web/mips-score-card.mjs`` is the source and the module build. The classic build is the same code in a
function (so nothing leaks into the page's globals but ``window.MipsScoreCard``), without the ``export``
line, with the scan of ``<div data-mips-npi>`` elements at load that pages written for version 1 rely on.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

WEB = Path(__file__).resolve().parents[1] / "web"
MODULE = WEB / "mips-score-card.mjs"
CLASSIC = WEB / "mips-score-card.js"
EXPORT = "export { VERSION as version, render, renderAll, define, MipsScoreCardElement };\n"

CLASSIC_TAIL = """
g.MipsScoreCard = {
  version: VERSION,
  render: render,
  renderAll: renderAll,
  define: define,
  Element: MipsScoreCardElement
};

// Version 1's markup: <div data-mips-npi="..." data-mips-base="..."> elements present at load are rendered.
if (g.document) {
  var start = function () {
    g.MipsScoreCard.ready = renderAll();
  };
  if (g.document.readyState === "loading") g.document.addEventListener("DOMContentLoaded", start);
  else start();
}
})();
"""


def classic(module: str) -> str:
    banner_end = module.index("*/\n") + 3
    banner, body = module[:banner_end], module[banner_end:]
    if body.count(EXPORT) != 1 or not body.endswith(EXPORT):
        raise SystemExit(f"{MODULE.name}: must end with exactly this line: {EXPORT.strip()}")
    body = body.removesuffix(EXPORT)
    return (
        banner
        + "/* The classic-script build of mips-score-card.mjs (tools/build_web.py): edit that file, not this one. */\n"
        + '(function () {\n"use strict";\n'
        + body
        + CLASSIC_TAIL
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the committed build is stale")
    args = parser.parse_args(argv)
    built = classic(MODULE.read_text(encoding="utf-8"))
    if args.check:
        if CLASSIC.read_text(encoding="utf-8") != built:
            print(f"{CLASSIC.relative_to(WEB.parent)} is stale: run python tools/build_web.py", file=sys.stderr)
            return 1
        return 0
    CLASSIC.write_text(built, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
