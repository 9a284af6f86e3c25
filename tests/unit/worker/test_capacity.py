"""Write-unit accounting: the budget with a fake clock, the cap derivation, and the engine charging what a fake
client reports as ConsumedCapacity (DynamoDB's documented answer shape)."""

from __future__ import annotations

import random
import threading
from typing import Any

import pytest

from stream_rerun.capacity import WriteBudget, Written, derive_cap, wcu_per_item
from stream_rerun.engine import Engine
from stream_rerun.errors import ConfigError
from stream_rerun.pacing import AdaptiveRate, Pacer
from stream_rerun.retry import RetryPolicy
from stream_rerun.table import TableInfo
from stream_rerun.touch import Toucher, _by_resource
from tests.unit.worker.test_pacing import Clock

TABLE = TableInfo("orders", ("pk",), {"pk": "S"}, {}, "dynamodb:NEW_AND_OLD_IMAGES", 0, 0)


def test_budget_reserves_the_estimate_and_settles_what_was_reported() -> None:
    clock = Clock()
    budget = WriteBudget(1.0, max_wcu_per_second=100.0, clock=clock)
    first = budget.reserve(25)
    assert (first.units, first.wait) == (25.0, 0.0)
    budget.settle(first, consumed=250.0, written=25)  # the items were 10 units each, not 1
    assert budget.reserve(1).wait == pytest.approx(2.5)  # the whole 250 units were charged
    assert budget.per_statement > 1.0  # and the estimate learned from the report


def test_budget_charges_the_estimate_when_nothing_is_reported_and_nothing_for_throttled() -> None:
    clock = Clock()
    budget = WriteBudget(4.0, max_wcu_per_second=100.0, clock=clock)
    reservation = budget.reserve(10)
    assert budget.settle(reservation, consumed=None, written=10) == 40.0  # DynamoDB Local reports nothing
    reservation = budget.reserve(10)
    assert budget.settle(reservation, consumed=None, written=0) == 0.0  # all throttled: no units consumed


def test_small_caps_make_small_batches() -> None:
    # the requests in flight (the concurrency) hold a fifth of a second of the rate together
    assert WriteBudget(5.0, max_wcu_per_second=400.0).batch_size(25, 1) == 16  # 80 items/s: 16 in one request
    assert WriteBudget(5.0, max_wcu_per_second=400.0).batch_size(25, 8) == 2  # or 2 in each of 8
    assert WriteBudget(1.0, max_items_per_second=100.0).batch_size(25, 4) == 5
    assert WriteBudget(1.0, max_items_per_second=10.0).batch_size(25, 8) == 1  # never fewer than one
    assert WriteBudget(1.0).batch_size(25, 8) == 2  # no cap: slow start at 100 units/s
    assert WriteBudget(1.0, max_wcu_per_second=1e6).batch_size(25, 8) == 25  # never more than 25


def _accepted(budget: WriteBudget, clock: Clock, rate: float, seconds: float) -> None:
    """DynamoDB accepts `rate` units/s for `seconds` (8 requests a second), each request answered unthrottled."""
    for _ in range(int(seconds * 8)):
        clock.now += 0.125
        budget.settle(budget.reserve(int(rate / 8)), None, int(rate / 8))
        budget.succeeded()


def test_slow_start_doubles_each_step_from_what_the_last_step_accepted() -> None:
    # GIVEN an uncapped run (slow start from 100 units/s) on a table that takes all it is sent
    clock = Clock()
    budget = WriteBudget(1.0, clock=clock)
    rates = []
    for _ in range(4):
        _accepted(budget, clock, budget.adaptive.rate, 0.25)
        rates.append(budget.adaptive.rate)
    # THEN it doubles every step (a quarter of a second): 1,600 units/s within 1 s (a one-second meter lagged, and
    # steps of 0.5 s took 2 s to reach 800)
    assert rates == [200.0, 400.0, 800.0, 1600.0]


