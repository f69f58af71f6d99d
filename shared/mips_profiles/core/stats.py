"""Research aggregates of one performance year, from the audit data, with small-cell suppression.

The unit is the scored clinician: one NPI with a final score, at its headline (highest) score, as on
its profile document. Specialty and state are write-locked per clinician, so they reach the public
tree only here, as aggregates of at least ``MIN_CELL`` clinicians:

- a group (specialty or state) with fewer than ``MIN_CELL`` clinicians is not published at all, not even
  its name (a rare free-text value could point at one clinician); the national document counts them;
- inside a group, a count from 1 to ``MIN_CELL - 1`` (band or histogram bin) is withheld (``null``), and
  where exactly one count of a set would be withheld, the next smallest is withheld too, so that the
  total cannot give it back (complementary suppression, as CMS does in its public-use files);
- a correction that changes a few clinicians' published scores does not move the groups: compared before and
  after, with the change feed naming the NPIs, the groups that moved would name their specialty and state. The
  specialty and state aggregates stay those of the release they were computed from until at least
  ``BREAKDOWN_MIN_CHANGED`` clinicians' published scores differ from it (:func:`breakdowns_for`).

>>> suppress([500, 3, 40, 0])
[500, None, None, 0]
>>> suppress([500, 30, 40, 12])
[500, 30, 40, 12]
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..keys import national_key, specialty_key, state_key
from .categories import CATEGORIES, STATUSES, CategoryDisplay
from .documents import DISCLAIMER, SCHEMA_VERSION, attribution, group_starts
from .methodology import Methodology

MIN_CELL = 11
QUANTILE_MIN_GROUP = 30  # a specialty's or state's median and top-decile cut-off: only from this many clinicians
BIN_WIDTH = 5
BREAKDOWN_MIN_CHANGED = 100
"""A correction renews the specialty and state aggregates only when this many clinicians' published headline
scores changed (appeared, left or moved) since the release they were computed from: a group's change can then be
put on any of at least this many clinicians, never on the one or two a small correction names."""
_STATE = re.compile(r"^[A-Z]{2}$")
SUPPRESSION_NOTE = (
    f"Counts from 1 to {MIN_CELL - 1} are withheld (null), with one more count withheld where a "
    f"single withheld count could be derived from the total; specialties and states of fewer than "
    f"{MIN_CELL} clinicians are not published, not even by name, with the smallest published one withheld too "
    f"where a single group would be; in a specialty or state the median and top-decile cut-off are interpolated, "
    f"rounded to a whole point and withheld below {QUANTILE_MIN_GROUP} clinicians, and the mean is rounded to "
    f"one decimal."
)
UNIT_NOTE = (
    "One scored clinician (NPI) at its headline final score: the highest across its TIN/NPI rows, "
    "as on its profile document."
)


def slugify(name: str) -> str:
    """A specialty's key in URLs.

    >>> slugify("Obstetrics/Gynecology"), slugify("  Nurse Practitioner ")
    ('obstetrics-gynecology', 'nurse-practitioner')
    """
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def suppress(counts: list[int]) -> list[int | None]:
    """Withhold small cells (1 to MIN_CELL - 1) and, if only one is withheld, the next smallest too."""
    out: list[int | None] = [None if 0 < c < MIN_CELL else c for c in counts]
    withheld = [i for i, c in enumerate(out) if c is None]
    if len(withheld) == 1:
        candidates = [i for i, c in enumerate(counts) if out[i] is not None and c > 0]
        if candidates:
            out[min(candidates, key=lambda i: (counts[i], i))] = None
    return out


def withheld_groups(sizes: dict[str, int]) -> set[str]:
    """The groups (specialties, or states) not published: fewer than ``MIN_CELL`` clinicians and, where exactly
    one group would be withheld, the smallest published one too, so that the national count less the published
    ones never gives a withheld group's size (complementary suppression, at the level of groups).

    >>> sorted(withheld_groups({"a": 5, "b": 40, "c": 12, "d": 0}))
    ['a', 'c']
    >>> sorted(withheld_groups({"a": 5, "b": 3, "c": 12}))
    ['a', 'b']
    """
    small = {slug for slug, n in sizes.items() if 0 < n < MIN_CELL}
    published = sorted((n, slug) for slug, n in sizes.items() if n >= MIN_CELL)
    if len(small) == 1 and published:
        small.add(published[0][1])
    return small


CLINICIANS_SCHEMA = pa.schema(
    [("npi", pa.string()), ("final_score", pa.float64()), ("state", pa.string()), ("specialty", pa.string())]
)


def clinicians(records: pa.Table, text: pa.Table) -> pa.Table:
    """Scored clinicians: ``npi, final_score, state, specialty`` at each NPI's headline score.

    ``records`` (typed) and ``text`` (the audit columns) are row-aligned tables of accepted rows."""
    n = records.num_rows
    blank = pa.nulls(n, pa.string())
    table = pa.table(
        {
            "npi": records.column("npi"),
            "final_score": records.column("final_score"),
            "state": text.column("practice_state") if "practice_state" in text.column_names else blank,
            "specialty": text.column("clinician_specialty") if "clinician_specialty" in text.column_names else blank,
        }
    )
    table = table.filter(pc.is_valid(table.column("final_score"))).cast(CLINICIANS_SCHEMA)
    if table.num_rows == 0:
        return table
    ordered = table.sort_by(
        [("npi", "ascending"), ("final_score", "descending"), ("state", "ascending"), ("specialty", "ascending")]
    )
    return ordered.take(pa.array(group_starts(ordered.column("npi").combine_chunks())))


CATEGORY_NOTE = (
    "Per category, how many scored clinicians' headline scores it counted toward (scored), did not count toward "
    "(reweighted: 0% of the final score), had no score for (not_scored), or where that is not known (unknown: no "
    "weighting of the year's rules reproduces the published final score); small counts withheld as above."
)


def category_counts(shown: CategoryDisplay, scored: pa.Array | pa.ChunkedArray) -> dict[str, dict[str, int]]:
    """Per category, how many of the entries with a final score (``scored``) have each status."""
    mask = np.asarray(pc.fill_null(scored, False).to_numpy(zero_copy_only=False), dtype=bool)
    return {
        c.name: {status: int(np.count_nonzero(shown.status[c.name][mask] == i)) for i, status in enumerate(STATUSES)}
        for c in CATEGORIES
    }


@dataclass(frozen=True)
class Breakdowns:
    """What a year's specialty and state aggregates are computed from: the scored clinicians (:func:`clinicians`)
    of ``release_id``. ``renewed``: from the release being published (its table becomes the basis of the next
    correction); otherwise from the basis, and ``held_back`` says why where the basis differs."""

    clinicians: pa.Table
    release_id: str
    renewed: bool
    held_back: dict[str, Any] | None = None


def changed_clinicians(before: pa.Table, after: pa.Table) -> int:
    """How many NPIs are scored in one table and not the other, or at another headline score: the changes a
    reader of the change feed and the documents sees."""
    columns = ["npi", "final_score"]
    joined = before.select(columns).join(
        after.select(columns), "npi", join_type="full outer", left_suffix="_before", right_suffix="_after"
    )
    moved = pc.fill_null(pc.not_equal(joined.column("final_score_before"), joined.column("final_score_after")), True)
    return int(pc.sum(moved).as_py() or 0)


def breakdowns_for(current: pa.Table, release_id: str, basis: tuple[str, pa.Table] | None) -> Breakdowns:
    """The specialty and state aggregates of a release: renewed from ``current`` on the year's first release, when
    no published score changed since the ``basis`` (``(release_id, clinicians)`` of the release they were last
    computed from; only write-locked fields moved) or when at least ``BREAKDOWN_MIN_CHANGED`` did; the basis's
    unchanged when nothing they depend on changed; held back at the basis otherwise."""
    if basis is None:
        return Breakdowns(current, release_id, renewed=True)
    basis_release, previous = basis
    if previous.equals(current.cast(previous.schema)):
        return Breakdowns(previous, basis_release, renewed=False)
    changed = changed_clinicians(previous, current)
    if changed == 0 or changed >= BREAKDOWN_MIN_CHANGED:
        return Breakdowns(current, release_id, renewed=True)
    note = (
        f"The specialty and state aggregates are of release {basis_release}: {changed} clinicians' published "
        f"scores changed since, fewer than {BREAKDOWN_MIN_CHANGED}, so they are held back until corrections change "
        f"at least {BREAKDOWN_MIN_CHANGED}. Moving them for a few named clinicians would show which specialty and "
        f"state those clinicians are in. The national figures and every clinician's document are current."
    )
    held = {"changed_clinicians": changed, "min_changed": BREAKDOWN_MIN_CHANGED, "note": note}
    return Breakdowns(previous, basis_release, renewed=False, held_back=held)


def _scores(table: pa.Table) -> np.ndarray:
    return np.asarray(table.column("final_score").to_numpy(zero_copy_only=False), dtype=float)


def _members(table: pa.Table, kind: str) -> dict[str, tuple[str, np.ndarray]]:
    """Each group of ``kind`` (specialty, or state) by key: its label (the least, in code-point order, of the names
    that share the key) and which rows of ``table`` are in it. A blank name, or a state that is not two letters, is
    in no group."""
    encoded = pc.fill_null(table.column(kind), "").combine_chunks().dictionary_encode()
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    groups: dict[str, tuple[str, np.ndarray]] = {}
    for code, raw in enumerate(encoded.dictionary.to_pylist()):
        name = raw.strip()
        slug = slugify(name) if kind == "specialty" else name.upper()
        if not slug or (kind == "state" and not _STATE.match(slug)):
            continue
        label, previous = groups.get(slug, (name, np.zeros(len(codes), dtype=bool)))
        groups[slug] = (min(label, name), previous | (codes == code))
    return groups


@dataclass(frozen=True)
class Scope:
    kind: str  # national | specialty | state
    key: str
    label: str


class StatsBuilder:
    def __init__(self, methodology: Methodology) -> None:
        self.methodology = methodology

    def build(
        self,
        table: pa.Table,
        year: int,
        release_id: str,
        *,
        categories: dict[str, dict[str, int]] | None = None,
        breakdowns: Breakdowns | None = None,
    ) -> dict[str, dict[str, Any]]:
        """Every aggregate document of the year, by key (national last, as it indexes the others): national from
        ``table``, the specialties and states from ``breakdowns`` (:func:`breakdowns_for`; ``table`` itself when
        not given). ``categories`` (:func:`category_counts`): whether each category counted, national only."""
        groups = breakdowns or Breakdowns(table, release_id, renewed=True)
        out: dict[str, dict[str, Any]] = {}
        index: dict[str, Any] = {
            "release_id": groups.release_id,
            "held_back": groups.held_back,
            "specialty": [],
            "state": [],
            "groups_withheld": {"specialty": 0, "state": 0},
        }
        group_scores = _scores(groups.clinicians)
        for kind in ("specialty", "state"):
            members = _members(groups.clinicians, kind)
            withheld = withheld_groups({slug: int(np.count_nonzero(mask)) for slug, (_, mask) in members.items()})
            index["groups_withheld"][kind] = len(withheld)
            for slug, (label, mask) in sorted(members.items()):
                if slug in withheld:
                    continue
                key = specialty_key(year, slug) if kind == "specialty" else state_key(year, slug)
                body = self._summary(Scope(kind, slug, label), group_scores[mask], year, groups.release_id)
                out[key] = body
                index[kind].append({"key": slug, "name": label, "clinicians": body["clinicians"], "url": key})
        national = self._summary(Scope("national", "US", "National"), _scores(table), year, release_id)
        national["breakdowns"] = index
        if categories is not None:
            national["categories"] = {
                "note": CATEGORY_NOTE,
                "counts": {
                    name: dict(zip(counts, suppress(list(counts.values())), strict=True))
                    for name, counts in categories.items()
                },
            }
        out[national_key(year)] = national
        return out

    @staticmethod
    def _location(scope: Scope, scores: np.ndarray) -> dict[str, float | None]:
        """Mean, median and top-decile cut-off. Nationally to the cent (the median and the cut-off are scores of
        clinicians among hundreds of thousands). In a specialty or a state, where the bulk file's scores could be
        matched to a member, coarser: the quantiles interpolated and rounded to a whole point, withheld below
        ``QUANTILE_MIN_GROUP`` clinicians, and the mean to one decimal."""
        if scope.kind == "national":
            return {
                "mean": round(float(scores.mean()), 2),
                "median": round(float(np.median(scores)), 2),
                "top_decile_min_score": round(float(np.quantile(scores, 0.9, method="inverted_cdf")), 2),
            }
        shown = scores.size >= QUANTILE_MIN_GROUP
        return {
            "mean": round(float(scores.mean()), 1),
            "median": float(round(float(np.quantile(scores, 0.5, method="linear")))) if shown else None,
            "top_decile_min_score": float(round(float(np.quantile(scores, 0.9, method="linear")))) if shown else None,
        }

    def _summary(self, scope: Scope, scores: np.ndarray, year: int, release_id: str) -> dict[str, Any]:
        n = int(scores.size)
        body: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "performance_year": year,
            "payment_year": self.methodology.payment_year(year),
            "scope": {"kind": scope.kind, "key": scope.key, "name": scope.label},
            "release_id": release_id,
            "unit": UNIT_NOTE,
            "suppressed": n < MIN_CELL,
            "clinicians": n if n >= MIN_CELL else None,
        }
        if n >= MIN_CELL:
            bands = self.methodology.bands  # highest first
            band_counts = []
            for i, (_, lower) in enumerate(bands):
                upper = bands[i - 1][1] if i else np.inf
                band_counts.append(int(np.count_nonzero((scores >= lower) & (scores < upper))))
            shown = suppress(band_counts)
            edges = np.arange(0, 100 + BIN_WIDTH, BIN_WIDTH)
            hist, _ = np.histogram(np.clip(scores, 0, 100), bins=edges)
            bins = suppress([int(c) for c in hist])
            body.update(
                {
                    **self._location(scope, scores),
                    "bands": [
                        {
                            "band": band,
                            "min_score": lower,
                            "count": c,
                            "share_pct": None if c is None else round(100.0 * c / n, 1),
                        }
                        for (band, lower), c in zip(bands, shown, strict=True)
                    ],
                    "histogram": {
                        "bin_width": BIN_WIDTH,
                        "note": "Bins are [min, max) except the last, which includes 100.",
                        "bins": [
                            {"min": int(lo), "max": int(lo + BIN_WIDTH), "count": c}
                            for lo, c in zip(edges[:-1], bins, strict=True)
                        ],
                    },
                }
            )
        body.update(
            {
                "suppression": {"min_cell": MIN_CELL, "rule": SUPPRESSION_NOTE},
                "attribution": attribution(year),
                "disclaimer": DISCLAIMER,
            }
        )
        return body
