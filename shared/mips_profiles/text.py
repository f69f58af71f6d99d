"""Text from outside (CMS's files and catalogs, a client's request, a Lambda event) made safe to show: on a
terminal, in a log line or in a CSV cell, a control character could move the cursor, rewrite what is on the
screen, hide text (a bidirectional override) or start a new line that looks like ours. Every such character
is written as an escape instead, and a value can be cut to a length.

>>> printable("PY2024\\x1b[2J modified")
'PY2024\\\\x1b[2J modified'
>>> printable("line\\nbreak \\u202eevil")
'line\\\\nbreak \\\\u202eevil'
>>> printable("x" * 30, 10)
'xxxxxxxxxx… (+20 characters)'
"""

from __future__ import annotations

import unicodedata

_ESCAPED_CATEGORIES = ("Cc", "Cf", "Zl", "Zp", "Cs")  # controls, format (bidi) marks, line breaks, surrogates


def _escape(ch: str) -> str:
    code = ord(ch)
    if ch == "\n":
        return "\\n"
    if ch == "\r":
        return "\\r"
    if ch == "\t":
        return "\\t"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def printable(value: object, limit: int | None = None) -> str:
    """``value`` as text with every control, format and line-break character escaped, cut to ``limit``."""
    text = value if isinstance(value, str) else str(value)
    if limit is not None and len(text) > limit:
        text = f"{text[:limit]}… (+{len(text) - limit} characters)"
    if text.isprintable():  # the common case: nothing to escape
        return text
    return "".join(_escape(ch) if unicodedata.category(ch) in _ESCAPED_CATEGORIES else ch for ch in text)


MAX_DIGITS = 19
"""The longest whole number ``whole_number`` reads (below 2**63): any longer header value is no length."""


def whole_number(value: str | None) -> int | None:
    """A non-negative whole number written in ASCII digits, as HTTP headers (Content-Length, Retry-After) and the
    project's own records carry it; None for anything else. The one number parser: ``str.isdigit`` accepts
    ``²`` and ``٣`` where ``int`` refuses the first and reads the second, so neither decides here.

    >>> whole_number(" 42 "), whole_number("4²"), whole_number("٤٢"), whole_number("-1"), whole_number("")
    (42, None, None, None, None)
    """
    if value is None:
        return None
    text = value.strip(" \t")
    if not text or len(text) > MAX_DIGITS or not text.isascii() or not text.isdigit():
        return None
    return int(text)
