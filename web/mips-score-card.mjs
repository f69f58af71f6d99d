/*!
 * <mips-score-card>: the CMS MIPS score of one clinician, from the mips-profiles static API. No dependencies.
 *
 *   <script type="module" src="mips-score-card.mjs"></script>
 *   <mips-score-card npi="1376745471" base-url="https://cdn.example.org"></mips-score-card>
 *
 * The element renders when it is added to a page and whenever npi, performance-year, base-url or timeout-ms
 * changes. It fires `mips-score-card:state` (detail.state: "loading", "ready", "unavailable" or "misconfigured";
 * detail.result: "scored", "not_scored" or "not_found" when ready), sets aria-busy while loading and fills a
 * polite live region. It never throws into the host page: a network error, a timeout or a malformed answer shows
 * a quiet "unavailable" note; a base-url that does not answer as the API is "misconfigured" (console names it). Every value is set as text, never as HTML; the base URL must be https (http only to
 * loopback). Styles are a constructed style sheet (adoptedStyleSheets), so a page whose Content-Security-Policy
 * forbids inline styles still shows the card styled; a <style> element only where that API is missing.
 * Theming: ::part(card), ::part(score), ... and the --mips-card-* custom properties (custom-elements.json).
 *
 * web/src/mips-score-card.js is the one source of both builds (tools/build_web.py): mips-score-card.mjs (this
 * module) and mips-score-card.js (a classic script: the same code in a function, with window.MipsScoreCard and
 * the scan of <div data-mips-npi="..." data-mips-base="..."> elements at load).
 */
var g = typeof globalThis !== "undefined" ? globalThis : typeof window !== "undefined" ? window : {};

var VERSION = "2.0.0";
var DEFAULT_TIMEOUT_MS = 8000;
var TAG = "mips-score-card";
var STATE_EVENT = "mips-score-card:state";
var SOURCE = "CMS QPP MIPS";
var DISCLAIMER =
  "A MIPS score is a Medicare payment-program measure used to set payment adjustments; " +
  "it is not a rating of clinical quality.";
var BANDS = {
  exceptional: "Exceptional",
  above_average: "Above average",
  meeting_threshold: "Meeting threshold",
  below_threshold: "Below threshold"
};
// name, label, and how CMS states the score (improvement activities are published as points out of 40)
var CATEGORIES = [
  ["quality", "Quality", ""],
  ["promoting_interoperability", "Promoting interoperability", ""],
  ["improvement_activities", "Improvement activities", " of 40 points"],
  ["cost", "Cost", ""]
];
var NPI_PATTERN = /^[0-9]{10}$/;
// How the score was earned (participation_option), and whose performance it covers (CMS's own caveat).
var EARNED_BY = {
  "Individual": null,
  "Group": "A group score: it covers the practice (TIN), not this clinician's own performance.",
  "Subgroup": "A subgroup score: it covers the subgroup, not this clinician's own performance.",
  "Virtual Group": "A virtual group score: it covers the virtual group, not this clinician's own performance.",
  "APM Entity": "An APM Entity score: it covers the whole APM Entity, not this clinician's own performance.",
  "MIPS APM": "An APM Entity score: it covers the whole APM Entity, not this clinician's own performance."
};
var NOT_COMPARABLE =
  "Scores of different performance years are not directly comparable: CMS changes measures, weights and " +
  "thresholds from year to year.";

