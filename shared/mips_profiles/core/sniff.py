"""Name what a body is when it is plainly not a CSV file. Shared by the downloader (light) and the
reader, so both say the same thing about the same bytes."""

from __future__ import annotations

import codecs


def non_csv_kind(head: bytes, content_type: str = "") -> str | None:
    """'gzip-compressed bytes', 'ZIP archive', 'UTF-16 text', 'HTML page' or 'JSON document', or None if it may be
    CSV."""
    # Magic numbers first: a compressed body's header is mostly NUL bytes (a gzip bomb's is), not UTF-16 text.
    if head[:2] == b"\x1f\x8b":
        return "gzip-compressed bytes"
    if head[:4] == b"PK\x03\x04":
        return "ZIP archive"
    if head[:4] in (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE):
        return "UTF-32 text (CMS publishes UTF-8)"
    sample = head[:200]
    if head[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE) or (sample and sample.count(0) * 3 >= len(sample)):
        return "UTF-16 text (CMS publishes UTF-8)"  # ASCII in UTF-16 is every other byte a NUL
    text = head.lstrip(codecs.BOM_UTF8).lstrip()[:200].lower()
    if "html" in content_type.lower() or text.startswith(b"<"):
        return "HTML page"
    if "json" in content_type.lower() or text.startswith((b"{", b"[")):
        return "JSON document"
    return None
