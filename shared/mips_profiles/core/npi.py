"""NPI check digit (Luhn over the 9-digit body with the ``80840`` prefix, i.e. +24).

>>> is_valid_npi("1376745471"), is_valid_npi("1234567890"), is_valid_npi("123456789")
(True, False, False)
"""

from __future__ import annotations

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


_DOUBLED_DIGIT = tuple(int(d) for d in _DOUBLED)


def is_valid_npi(value: str) -> bool:
    """True when ``value`` is exactly 10 ASCII digits, starts with 1 or 2, and its check digit holds.

    The scalar form of :func:`valid_check_digits` (a property test holds the two equal), in plain Python:
    it runs once per document key, where a numpy call per NPI would cost more than the check."""
    if len(value) != 10 or not value.isascii() or not value.isdigit() or value[0] not in "12":
        return False
    d = [ord(ch) - 48 for ch in value]
    total = 24 + sum(_DOUBLED_DIGIT[x] for x in d[0:9:2]) + sum(d[1:9:2])
    return (10 - total % 10) % 10 == d[9]


def valid_check_digits(digits: npt.NDArray[np.integer]) -> npt.NDArray[np.bool_]:
    """Vectorised check over an ``(n, 10)`` array of digit values (0-9); one bool per row."""
    valid: npt.NDArray[np.bool_] = check_digits(digits[:, :9]) == digits[:, 9]
    return valid