// Theming: the custom properties a host page may set on the element (defaults as shown); parts for the rest.
var STYLE =
  ":host{all:initial;display:block;font-family:var(--mips-card-font-family,system-ui,-apple-system,'Segoe UI'," +
  "Roboto,Arial,sans-serif)}:host([hidden]){display:none}" +
  ".card{box-sizing:border-box;max-width:var(--mips-card-max-width,380px);" +
  "border:1px solid var(--mips-card-border-color,#d0d5dd);border-radius:var(--mips-card-radius,10px);padding:16px;" +
  "background:var(--mips-card-background,#fff);color:var(--mips-card-color,#1d2939);font-size:14px;line-height:1.4}" +
  ".heading{display:flex;justify-content:space-between;gap:8px;font-size:13px;" +
  "color:var(--mips-card-muted-color,#475467);margin:0 0 8px}" +
  ".score{display:flex;align-items:baseline;gap:6px;margin:0 0 6px}" +
  ".value{font-size:40px;font-weight:700;line-height:1;color:var(--mips-card-score-color,inherit)}" +
  ".outof{font-size:16px;color:var(--mips-card-muted-color,#475467)}" +
  ".band{display:inline-block;margin:0 0 12px;padding:2px 8px;border-radius:999px;font-size:12px;" +
  "font-weight:600;background:#eef2f6;color:#344054}" +
  ".band-exceptional{background:#d1fadf;color:#05603a}.band-above_average{background:#d1e9ff;color:#1849a9}" +
  ".band-meeting_threshold{background:#fef0c7;color:#93370d}.band-below_threshold{background:#f2f4f7;color:#344054}" +
  "dl{display:grid;grid-template-columns:1fr auto;gap:4px 12px;margin:0 0 12px}" +
  "dt{color:var(--mips-card-muted-color,#475467)}" +
  "dd{margin:0;text-align:right;font-variant-numeric:tabular-nums;font-weight:600}" +
  ".categories{border-top:1px solid var(--mips-card-border-color,#eaecf0);padding-top:10px}" +
  ".attribution,.disclaimer,.note,.caveat{margin:0;font-size:12px;color:var(--mips-card-muted-color,#475467)}" +
  ".caveat{margin:0 0 10px}.history{margin:0 0 10px;padding:0;list-style:none;font-size:13px}" +
  ".disclaimer{margin-top:4px}.muted{color:var(--mips-card-muted-color,#475467);font-weight:400}";

function text(doc, tag, className, content) {
  var el = doc.createElement(tag);
  if (className) el.className = className;
  if (content !== undefined && content !== null) el.textContent = String(content);
  return el;
}

function field(el, name) {
  el.setAttribute("data-field", name);
  return el;
}

function formatScore(value) {
  return value === null || value === undefined ? null : String(value);
}

function formatAdjustment(value) {
  if (value === null || value === undefined) return null;
  return (value > 0 ? "+" : "") + String(value) + "%";
}

function joinUrl(base, path) {
  return String(base || "").replace(/\/+$/, "") + "/" + path;
}

var LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|localhost|\[::1\])$/;

// The API base: https, or http to loopback only (a local `mips-profiles serve`). A data:, blob: or
// javascript: base could forge a complete card without any request; a plain-http CDN could be tampered with.
function checkedBase(base) {
  var url = new URL(String(base || ""), g.location ? g.location.href : undefined);
  if (url.protocol === "https:" || (url.protocol === "http:" && LOOPBACK.test(url.hostname))) {
    return url.href;
  }
  throw new Error("data-mips-base must be https (http only for loopback): " + url.protocol);
}

var MAX_HISTORY = 50;  // years listed at most

// own property only, never Object.prototype's ("constructor", ...)
function own(table, key) {
  return typeof key === "string" && Object.prototype.hasOwnProperty.call(table, key);
}

function isScore(value) {
  return value === null || (typeof value === "number" && isFinite(value) && value >= 0 && value <= 100);
}

function isNumberOrNull(value) {
  return value === null || value === undefined || (typeof value === "number" && isFinite(value));
}

function isTextOrNull(value) {
  return value === null || value === undefined || typeof value === "string";
}

