"""Deterministic synthetic QPP Experience files in the real column layout of each performance year.

The header is the real one of the year (names and order, ``data/cms_headers.json``; PY2024 reorders
columns). The same ``seed`` gives the same bytes. Clinician ``i`` has the same NPI in every year, so
several years build real histories; about 13% of NPIs bill under several TINs (2-4 rows). Final scores
follow the published distribution: about 40% >= 90, 46% 75-89, 10% 50-74, 4% < 50.

Values are written as CMS writes them: ``True``/``False`` flags, empty strings for missing, trimmed
numbers (``64.9``, ``60``), zero-padded provider keys, inconsistently padded measure ids (``014``, ``1``).
Categories are reweighted at realistic rates (promoting interoperability for about a fifth of rows, cost
for about a third, quality and improvement activities rarely): the flag of the reason is ``True``, the
score is empty or ``0`` as CMS leaves it, and PY2023+ weights follow the redistribution table of the
PY2024 feedback FAQ (Appendix B, Table 1).

Everything is vectorised (numpy + pyarrow compute): 500k rows x 200+ columns take seconds.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..core.contract import Contract, load_contract
from ..core.methodology import Methodology, load_methodology
from ..core.npi import check_digits

STATES = [
    "CA",
    "TX",
    "FL",
    "NY",
    "PA",
    "IL",
    "OH",
    "GA",
    "NC",
    "MI",
    "NJ",
    "VA",
    "WA",
    "AZ",
    "MA",
    "TN",
    "IN",
    "MO",
    "MD",
    "WI",
    "CO",
    "MN",
    "SC",
    "AL",
    "LA",
    "KY",
    "OR",
    "OK",
    "CT",
    "UT",
    "PR",
    "DC",
]
SPECIALTIES = [
    "Internal Medicine",
    "Family Practice",
    "Nurse Practitioner",
    "Physician Assistant",
    "Cardiology",
    "Orthopedic Surgery",
    "Emergency Medicine",
    "Anesthesiology",
    "Diagnostic Radiology",
    "Ophthalmology",
    "Dermatology",
    "Physical Therapist",
    "Obstetrics/Gynecology",
    "Psychiatry",
    "Gastroenterology",
    "Neurology",
    "General Surgery",
    "Urology",
    "Pulmonary Disease",
    "Nephrology",
]
CLINICIAN_TYPES = [
    "Physician",
    "Nurse Practitioner",
    "Physician Assistant",
    "Physical Therapist",
    "Clinical Social Worker",
    "Certified Registered Nurse Anesthetist",
]
YEARS_IN_MEDICARE = ["1 to 3 years", "4 to 6 years", "7 to 9 years", "10 or more years"]
REPORTING_OPTIONS = ["Traditional MIPS", "APM Performance Pathway", "MIPS Value Pathway"]
TOP_ADJUSTMENT = {
    2017: 1.88,
    2018: 1.68,
    2019: 1.79,
    2020: 1.87,
    2021: 2.33,
    2022: 8.26,
    2023: 2.15,
    2024: 1.05,
    2025: 1.2,
}

# Category weights (quality, PI, IA, cost) by the set of categories reweighted to 0%: CMS PY2024 performance
# feedback FAQ, Appendix B, Table 1 (excluding small practices). Key: bit 1 quality, 2 PI, 4 IA, 8 cost.
_REDISTRIBUTION = {
    0: (0.30, 0.25, 0.15, 0.30),
    8: (0.55, 0.30, 0.15, 0.0),
    2: (0.55, 0.0, 0.15, 0.30),
    1: (0.0, 0.55, 0.15, 0.30),
    4: (0.45, 0.25, 0.0, 0.30),
    10: (0.85, 0.0, 0.15, 0.0),
    9: (0.0, 0.85, 0.15, 0.0),
    12: (0.70, 0.30, 0.0, 0.0),
    3: (0.0, 0.0, 0.50, 0.50),
    6: (0.70, 0.0, 0.0, 0.30),
    5: (0.0, 0.70, 0.0, 0.30),
}


@lru_cache(maxsize=1)
def real_headers() -> dict[int, list[str]]:
    """The real header of every performance year CMS has published (names in file order)."""
    raw = json.loads(resources.files("mips_profiles").joinpath("data/cms_headers.json").read_text("utf-8"))
    return {int(year): list(names) for year, names in raw["headers"].items()}


def header_for(year: int) -> list[str]:
    """The year's real header; a later year not yet published takes the newest known one."""
    known = real_headers()
    return known[max(y for y in known if y <= year)] if year not in known else known[year]