def test_a_rate_change_gives_the_requests_waiting_for_their_turn_a_new_one() -> None:
    # GIVEN four requests of 10 statements reserved at 100 units/s: turns 0.1 s apart, the last 0.3 s away
    clock = Clock()
    budget = WriteBudget(1.0, clock=clock)
    waiting = [budget.reserve(10) for _ in range(4)]
    assert [r.wait for r in waiting] == pytest.approx([0.0, 0.1, 0.2, 0.3])
    assert not any(budget.stale(r) for r in waiting)
    # WHEN DynamoDB throttles a request sent at that rate: the rate is cut
    clock.now += 0.01
    assert budget.throttled(waiting[0]) and budget.adaptive.rate == pytest.approx(50.0)
    # THEN the requests still waiting hold stale turns, and take new ones 0.2 s apart (the cut rate), from now
    assert all(budget.stale(r) for r in waiting[1:])
    again = [budget.repace(r) for r in waiting[1:]]
    assert [r.wait for r in again] == pytest.approx([0.0, 0.2, 0.4])
    assert not any(budget.stale(r) for r in again)
    # and a throttle of a request reserved before the cut, after the cooldown, is the same congestion event: no cut
    clock.now += 2.0
    assert not budget.throttled(waiting[1]) and budget.adaptive.rate == pytest.approx(50.0)
    assert budget.throttled(again[0]) and budget.adaptive.rate == pytest.approx(40.0)  # one sent after it cuts


@pytest.mark.parametrize(
    ("average", "all_indexes", "other", "units"),
    [(100, 0, 0, 1.0), (4000, 0, 0, 4.0), (4090, 0, 0, 5.0), (4000, 1, 0, 8.0), (4000, 0, 1, 5.0), (0, 0, 0, 1.0)],
)
def test_units_per_item_include_the_indexes_written(average: int, all_indexes: int, other: int, units: float) -> None:
    assert wcu_per_item(average, 40, all_indexes, other) == units


def test_cap_is_the_lowest_of_the_given_ones_with_its_reason() -> None:
    assert derive_cap(None, None, 5000.0, None) == (None, "no cap: the rate adapts to throttling")
    assert derive_cap(300.0, None, None, None) == (300.0, "MAX_WCU_PER_SECOND=300")
    cap, reason = derive_cap(None, 10.0, 5000.0, None)
    assert cap == 500.0 and "10% of the table's 5000 WCU/s" in reason
    cap, reason = derive_cap(None, 50.0, 40000.0, "HASH_KEY_VALUE writes one partition")
    assert cap == 500.0 and "one partition's 1000 WCU/s" in reason
    assert derive_cap(200.0, 50.0, 40000.0, "x")[0] == 200.0


def test_percent_of_an_on_demand_table_without_maximum_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"MAX_WCU_PERCENT=10 .* on demand with no maximum: set MAX_WCU_PER_SECOND"):
        derive_cap(None, 10.0, None, None)


class CountingPacer(Pacer):
    """A Pacer that adds up the units charged to its schedule."""

    charged = 0.0

    def reserve(self, units: float) -> float:
        self.charged += units
        return super().reserve(units)

    def settle(self, reserved: float, actual: float) -> None:
        self.charged += actual - reserved
        super().settle(reserved, actual)


class ReportingClient:
    """Answers every statement with success and reports `units` per statement, throttling a share at random."""

    def __init__(self, units: float, throttle_share: float = 0.0) -> None:
        self.units = units
        self.throttle_share = throttle_share
        self.random = random.Random(3)
        self.lock = threading.Lock()
        self.executed = 0

    def batch_execute_statement(self, **kwargs: Any) -> Any:
        answers = []
        with self.lock:
            for _ in kwargs["Statements"]:
                if self.random.random() < self.throttle_share:
                    answers.append({"Error": {"Code": "ProvisionedThroughputExceeded", "Message": "slow down"}})
                else:
                    answers.append({})
            executed = sum(1 for a in answers if not a)
            self.executed += executed
        return {
            "Responses": answers,
            "ConsumedCapacity": [{"TableName": "orders", "CapacityUnits": executed * self.units}],
        }


