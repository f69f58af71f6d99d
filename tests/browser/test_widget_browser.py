"""The score card widget in a real headless Chromium, against ``mips-profiles serve``.

The host page (``web/example.html``) is served from one loopback origin and the API from another, so
every fetch the widget makes is a real cross-origin request answered by the CDN stand-in's CORS.
Set ``SCREENSHOT_DIR`` to keep the card's screenshot (``make screenshot`` refreshes the docs').
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
from fixtures.browser import WEB, QuietHandler, start_serve

from helpers import pick_documents

pytestmark = pytest.mark.browser
pytest.importorskip("playwright.sync_api")


def open_card(page, host_origin: str, npi: str, base: str, **extra: str):
    query = "&".join(f"{k}={v}" for k, v in {"npi": npi, "base": base, **extra}.items())
    page.goto(f"{host_origin}/example.html?{query}")
    card = page.locator("#score-card div.card")
    card.wait_for(state="visible", timeout=15_000)
    page.wait_for_function("window.MipsScoreCard && window.MipsScoreCard.ready")
    state = page.evaluate("window.MipsScoreCard.ready.then(states => states[0])")
    return card, state


def field(card, name: str) -> str:
    return card.locator(f"[data-field='{name}']").inner_text()


def manifest_date(tree: Path, year: int) -> str:
    manifest = json.loads((tree / "v1/manifest.json").read_text())
    return next(r["last_checked"][:10] for r in manifest["releases"] if r["performance_year"] == year)


def test_a_scored_npi_shows_the_published_numbers_and_attribution(page, api, host_origin, published_tree):
    doc = pick_documents(published_tree)["scored"]
    latest = doc["latest"]
    card, state = open_card(page, host_origin, doc["npi"], api)
    assert state == "scored"
    assert field(card, "final-score") == str(latest["final_score"]).removesuffix(".0")
    assert field(card, "performance-year") == f"Performance Year {latest['performance_year']}"
    assert card.locator("[data-field='band']").get_attribute("class").endswith(latest["score_band"])
    adjustment = latest["payment_adjustment_pct"]
    expected_adjustment = ("+" if adjustment > 0 else "") + str(adjustment).removesuffix(".0") + "%"
    assert field(card, "payment-adjustment") == expected_adjustment
    assert f"payment adjustment in {latest['payment_year']}" in card.inner_text()
    for name, value in latest["category_scores"].items():
        unit = " of 40 points" if name == "improvement_activities" else ""  # as CMS publishes it: points
        assert field(card, f"category-{name}") == str(value).removesuffix(".0") + unit, name
    year = latest["performance_year"]
    assert field(card, "attribution") == (
        f"Source: CMS QPP MIPS · Performance Year {year} · Last checked {manifest_date(published_tree, year)}"
    )
    assert "not a rating of clinical quality" in field(card, "disclaimer")
    # the host page's red 20px paragraph style does not leak into the card
    color = card.locator("[data-field='disclaimer']").evaluate("el => getComputedStyle(el).color")
    assert color != "rgb(139, 0, 0)"
    assert page.errors == []

    if os.environ.get("SCREENSHOT_DIR"):
        target = Path(os.environ["SCREENSHOT_DIR"]) / "score-card.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        card.screenshot(path=str(target))


def test_an_npi_with_history_shows_the_newest_year(page, api, host_origin, published_tree):
    doc = pick_documents(published_tree)["history"]
    newest = max(doc["history"], key=lambda e: e["performance_year"])
    card, state = open_card(page, host_origin, doc["npi"], api)
    assert state == "scored"
    assert field(card, "performance-year") == f"Performance Year {newest['performance_year']}"
    assert field(card, "final-score") == str(newest["final_score"]).removesuffix(".0")


def test_an_npi_whose_newest_year_is_older_shows_that_year_and_its_check_date(page, api, host_origin, published_tree):
    doc = pick_documents(published_tree)["older_only"]
    card, _ = open_card(page, host_origin, doc["npi"], api)
    assert field(card, "performance-year") == "Performance Year 2023"
    assert field(card, "attribution").endswith(
        f"Performance Year 2023 · Last checked {manifest_date(published_tree, 2023)}"
    )


def test_a_reweighted_category_shows_exempt_never_zero(page, api, host_origin, published_tree):
    doc = pick_documents(published_tree)["reweighted"]
    latest = doc["latest"]
    card, state = open_card(page, host_origin, doc["npi"], api)
    assert state == "scored"
    for name, status in latest["category_status"].items():
        shown = field(card, f"category-{name}")
        if status == "reweighted":
            assert shown == "Exempt (reweighted)", name
        elif status == "not_scored":
            assert shown == "Not scored", name
        else:
            unit = " of 40 points" if name == "improvement_activities" else ""
            assert shown == str(latest["category_scores"][name]).removesuffix(".0") + unit, name
        assert card.locator(f"[data-field='category-{name}']").get_attribute("data-status") == status
    assert field(card, "category-promoting_interoperability") == "Exempt (reweighted)"
    assert page.errors == []


def test_a_group_earned_score_is_labelled_as_such(page, api, host_origin, published_tree):
    """CMS's caveat: a group's score covers the practice, not the clinician's own performance."""
    doc = pick_documents(published_tree)["group"]
    card, state = open_card(page, host_origin, doc["npi"], api)
    assert state == "scored"
    assert field(card, "participation") == "Group"
    assert field(card, "participation-caveat") == (
        "A group score: it covers the practice (TIN), not this clinician's own performance."
    )
    assert page.errors == []