def npi_for(index: np.ndarray, seed: int = 0) -> np.ndarray:
    """Valid, distinct NPIs for clinician indexes (a bijection on the 9-digit body), as int64."""
    body = 100_000_000 + (index.astype(np.int64) * 48271 + seed * 7919) % 100_000_000
    digits = (body[:, None] // (10 ** np.arange(8, -1, -1, dtype=np.int64))) % 10
    return body * 10 + check_digits(digits)


@dataclass
class GeneratedFile:
    performance_year: int
    rows: int
    npis: int
    columns: int
    path: str | None = None


def _fmt(values: np.ndarray, decimals: int = 2) -> pa.Array:
    """Numbers as CMS writes them: no trailing zeros (``60``, ``94.79``)."""
    rounded = np.round(values.astype(np.float64), decimals)
    text = pc.cast(pa.array(rounded), pa.string())
    return pc.replace_substring_regex(text, r"\.0$", "")


def _blank_where(arr: pa.Array, mask: np.ndarray) -> pa.Array:
    return pc.if_else(pa.array(mask), pa.scalar("", pa.string()), arr)


def _choice(rng: np.random.Generator, options: list[str], n: int, p: list[float] | None = None) -> pa.Array:
    return pc.take(pa.array(options, pa.string()), pa.array(rng.choice(len(options), size=n, p=p)))


def generate_table(
    performance_year: int,
    rows: int = 1000,
    *,
    seed: int = 7,
    contract: Contract | None = None,
    methodology: Methodology | None = None,
    title_case_header: bool = False,
) -> pa.Table:
    """A synthetic QPP Experience table (all values text) in ``performance_year``'s layout."""
    contract = contract or load_contract()
    methodology = methodology or load_methodology()
    params = methodology.parameters(performance_year)
    layout = contract.layout_for_year(performance_year)
    rng = np.random.default_rng([seed, performance_year])

    # Clinicians: a window over a stable population that shifts 3% a year (new entrants, leavers).
    npis_wanted = max(1, rows)  # upper bound: rows are cut to ``rows`` after repeating multi-TIN NPIs
    start = (performance_year - 2017) * max(1, npis_wanted * 3 // 100)
    clinicians = np.arange(start, start + npis_wanted)
    practices = np.ones(npis_wanted, dtype=np.int64)
    multi = rng.random(npis_wanted) < 0.13
    practices[multi] = rng.choice([2, 3, 4], size=int(multi.sum()), p=[0.75, 0.18, 0.07])
    row_clinician = np.repeat(clinicians, practices)[:rows]
    n = len(row_clinician)
    npi = npi_for(row_clinician, seed)

    # Scores.
    band = rng.choice(4, size=n, p=[0.40, 0.46, 0.10, 0.04])
    lo = np.array([90.0, 75.0, 50.0, 0.0])[band]
    hi = np.array([100.0, 89.99, 74.99, 49.99])[band]
    final = np.round(lo + rng.random(n) * (hi - lo), 2)
    final[(band == 0) & (rng.random(n) < 0.3)] = 100.0
    unscored = rng.random(n) < 0.003
    thr, maxneg = params.performance_threshold, params.max_negative_adjustment_pct
    top = TOP_ADJUSTMENT.get(performance_year, 1.0)
    floor_score = thr / 4
    adj = np.where(
        final <= floor_score,
        maxneg,
        np.where(
            final < thr,
            maxneg * (thr - final) / max(thr - floor_score, 1e-9),
            top * (final - thr) / max(100 - thr, 1e-9),
        ),
    )
    adj = np.round(adj, 2)
    adj[final == thr] = 0.0
    quality = np.clip(final + rng.normal(0, 6, n), 0, 100)
    pi = np.where(rng.random(n) < 0.6, 100.0, rng.uniform(40, 100, n))
    ia = np.array([100.0, 100.0, 80.0, 50.0, 40.0])[rng.integers(0, 5, n)]
    cost = rng.uniform(20, 100, n)

    # Reweighting: which categories CMS reweighted to 0% for each row, and for what reason.
    pi_reason = rng.choice(4, size=n, p=[0.79, 0.17, 0.03, 0.01])  # none, special status, hardship, EUC
    cost_rw = rng.random(n) < 0.33  # mostly too few cases (no flag); a few under the EUC policy
    cost_euc = cost_rw & (rng.random(n) < 0.05)
    quality_rw = rng.random(n) < 0.01
    ia_rw = (rng.random(n) < 0.01) & ~quality_rw
    pi_rw = pi_reason > 0
    two_at_most = (quality_rw.astype(int) + pi_rw + ia_rw + cost_rw) <= 2
    quality_rw &= two_at_most
    ia_rw &= two_at_most
    mask = quality_rw * 1 + pi_rw * 2 + ia_rw * 4 + cost_rw * 8
    weights = np.array([_REDISTRIBUTION[int(m)] for m in range(16) if m in _REDISTRIBUTION])
    index_of = {m: i for i, m in enumerate(k for k in range(16) if k in _REDISTRIBUTION)}
    row_weights = weights[np.array([index_of[int(m)] for m in mask])]
    pi_zero = rng.random(n) < 0.5  # CMS leaves a reweighted PI score empty or writes 0

    columns: dict[str, pa.Array] = {}
    candidates = contract.candidate_columns(performance_year)
    by_column = {col: name for name, cols in candidates.items() for col in cols}
    header = header_for(performance_year)
    options = list(methodology.participation_options[layout.name])
    option_p = {
        "Individual": 0.30,
        "Group": 0.50,
        "MIPS APM": 0.17,
        "APM Entity": 0.17,
        "Subgroup": 0.01,
        "Virtual Group": 0.02,
    }
    option_weights = np.array([option_p[o] for o in options])
    blank = pa.scalar("", pa.string())

    def flag(values: np.ndarray) -> pa.Array:
        return pc.take(pa.array(["False", "True"], pa.string()), pa.array(values.astype(np.int64)))

    reasons = {
        "pi_reweighting_special_status": pi_reason == 1,
        "pi_reweighting_hardship": pi_reason == 2,
        "pi_reweighting_euc": pi_reason == 3,
        "pi_reweighting": pi_rw,
        "pi_hardship": pi_reason == 2,
        "extreme_hardship_pi": pi_reason == 3,
        "quality_reweighting_euc": quality_rw,
        "extreme_hardship_quality": quality_rw,
        "ia_reweighting_euc": ia_rw,
        "extreme_hardship_ia": ia_rw,
        "cost_reweighting_euc": cost_euc,
        "extreme_hardship_cost": cost_euc,
    }
    weight_columns = {
        "quality_category_weight": 0,
        "pi_category_weight": 1,
        "ia_category_weight": 2,
        "cost_category_weight": 3,
    }

    for column in header:
        name = by_column[column]
        field = contract.field(_pattern_name(contract, name))
        if name == "npi":
            arr = pc.cast(pa.array(npi), pa.string())
        elif name == "provider_key":
            keys = rng.permutation(n).astype(np.int64) + 10_000_000 * (performance_year - 2000)
            arr = pc.utf8_lpad(pc.cast(pa.array(keys), pa.string()), 10, "0")
        elif name == "final_score":
            arr = _blank_where(_fmt(final), unscored)
        elif name == "payment_adjustment_pct":
            arr = _blank_where(_fmt(adj), unscored)
        elif name == "quality_category_score":
            arr = _blank_where(_fmt(quality), unscored | quality_rw)
        elif name == "pi_category_score":
            arr = pc.if_else(
                pa.array(pi_rw & pi_zero),
                pa.scalar("0", pa.string()),
                _blank_where(_fmt(pi), unscored | (pi_rw & ~pi_zero)),
            )
        elif name == "ia_category_score":
            arr = _blank_where(_fmt(ia), unscored | ia_rw)
        elif name == "cost_category_score":
            arr = _blank_where(_fmt(cost), unscored | cost_rw)
        elif name in weight_columns:
            arr = _blank_where(_fmt(row_weights[:, weight_columns[name]], 4), unscored)
        elif name in reasons:
            arr = flag(reasons[name])
        elif name == "participation_option":
            arr = _choice(rng, options, n, list(option_weights / option_weights.sum()))
        elif name == "practice_state":
            arr = _choice(rng, STATES, n)
        elif name == "clinician_specialty":
            arr = _choice(rng, SPECIALTIES, n)
        elif name == "clinician_type":
            arr = _choice(rng, CLINICIAN_TYPES, n)
        elif name == "years_in_medicare":
            arr = _choice(rng, YEARS_IN_MEDICARE, n)
        elif name == "reporting_option":
            arr = _choice(rng, REPORTING_OPTIONS, n, [0.8, 0.17, 0.03])
        elif field.is_slot_pattern:
            slot = int(name.rsplit("_", 1)[1])
            filled = rng.random(n) < max(0.0, 0.9 - 0.12 * slot)
            if field.type == "decimal":
                arr = _blank_where(_fmt(rng.uniform(0, 10, n)), ~filled)
            elif "collection_type" in name:
                arr = _blank_where(_choice(rng, ["MIPS CQM", "eCQM", "Claims", "Medicare Part B Claims"], n), ~filled)
            elif "type" in name:
                arr = _blank_where(_choice(rng, ["Required", "Bonus", "Optional"], n), ~filled)
            else:  # measure ids: CMS pads some to three digits and not others (``014``, ``47``, ``1``)
                ids = pc.cast(pa.array(rng.integers(1, 500, n)), pa.string())
                padded = pc.if_else(pa.array(rng.random(n) < 0.5), pc.utf8_lpad(ids, 3, "0"), ids)
                arr = _blank_where(padded, ~filled)
        elif field.type == "boolean":
            arr = flag(rng.random(n) < 0.15)
        elif field.type == "integer":
            arr = pc.cast(pa.array(rng.integers(1, 400, n)), pa.string())
        elif field.type == "decimal":
            arr = _fmt(rng.uniform(0, 1000, n))
        else:
            arr = pc.if_else(pa.array(rng.random(n) < 0.9), blank, _choice(rng, ["A", "B", "C"], n))
        columns[column.title() if title_case_header else column] = arr
    return pa.table(columns)


def _pattern_name(contract: Contract, expanded: str) -> str:
    names = {f.name for f in contract.fields}
    if expanded in names:
        return expanded
    base, _, _ = expanded.rpartition("_")
    return base + "_{n}"


def _quote_where_needed(arr: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    needs = pc.match_substring_regex(arr, r'[",\r\n]')
    if not pc.any(needs).as_py():
        return arr
    quoted = pc.binary_join_element_wise('"', pc.replace_substring(arr, '"', '""'), '"', "")
    return pc.if_else(needs, quoted, arr)


def write_csv(
    table: pa.Table, path: str | os.PathLike[str], *, line_ending: str = "\n", chunk_rows: int = 50_000
) -> None:
    """Write as CMS does: a plain header line, values quoted only where needed (vectorised)."""
    columns = [pc.fill_null(_quote_where_needed(table.column(i)), "") for i in range(table.num_columns)]
    header = ",".join(f'"{c}"' if any(x in c for x in '",\r\n') else c for c in table.column_names)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(header + line_ending)
        for start in range(0, table.num_rows, chunk_rows):
            parts = [c.slice(start, chunk_rows) for c in columns]
            lines = pc.binary_join_element_wise(*parts, ",")
            fh.write(line_ending.join(lines.to_pylist()))
            fh.write(line_ending)


def generate_file(
    performance_year: int,
    path: str | os.PathLike[str],
    rows: int = 1000,
    *,
    seed: int = 7,
    title_case_header: bool = False,
) -> GeneratedFile:
    table = generate_table(performance_year, rows, seed=seed, title_case_header=title_case_header)
    write_csv(table, path)
    npi_col = next(c for c in table.column_names if c.lower() == "npi")
    return GeneratedFile(
        performance_year, table.num_rows, len(pc.unique(table.column(npi_col))), table.num_columns, os.fspath(path)
    )


@dataclass
class Correction:
    table: pa.Table
    changed: list[str]
    removed: list[str]
    added: list[str]


def make_correction(
    table: pa.Table, *, changed_share: float = 0.01, removed: int = 3, added: int = 3, seed: int = 11
) -> Correction:
    """A CMS-style correction of a generated table: scores of ``changed_share`` of NPIs revised,
    ``removed`` NPIs withdrawn, ``added`` NPIs newly scored. Returns the new table and the NPIs."""
    rng = np.random.default_rng(seed)
    names = {c.strip().lower(): c for c in table.column_names}
    npi_col, score_col = names["npi"], names["final score"]
    npis = table.column(npi_col).to_numpy(zero_copy_only=False).astype(str)
    distinct = np.unique(npis)
    picked = rng.permutation(distinct)
    n_changed = max(1, round(len(distinct) * changed_share))
    changed = picked[:n_changed]
    gone = picked[n_changed : n_changed + removed]

    scores = table.column(score_col).to_numpy(zero_copy_only=False).astype(object)
    is_changed = np.isin(npis, changed)
    for i in np.flatnonzero(is_changed):
        old = float(scores[i]) if scores[i] else 50.0
        new = round(old - 2.5, 2) if old >= 2.5 else round(old + 2.5, 2)
        scores[i] = f"{new:g}"
    table = table.set_column(table.column_names.index(score_col), score_col, pa.array(scores.astype(str), pa.string()))
    table = table.filter(pa.array(~np.isin(npis, gone)))

    new_npis = [str(v) for v in npi_for(np.arange(90_000_000, 90_000_000 + added), 0)]
    extra = table.slice(0, added)
    extra = extra.set_column(extra.column_names.index(npi_col), npi_col, pa.array(new_npis, pa.string()))
    if "provider key" in names:
        key_col = names["provider key"]
        extra = extra.set_column(
            extra.column_names.index(key_col), key_col, pa.array([f"9{i:08d}" for i in range(added)], pa.string())
        )
    return Correction(pa.concat_tables([table, extra]), sorted(changed.tolist()), sorted(gone.tolist()), new_npis)


PDC_HEADER = [
    "NPI",
    " Org_PAC_ID",
    " Provider Last Name",
    " Provider First Name",
    " source",
    " Facility-based scoring Certification number",
    " Facility Name",
    " Quality_category_score",
    " PI_category_score",
    " IA_category_score",
    " Cost_category_score",
    " final_MIPS_score_without_CPB",
    " final_MIPS_score",
]
_LAST = ["SMITH", "JOHNSON", "WILLIAMS", "BROWN", "JONES", "GARCIA", "MILLER", "DAVIS", "NGUYEN", "PATEL"]
_FIRST = ["MARY", "JAMES", "PATRICIA", "JOHN", "LINDA", "ROBERT", "PRIYA", "WEI", "MARIA", "DAVID"]


def make_pdc_table(qpp: pa.Table, *, mismatches: int = 0, seed: int = 5) -> pa.Table:
    """The PDC clinician score file CMS would publish for the same year: one row per NPI x Org PAC id,
    headers with leading spaces as in the real file. ``mismatches`` NPIs get a different score."""
    rng = np.random.default_rng(seed)
    names = {c.strip().lower(): c for c in qpp.column_names}
    n = qpp.num_rows
    npi = qpp.column(names["npi"])
    final = qpp.column(names["final score"]).to_pylist()
    if mismatches:
        distinct = sorted(set(npi.to_pylist()))
        for target in rng.choice(len(distinct), size=min(mismatches, len(distinct)), replace=False):
            for i, value in enumerate(npi.to_pylist()):
                if value == distinct[int(target)] and final[i]:
                    final[i] = f"{max(0.0, float(final[i]) - 7.5):g}"
    columns = [
        npi,
        pc.cast(pa.array(rng.integers(10**9, 10**10 - 1, n)), pa.string()),
        _choice(rng, _LAST, n),
        _choice(rng, _FIRST, n),
        _choice(rng, ["individual", "group", "apm"], n),
        pa.array([""] * n, pa.string()),
        pa.array([""] * n, pa.string()),
        qpp.column(names["quality category score"]),
        qpp.column(names["promoting interoperability (pi) category score"]),
        qpp.column(names.get("improvement activities (ia) category score", names.get("ia score", ""))),
        qpp.column(names.get("cost category score", names.get("cost score", ""))),
        pa.array(final, pa.string()),
        pa.array(final, pa.string()),
    ]
    return pa.table(dict(zip(PDC_HEADER, columns, strict=True)))
