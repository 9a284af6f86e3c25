"""Image level: the built image, run by podman (or docker) against DynamoDB Local started on this host."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def image() -> str:
    return os.environ.get("IMAGE", "ddb-stream-rerun:local")


@pytest.fixture(scope="session")
def container_cli() -> list[str]:
    """The container command; podman needs runc in this kind of sandbox."""
    name = os.environ.get("CONTAINER", "podman")
    return [name, "--runtime", "runc"] if name == "podman" else [name]
