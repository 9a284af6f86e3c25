"""Image level: the built image, run by podman (or docker) against DynamoDB Local started on this host."""

from __future__ import annotations

import os

import pytest

from tests.integration.conftest import ddb, endpoint, make_table, stream  # noqa: F401 - shared fixtures


@pytest.fixture(scope="session")
def image() -> str:
    return os.environ.get("IMAGE", "ddb-stream-rerun:local")


@pytest.fixture(scope="session")
def engine() -> list[str]:
    """The container command; podman needs runc in this kind of sandbox."""
    name = os.environ.get("CONTAINER", "podman")
    return [name, "--runtime", "runc"] if name == "podman" else [name]
