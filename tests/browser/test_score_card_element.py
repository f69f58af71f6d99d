"""<mips-score-card> as a front-end team installs it: the npm package packed (`npm pack`), unpacked beside a page
of its own origin whose Content-Security-Policy forbids inline styles and scripts, imported as an ES module. The
card is added after load, its NPI changes, it is themed through a part and a custom property, and axe-core
(web/package-lock.json) finds no violation in any state: loading, ready, unavailable."""

from __future__ import annotations

import functools
import json
import shutil
import socket
import subprocess
import tarfile
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
from fixtures.browser import WEB, QuietHandler, start_serve

from helpers import pick_documents

pytestmark = pytest.mark.browser
pytest.importorskip("playwright.sync_api")

NPM = shutil.which("npm")
AXE = WEB / "node_modules" / "axe-core" / "axe.min.js"

PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta http-equiv="Content-Security-Policy"
        content="default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self' {api}">
  <title>A clinician profile</title>
  <link rel="stylesheet" href="theme.css">
</head>
<body>
  <main>
    <h1>A clinician profile</h1>
    <div id="slot"></div>
  </main>
  <script src="axe.min.js"></script>
  <script type="module" src="page.js"></script>
</body>
</html>
"""

PAGE_JS = """import { version, MipsScoreCardElement } from "./package/mips-score-card.mjs";
window.events = [];
window.violations = [];
document.addEventListener("mips-score-card:state", (e) => window.events.push(e.detail));
document.addEventListener("securitypolicyviolation", (e) => window.violations.push(e.violatedDirective));
window.packed = { version, attributes: MipsScoreCardElement.observedAttributes };
window.addCard = (attributes) => {
  const card = document.createElement("mips-score-card");
  for (const [name, value] of Object.entries(attributes)) card.setAttribute(name, value);
  document.getElementById("slot").appendChild(card);
  return true;
};
window.pageReady = true;
"""

THEME = """mips-score-card.themed { --mips-card-background: rgb(1, 2, 3); --mips-card-color: rgb(250, 250, 250);
  --mips-card-muted-color: rgb(230, 230, 230); }
mips-score-card.themed::part(score) { letter-spacing: 3px; }
"""


@pytest.fixture(scope="module")
def packed(tmp_path_factory) -> Path:
    """`npm pack` of web/, unpacked under site/package/ as a bundler or a CDN would serve it."""
    if not NPM:
        pytest.fail("npm is missing (.ci/run installs it)")
    site = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [NPM, "pack", "--json", "--pack-destination", str(site)], cwd=WEB, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    tarball = site / json.loads(done.stdout)[0]["filename"]
    with tarfile.open(tarball) as archive:
        archive.extractall(site, filter="data")
    shutil.copy(AXE, site / "axe.min.js")
    (site / "page.js").write_text(PAGE_JS)
    (site / "theme.css").write_text(THEME)
    return site


@pytest.fixture(scope="module")
def silent_api():
    """An API that accepts the connection and never answers: the card stays loading."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    listener.close()


@pytest.fixture(scope="module")
def site(packed, published_tree, silent_api):
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(packed)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    origin = f"http://127.0.0.1:{server.server_address[1]}"
    proc, api = start_serve(published_tree, origin)
    (packed / "index.html").write_text(PAGE.format(api=f"{api} {silent_api}"))
    yield origin, api
    proc.terminate()
    proc.wait(timeout=10)
    server.shutdown()
    server.server_close()


def open_page(page, origin: str):
    page.goto(f"{origin}/index.html")
    page.wait_for_function("() => window.pageReady === true")


def settle(page, count: int) -> list[dict]:
    page.wait_for_function(
        "(n) => window.events.filter((e) => e.state !== 'loading').length >= n", arg=count, timeout=15_000
    )
    return page.evaluate("window.events")


def axe_violations(page) -> list[str]:
    result = page.evaluate("axe.run(document, { resultTypes: ['violations'] })")
    return [f"{v['id']}: {[n['target'] for n in v['nodes']]}" for v in result["violations"]]


def shadow_text(page, selector: str) -> str:
    return page.evaluate(
        "(s) => document.querySelector('mips-score-card').shadowRoot.querySelector(s)?.textContent ?? null", selector
    )


def test_a_card_added_after_load_renders_and_follows_a_changed_npi_with_no_axe_violation(page, site, published_tree):
    origin, api = site
    scored = pick_documents(published_tree)["scored"]
    open_page(page, origin)
    assert page.evaluate("window.packed.version") == json.loads((WEB / "package.json").read_text())["version"]
    page.evaluate("(a) => addCard(a)", {"npi": scored["npi"], "base-url": api})
    events = settle(page, 1)
    assert [e["state"] for e in events] == ["loading", "ready"] and events[1]["result"] == "scored"
    expected = str(scored["latest"]["final_score"]).removesuffix(".0")
    assert shadow_text(page, "[data-field='final-score']") == expected
    assert page.get_attribute("mips-score-card", "aria-busy") is None
    assert page.evaluate("document.querySelector('mips-score-card').shadowRoot.querySelector('[aria-live=polite]')")
    assert axe_violations(page) == []

    page.evaluate("document.querySelector('mips-score-card').setAttribute('npi', '1234567893')")  # no document
    events = settle(page, 2)
    assert events[-1] == {"state": "ready", "result": "not_found", "npi": "1234567893"}
    assert shadow_text(page, "[data-field='message']") == "No MIPS score published for this clinician."
    assert axe_violations(page) == []
    assert page.evaluate("window.violations") == [] and page.errors == []


