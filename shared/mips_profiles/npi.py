"""NPI check digit (Luhn over the 9-digit body with the ``80840`` prefix, i.e. +24).

>>> is_valid_npi("1376745471"), is_valid_npi("1234567890"), is_valid_npi("123456789")
(True, False, False)
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

_DOUBLED = np.array([0, 2, 4, 6, 8, 1, 3, 5, 7, 9], dtype=np.int64)


def check_digits(body: npt.NDArray[np.integer]) -> npt.NDArray[np.int64]:
    """Vectorised check digit for an ``(n, 9)`` array of body digits (0-9)."""
    body = body.astype(np.int64)
    # Positions 8, 6, 4, 2, 0 (rightmost of the body first) are doubled.
    doubled = _DOUBLED[body[:, 0::2]].sum(axis=1)
    plain = body[:, 1::2].sum(axis=1)
    digits: npt.NDArray[np.int64] = (10 - (24 + doubled + plain) % 10) % 10
    return digits


def is_valid_npi(value: str) -> bool:
    """True when ``value`` is exactly 10 ASCII digits, starts with 1 or 2, and its check digit holds
    (through :func:`valid_npis`, the one implementation the validation and the document keys use too)."""
    return bool(valid_npis([value])[0])


def valid_npis(values: Sequence[str]) -> npt.NDArray[np.bool_]:
    """:func:`is_valid_npi` of every value, the check digits in one vectorised pass: what the publisher runs
    over a shard's NPIs before it builds their keys."""
    shaped = np.fromiter(
        (len(v) == 10 and v.isascii() and v.isdigit() and v[0] in "12" for v in values), dtype=bool, count=len(values)
    )
    valid = np.zeros(len(values), dtype=bool)
    if shaped.any():
        text = "".join(itertools.compress(values, shaped)).encode()  # ASCII digits only, by the shape check
        digits = (np.frombuffer(text, dtype=np.uint8) - 48).reshape(-1, 10)
        valid[shaped] = valid_check_digits(digits)
    return valid


def valid_check_digits(digits: npt.NDArray[np.integer]) -> npt.NDArray[np.bool_]:
    """Vectorised check over an ``(n, 10)`` array of digit values (0-9); one bool per row."""
    valid: npt.NDArray[np.bool_] = check_digits(digits[:, :9]) == digits[:, 9]
    return valid
