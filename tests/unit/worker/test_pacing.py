"""The pacing parts with a fake clock: the rate schedule, the meter, the adaptive (AIMD) rate; and key typing."""

from __future__ import annotations

import base64
import math

import pytest

from stream_rerun.errors import ConfigError
from stream_rerun.keys import plain_key, typed
from stream_rerun.pacing import AdaptiveRate, Pacer, RateMeter
from stream_rerun.retry import HotPartitions, RetryPolicy, StallWatch


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


def test_pacer_settle_charges_actual_units() -> None:
    clock = Clock()
    pacer = Pacer(10.0, clock)
    assert pacer.reserve(10) == 0.0
    pacer.settle(10, 20)  # the request really cost 20 units
    assert pacer.reserve(1) == pytest.approx(2.0)


def test_pacer_does_not_bank_idle_time() -> None:
    clock = Clock()
    pacer = Pacer(10.0, clock)
    clock.now += 60  # a minute idle must not allow a burst of 600 units
    assert pacer.reserve(10) == 0.0
    assert pacer.reserve(10) == pytest.approx(1.0)


def test_unlimited_pacer_never_waits() -> None:
    pacer = Pacer(math.inf, Clock())
    assert [pacer.reserve(1e9) for _ in range(3)] == [0.0, 0.0, 0.0]


def test_meter_reports_units_per_second_over_its_window() -> None:
    clock = Clock()
    meter = RateMeter(window=2.0, clock=clock)
    for _ in range(40):
        clock.now += 0.25
        meter.add(25)  # 100 units/s
    assert meter.rate() == pytest.approx(100.0)
    clock.now += 5  # nothing for longer than the window
    assert meter.rate() == 0.0


def test_slow_start_doubles_a_rate_in_use_until_the_first_throttle() -> None:
    clock = Clock()
    rate = AdaptiveRate(None, clock, start=100.0, interval=0.5)
    assert rate.rate == 100.0  # no cap: start low
    clock.now += 0.5
    rate.succeeded(accepted_rate=100.0)
    assert rate.rate == 200.0
    clock.now += 1.0
    rate.succeeded(accepted_rate=150.0)  # two intervals, but never past twice what DynamoDB was seen to accept
    assert rate.rate == 300.0
    # the first throttle ends slow start: half of what was accepted (the rate had just doubled)
    assert rate.throttled(accepted_rate=250.0) and rate.rate == pytest.approx(125.0)
    assert not rate.slow_start


def test_after_slow_start_the_climb_is_a_share_of_the_edge_not_of_a_burst() -> None:
    # GIVEN a slow start that a burst allowance let through at 400/s, then throttling at an accepted 200/s
    clock = Clock()
    rate = AdaptiveRate(None, clock, start=100.0, interval=0.5, increase=0.05)
    clock.now += 1.0
    rate.succeeded(accepted_rate=400.0)
    assert rate.throttled(accepted_rate=200.0) and rate.rate == pytest.approx(100.0)
    # WHEN 2 s pass without a throttle, THEN it climbs by 5% of the edge (200) a step, not 5% of the 400 burst
    clock.now += 2.0
    rate.succeeded(accepted_rate=150.0)
    assert rate.rate == pytest.approx(100.0 + 4 * 10.0)


def test_adaptive_rate_cuts_to_a_share_of_what_was_accepted_then_climbs_linearly() -> None:
    clock = Clock()
    rate = AdaptiveRate(1e9, clock, decrease=0.8, increase=0.05, interval=0.5)
    assert rate.rate == 1e9  # a cap: start at the cap
    assert rate.throttled(accepted_rate=1000.0)
    assert rate.rate == pytest.approx(800.0)
    clock.now += 0.5
    assert not rate.throttled(accepted_rate=500.0)  # the same congestion event: one cut per cooldown (1 s)
    clock.now += 1.5  # four intervals since the cut without a throttle: steps of 5% of the most accepted (1000) up
    rate.succeeded(accepted_rate=800.0)  # to 90% of the edge (the 1000 accepted at the cut), then a quarter of that
    assert rate.rate == pytest.approx(800.0 + 2 * 50.0 + 2 * 12.5)
    clock.now += 2.0  # gently on over the edge: it is probed, not jumped over
    rate.succeeded(accepted_rate=900.0)
    assert rate.rate == pytest.approx(925.0 + 4 * 12.5)
    clock.now += 0.5
    assert rate.throttled(accepted_rate=900.0) and rate.rate == pytest.approx(720.0)  # the cooldown has passed


def test_a_throttle_before_the_meter_knows_cuts_from_the_rate_in_use() -> None:
    # a wholly throttled answer can arrive before the meter has seen anything: 0 units/s is no measure of capacity
    rate = AdaptiveRate(None, Clock(), start=100.0)
    assert rate.throttled(accepted_rate=0.0) and rate.rate == pytest.approx(50.0)


def test_adaptive_rate_never_exceeds_its_ceiling_nor_falls_below_its_floor() -> None:
    clock = Clock()
    rate = AdaptiveRate(100.0, clock, floor=5.0, floor_share=0.1)
    assert rate.rate == 100.0
    for _ in range(40):
        clock.now += 1
        rate.throttled(accepted_rate=0.0)
    assert rate.rate == 8.0  # 10% of the first cut (80), above the absolute floor
    clock.now += 3600
    rate.succeeded()
    assert rate.rate == 100.0


def test_retry_delays_grow_and_are_capped() -> None:
    policy = RetryPolicy(base_s=0.1, cap_s=2.0)
    for attempt in range(40):
        ceiling = min(2.0, 0.1 * 2**attempt)
        assert ceiling / 2 <= policy.delay(attempt) <= ceiling


def test_stall_watch_counts_from_the_last_progress() -> None:
    clock = Clock()
    watch = StallWatch(300.0, clock)
    clock.now += 299
    assert not watch.stalled()
    watch.progress()
    clock.now += 299
    assert not watch.stalled()
    clock.now += 1
    assert watch.stalled() and watch.stalled_for() == pytest.approx(300.0)


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


def test_a_hot_partition_backs_off_alone_and_cools_on_success() -> None:
    now = [0.0]
    hot = HotPartitions(RetryPolicy(base_s=1.0, cap_s=8.0), clock=lambda: now[0])
    hot.throttled({"a"})
    first = hot.wait({"a", "b"})
    assert 0.5 <= first <= 1.0 and hot.wait({"b"}) == 0.0
    hot.throttled({"a"})  # still hot: the next backoff is longer
    assert hot.wait({"a"}) >= 1.0
    now[0] = 10.0
    hot.cooled({"a"})
    hot.throttled({"a"})  # hot again after cooling: back to the first step
    assert hot.wait({"a"}) <= 1.0
