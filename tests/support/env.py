"""Environments for child processes: never the developer's shell (no worker variables, no AWS settings)."""

from __future__ import annotations

import os

from stream_rerun.config import Settings
from stream_rerun_dev.emulator import worker_env


def clean_environ() -> dict[str, str]:
    """This process's environment without AWS settings and without any variable the worker reads."""
    return {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k.upper() not in Settings.env_names()}


def worker_process_env(endpoint: str, **variables: str) -> dict[str, str]:
    """A clean environment pointing a worker process at DynamoDB Local (dummy credentials), plus `variables`."""
    return {**clean_environ(), **worker_env(endpoint, **variables)}
