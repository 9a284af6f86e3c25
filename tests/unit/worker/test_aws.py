"""The worker's DynamoDB clients: the one that writes never resends by itself; both give up on a call quickly."""

from __future__ import annotations

import pytest
from botocore.exceptions import ParamValidationError

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


class _Sent(Exception):
    """The request got as far as the wire (a before-send hook stops it there)."""


def _stop_at_send(**_: object) -> None:
    raise _Sent


def test_only_the_write_client_skips_client_side_parameter_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    # The touch's statements have one fixed shape; validating 25 of them on every request costs CPU per item. A
    # request the model refuses (no statements) is sent by the writer (DynamoDB refuses it), stopped by the reader.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    writer, reader = dynamodb_client("eu-west-1", writes=True), dynamodb_client("eu-west-1")
    for client in (writer, reader):
        client.meta.events.register("before-send.dynamodb.*", _stop_at_send)
    with pytest.raises(_Sent):
        writer.batch_execute_statement(Statements=[])
    with pytest.raises(ParamValidationError):
        reader.batch_execute_statement(Statements=[])