// The fields the card shows, each of the type the schema gives it; anything else is not a document.
function validDocument(body) {
  var latest = body && body.latest;
  if (!latest || typeof latest !== "object" || Array.isArray(latest)) return false;
  if (typeof latest.performance_year !== "number" || latest.performance_year % 1 !== 0) return false;
  if (!isScore(latest.final_score === undefined ? NaN : latest.final_score)) return false;
  if (!isNumberOrNull(latest.payment_adjustment_pct)) return false;
  if (typeof latest.payment_year !== "number" || latest.payment_year % 1 !== 0) return false;  // shown as text
  if (!isTextOrNull(latest.score_band) || !isTextOrNull(latest.attribution)) return false;
  var cats = latest.category_scores;
  if (cats !== undefined && (cats === null || typeof cats !== "object")) return false;
  for (var i = 0; i < CATEGORIES.length; i++) {
    var value = cats ? cats[CATEGORIES[i][0]] : null;
    if (value !== undefined && !isScore(value)) return false;
  }
  var statuses = latest.category_status;
  return statuses === undefined || (statuses !== null && typeof statuses === "object");
}

function fetchJson(url, timeoutMs) {
  var controller = typeof AbortController === "function" ? new AbortController() : null;
  var timer = controller ? setTimeout(function () { controller.abort(); }, timeoutMs) : null;
  return fetch(url, { mode: "cors", credentials: "omit", signal: controller ? controller.signal : undefined })
    .then(function (response) {
      if (response.status === 404) {
        return response.text().then(function (text) {
          var body = null;
          try { body = JSON.parse(text); } catch (error) { body = null; }
          return { status: 404, body: body, url: url };
        });
      }
      if (!response.ok) throw new Error("HTTP " + response.status + " for " + url);
      return response.json().then(function (body) { return { status: response.status, body: body }; });
    })
    .finally(function () { if (timer) clearTimeout(timer); });
}

var MISSING = {};  // the base answered, but not with a manifest

function isManifest(body) {
  return body !== null && typeof body === "object" && Array.isArray(body.releases);
}

function isNotFoundDocument(body) {
  return body !== null && typeof body === "object" && body.error === "not_found";
}

function lastChecked(manifest, year) {
  var releases = (manifest && manifest.releases) || [];
  for (var i = 0; i < releases.length; i++) {
    if (releases[i].performance_year === year && typeof releases[i].last_checked === "string") {
      return releases[i].last_checked.slice(0, 10);
    }
  }
  return null;
}

function part(el, name) {
  el.setAttribute("part", name);
  return el;
}

// One constructed sheet per window (a sheet belongs to the document that made it); null where unsupported.
var SHEETS = typeof WeakMap === "function" ? new WeakMap() : null;

function sheetFor(doc) {
  var win = doc.defaultView;
  if (!SHEETS || !win || typeof win.CSSStyleSheet !== "function" || !("replaceSync" in win.CSSStyleSheet.prototype)) {
    return null;
  }
  var sheet = SHEETS.get(win);
  if (!sheet) {
    sheet = new win.CSSStyleSheet();
    sheet.replaceSync(STYLE);
    SHEETS.set(win, sheet);
  }
  return sheet;
}

// The shadow root with its styles and one polite live region, made once per host; returns the region emptied.
function region(host) {
  var doc = host.ownerDocument;
  // attachShadow throws on hosts that cannot hold a shadow root (<li>, <a>, <p>...): render() catches it
  var root = host.shadowRoot || host.attachShadow({ mode: "open" });
  var live = root.querySelector(".live");
  if (!live) {
    while (root.firstChild) root.removeChild(root.firstChild);
    var sheet = "adoptedStyleSheets" in root ? sheetFor(doc) : null;
    if (sheet) {
      root.adoptedStyleSheets = [sheet];
    } else {
      var style = doc.createElement("style");
      style.textContent = STYLE;
      root.appendChild(style);
    }
    live = doc.createElement("div");
    live.className = "live";
    live.setAttribute("aria-live", "polite");
    root.appendChild(live);
  }
  while (live.firstChild) live.removeChild(live.firstChild);
  return live;
}