def test_history_shows_each_year_with_the_caveat_that_years_are_not_comparable(page, api, host_origin, published_tree):
    doc = pick_documents(published_tree)["history"]
    card, _ = open_card(page, host_origin, doc["npi"], api)
    older = [e for e in doc["history"] if e["performance_year"] != doc["latest"]["performance_year"]]
    lines = card.locator("[data-field='history'] li").all_inner_texts()
    assert lines == [
        f"Performance Year {e['performance_year']}: {str(e['final_score']).removesuffix('.0')}"
        + ("" if e["comparable_to_prior_year"] else " (threshold or weights differ from the year before)")
        for e in older
    ]
    assert field(card, "comparability").startswith("Scores of different performance years are not directly comparable")


def test_a_published_score_that_did_not_count_is_shown_and_said_not_to_count(
    page, published_tree, host_origin, tmp_path
):
    """The real PY2021 EUC row: quality 45 published, every category reweighted, the final score the threshold."""
    doc = pick_documents(published_tree)["scored"]
    latest = {
        **doc["latest"],
        "final_score": 60.0,
        "category_scores": {
            "quality": 45.0,
            "promoting_interoperability": None,
            "improvement_activities": None,
            "cost": None,
        },
        "category_status": dict.fromkeys(doc["latest"]["category_status"], "reweighted"),
        "final_score_reproduced": True,
    }
    body = {**doc, "latest": latest, "history": [latest]}
    proc, base = start_serve(tree_with_document(published_tree, tmp_path / "euc", doc["npi"], body), host_origin)
    try:
        card, state = open_card(page, host_origin, doc["npi"], base)
        quality, pi = field(card, "category-quality"), field(card, "category-promoting_interoperability")
        caveats = card.locator("[data-field='parts-caveat']").count()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert state == "scored"
    assert quality == "45 (did not count toward the final score: CMS reweighted it)"
    assert pi == "Exempt (reweighted)"
    assert caveats == 0


def test_parts_that_do_not_add_up_are_said_so(page, published_tree, host_origin, tmp_path):
    doc = pick_documents(published_tree)["scored"]
    latest = {
        **doc["latest"],
        "final_score_reproduced": False,
        "category_status": dict.fromkeys(doc["latest"]["category_status"], "unknown"),
    }
    body = {**doc, "latest": latest, "history": [latest]}
    proc, base = start_serve(tree_with_document(published_tree, tmp_path / "off", doc["npi"], body), host_origin)
    try:
        card, _ = open_card(page, host_origin, doc["npi"], base)
        caveat, quality = field(card, "parts-caveat"), field(card, "category-quality")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert caveat.startswith("These category scores do not add up to the final score")
    assert (
        quality == str(latest["category_scores"]["quality"]).removesuffix(".0") + " (whether it counted is not known)"
    )


