"""The three ways docs/public-api.md (and the package's README) give to load <mips-score-card>, each rendered in
Chromium as written from the packed package: a bundler (esbuild, web/package-lock.json) resolving the bare
import from node_modules, an import map in a plain page, and the classic script. Only the NPI and the API's
address are changed, to a document of the test tree and the loopback `mips-profiles serve`."""

from __future__ import annotations

import functools
import re
import shlex
import subprocess
import textwrap
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
from fixtures.browser import WEB, QuietHandler, install_packed

from helpers import pick_documents

pytestmark = pytest.mark.browser
pytest.importorskip("playwright.sync_api")

DOCS = WEB.parent / "docs" / "public-api.md"
ESBUILD = WEB / "node_modules" / ".bin" / "esbuild"
SAMPLE_NPI, SAMPLE_BASE = "1008452819", "https://d111111abcdef8.cloudfront.net"
WAYS = ("bundler", "import-map", "classic-script")


def loading_ways(text: str) -> dict[str, list[tuple[str, str]]]:
    """The fenced blocks of each numbered way, in order, as (language, code) with the list indent removed."""
    section = text.split("Three ways to load it", 1)[1].split("\nCopy the package's files", 1)[0]
    items = re.split(r"\n[123]\. \*\*", section)[1:]
    assert len(items) == 3, "the docs give three ways to load the card"
    blocks = {}
    for way, item in zip(WAYS, items, strict=True):
        fenced = re.findall(r"\n( *)```(\w+)\n(.*?)\n\1```", item, flags=re.S)
        blocks[way] = [(lang, textwrap.dedent(code)) for _, lang, code in fenced]
    return blocks


def test_the_package_readme_gives_the_same_three_ways_as_the_docs():
    assert loading_ways((WEB / "README.md").read_text()) == loading_ways(DOCS.read_text())


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A blank front-end project with the packed package installed in node_modules."""
    root = tmp_path_factory.mktemp("frontend")
    install_packed(root)
    (root / "package.json").write_text('{"name": "profile-pages", "private": true, "type": "module"}')
    return root


@pytest.fixture(scope="module")
def host_origin(project):
    """The front-end project on its own loopback origin (the shared ``api`` fixture allows it)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(project)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def build_with_the_documented_command(project: Path, blocks: list[tuple[str, str]]) -> None:
    (entry,) = [code for lang, code in blocks if lang == "js"]
    (command,) = [code for lang, code in blocks if lang == "sh"]
    (project / "main.js").write_text(entry + "\n")
    argv = shlex.split(command)
    assert argv[:2] == ["npx", "esbuild"], command
    if not ESBUILD.exists():
        pytest.fail("web/node_modules is missing: make test runs npm ci --prefix web")
    done = subprocess.run([str(ESBUILD), *argv[2:]], cwd=project, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    bundle = (project / "dist" / "app.js").read_text()
    assert 'import "@mips-profiles/score-card"' not in bundle  # resolved at build time, not left bare
    assert "// node_modules/@mips-profiles/score-card/mips-score-card.mjs" in bundle  # the package's module, bundled


@pytest.mark.parametrize("way", WAYS)
def test_each_documented_way_renders_the_card_from_the_packed_package(
    page, project, host_origin, api, published_tree, way
):
    blocks = loading_ways(DOCS.read_text())[way]
    if way == "bundler":
        build_with_the_documented_command(project, blocks)
    (markup,) = [code for lang, code in blocks if lang == "html"]
    assert SAMPLE_NPI in markup and SAMPLE_BASE in markup
    doc = pick_documents(published_tree)["scored"]
    html = markup.replace(SAMPLE_NPI, doc["npi"]).replace(SAMPLE_BASE, api)
    (project / f"{way}.html").write_text(f"<!doctype html>\n<meta charset=utf-8>\n<h1>Profile</h1>\n{html}\n")
    page.add_init_script(
        "window.states = []; document.addEventListener('mips-score-card:state', e => states.push(e.detail.state), true)"
    )
    page.goto(f"{host_origin}/{way}.html")
    score = page.locator("mips-score-card [data-field='final-score']")
    score.wait_for(state="visible", timeout=15_000)
    assert score.inner_text() == str(doc["latest"]["final_score"]).removesuffix(".0")
    assert page.evaluate("customElements.get('mips-score-card') !== undefined")
    assert page.evaluate("window.states")[-1] == "ready"
    assert page.errors == []


def test_the_version_one_markup_in_the_docs_renders_with_the_classic_script(
    page, project, host_origin, api, published_tree
):
    section = DOCS.read_text().split("version 1's\nmarkup. Copy it", 1)[1]
    markup = section.split("```html\n", 1)[1].split("```", 1)[0]
    packaged = "/node_modules/@mips-profiles/score-card/mips-score-card.js"
    markup = markup.replace('src="/js/mips-score-card.js"', f'src="{packaged}"')
    doc = pick_documents(published_tree)["scored"]
    html = markup.replace(SAMPLE_NPI, doc["npi"]).replace(SAMPLE_BASE, api)
    (project / "v1.html").write_text(f"<!doctype html>\n<meta charset=utf-8>\n<h1>Profile</h1>\n{html}\n")
    page.goto(f"{host_origin}/v1.html")
    score = page.locator("[data-field='final-score']")
    score.wait_for(state="visible", timeout=15_000)
    assert score.inner_text() == str(doc["latest"]["final_score"]).removesuffix(".0")
    assert page.errors == []