@pytest.mark.parametrize("throttle_share", [0.0, 0.2])
def test_engine_charges_every_unit_reported_including_retries(throttle_share: float) -> None:
    # GIVEN 2,000 items of 10 units each, an estimate of 1 unit, concurrency 8 (the review's simulation)
    client = ReportingClient(10.0, throttle_share)
    # (a high floor: this test is about accounting, not about how far random throttling lowers the rate)
    budget = WriteBudget(1.0, adaptive=AdaptiveRate(1e9, floor=1e8))
    budget.wcu = CountingPacer(budget.wcu.rate)
    engine = Engine(Toucher(client, TABLE, "revision", "rerun_id", "r"), 8, budget, RetryPolicy(base_s=0.001))  # type: ignore[arg-type]
    # WHEN the run ends
    counters = engine.run(iter([[{"pk": {"S": f"k{n}"}} for n in range(2000)]]))
    # THEN every reported unit was counted and charged to the rate schedule (the old code charged 16,400 of 20,000)
    assert counters.touched == 2000 and client.executed == 2000
    assert counters.consumed_wcu == pytest.approx(20_000.0)
    assert budget.wcu.charged == pytest.approx(20_000.0)  # reserved on the estimate, settled on the reports
    assert (counters.throttled_statements > 0) == (throttle_share > 0)


def test_the_cap_is_the_lowest_share_of_the_table_and_of_each_written_index() -> None:
    # the table (1 unit a touch) at 40% of 1,000 and an ALL index (1 unit a touch) at 40% of 100: the index binds,
    # at 40 of its own units a second, i.e. 80 units of both together
    resources = [Written("table", 1000.0, 1.0), Written("by_date", 100.0, 1.0)]
    cap, reason = derive_cap(None, 40.0, 1000.0, None, resources)
    assert cap == pytest.approx(80.0) and reason == "40% of index by_date's 100 WCU/s"
    on_demand_index = [Written("table", 1000.0, 1.0), Written("by_date", None, 1.0)]  # no maximum: no cap of its own
    cap, reason = derive_cap(None, 40.0, 1000.0, None, on_demand_index)
    assert cap == pytest.approx(800.0) and reason == "40% of the table's 1000 WCU/s"


def test_each_resource_is_charged_what_dynamodb_itemised_for_it() -> None:
    clock = Clock()
    budget = WriteBudget(2.0, clock=clock, resource_caps={"table": 400.0, "by_date": 40.0},
                         resource_units={"table": 1.0, "by_date": 1.0})  # fmt: skip
    first = budget.reserve(10)
    assert first.by_resource == {"table": 10.0, "by_date": 10.0} and first.wait == 0.0
    budget.settle(first, consumed=30.0, written=10, by_resource={"table": 10.0, "by_date": 20.0})
    assert budget.reserve(1).wait == pytest.approx(0.5)  # the index's 20 units at 40/s


def test_consumed_capacity_is_itemised_per_resource_with_local_indexes_on_the_table() -> None:
    consumed = [{"TableName": "orders", "CapacityUnits": 9.0, "Table": {"CapacityUnits": 4.0},
                 "LocalSecondaryIndexes": {"by_v": {"CapacityUnits": 2.0}},
                 "GlobalSecondaryIndexes": {"by_date": {"CapacityUnits": 3.0}}}]  # fmt: skip
    assert _by_resource(consumed) == {"table": 6.0, "by_date": 3.0}
    assert _by_resource([{"TableName": "orders", "CapacityUnits": 9.0}]) is None  # totals only


def test_requests_grow_with_the_rate_within_a_page() -> None:
    # GIVEN an uncapped run in slow start (100 units/s: 20 statements a request, one at a time) whose rate rises to
    # 1,000 units/s once the first request is answered, and one page of 200 keys
    class Recording(ReportingClient):
        def __init__(self, budget: WriteBudget) -> None:
            super().__init__(1.0)
            self.budget, self.sizes = budget, []

        def batch_execute_statement(self, **kwargs: Any) -> Any:
            self.sizes.append(len(kwargs["Statements"]))
            self.budget.adaptive.rate = 1000.0
            return super().batch_execute_statement(**kwargs)

    budget = WriteBudget(1.0)
    client = Recording(budget)
    engine = Engine(Toucher(client, TABLE, "revision", "rerun_id", "r"), 1, budget)  # type: ignore[arg-type]
    counters = engine.run(iter([[{"pk": {"S": f"k{n}"}} for n in range(200)]]))
    # THEN the batches cut after the rise are full (25), not the page's first size; the page's remainder is last
    assert counters.touched == 200 and client.sizes == [20] + [25] * 7 + [5]