def test_a_performance_year_attribute_shows_that_years_entry(page, site, published_tree):
    origin, api = site
    doc = pick_documents(published_tree)["history"]
    older = min(doc["history"], key=lambda e: e["performance_year"])
    open_page(page, origin)
    page.evaluate(
        "(a) => addCard(a)", {"npi": doc["npi"], "base-url": api, "performance-year": str(older["performance_year"])}
    )
    settle(page, 1)
    assert shadow_text(page, "[data-field='performance-year']") == f"Performance Year {older['performance_year']}"
    page.evaluate("document.querySelector('mips-score-card').setAttribute('performance-year', '2017')")
    assert settle(page, 2)[-1]["result"] == "not_found"
    assert "for Performance Year 2017" in shadow_text(page, "[data-field='message']")


def test_loading_and_unavailable_states_are_announced_and_pass_axe(page, site, silent_api):
    origin, _ = site
    open_page(page, origin)
    page.evaluate("(a) => addCard(a)", {"npi": "1376745471", "base-url": silent_api, "timeout-ms": "1500"})
    page.wait_for_function("() => window.events.length >= 1")
    assert page.evaluate("window.events[0]") == {"state": "loading", "result": None, "npi": "1376745471"}
    assert page.get_attribute("mips-score-card", "aria-busy") == "true"
    assert shadow_text(page, "[data-field='message']") == "Loading the MIPS score…"
    assert axe_violations(page) == []
    events = settle(page, 1)
    assert events[-1] == {"state": "unavailable", "result": "unavailable", "npi": "1376745471"}
    assert page.get_attribute("mips-score-card", "aria-busy") is None
    assert shadow_text(page, "[data-field='message']") == "MIPS score unavailable right now."
    assert axe_violations(page) == []
    assert page.evaluate("window.violations") == []  # the timeout, not the page's CSP


def test_under_a_csp_that_forbids_inline_styles_the_card_is_styled_and_themeable(page, site, published_tree):
    origin, api = site
    scored = pick_documents(published_tree)["scored"]
    open_page(page, origin)
    page.evaluate("(a) => addCard(a)", {"npi": scored["npi"], "base-url": api})
    page.evaluate("(a) => addCard(a)", {"npi": scored["npi"], "base-url": api, "class": "themed"})
    settle(page, 2)
    styles = page.evaluate(
        """() => [...document.querySelectorAll('mips-score-card')].map((host) => {
             const card = getComputedStyle(host.shadowRoot.querySelector('.card'));
             const score = getComputedStyle(host.shadowRoot.querySelector('[part=score]'));
             return [card.borderTopLeftRadius, card.backgroundColor, score.letterSpacing,
                     host.shadowRoot.adoptedStyleSheets.length, host.shadowRoot.querySelectorAll('style').length];
           })"""
    )
    assert styles[0] == ["10px", "rgb(255, 255, 255)", "normal", 1, 0]  # the constructed sheet, no <style>
    assert styles[1] == ["10px", "rgb(1, 2, 3)", "3px", 1, 0]  # a custom property and a part, from theme.css
    assert page.evaluate("window.violations") == []
    assert axe_violations(page) == []


def test_the_packed_manifest_describes_the_element_it_ships(page, site, packed):
    origin, _ = site
    open_page(page, origin)
    manifest = json.loads((packed / "package" / "custom-elements.json").read_text())
    element = manifest["modules"][0]["declarations"][0]
    assert element["tagName"] == "mips-score-card"
    assert [a["name"] for a in element["attributes"]] == page.evaluate("window.packed.attributes")
    source = (packed / "package" / "mips-score-card.mjs").read_text()
    for prop in element["cssProperties"]:
        assert f"var({prop['name']}," in source, prop["name"]
    for part in element["cssParts"]:
        assert f'"{part["name"]}"' in source or f'"{part["name"]} ' in source, part["name"]
    assert [e["name"] for e in element["events"]] == ["mips-score-card:state"]


@pytest.mark.parametrize("base", ["none", "the page's own origin", "the API with /v1", "the API"])
def test_a_card_whose_base_is_not_the_api_says_so_instead_of_no_score(base, page, site):
    """No base-url (the page's origin answers), a foreign 404, or `…/v1` as base (the API's own not-found at
    /v1/v1/…, but no manifest there): a configuration error, in the state and on the console, naming the URL.
    The API itself, for an NPI it has no document of, is still "no score"."""
    origin, api = site
    open_page(page, origin)
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    attributes = {"npi": "1234567893"}
    if base == "the page's own origin":
        attributes["base-url"] = origin
    elif base == "the API with /v1":
        attributes["base-url"] = f"{api}/v1"
    elif base == "the API":
        attributes["base-url"] = api
    page.evaluate("(a) => addCard(a)", attributes)
    event = settle(page, 1)[-1]
    if base == "the API":
        assert event == {"state": "ready", "result": "not_found", "npi": "1234567893"}
        assert not [e for e in errors if "mips-score-card" in e]
        return
    assert event == {"state": "misconfigured", "result": "misconfigured", "npi": "1234567893"}
    assert (
        shadow_text(page, "[data-field='message']")
        == "MIPS score unavailable: this card's API address is not set up right."
    )
    (logged,) = [e for e in errors if e.startswith("mips-score-card: ")]
    expected = {
        "none": f"{origin}/index.html/v1/npi/1234567893.json",  # the page's own URL is the base then
        "the page's own origin": f"{origin}/v1/npi/1234567893.json",
        "the API with /v1": f"{api}/v1/v1/manifest.json",
    }[base]
    assert expected in logged and "base-url" in logged
    assert axe_violations(page) == []
