"""The docs site (mkdocs.yml, built as `make docs` builds it) looked at in Chromium as a reader would: a laptop at
1280 px and a phone at 390 px. No page scrolls sideways; at 1280 px every table fits its column (nothing cut off,
nothing to scroll); at 390 px a wider table or code line scrolls inside its own box, never off the page; every
picture fits the column and the screen. `SCREENSHOT_DIR=dir` keeps a full-page screenshot of each page."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
from fixtures.browser import QuietHandler

pytestmark = pytest.mark.browser
pytest.importorskip("playwright.sync_api")

ROOT = Path(__file__).resolve().parents[2]
LAPTOP, PHONE = {"width": 1280, "height": 800}, {"width": 390, "height": 844}

MEASURE = """() => {
  const content = document.querySelector('.md-content__inner');
  const column = content.getBoundingClientRect();
  const scroller = el => {
    for (let e = el.parentElement; e && e !== content.parentElement; e = e.parentElement) {
      const overflow = getComputedStyle(e).overflowX;
      if (overflow === 'auto' || overflow === 'scroll') return e;
    }
    return null;
  };
  const tables = [...content.querySelectorAll('table')].map(t => {
    const box = scroller(t);
    return {head: t.rows[0].innerText.slice(0, 60), width: t.getBoundingClientRect().width,
            column: column.width, scrolls: box !== null && box.clientWidth <= column.width + 32};
  });
  const code = [...content.querySelectorAll('pre > code')].map(c => {
    const style = getComputedStyle(c);
    return {text: c.innerText.slice(0, 60), overflowing: c.scrollWidth > c.clientWidth + 1,
            scrolls: ['auto', 'scroll'].includes(style.overflowX), wraps: style.whiteSpace.startsWith('pre-wrap')};
  });
  const pictures = [...content.querySelectorAll('img')].map(i => {
    const r = i.getBoundingClientRect();
    return {src: i.getAttribute('src'), width: r.width, height: r.height, loaded: i.complete && i.naturalWidth > 0};
  });
  return {pageWidth: document.documentElement.scrollWidth, viewport: [innerWidth, innerHeight],
          tables, code, pictures};
}"""


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    target = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [str(Path(sys.executable).with_name("mkdocs")), "build", "--strict", "--quiet", "--site-dir", str(target)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(target)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    pages = sorted(
        str(p.relative_to(target).parent) for p in target.rglob("index.html") if p.parent.name not in {"404", "search"}
    )
    yield f"http://127.0.0.1:{server.server_address[1]}", pages
    server.shutdown()
    server.server_close()


def look(browser, site, viewport) -> dict[str, dict]:
    origin, pages = site
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    seen = {}
    for path in pages:
        page.goto(f"{origin}/{'' if path == '.' else path + '/'}")
        page.wait_for_load_state("load")
        seen[path] = page.evaluate(MEASURE)
        if os.environ.get("SCREENSHOT_DIR"):
            name = f"docs-{viewport['width']}-{'home' if path == '.' else path.replace('/', '-')}.png"
            page.screenshot(path=str(Path(os.environ["SCREENSHOT_DIR"]) / name), full_page=True)
    context.close()
    return seen


def test_the_site_has_every_page_of_the_nav(site):
    _, pages = site
    assert {".", "public-api", "deploy", "report/bands", "reliability"} <= set(pages)


@pytest.mark.parametrize("viewport", [LAPTOP, PHONE], ids=["1280px", "390px"])
def test_no_page_scrolls_sideways_and_pictures_fit(browser, site, viewport):
    for path, seen in look(browser, site, viewport).items():
        assert seen["pageWidth"] <= viewport["width"], f"{path}: the page is wider than the screen"
        for picture in seen["pictures"]:
            assert picture["loaded"], f"{path}: {picture['src']} did not load"
            assert picture["width"] <= viewport["width"], f"{path}: {picture['src']} is wider than the screen"
            assert picture["height"] <= 0.9 * viewport["height"] + 1, (
                f"{path}: {picture['src']} is taller than the screen"
            )
        for block in seen["code"]:
            assert not block["overflowing"] or block["scrolls"] or block["wraps"], f"{path}: code cut off: {block}"
        for table in seen["tables"]:
            if table["width"] > table["column"] + 1:
                assert table["scrolls"], f"{path}: a table wider than the column does not scroll: {table['head']}"


def test_at_1280px_no_table_is_cut_off(browser, site):
    for path, seen in look(browser, site, LAPTOP).items():
        for table in seen["tables"]:
            assert table["width"] <= table["column"] + 1, (
                f"{path}: a table {table['width']:.0f} px wide in a {table['column']:.0f} px column: {table['head']}"
            )
