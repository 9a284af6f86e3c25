"""The worker's DynamoDB clients: the one that writes never resends by itself; both give up on a call quickly; all come
from one session."""

from __future__ import annotations

import pytest
from botocore.exceptions import EndpointConnectionError, ParamValidationError

from stream_rerun import aws
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


def test_clients_share_one_session_but_not_their_events_and_each_reads_its_endpoint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN two clients made one after the other, with a different endpoint in the environment for each
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:1")
    first = dynamodb_client("eu-west-1", writes=True)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:2")
    second = dynamodb_client("eu-west-1")
    # THEN they come from the process's one session (it loads the models once), each with the endpoint it was made with
    assert aws._session is not None
    assert first.meta.endpoint_url == "http://127.0.0.1:1" and second.meta.endpoint_url == "http://127.0.0.1:2"
    # AND a handler registered on one (the bench's emulated round trip, a test's fault) stays on that one
    first.meta.events.register("before-send.dynamodb.*", _stop_at_send)
    assert first.meta.events is not second.meta.events
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with pytest.raises(_Sent):
        first.describe_table(TableName="t")
    with pytest.raises(EndpointConnectionError):  # sent: nothing listens on port 2
        second.describe_table(TableName="t")
