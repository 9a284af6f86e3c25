"""A stand-in for S3 dropping a slow reader: a loopback HTTP proxy in front of the moto S3 server (tests/support/s3.py)
that cuts object bodies mid-way.

S3 closes a GetObject connection that reads too slowly or stays open too long (the S3 User Guide, "Best practices
design patterns: optimizing Amazon S3 performance", advises retrying and resuming with a ranged GET: "Range" in
the GetObject API reference). botocore then raises ResponseStreamingError or IncompleteReadError while the body is
read. `S3DropsSlowReader(target, cut_after, drops)` forwards every request unchanged, except that the first `drops`
GET answers whose body is longer than `cut_after` bytes send their headers (the full Content-Length) and only
`cut_after` bytes of the body, then close the connection. Ranged GETs (206) are forwarded like any other answer, so a
resumed read can be cut again while drops remain.

Not modelled: time (S3 drops after minutes, here at once), and the S3 request signature (moto does not check it).
"""

from __future__ import annotations

import http.client
import threading
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlparse

from tests.support.loopback import LoopbackServer


class S3DropsSlowReader:
    """A context manager: `with S3DropsSlowReader(s3_endpoint, cut_after=1000, drops=3) as s3:` then point the
    worker's S3 client at `s3.endpoint`. `cut` counts the bodies cut, `gets` every GET with its Range header."""

    def __init__(self, target: str, cut_after: int, drops: int) -> None:
        self.target = urlparse(target)
        self.cut_after, self.drops = cut_after, drops
        self.cut = 0
        self.gets: list[tuple[str, str | None]] = []
        self.lock = threading.Lock()
        self.server = LoopbackServer(self._handler(), "s3-drops")
        self.endpoint = self.server.url

    def __enter__(self) -> S3DropsSlowReader:
        self.server.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.close()

    def _cut_now(self, method: str, status: int, size: int) -> bool:
        with self.lock:
            if method == "GET" and status in (200, 206) and size > self.cut_after and self.cut < self.drops:
                self.cut += 1
                return True
            return False

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_: Any) -> None:  # quiet
                pass

            def _any(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                conn = http.client.HTTPConnection(proxy.target.hostname, proxy.target.port, timeout=30)
                conn.request(self.command, self.path, body=body or None, headers=headers)
                answer = conn.getresponse()
                data = answer.read()
                conn.close()
                if self.command == "GET":
                    with proxy.lock:
                        proxy.gets.append((self.path, self.headers.get("Range")))
                cut = proxy._cut_now(self.command, answer.status, len(data))
                self.send_response(answer.status)
                for name, value in answer.getheaders():
                    if name.lower() not in ("connection", "transfer-encoding", "content-length", "server", "date"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data[: proxy.cut_after] if cut else data)
                if cut:
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _any

        return Handler