def test_an_unscored_npi_says_not_scored(page, api, host_origin, published_tree):
    doc = pick_documents(published_tree)["unscored"]
    card, state = open_card(page, host_origin, doc["npi"], api)
    assert state == "not_scored"
    assert field(card, "final-score") == "Not scored"
    assert card.locator("[data-field='band']").count() == 0


@pytest.mark.parametrize("npi", ["1234567893", "12345"])
def test_an_unknown_npi_shows_the_neutral_state(page, api, host_origin, npi):
    card, state = open_card(page, host_origin, npi, api)
    assert state == "not_found"
    assert field(card, "message") == "No MIPS score published for this clinician."
    assert page.errors == []


def test_an_unreachable_api_leaves_the_host_page_working(page, host_origin):
    card, state = open_card(page, host_origin, "1376745471", "http://127.0.0.1:9", timeout_ms="3000")
    assert state == "unavailable"
    assert field(card, "message") == "MIPS score unavailable right now."
    assert page.locator("body").get_attribute("data-host-ready") == "true"
    assert page.locator("#host-content").is_visible()
    assert page.errors == []


def test_a_host_origin_the_cdn_does_not_allow_cannot_read_scores(page, published_tree, host_origin):
    proc, base = start_serve(published_tree, "https://www.example.org")
    try:
        card, state = open_card(page, host_origin, pick_documents(published_tree)["scored"]["npi"], base)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert state == "unavailable"
    assert field(card, "message") == "MIPS score unavailable right now."
    assert page.errors == []


def tree_with_document(published_tree: Path, root: Path, npi: str, body: object) -> Path:
    """A tree holding the published manifest and one document for ``npi`` with any body (tampered, odd)."""
    (root / "v1" / "npi").mkdir(parents=True)
    shutil.copy(published_tree / "v1/manifest.json", root / "v1/manifest.json")
    (root / "v1" / "npi" / f"{npi}.json").write_text(json.dumps(body))
    return root


def test_markup_in_a_document_is_shown_as_text_and_never_runs(page, published_tree, host_origin, tmp_path):
    """Defence in depth: even a tampered document cannot run script in the host page."""
    doc = pick_documents(published_tree)["scored"]
    payload = '<img src=x onerror="window.pwned=1">'
    doc = {**doc, "latest": {**doc["latest"], "attribution": payload, "score_band": "<b>x</b>"}}
    proc, base = start_serve(tree_with_document(published_tree, tmp_path / "tampered", doc["npi"], doc), host_origin)
    try:
        card, state = open_card(page, host_origin, doc["npi"], base)
        attribution = field(card, "attribution")
        pwned = page.evaluate("window.pwned")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert state == "scored"
    assert attribution.startswith(payload)
    assert pwned is None
    assert card.locator("img").count() == 0 and card.locator("b").count() == 0


@pytest.fixture
def site(tmp_path):
    """A throwaway host page on its own loopback origin, with the widget script beside it."""
    root = tmp_path / "site"
    root.mkdir()
    shutil.copy(WEB / "mips-score-card.js", root)
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    origin = f"http://127.0.0.1:{server.server_address[1]}"

    def publish(body: str) -> str:
        (root / "index.html").write_text(
            f"<!doctype html><meta charset=utf-8>{body}<script src=mips-score-card.js defer></script>"
        )
        return f"{origin}/index.html"

    yield origin, publish
    server.shutdown()
    server.server_close()


def states(page, url: str) -> list[str]:
    page.goto(url)
    page.wait_for_function("window.MipsScoreCard && window.MipsScoreCard.ready")
    return page.evaluate("window.MipsScoreCard.ready")


