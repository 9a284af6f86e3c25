"""A moto server on a free loopback port, for the AWS services moto models (S3, CloudWatch, ECS, SSM, ...). What
reaches a stream is always DynamoDB Local's, never moto's."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

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
