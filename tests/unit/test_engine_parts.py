"""The rate pacer, the retry backoff and key typing, without a network."""

from __future__ import annotations

import base64

import pytest

from stream_rerun.engine import Pacer, RetryPolicy
from stream_rerun.errors import ConfigError
from stream_rerun.keys import plain_key, typed


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_pacer_spaces_reservations_at_the_rate() -> None:
    clock = Clock()
    pacer = Pacer(50.0, clock)
    waits = [pacer.reserve(25) for _ in range(4)]
    assert waits == [0.0, 0.5, 1.0, 1.5]  # 100 units at 50/s: the fourth batch starts 1.5 s in


def test_pacer_holds_the_rate_over_a_long_simulated_run() -> None:
    clock = Clock()
    pacer, sent = Pacer(200.0, clock), 0
    start = clock.now
    while clock.now - start < 10.0:
        clock.now += pacer.reserve(25)  # the caller sleeps as told, then sends 25
        sent += 25
    assert abs(sent / (clock.now - start) - 200.0) / 200.0 < 0.1


def test_pacer_adjust_charges_actual_units() -> None:
    clock = Clock()
    pacer = Pacer(10.0, clock)
    assert pacer.reserve(10) == 0.0
    pacer.adjust(+10)  # the request really cost 20 units
    assert pacer.reserve(1) == pytest.approx(2.0)


def test_pacer_does_not_bank_idle_time() -> None:
    clock = Clock()
    pacer = Pacer(10.0, clock)
    clock.now += 60  # a minute idle must not allow a burst of 600 units
    assert pacer.reserve(10) == 0.0
    assert pacer.reserve(10) == pytest.approx(1.0)


def test_retry_delays_grow_and_are_capped() -> None:
    policy = RetryPolicy(attempts=8, base_s=0.1, cap_s=2.0)
    for attempt in range(10):
        ceiling = min(2.0, 0.1 * 2**attempt)
        assert ceiling / 2 <= policy.delay(attempt) <= ceiling


@pytest.mark.parametrize(
    ("kind", "raw", "value"),
    [("S", " spaced ", {"S": " spaced "}), ("N", "-12.5", {"N": "-12.5"}), ("B", "AAE=", {"B": b"\x00\x01"})],
)
def test_typed_values(kind: str, raw: str, value: dict[str, object]) -> None:
    assert typed("HASH_KEY_VALUE", raw, kind) == value


@pytest.mark.parametrize(
    ("kind", "raw"), [("N", "abc"), ("N", "NaN"), ("N", "1e200"), ("N", " 5"), ("N", "1" * 39), ("B", "@@")]
)
def test_typed_rejects_values_invalid_for_the_type(kind: str, raw: str) -> None:
    with pytest.raises(ConfigError, match=r"HASH_KEY_VALUE=.* the key is of type"):
        typed("HASH_KEY_VALUE", raw, kind)


def test_plain_key_for_logs() -> None:
    key = {"id": {"B": b"\xff"}, "n": {"N": "3"}, "s": {"S": "x"}}
    assert plain_key(key) == {"id": base64.b64encode(b"\xff").decode(), "n": "3", "s": "x"}
