"""Deterministic synthetic QPP Experience files in the real column layout of each performance year.

The header is the real one of the year (names and order, ``data/cms_headers.json``; PY2024 reorders
columns). The same ``seed`` gives the same bytes. Clinician ``i`` has the same NPI in every year, so
several years build real histories; about 13% of NPIs bill under several TINs (2-4 rows). Final scores
follow the published distribution: about 40% >= 90, 46% 75-89, 10% 50-74, 4% < 50.

Final scores are made of their parts, as CMS makes them: the category scores (improvement activities as
points out of 40) times the year's weights for the categories reweighted on the row (the standard weights
or a redistribution of ``methodology.category_weighting``), plus the complex patient bonus (and PY2018's small
practice bonus), capped at 100. So ``categories.display`` reproduces them, but for three kinds of row made
on purpose: about 2% scored in a way the file does not show (the final score moved off its parts, as an APM
Entity's or a bonus the file does not carry would), which the check must call not reproduced; clinicians who
*qualified* for reweighting but submitted (a flag True beside a published score, about a tenth of rows); and,
in PY2020-2021, about 1% with every EUC flag True whose final score is the performance threshold although a
quality score was published.

Values are written as CMS writes them: ``True``/``False`` flags, empty strings for missing, trimmed
numbers (``64.9``, ``60``), zero-padded provider keys, inconsistently padded measure ids (``014``, ``1``).
Categories are reweighted at realistic rates (promoting interoperability for about a fifth of rows, cost
for about a third, quality and improvement activities rarely): the flag of the reason is ``True``, the
score is empty or ``0`` as CMS leaves it, and PY2023+ files carry the weights used.

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
from ..npi import check_digits

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

_CATEGORY_BITS = (1, 2, 4, 8)  # quality, promoting interoperability, improvement activities, cost


def _weights_by_reweighted_set(methodology: Methodology, year: int) -> dict[int, np.ndarray]:
    """The year's weights (fractions, category order) by the bitmask of categories weighted 0%: the standard
    weights and the redistributions of ``methodology.category_weighting`` (not small-practice-only ones)."""
    out: dict[int, np.ndarray] = {}
    for w in methodology.weightings(year):
        if w.kind in ("standard", "redistribution") and not w.small_practice:
            mask = sum(bit for bit, weight in zip(_CATEGORY_BITS, w.weights, strict=True) if weight == 0)
            out.setdefault(mask, np.array(w.weights) / 100.0)
    return out


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

    # Scores: the parts first, then the final score made of them (the module docstring).
    band = rng.choice(4, size=n, p=[0.40, 0.46, 0.10, 0.04])
    lo = np.array([90.0, 75.0, 50.0, 0.0])[band]
    hi = np.array([100.0, 89.99, 74.99, 49.99])[band]
    target = np.round(lo + rng.random(n) * (hi - lo), 2)
    target[(band == 0) & (rng.random(n) < 0.3)] = 100.0
    unscored = rng.random(n) < 0.003
    pi = np.round(np.where(rng.random(n) < 0.6, 100.0, rng.uniform(40, 100, n)), 2)
    ia = np.array([40.0, 40.0, 30.0, 20.0, 15.0])[rng.integers(0, 5, n)]  # points out of 40
    cost = np.round(rng.uniform(20, 100, n), 4)
    bonus = np.where(rng.random(n) < 0.3, np.round(rng.uniform(0, 5, n), 2), 0.0) if performance_year > 2017 else 0.0
    small = rng.random(n) < 0.15

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
    by_set = _weights_by_reweighted_set(methodology, performance_year)
    standard_zero = min(by_set)  # the standard weights' zeros (PY2017: cost)
    mask = quality_rw * 1 + pi_rw * 2 + ia_rw * 4 + cost_rw * 8 | standard_zero
    for m in np.unique(mask).tolist():  # a set the year's rules do not list: keep cost and PI reweightings only
        if m not in by_set:
            keep = m & (2 | 8 | standard_zero)
            mask[mask == m] = keep if keep in by_set else standard_zero
    quality_rw, pi_rw, ia_rw = (mask & 1) > 0, (mask & 2) > 0, (mask & 4) > 0
    cost_rw, cost_euc = (mask & 8) > 0, cost_euc & ((mask & 8) > 0)
    pi_reason = np.where(pi_rw, np.maximum(pi_reason, 1), 0)
    row_weights = np.zeros((n, 4))
    for m, vector in by_set.items():
        row_weights[mask == m] = vector
    pi_zero = rng.random(n) < 0.5  # CMS leaves a reweighted PI score empty or writes 0
    # qualified for reweighting, but submitted: CMS scored the category (a flag True beside a published score)
    pi_qualified = ~pi_rw & (rng.random(n) < 0.1)
    # PY2020-2021: an approved EUC application overrode submitted data; the final score is the threshold
    euc_all = (
        (rng.random(n) < 0.01) & ~unscored
        if performance_year in methodology.weighting.euc_overrides_data_years
        else np.zeros(n, dtype=bool)
    )

    # quality solves for the target final score, within [0, 100]; the final score is then made of the parts
    others = row_weights[:, 1] * pi + row_weights[:, 2] * ia * 2.5 + row_weights[:, 3] * cost
    extra = bonus + np.where(small, methodology.weighting.small_practice_final_score_bonus.get(performance_year, 0), 0)
    safe_weight = np.where(row_weights[:, 0] > 0, row_weights[:, 0], 1.0)
    quality = np.round(np.clip((target - extra - others) / safe_weight, 0, 100), 2)
    quality = np.where(row_weights[:, 0] > 0, quality, np.round(np.clip(target + rng.normal(0, 6, n), 0, 100), 2))
    final = np.round(np.minimum(row_weights[:, 0] * quality + others + extra, 100.0), 2)
    final[euc_all] = params.performance_threshold
    off = ~euc_all & (rng.random(n) < 0.02)  # scored in a way the file does not show
    shift = rng.choice([-1, 1], int(off.sum())) * rng.uniform(0.5, 3, int(off.sum()))
    final[off] = np.round(np.clip(final[off] + shift, 0, 100), 2)
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
    euc_columns = (
        "extreme_hardship",
        "extreme_hardship_quality",
        "extreme_hardship_pi",
        "extreme_hardship_ia",
        "extreme_hardship_cost",
    )
    quality_empty = unscored | (quality_rw & ~euc_all)

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
        "pi_reweighting_special_status": (pi_reason == 1) | pi_qualified,
        "pi_reweighting_hardship": pi_reason == 2,
        "pi_reweighting_euc": pi_reason == 3,
        "pi_reweighting": pi_rw | pi_qualified,
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
            arr = _blank_where(_fmt(quality), quality_empty)
        elif name == "pi_category_score":
            arr = pc.if_else(
                pa.array(pi_rw & pi_zero & ~euc_all),
                pa.scalar("0", pa.string()),
                _blank_where(_fmt(pi), unscored | euc_all | (pi_rw & ~pi_zero)),
            )
        elif name == "ia_category_score":
            arr = _blank_where(_fmt(ia), unscored | euc_all | ia_rw)
        elif name == "cost_category_score":
            arr = _blank_where(_fmt(cost, 4), unscored | euc_all | cost_rw)
        elif name in weight_columns:
            weights = np.where(euc_all, 0.0, row_weights[:, weight_columns[name]])
            arr = _blank_where(_fmt(weights, 4), unscored)
        elif name == "complex_patient_bonus":
            arr = _blank_where(_fmt(np.broadcast_to(bonus, (n,))), unscored)
        elif name == "small_practice_status":
            arr = flag(small)
        elif name in euc_columns and euc_all.any():
            arr = flag(euc_all | reasons.get(name, np.zeros(n, dtype=bool)))
        elif name in reasons:
            arr = flag(reasons[name] | (euc_all & name.endswith("_euc")))
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
    bonus_col = names.get("complex patient bonus")
    bonuses = table.column(bonus_col).to_numpy(zero_copy_only=False).astype(object) if bonus_col else None
    is_changed = np.isin(npis, changed)
    for i in np.flatnonzero(is_changed):
        was_scored = bool(scores[i])
        old = float(scores[i]) if was_scored else 50.0
        bonus = float(bonuses[i]) if bonuses is not None and bonuses[i] else 0.0
        # CMS revises a score with its parts: here the complex patient bonus moves with the final score, where it
        # can (a row whose bonus cannot fall far enough no longer adds up, as a revision the file does not show)
        delta = -2.5 if old >= 2.5 and (bonus >= 2.5 or old > 97.5) else 2.5
        scores[i] = f"{round(old + delta, 2):g}"
        if bonuses is not None and was_scored and bonus + delta >= 0:
            bonuses[i] = f"{round(bonus + delta, 2):g}"
    table = table.set_column(table.column_names.index(score_col), score_col, pa.array(scores.astype(str), pa.string()))
    if bonus_col and bonuses is not None:
        table = table.set_column(table.column_names.index(bonus_col), bonus_col, pa.array(bonuses.astype(str)))
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