// A card is a labelled group, not a landmark: a page with many cards gets no extra landmarks.
function shell(host) {
  var card = part(text(host.ownerDocument, "div", "card"), "card");
  card.setAttribute("role", "group");
  card.setAttribute("aria-label", "Medicare MIPS score");
  region(host).appendChild(card);
  return card;
}

function renderScored(host, doc, latest, manifest) {
  var d = host.ownerDocument;
  var year = latest.performance_year;
  var card = shell(host);
  var scored = latest.final_score !== null && latest.final_score !== undefined;
  card.setAttribute("data-state", scored ? "scored" : "not_scored");

  var heading = part(text(d, "p", "heading"), "heading");
  heading.appendChild(text(d, "span", null, "Medicare MIPS final score"));
  heading.appendChild(field(text(d, "span", null, "Performance Year " + year), "performance-year"));
  card.appendChild(heading);

  var score = part(text(d, "p", "score"), "score");
  if (scored) {
    score.appendChild(field(text(d, "span", "value", formatScore(latest.final_score)), "final-score"));
    score.appendChild(text(d, "span", "outof", "out of 100"));
  } else {
    score.appendChild(field(text(d, "span", "value muted", "Not scored"), "final-score"));
  }
  card.appendChild(score);
  if (scored && latest.score_band) {
    var bandName = own(BANDS, latest.score_band) ? latest.score_band : "unknown";
    var band = text(d, "span", "band band-" + bandName, own(BANDS, bandName) ? BANDS[bandName] : latest.score_band);
    card.appendChild(part(field(band, "band"), "band band-" + bandName));
  }

  var facts = part(text(d, "dl", "facts"), "facts");
  var adjustment = formatAdjustment(latest.payment_adjustment_pct);
  facts.appendChild(text(d, "dt", null, "Medicare payment adjustment in " + latest.payment_year));
  facts.appendChild(field(text(d, "dd", adjustment ? null : "muted", adjustment || "None published"),
    "payment-adjustment"));
  var option = typeof latest.participation_option === "string" ? latest.participation_option : null;
  if (option) {
    facts.appendChild(text(d, "dt", null, "Score earned as"));
    facts.appendChild(field(text(d, "dd", null, option), "participation"));
  }
  card.appendChild(facts);
  if (option && own(EARNED_BY, option)) {
    card.appendChild(field(text(d, "p", "caveat", EARNED_BY[option]), "participation-caveat"));
  }

  var categories = part(text(d, "dl", "categories"), "categories");
  var cats = latest.category_scores || {};
  var statuses = latest.category_status || {};
  CATEGORIES.forEach(function (pair) {
    // the score as CMS published it, and whether it counted toward the final score (never a hidden score)
    var value = formatScore(cats[pair[0]]);
    if (value) value += pair[2];
    var status = typeof statuses[pair[0]] === "string" ? statuses[pair[0]] : (value ? "scored" : "not_scored");
    var shown;
    if (status === "reweighted") {
      shown = value ? value + " (did not count toward the final score: CMS reweighted it)" : "Exempt (reweighted)";
    } else if (status === "unknown") {
      shown = (value || "Not scored") + " (whether it counted is not known)";
    } else {
      shown = value || "Not scored";
    }
    categories.appendChild(text(d, "dt", null, pair[1]));
    var dd = field(text(d, "dd", status === "scored" && value ? null : "muted", shown), "category-" + pair[0]);
    dd.setAttribute("data-status", status);
    categories.appendChild(dd);
  });
  card.appendChild(categories);
  if (latest.final_score_reproduced === false) {
    card.appendChild(field(text(d, "p", "caveat",
      "These category scores do not add up to the final score: CMS scored it in a way its public file " +
      "does not show (for example an APM Entity's scoring)."), "parts-caveat"));
  }
  var history = Array.isArray(doc.history) ? doc.history.slice(0, MAX_HISTORY).filter(function (entry) {
    return entry && typeof entry.performance_year === "number" && entry.performance_year !== year;
  }) : [];
  if (history.length) {
    var list = field(text(d, "ul", "history"), "history");
    list.setAttribute("aria-label", "Earlier performance years");
    history.forEach(function (entry) {
      var line = "Performance Year " + entry.performance_year + ": " +
        (isScore(entry.final_score) && entry.final_score !== null ? formatScore(entry.final_score) : "Not scored");
      if (entry.comparable_to_prior_year === false) line += " (threshold or weights differ from the year before)";
      list.appendChild(text(d, "li", null, line));
    });
    card.appendChild(list);
    card.appendChild(field(text(d, "p", "caveat", NOT_COMPARABLE), "comparability"));
  }

  var checked = lastChecked(manifest, year);
  var attribution = (latest.attribution || ("Source: " + SOURCE + " \u00b7 Performance Year " + year)) +
    (checked ? " \u00b7 Last checked " + checked : "");
  card.appendChild(part(field(text(d, "p", "attribution", attribution), "attribution"), "attribution"));
  var given = doc.source && doc.source.disclaimer;  // text, else the card's own: never none
  var disclaimer = typeof given === "string" && given.trim() ? given : DISCLAIMER;
  card.appendChild(part(field(text(d, "p", "disclaimer", disclaimer), "disclaimer"), "disclaimer"));
  return scored ? "scored" : "not_scored";
}

