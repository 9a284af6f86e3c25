"""Servers of a test's own on 127.0.0.1: a moto server for the AWS services moto models (S3, CloudWatch, ECS, SSM,
...), and the HTTP server under the proxies and stand-ins of tests/support. What reaches a stream is always DynamoDB
Local's, never moto's."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from moto.server import ThreadedMotoServer

from stream_rerun_dev import emulator


@contextlib.contextmanager
def loopback_moto() -> Iterator[str]:
    """Start a moto server on 127.0.0.1 and a free port; its endpoint URL (for AWS_ENDPOINT_URL[_<SERVICE>])."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=emulator.free_port())
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


class LoopbackServer:
    """An HTTP server on 127.0.0.1 and a free port, answering with `handler` on its own threads once started."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], name: str) -> None:
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._http.daemon_threads = True
        self.name = name
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}"

    def start(self) -> None:
        threading.Thread(target=self._http.serve_forever, name=self.name, daemon=True).start()

    def close(self) -> None:
        self._http.shutdown()
        self._http.server_close()
