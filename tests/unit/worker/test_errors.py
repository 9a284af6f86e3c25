"""Which request-level errors the engine resends (errors.is_retryable), on botocore's own ClientError shapes."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from stream_rerun.errors import is_key_range_throttle, is_retryable, throttling_reasons


def client_error(code: str, status: int = 400) -> ClientError:
    response = {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(response, "BatchExecuteStatement")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "code", ["ProvisionedThroughputExceededException", "ThrottlingException", "ReplicatedWriteConflictException"]
)
def test_throttling_and_replicated_write_conflicts_are_resent(code: str) -> None:
    assert is_retryable(client_error(code))


@pytest.mark.parametrize("code", ["ValidationException", "AccessDeniedException", "ResourceNotFoundException"])
def test_refusals_are_not_resent(code: str) -> None:
    assert not is_retryable(client_error(code))


@pytest.mark.parametrize("member", ["ThrottlingReasons", "throttlingReasons"])
def test_a_key_range_throttle_is_told_apart_by_its_reasons_in_either_spelling(member: str) -> None:
    hot = client_error("ProvisionedThroughputExceededException")
    hot.response[member] = [{"reason": "TableWriteKeyRangeThroughputExceeded", "resource": "arn:t"}]  # type: ignore[literal-required]
    table = client_error("ThrottlingException")
    table.response[member] = [{"reason": "TableWriteProvisionedThroughputExceeded", "resource": "arn:t"}]  # type: ignore[literal-required]
    assert throttling_reasons(hot) == ["TableWriteKeyRangeThroughputExceeded"] and is_key_range_throttle(hot)
    assert not is_key_range_throttle(table) and not is_key_range_throttle(client_error("ThrottlingException"))