function renderNote(host, state, message) {
  var d = host.ownerDocument;
  var card = shell(host);
  card.setAttribute("data-state", state);
  card.appendChild(part(field(text(d, "p", "note", message), "message"), "note"));
  if (state === "not_found") {
    card.appendChild(part(field(text(d, "p", "disclaimer", "Source: " + SOURCE + ". " + DISCLAIMER), "disclaimer"),
      "disclaimer"));
  }
  return state;
}

function quietly(host, state, message) {
  try {
    return renderNote(host, state, message);
  } catch (error) {  // not even a note can be drawn here (no shadow root possible): say so, never throw
    return "unavailable";
  }
}

function announce(host, state, result, npi) {
  try {
    if (state === "loading") host.setAttribute("aria-busy", "true");
    else host.removeAttribute("aria-busy");
    var win = host.ownerDocument.defaultView;
    if (win && typeof win.CustomEvent === "function") {
      host.dispatchEvent(new win.CustomEvent(STATE_EVENT, {
        bubbles: true,
        composed: true,
        detail: { state: state, result: result, npi: npi }
      }));
    }
  } catch (error) {  // a host page's listener that throws is the host page's own error, never ours
    if (g.console && g.console.warn) g.console.warn("mips-score-card:", error && error.message);
  }
}

function attribute(host, name) {
  // <mips-score-card npi="..."> or the classic <div data-mips-npi="...">
  return host.getAttribute(name) || host.getAttribute("data-mips-" + name) || "";
}

// The entry to show: the newest (latest) or the one of the performance year asked for; null if it has none.
function entryFor(doc, year) {
  if (!year) return doc.latest;
  var entries = [doc.latest].concat(Array.isArray(doc.history) ? doc.history : []);
  for (var i = 0; i < entries.length; i++) {
    if (entries[i] && entries[i].performance_year === year) return entries[i];
  }
  return null;
}

// The newest render of a host wins: the answer to an older request (the NPI changed meanwhile) is dropped.
var TOKENS = typeof WeakMap === "function" ? new WeakMap() : null;

