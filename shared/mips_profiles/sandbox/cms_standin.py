"""A local stand-in for the CMS endpoints, over real HTTP on loopback.

It serves the same shapes as data.cms.gov: the DCAT ``data.json`` (slashes escaped, ``http://``
URLs, irregular distribution titles, newest year first, an API and a CSV distribution per year
paired by ``temporal``), the Data API ``/data/stats``, the CSV files under
``/sites/default/files/{yyyy-mm}/{uuid}/puf_output_file_output.csv``, the Provider Data Catalog
metastore item ``a174-a962`` and its ``ec_score_file.csv`` under a path that changes on every refresh.

Faults can be queued per path (429 with Retry-After, 500, an HTML page with status 200, a truncated
body, a wrong Content-Length) to test that downloads are retried or refused. Used by the tests and by
``mips-profiles demo``; it binds 127.0.0.1 only.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import uuid as uuidlib
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ..core.catalog import PDC_DATASET_ID, QPP_DATASET_TITLE

TITLE_DATES = {
    2017: "2018-09-17",
    2018: "2019-09-23",
    2019: "2020-09-14",
    2020: "2021-11-19",
    2021: "2021-05-30",
    2022: "2022-01-01",
    2023: "2023-01-02",
    2024: "2024-01-01",
}


@dataclass
class HostedFile:
    path: str
    body: bytes
    modified: str
    etag: str = ""

    def __post_init__(self) -> None:
        self.etag = '"' + hashlib.sha256(self.body).hexdigest()[:32] + '"'


@dataclass
class QppYear:
    year: int
    file: HostedFile
    api_uuid: str
    title: str


@dataclass
class StandInState:
    qpp: dict[int, QppYear] = field(default_factory=dict)
    pdc: tuple[int, HostedFile] | None = None
    faults: dict[str, list[str]] = field(default_factory=dict)
    download_overrides: dict[int, str] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    send_validators: bool = False
    counter: int = 0


class CmsStandIn:
    """``with CmsStandIn() as cms: cms.publish_qpp(2024, data, "2025-07-21"); cms.catalog_url``"""

    def __init__(self, *, send_validators: bool = False, seed: int = 1) -> None:
        self.state = StandInState(send_validators=send_validators)
        self._seed = seed
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.lock = threading.Lock()

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> CmsStandIn:
        handler = type("Handler", (_Handler,), {"standin": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="cms-standin", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> CmsStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._server, "stand-in not started"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def catalog_url(self) -> str:
        return f"{self.base_url}/data.json"

    @property
    def pdc_url(self) -> str:
        return f"{self.base_url}/provider-data/api/1/metastore/schemas/dataset/items/{PDC_DATASET_ID}"

    # -- what CMS publishes --------------------------------------------------------------------------
    def _uuid(self) -> str:
        self.state.counter += 1
        return str(uuidlib.UUID(int=(self._seed << 64) + self.state.counter, version=4))

    def publish_qpp(self, year: int, body: bytes, modified: str, *, title: str | None = None) -> str:
        """A new performance year (or a correction with a new download path). Returns the file path."""
        with self.lock:
            path = f"/sites/default/files/{modified[:7]}/{self._uuid()}/puf_output_file_output.csv"
            previous = self.state.qpp.get(year)
            self.state.qpp[year] = QppYear(
                year=year,
                file=HostedFile(path, body, modified),
                api_uuid=previous.api_uuid if previous else self._uuid(),
                title=title or f"{QPP_DATASET_TITLE} : {TITLE_DATES.get(year, f'{year}-01-01')}",
            )
            return path

    def correct_qpp_in_place(self, year: int, body: bytes, *, modified: str | None = None) -> None:
        """Replace the bytes at the same download path (optionally with a new modified date)."""
        with self.lock:
            entry = self.state.qpp[year]
            entry.file = HostedFile(entry.file.path, body, modified or entry.file.modified)

    def publish_pdc(self, year: int, body: bytes, modified: str) -> str:
        with self.lock:
            self.state.counter += 1
            token = hashlib.sha1(f"{year}-{modified}-{self.state.counter}".encode()).hexdigest()
            stamp = 1700000000 + self.state.counter
            path = f"/provider-data/sites/default/files/resources/{token}_{stamp}/ec_score_file.csv"
            self.state.pdc = (year, HostedFile(path, body, modified))
            return path

    def inject(self, path: str, *faults: str) -> None:
        """Queue faults for the next requests of ``path``: '429', '500', 'html200', 'truncate', 'short-length',
        'reset'."""
        with self.lock:
            self.state.faults.setdefault(path, []).extend(faults)

    def override_download_url(self, year: int, url: str) -> None:
        """List ``url`` (anything: another host, another scheme) as the year's download URL in the catalog, as a
        tampered or compromised catalog would (for the hostile-input tests)."""
        with self.lock:
            self.state.download_overrides[year] = url

    def qpp_path(self, year: int) -> str:
        return self.state.qpp[year].file.path

    # -- documents served ----------------------------------------------------------------------------
    def catalog(self) -> bytes:
        base = self.base_url
        distributions = []
        modified = "2000-01-01"
        for year in sorted(self.state.qpp, reverse=True):
            entry = self.state.qpp[year]
            temporal = f"{year}-01-01/{year}-12-31"
            modified = max(modified, entry.file.modified)
            distributions.append(
                {
                    "@type": "dcat:Distribution",
                    "format": "API",
                    "description": "latest",
                    "title": entry.title,
                    "accessURL": f"{base}/data-api/v1/dataset/{entry.api_uuid}/data",
                    "modified": entry.file.modified,
                    "temporal": temporal,
                }
            )
            distributions.append(
                {
                    "@type": "dcat:Distribution",
                    "mediaType": "text/csv",
                    "downloadURL": self.state.download_overrides.get(year, f"{base}{entry.file.path}"),
                    "title": entry.title,
                    "modified": entry.file.modified,
                    "temporal": temporal,
                }
            )
        years = sorted(self.state.qpp)
        catalog = {
            "@context": "https://project-open-data.cio.gov/v1.1/schema/catalog.jsonld",
            "@type": "dcat:Catalog",
            "conformsTo": "https://project-open-data.cio.gov/v1.1/schema",
            "dataset": [
                {
                    "title": "Medicare Physician & Other Practitioners - by Provider",
                    "modified": "2025-05-01",
                    "distribution": [
                        {
                            "downloadURL": f"{base}/sites/default/files/other.csv",
                            "mediaType": "text/csv",
                            "temporal": "2023-01-01/2023-12-31",
                        }
                    ],
                },
                *(
                    []
                    if not years
                    else [
                        {
                            "title": QPP_DATASET_TITLE,
                            "modified": modified,
                            "temporal": f"{years[0]}-01-01/{years[-1]}-12-31" if years else "",
                            "publisher": {"name": "Centers for Medicare & Medicaid Services"},
                            "distribution": distributions,
                        }
                    ]
                ),
            ],
        }
        # data.cms.gov escapes forward slashes in its JSON
        return json.dumps(catalog, indent=1).replace("/", "\\/").encode()

    def metastore_item(self) -> bytes:
        if not self.state.pdc:
            empty = {"identifier": PDC_DATASET_ID, "title": "Clinician Public Reporting", "distribution": []}
            return json.dumps(empty).encode()
        year, hosted = self.state.pdc
        return json.dumps(
            {
                "identifier": PDC_DATASET_ID,
                "title": f"PY {year} Clinician Public Reporting: Overall MIPS Performance",
                "issued": "2020-01-15",
                "modified": hosted.modified,
                "released": hosted.modified,
                "distribution": [
                    {
                        "@type": "dcat:Distribution",
                        "downloadURL": f"{self.base_url}{hosted.path}",
                        "mediaType": "text/csv",
                    }
                ],
            }
        ).encode()

    def find_file(self, path: str) -> HostedFile | None:
        for entry in self.state.qpp.values():
            if entry.file.path == path:
                return entry.file
        if self.state.pdc and self.state.pdc[1].path == path:
            return self.state.pdc[1]
        return None


class _Handler(BaseHTTPRequestHandler):
    standin: CmsStandIn
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def _send(
        self, status: int, body: bytes, ctype: str, headers: dict[str, str] | None = None, length: int | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self) -> None:
        s = self.standin
        path = self.path.split("?", 1)[0]
        with s.lock:
            s.state.requests.append({"path": path, "headers": {k.lower(): v for k, v in self.headers.items()}})
            queue = s.state.faults.get(path)
            fault = queue.pop(0) if queue else None
        if fault == "429":
            return self._send(429, b'{"message": "Too Many Requests"}', "application/json", {"Retry-After": "1"})
        if fault == "500":
            return self._send(500, b"<html><body>Internal Server Error</body></html>", "text/html")
        if fault == "html200":
            page = b"<!DOCTYPE html><html><head><title>Maintenance</title></head></html>\n"
            return self._send(200, page, "text/html")
        if fault == "reset":
            self.close_connection = True
            self.connection.shutdown(2)
            return None
        if path == "/data.json":
            return self._send(200, s.catalog(), "application/json")
        if path.endswith(f"/items/{PDC_DATASET_ID}"):
            return self._send(200, s.metastore_item(), "application/json")
        if path.startswith("/data-api/v1/dataset/") and path.endswith("/data/stats"):
            uuid = path.split("/")[4]
            for entry in s.state.qpp.values():
                if entry.api_uuid == uuid:
                    rows = max(0, entry.file.body.count(b"\n") - 1)
                    return self._send(
                        200, json.dumps({"found_rows": rows, "total_rows": rows}).encode(), "application/json"
                    )
        hosted = s.find_file(path)
        if hosted is None:
            return self._send(404, b"<html><body>Page not found</body></html>", "text/html")
        headers = {}
        if s.state.send_validators:
            headers = {"ETag": hosted.etag, "Last-Modified": formatdate(0, usegmt=True)}
            if self.headers.get("If-None-Match") == hosted.etag:
                self.send_response(304)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None
        body = hosted.body
        if s.state.send_validators:  # as S3 behind CloudFront: byte ranges, conditional on the validator
            headers["Accept-Ranges"] = "bytes"
            wanted = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
            if wanted and self.headers.get("If-Range", hosted.etag) == hosted.etag and int(wanted[1]) < len(body):
                start = int(wanted[1])
                headers["Content-Range"] = f"bytes {start}-{len(body) - 1}/{len(body)}"
                part = body[start:]
                if fault == "short-length":
                    self._send(206, part[: len(part) // 2], "text/csv", headers, length=len(part))
                    self.close_connection = True
                    return None
                return self._send(206, part, "text/csv", headers)
        if fault == "truncate":  # a consistent Content-Length, but the body stops mid-line
            cut = len(body) * 2 // 3
            while cut > 1 and body[cut - 1 : cut] in (b"\n", b"\r"):
                cut -= 1
            return self._send(200, body[:cut], "text/csv", headers)
        if fault == "short-length":
            self._send(200, body[: len(body) // 2], "text/csv", headers, length=len(body))
            self.close_connection = True
            return None
        return self._send(200, body, "text/csv", headers)
