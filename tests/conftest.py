"""Shared by every level: every test starts from an environment without the worker's or AWS's variables."""

from __future__ import annotations

import os

import pytest

from stream_rerun.config import Settings

pytest_plugins = [
    "tests.support.emulator",
    "tests.support.s3",
    "tests.support.incremental_export",
    "tests.support.failed_batches",
    "tests.support.lambda_api",
]

_AWS = (
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL_SQS",
    "AWS_ENDPOINT_URL_DYNAMODBSTREAMS",
    "AWS_ENDPOINT_URL_LAMBDA",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_MAX_ATTEMPTS",
    "AWS_RETRY_MODE",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Never the developer's shell: drop every variable the worker or boto3 would read."""
    for name in list(os.environ):
        if name.upper() in Settings.env_names() or name.upper() in _AWS or name == "STREAM_RERUN_NAME":
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
