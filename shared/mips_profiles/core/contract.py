"""The display contract: canonical fields, their source columns per performance year, and
whether each may be displayed. The contract is data (``data/display_contract.json``); this module
only loads it and answers questions about it.

>>> c = load_contract()
>>> c.resolve_columns(2024)["final_score"]
'final score'
>>> "practice_state" in c.public_fields()
False
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

from ..errors import ConfigurationError

_SPACES = re.compile(r"\s+")
_INVISIBLE = str.maketrans("", "", "\ufeff\u200b\u00a0")


def normalise_column_name(name: str) -> str:
    """Lower case, no BOM or zero-width characters, trimmed, inner white space folded to one space.

    >>> normalise_column_name("\\ufeff Final  Score ")
    'final score'
    """
    return _SPACES.sub(" ", name.translate(_INVISIBLE)).strip().lower()


@dataclass(frozen=True)
class Source:
    years: tuple[int, int]
    columns: tuple[str, ...]
    slots: tuple[int, int] | None = None

    def covers(self, year: int) -> bool:
        return self.years[0] <= year <= self.years[1]


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    description: str
    display_allowed: bool
    sources: tuple[Source, ...]
    public_path: str | None = None
    required: bool = False

    @property
    def is_slot_pattern(self) -> bool:
        return "{n}" in self.name


@dataclass(frozen=True)
class Layout:
    name: str
    years: tuple[int, int]
    present: tuple[str, ...]
    absent: tuple[str, ...]

    def matches(self, normalised_header: set[str]) -> bool:
        return all(c in normalised_header for c in self.present) and not any(
            c in normalised_header for c in self.absent
        )

    def label(self) -> str:
        a, b = self.years
        return f"PY{a}" if a == b else f"PY{a}-{b}"


@dataclass(frozen=True)
class Contract:
    version: int
    fields: tuple[Field, ...]
    layouts: tuple[Layout, ...]
    derived_public_fields: tuple[str, ...] = field(default=())
    derived_descriptions: tuple[tuple[str, str], ...] = field(default=())  # (name, description), hashable

    # -- layouts ---------------------------------------------------------------------------
    def layout_for_year(self, year: int) -> Layout:
        for layout in self.layouts:
            if layout.years[0] <= year <= layout.years[1]:
                return layout
        raise ConfigurationError(f"performance year {year} has no column layout in the display contract")

    def detect_layouts(self, normalised_header: set[str]) -> list[Layout]:
        return [layout for layout in self.layouts if layout.matches(normalised_header)]

    # -- columns ---------------------------------------------------------------------------
    def resolve_columns(self, year: int) -> dict[str, str]:
        """Canonical field name -> normalised source column name for ``year`` (slot patterns expanded).

        Fields with several candidate columns for a year resolve to the first; use
        :meth:`candidate_columns` to match a header.
        """
        return {name: cands[0] for name, cands in self.candidate_columns(year).items()}

    def candidate_columns(self, year: int) -> dict[str, tuple[str, ...]]:
        return _candidate_columns(self, year)

    def required_fields(self) -> list[str]:
        return [f.name for f in self.fields if f.required]

    # -- display ---------------------------------------------------------------------------
    def public_fields(self) -> dict[str, str]:
        """Display-allowed canonical fields -> their path in a public document entry."""
        return {
            f.name: f.public_path for f in self.fields if f.display_allowed and f.public_path and not f.is_slot_pattern
        }

    def derived_description(self, name: str) -> str:
        """What a derived public field means, as the contract says it."""
        return dict(self.derived_descriptions).get(name, "")

    def write_locked_fields(self) -> list[Field]:
        return [f for f in self.fields if not f.display_allowed]

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)


@lru_cache(maxsize=64)
def _candidate_columns(contract: Contract, year: int) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for f in contract.fields:
        for src in f.sources:
            if not src.covers(year):
                continue
            if src.slots is None:
                out[f.name] = tuple(normalise_column_name(c) for c in src.columns)
            else:
                lo, hi = src.slots
                for n in range(lo, hi + 1):
                    out[f.name.replace("{n}", str(n))] = tuple(
                        normalise_column_name(c.replace("{n}", str(n))) for c in src.columns
                    )
            break
    return out


def _parse(raw: dict[str, Any]) -> Contract:
    try:
        fields = []
        for f in raw["fields"]:
            sources = tuple(
                Source(
                    years=(int(s["years"][0]), int(s["years"][1])),
                    columns=tuple(s["columns"]),
                    slots=(int(s["slots"][0]), int(s["slots"][1])) if "slots" in s else None,
                )
                for s in f["sources"]
            )
            fields.append(
                Field(
                    name=f["name"],
                    type=f["type"],
                    description=f["description"],
                    display_allowed=bool(f["display_allowed"]),
                    sources=sources,
                    public_path=f.get("public_path"),
                    required=bool(f.get("required", False)),
                )
            )
        layouts = tuple(
            Layout(
                name=lay["name"],
                years=(int(lay["years"][0]), int(lay["years"][1])),
                present=tuple(normalise_column_name(c) for c in lay["present"]),
                absent=tuple(normalise_column_name(c) for c in lay.get("absent", [])),
            )
            for lay in raw["layouts"]
        )
        contract = Contract(
            version=int(raw["contract_version"]),
            fields=tuple(fields),
            layouts=layouts,
            derived_public_fields=tuple(d["name"] for d in raw.get("derived_public_fields", [])),
            derived_descriptions=tuple((d["name"], d["description"]) for d in raw.get("derived_public_fields", [])),
        )
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise ConfigurationError(f"display contract is malformed: {exc!r}") from exc
    names = [f.name for f in contract.fields]
    if len(names) != len(set(names)):
        raise ConfigurationError("display contract is malformed: duplicate field names")
    for f in contract.fields:
        if f.display_allowed and f.public_path is None:
            raise ConfigurationError(f"display contract is malformed: {f.name} is allowed but has no public_path")
    return contract


def load_contract(path: str | None = None) -> Contract:
    """Load the display contract from ``path`` or the one shipped with the package."""
    if path is None:
        return _default_contract()
    with open(path, encoding="utf-8") as fh:
        return _parse(json.load(fh))


@lru_cache(maxsize=1)
def _default_contract() -> Contract:
    text = resources.files("mips_profiles").joinpath("data/display_contract.json").read_text("utf-8")
    return _parse(json.loads(text))
