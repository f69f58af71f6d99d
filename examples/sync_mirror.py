"""Keep a local mirror of the mips-profiles documents with the bulk files and the change feed.

Standard library only: copy this file. The first run builds every document from the bulk files (one
request per performance year, not one per clinician); every later run reads the manifest and applies
the change objects newer than its marker, fetching only the documents they name.

    python sync_mirror.py https://mips.example.org mirror/

The mirror holds ``v1/npi/{npi}.json`` byte for byte as published, and ``.sync.json`` (the marker).
"""

from __future__ import annotations

import gzip
import json
import os
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

MARKER = ".sync.json"


def fetch(base: str, key: str) -> bytes | None:
    """The object at ``key``, decompressed if served gzip-encoded (bulk files are); None on 404."""
    request = urllib.request.Request(f"{base.rstrip('/')}/{key}", headers={"Accept-Encoding": "gzip"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            body = response.read()
            return gzip.decompress(body) if response.headers.get("Content-Encoding") == "gzip" else body
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as tmp:
        tmp.write(data)
    os.replace(tmp.name, path)


def document(manifest: dict, npi: str, history: list[dict]) -> bytes:
    """A document as the publisher writes it: compact JSON, history newest first."""
    history = sorted(history, key=lambda e: -e["performance_year"])
    body = {
        "schema_version": manifest["schema_version"],
        "npi": npi,
        "latest": history[0],
        "history": history,
        "source": manifest["documents"]["source"],
    }
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def bootstrap(base: str, mirror: Path, manifest: dict) -> int:
    entries: dict[str, list[dict]] = {}
    for release in manifest["releases"]:
        data = fetch(base, release["bulk"]["ndjson"]["key"])
        if data is None:
            raise RuntimeError(f"bulk file of PY{release['performance_year']} is missing")
        for line in data.splitlines():
            entry = json.loads(line)
            entries.setdefault(entry.pop("npi"), []).append(entry)
    for npi, history in entries.items():
        write_atomic(mirror / "v1" / "npi" / f"{npi}.json", document(manifest, npi, history))
    return len(entries)


def apply(base: str, mirror: Path, change: dict) -> None:
    for npi in change["added"] + change["changed"]:
        data = fetch(base, f"v1/npi/{npi}.json")
        path = mirror / "v1" / "npi" / f"{npi}.json"
        if data is None:  # removed again by a later publish: that change object says so too
            path.unlink(missing_ok=True)
        else:
            write_atomic(path, data)
    for npi in change["removed"]:
        (mirror / "v1" / "npi" / f"{npi}.json").unlink(missing_ok=True)


def sync(base: str, mirror: Path) -> dict:
    """Bring ``mirror`` up to the published state; returns what was done."""
    manifest = json.loads(fetch(base, "v1/manifest.json") or b"null")
    if manifest is None:
        raise RuntimeError(f"{base}: no manifest")
    latest = manifest["changes"]["latest"]
    marker_path = mirror / MARKER
    if not marker_path.exists():
        documents = bootstrap(base, mirror, manifest)
        write_atomic(marker_path, json.dumps({"sequence": latest}).encode())
        return {"bootstrapped": documents, "sequence": latest}
    applied = []
    for sequence in range(json.loads(marker_path.read_text())["sequence"] + 1, latest + 1):
        change = json.loads(fetch(base, manifest["changes"]["key_pattern"].format(sequence=sequence)) or b"null")
        if change is None:
            raise RuntimeError(f"change object {sequence} is missing")
        apply(base, mirror, change)
        write_atomic(marker_path, json.dumps({"sequence": sequence}).encode())  # after each: resumable
        applied.append(sequence)
    return {"applied": applied, "sequence": latest}


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: sync_mirror.py BASE_URL MIRROR_DIR")
    print(json.dumps(sync(sys.argv[1], Path(sys.argv[2]))))
