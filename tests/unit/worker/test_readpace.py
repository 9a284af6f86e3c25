"""ReadPace with a fake clock and a fake Query: the read budget from ConsumedCapacity, the backoff of throttled reads,
and the stall rule."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from stream_rerun.errors import ConfigError, RunAbortedError
from stream_rerun.readpace import ReadPace
from stream_rerun.retry import RetryPolicy


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def throttle(code: str = "ProvisionedThroughputExceededException") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "slow down"}}, "Query")


def test_pages_are_paced_from_their_consumed_capacity() -> None:
    time = FakeTime()
    pace = ReadPace(10.0, clock=time.clock, sleep=time.sleep)
    calls: list[float] = []

    def query(**params: Any) -> dict[str, Any]:
        assert params["ReturnConsumedCapacity"] == "TOTAL"
        calls.append(time.now)
        return {"Items": [], "ConsumedCapacity": {"CapacityUnits": 5.0}}  # an empty filtered page costs too

    for _ in range(4):
        pace.call(query, "querying")
    assert calls == [0.0, 0.5, 1.0, 1.5] and pace.consumed == 20.0


def test_a_throttled_read_backs_off_and_then_succeeds() -> None:
    time = FakeTime()
    pace = ReadPace(None, RetryPolicy(base_s=1.0, cap_s=1.0), clock=time.clock, sleep=time.sleep)
    answers: list[Any] = [throttle(), throttle("ThrottlingException"), {"Items": [{"pk": {"S": "a"}}]}]

    def query(**_: Any) -> Any:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert pace.call(query, "querying")["Items"] == [{"pk": {"S": "a"}}]
    assert pace.throttled == 2 and 1.0 <= time.now <= 2.0


def test_reads_throttled_for_max_stall_seconds_stop_the_run() -> None:
    time = FakeTime()
    pace = ReadPace(None, RetryPolicy(base_s=1.0, cap_s=4.0, stall_s=30.0), clock=time.clock, sleep=time.sleep)

    def query(**_: Any) -> Any:
        raise throttle()

    with pytest.raises(RunAbortedError, match=r"no read succeeded for 3\d s .*MAX_STALL_SECONDS=30"):
        pace.call(query, "querying the selection")


def test_a_read_error_that_is_not_throttling_is_not_retried() -> None:
    pace = ReadPace()

    def query(**_: Any) -> Any:
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "Query")

    with pytest.raises(ConfigError, match="AccessDeniedException"):
        pace.call(query, "querying")