@pytest.mark.parametrize("tag", ["li", "a", "button", "label", "p", "span"])
def test_a_host_element_without_a_shadow_root_resolves_unavailable(page, published_tree, site, tag):
    origin, publish = site
    proc, api = start_serve(published_tree, origin)
    npi = pick_documents(published_tree)["scored"]["npi"]
    try:
        url = publish(
            f"<ul><{tag} data-mips-npi='{npi}' data-mips-base='{api}'>x</{tag}></ul>"
            f"<div data-mips-npi='{npi}' data-mips-base='{api}'></div>"
        )
        result = states(page, url)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    # the <div> still gets its card; the host that cannot hold a shadow root is "unavailable", not a rejection
    assert result == (["scored", "scored"] if tag in ("p", "span") else ["unavailable", "scored"])
    assert page.errors == []


@pytest.mark.parametrize(
    "body",
    [
        {"latest": {}},
        {"latest": "yes"},
        {"latest": None},
        [],
        {"latest": {"performance_year": 2024, "final_score": "95"}},
        {"latest": {"performance_year": 2024, "final_score": 95, "category_scores": {"quality": "<b>1</b>"}}},
        {"latest": {"performance_year": "2024", "final_score": 95}},
    ],
)
def test_a_document_of_the_wrong_shape_is_unavailable_never_undefined(
    page, published_tree, host_origin, tmp_path, body
):
    npi = pick_documents(published_tree)["scored"]["npi"]
    proc, base = start_serve(tree_with_document(published_tree, tmp_path / "odd", npi, body), host_origin)
    try:
        card, state = open_card(page, host_origin, npi, base)
        shown = card.inner_text()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert state == "unavailable"
    assert "undefined" not in shown and "NaN" not in shown
    assert page.errors == []


@pytest.mark.parametrize(
    "base",
    [
        "data:application/json,{}",
        "javascript:alert(1)//",
        "http://evil.example.org",
        "ftp://127.0.0.1/",
        "blob:http://127.0.0.1/x",
    ],
)
def test_a_base_url_that_is_not_https_is_refused_without_a_request(page, site, base):
    origin, publish = site
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    result = states(page, publish(f"<div data-mips-npi='1376745471' data-mips-base='{base}'></div>"))
    assert result == ["unavailable"]
    assert [u for u in requests if not u.startswith(origin)] == []
    assert page.errors == []


@pytest.mark.parametrize("case", ["prototype band", "no payment year", "odd disclaimer", "60,000 history entries"])
def test_the_card_shows_only_values_it_recognises(case, page, published_tree, host_origin, tmp_path):
    """A tampered document: a band named after Object.prototype's keys shows as text, never a function's source;
    a missing payment year is no document ("unavailable", never "undefined"); a disclaimer that is not text is
    replaced by the card's own (the mandatory disclaimer is never lost); a history of 60,000 entries draws 50."""
    doc = pick_documents(published_tree)["scored"]
    latest = dict(doc["latest"])
    body = {**doc}
    if case == "prototype band":
        latest["score_band"] = "constructor"
    elif case == "no payment year":
        latest.pop("payment_year")
    elif case == "odd disclaimer":
        body["source"] = {**doc.get("source", {}), "disclaimer": {}}
    else:
        body["history"] = [{**latest, "performance_year": 1000 + i} for i in range(60_000)]
    body["latest"] = latest
    proc, base = start_serve(tree_with_document(published_tree, tmp_path / "odd", doc["npi"], body), host_origin)
    try:
        card, state = open_card(page, host_origin, doc["npi"], base)
        text = card.inner_text()
        history_items = card.locator("[data-field='history'] li").count()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    if case == "no payment year":
        assert state == "unavailable" and "undefined" not in text
        return
    assert state == "scored" and "undefined" not in text and "[object Object]" not in text
    assert "function" not in text and "native code" not in text
    assert "it is not a rating of clinical quality" in field(card, "disclaimer")
    if case == "prototype band":
        assert field(card, "band") == "constructor"
    if case == "60,000 history entries":
        assert history_items == 50
