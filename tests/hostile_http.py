"""A loopback HTTP server that misbehaves on purpose, for the downloader's hostile-input tests. Every
behaviour is bounded in time (it stops by itself) and it listens on 127.0.0.1 only."""

from __future__ import annotations

import socket
import threading
import time
import urllib.parse


class HostileServer:
    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> HostileServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self.sock.close()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            try:
                request = conn.recv(65536).decode("latin-1")
                target = request.split(" ", 2)[1]
                path, _, query = target.partition("?")
                getattr(self, "_" + path.strip("/").replace("-", "_").replace(".", "_"), self._not_found)(
                    conn, urllib.parse.parse_qs(query)
                )
            except OSError:
                pass

    @staticmethod
    def _send(conn: socket.socket, status: str, headers: dict[str, str], body: bytes = b"") -> None:
        head = f"HTTP/1.1 {status}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        conn.sendall(head.encode() + body)

    def _not_found(self, conn, _q) -> None:
        self._send(conn, "404 Not Found", {"Content-Length": "0", "Connection": "close"})

    def _ok_csv(self, conn, _q) -> None:
        body = b"npi,final score\n1376745471,90\n"
        self._send(conn, "200 OK", {"Content-Type": "text/csv", "Content-Length": str(len(body))}, body)

    def _garbage(self, conn, _q) -> None:
        conn.sendall(b"SMTP ready, not HTTP\r\n\r\n")  # BadStatusLine for http.client

    def _redirect(self, conn, q) -> None:
        self._send(conn, "302 Found", {"Location": q["to"][0], "Content-Length": "0"})

    def _huge_length(self, conn, _q) -> None:
        self._send(conn, "200 OK", {"Content-Type": "text/csv", "Content-Length": str(10**12)}, b"npi\n")

    def _big_json(self, conn, _q) -> None:
        body = b'{"dataset": ["' + b"x" * 5000 + b'"]}'
        self._send(conn, "200 OK", {"Content-Type": "application/json", "Content-Length": str(len(body))}, body)

    def _endless(self, conn, _q) -> None:
        """A body with no Content-Length that never ends (for at most 10 s)."""
        self._send(conn, "200 OK", {"Content-Type": "text/csv", "Connection": "close"}, b"npi,final score\n")
        until = time.monotonic() + 10
        while time.monotonic() < until and not self.stop.is_set():
            conn.sendall(b"1376745471,90\n" * 500)

    def _drip(self, conn, _q) -> None:
        """One byte every 0.1 s, each well inside any read timeout (for at most 10 s)."""
        self._send(conn, "200 OK", {"Content-Type": "text/csv", "Content-Length": "100000"})
        until = time.monotonic() + 10
        while time.monotonic() < until and not self.stop.is_set():
            conn.sendall(b"1")
            time.sleep(0.1)