function render(host, options) {
  options = options || {};
  var token = {};
  if (TOKENS) TOKENS.set(host, token);
  var current = function () { return !TOKENS || TOKENS.get(host) === token; };
  var npi = "";
  var finish = function (state, result) {
    if (current()) announce(host, state, result, npi);
    return result;
  };
  var unavailable = function (error) {
    if (g.console && g.console.warn) g.console.warn("mips-score-card:", error && error.message);
    if (!current()) return "superseded";
    return finish("unavailable", quietly(host, "unavailable", "MIPS score unavailable right now."));
  };
  var misconfigured = function (url, what) {
    if (g.console && g.console.error) {
      g.console.error("mips-score-card: " + url + " " + what + ": is base-url the API's base (the URL before /v1/)?");
    }
    if (!current()) return "superseded";
    return finish("misconfigured", quietly(host, "misconfigured", "MIPS score unavailable: this card's API address is not set up right."));
  };
  var notFound = function (message) {
    return finish("ready", quietly(host, "not_found", message || "No MIPS score published for this clinician."));
  };
  try {
    npi = String(options.npi || attribute(host, "npi")).trim();
    var yearText = String(options.performanceYear || attribute(host, "performance-year")).trim();
    var year = yearText ? Number(yearText) : null;
    var timeoutMs = options.timeoutMs || Number(attribute(host, "timeout-ms")) || DEFAULT_TIMEOUT_MS;
    var base = checkedBase(options.baseUrl || attribute(host, "base-url") || attribute(host, "base"));
    if (!NPI_PATTERN.test(npi) || (year !== null && !(year % 1 === 0 && year >= 2017 && year <= 9999))) {
      return Promise.resolve(notFound());
    }
    announce(host, "loading", null, npi);
    quietly(host, "loading", "Loading the MIPS score\u2026");
    var documentRequest = fetchJson(joinUrl(base, "v1/npi/" + npi + ".json"), timeoutMs);
    var manifestUrl = joinUrl(base, "v1/manifest.json");
    var manifestRequest = fetchJson(manifestUrl, timeoutMs)
      .then(function (r) { return isManifest(r.body) ? r.body : MISSING; }, function () { return null; });
    return Promise.all([documentRequest, manifestRequest])
      .then(function (results) {
        if (!current()) return "superseded";
        var doc = results[0];
        if (doc.status === 404) {
          if (!isNotFoundDocument(doc.body)) return misconfigured(doc.url, "answered 404 without the API's not-found document");
          if (results[1] === MISSING) return misconfigured(manifestUrl, "has no mips-profiles manifest");
          if (results[1] === null) throw new Error("the manifest did not answer: " + manifestUrl);
          return notFound();
        }
        if (!validDocument(doc.body)) throw new Error("unexpected document for NPI " + npi);
        var entry = entryFor(doc.body, year);
        if (!entry || !validDocument({ latest: entry })) {
          return notFound("No MIPS score published for this clinician for Performance Year " + year + ".");
        }
        return finish("ready", renderScored(host, doc.body, entry, results[1] === MISSING ? null : results[1]));
      })
      .catch(unavailable);
  } catch (error) {
    return Promise.resolve(unavailable(error));
  }
}

function renderAll(scope) {
  var nodes = (scope || g.document).querySelectorAll("[data-mips-npi]");
  return Promise.all(Array.prototype.map.call(nodes, function (node) { return render(node); }));
}

var Base = typeof g.HTMLElement === "function" ? g.HTMLElement : function () {};

// <mips-score-card npi="..." performance-year="..." base-url="..." timeout-ms="...">
class MipsScoreCardElement extends Base {
  static get observedAttributes() {
    return ["npi", "performance-year", "base-url", "timeout-ms"];
  }

  connectedCallback() {
    this.schedule();
  }

  attributeChangedCallback(name, previous, value) {
    if (previous !== value && this.isConnected) this.schedule();
  }

  // One render however many attributes change together; `ready` resolves to its result.
  schedule() {
    if (this.scheduled) return;
    this.scheduled = true;
    var element = this;
    this.ready = Promise.resolve().then(function () {
      element.scheduled = false;
      return element.isConnected ? render(element) : "disconnected";
    });
  }
}

function define(registry) {
  registry = registry || g.customElements;
  if (registry && !registry.get(TAG)) registry.define(TAG, MipsScoreCardElement);
}

define();

export { VERSION as version, render, renderAll, define, MipsScoreCardElement };
