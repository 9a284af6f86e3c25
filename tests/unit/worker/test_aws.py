"""The worker's DynamoDB clients: the one that writes never resends by itself; both give up on a call quickly."""

from __future__ import annotations

import pytest

from stream_rerun.aws import dynamodb_client


def test_the_write_client_makes_one_attempt_even_when_aws_max_attempts_says_more(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "5")
    writer = dynamodb_client("eu-west-1", writes=True)
    reader = dynamodb_client("eu-west-1")
    assert writer.meta.config.retries["total_max_attempts"] == 1
    assert reader.meta.config.retries["total_max_attempts"] == 5


def test_calls_time_out_within_a_stop_timeout() -> None:
    for client in (dynamodb_client("eu-west-1", writes=True), dynamodb_client("eu-west-1")):
        assert client.meta.config.connect_timeout <= 3 and client.meta.config.read_timeout <= 10
