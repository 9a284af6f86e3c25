"""Pacing by the consumers' lag with a fake clock and a fake CloudWatch client (GetMetricData's documented answer
shape): the gate closes above the limit and opens below half of it, paused time is counted, a pause too long ends the
run, a failed read turns pacing off once; the stall watch ignores paused time; the engine holds new requests at a
closed gate; the write budget resumes at its rate."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from stream_rerun.capacity import WriteBudget
from stream_rerun.consumer_lag import ConsumerLag
from stream_rerun.consumers import function_name
from stream_rerun.engine import Engine
from stream_rerun.errors import RerunError, RunAbortedError
from stream_rerun.pacing import AdaptiveRate
from stream_rerun.retry import RetryPolicy, StallWatch
from stream_rerun.table import TableInfo
from stream_rerun.touch import Toucher
from tests.unit.worker.test_pacing import Clock

NOW = datetime(2026, 11, 28, 14, 7, 33, tzinfo=UTC)
ARN = "arn:aws:lambda:eu-west-1:123456789012:function:indexer"


class FakeCloudWatch:
    """Answers GetMetricData from `series` ((metric, dimension value) -> values in milliseconds or counts, newest
    first), or raises `error`. Records every call."""

    def __init__(self, series: dict[tuple[str, str], list[float]] | None = None) -> None:
        self.series = series or {}
        self.error: Exception | None = None
        self.calls: list[dict[str, Any]] = []

    def get_metric_data(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        if self.error is not None:
            raise self.error
        results = []
        for query in kwargs["MetricDataQueries"]:
            metric = query["MetricStat"]["Metric"]
            key = (metric["MetricName"], metric["Dimensions"][0]["Value"])
            results.append({"Id": query["Id"], "Values": list(self.series.get(key, [])), "StatusCode": "Complete"})
        return {"MetricDataResults": results}

    def age(self, function: str, seconds: float | None) -> None:
        self.series[("IteratorAge", function)] = [] if seconds is None else [seconds * 1000, 1.0]


def watcher(
    cloudwatch: FakeCloudWatch, clock: Clock, functions: tuple[str, ...] = ("indexer", "search"), **options: Any
) -> ConsumerLag:
    return ConsumerLag(functions, options.pop("limit_s", 60.0), options.pop("max_pause_s", 3600.0),
                       lambda: cloudwatch, clock=clock, now=lambda: NOW, **options)  # type: ignore[arg-type,return-value]  # fmt: skip


def test_function_names_and_arns_are_watched_by_their_function_name() -> None:
    assert function_name("indexer") == "indexer"
    assert function_name("indexer:live") == "indexer"  # an alias: its function's series holds its age too
    assert function_name(ARN) == "indexer"
    assert function_name(f"{ARN}:live") == "indexer"
    assert function_name("123456789012:function:indexer") == "indexer"  # a partial ARN


def test_one_call_reads_the_latest_iterator_age_of_every_watched_function() -> None:
    # GIVEN two functions (one named twice, by name and by ARN)
    cloudwatch = FakeCloudWatch()
    lag = watcher(cloudwatch, Clock(), ("indexer", ARN, "search:live"))
    # WHEN it polls
    lag.poll()
    # THEN one GetMetricData call: IteratorAge, Maximum, 60-s periods, FunctionName, the last 5 minutes from a minute
    assert len(cloudwatch.calls) == 1
    call = cloudwatch.calls[0]
    stats = [q["MetricStat"] for q in call["MetricDataQueries"]]
    assert [s["Metric"]["Dimensions"] for s in stats] == [[{"Name": "FunctionName", "Value": "indexer"}],
                                                          [{"Name": "FunctionName", "Value": "search"}]]  # fmt: skip
    assert {(s["Metric"]["Namespace"], s["Metric"]["MetricName"], s["Stat"], s["Period"]) for s in stats} == {
        ("AWS/Lambda", "IteratorAge", "Maximum", 60)
    }
    assert call["StartTime"] == datetime(2026, 11, 28, 14, 2, tzinfo=UTC) and call["EndTime"] == NOW
    assert call["ScanBy"] == "TimestampDescending"


def test_the_gate_closes_above_the_limit_and_opens_only_below_half_of_it() -> None:
    cloudwatch, clock = FakeCloudWatch(), Clock()
    resumed: list[float] = []
    lag = watcher(cloudwatch, clock, on_resume=resumed.append)
    steps = [  # (indexer's age, search's age) -> closed afterwards
        ((None, None), False),  # no datapoint: nothing waiting, not lagging
        ((60.0, 10.0), False),  # at the limit is not above it
        ((61.0, 10.0), True),
        ((45.0, 40.0), True),  # below the limit but not below half
        ((20.0, 31.0), True),  # one still at half or more
        ((20.0, 29.0), False),  # every one below half: writes resume
        ((50.0, None), False),  # open again: only above the limit closes it
    ]
    for (indexer, search), closed in steps:
        clock.now += 60
        cloudwatch.age("indexer", indexer)
        cloudwatch.age("search", search)
        lag.poll()
        assert lag.closed() is closed, (indexer, search)
    assert resumed == [180.0]  # closed at the third read, open at the sixth: told how long it paused


def test_paused_time_is_counted_in_all_and_for_each_consumer_holding_the_gate() -> None:
    cloudwatch, clock = FakeCloudWatch(), Clock()
    lag = watcher(cloudwatch, clock)
    cloudwatch.age("indexer", 100.0)
    lag.poll()  # closed by indexer
    clock.now += 60
    assert lag.paused_s() == 60.0  # the pause so far counts before the next read
    cloudwatch.age("search", 40.0)
    lag.poll()  # search is behind too (at or above half): both hold the gate
    clock.now += 30
    cloudwatch.age("indexer", 5.0)
    lag.poll()  # indexer caught up, search still holds it
    clock.now += 30
    cloudwatch.age("search", 1.0)
    lag.poll()  # open
    clock.now += 100  # open time is not paused time
    assert lag.paused_s() == 120.0
    assert lag.progress_fields() == {}
    report = lag.summary(read_metrics=False)["consumer_report"]
    assert (report["indexer"]["paused_s"], report["search"]["paused_s"]) == (90.0, 60.0)
    assert (report["indexer"]["max_iterator_age_s"], report["search"]["max_iterator_age_s"]) == (100.0, 40.0)


def test_progress_fields_name_the_consumer_furthest_behind_while_paused() -> None:
    cloudwatch, clock = FakeCloudWatch(), Clock()
    lag = watcher(cloudwatch, clock)
    cloudwatch.age("indexer", 70.0)
    cloudwatch.age("search", 90.5)
    lag.poll()
    clock.now += 12
    assert lag.progress_fields() == {"paused_for": "consumer_lag", "consumer_function": "search",
                                     "consumer_iterator_age_s": 90.5, "consumer_paused_s": 12.0}  # fmt: skip


def test_a_pause_reaching_the_limit_ends_the_run_with_a_resumable_error() -> None:
    cloudwatch, clock = FakeCloudWatch(), Clock()
    lag = watcher(cloudwatch, clock, max_pause_s=600.0)
    cloudwatch.age("indexer", 250.0)
    lag.poll()
    clock.now += 599
    assert lag.exhausted() is None
    clock.now += 1
    error = lag.exhausted()
    assert isinstance(error, RunAbortedError) and error.exit_code == 1
    assert str(error).startswith("paused 600 s on end for the stream's consumers (MAX_CONSUMER_PAUSE_SECONDS=600)")
    assert "consumer indexer is still behind (IteratorAge 250 s, MAX_CONSUMER_LAG_SECONDS=60)" in str(error)
    assert "rerun with the same RUN_ID" in str(error)


@pytest.mark.parametrize(
    "error",
    [
        ClientError({"Error": {"Code": "AccessDenied", "Message": "not authorized"}}, "GetMetricData"),
        ClientError({"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}, "GetMetricData"),
        EndpointConnectionError(endpoint_url="https://monitoring.eu-west-1.amazonaws.com"),
    ],
)
def test_a_failed_read_turns_pacing_off_once_and_opens_the_gate(
    error: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN a gate closed by a lagging consumer
    cloudwatch, clock = FakeCloudWatch(), Clock()
    resumed: list[float] = []
    lag = watcher(cloudwatch, clock, on_resume=resumed.append)
    cloudwatch.age("indexer", 100.0)
    lag.poll()
    # WHEN the next reads fail
    cloudwatch.error = error
    clock.now += 10
    with caplog.at_level(logging.WARNING, logger="stream_rerun"):
        lag.poll()
        lag.poll()
    # THEN one warning, the gate open, the pause ended, and the summary says pacing was off and why
    warnings = [r for r in caplog.records if getattr(r, "event", "") == "consumer_pacing_off"]
    assert len(warnings) == 1
    assert not lag.closed() and resumed == [10.0]
    pacing = lag.summary(read_metrics=False)["consumer_pacing"]
    assert pacing["on"] is False and pacing["reason"].startswith("reading IteratorAge failed")
    assert "CloudWatch" in pacing["reason"] and (pacing["paused_s"], pacing["pauses"]) == (10.0, 1)


def test_watching_reads_before_the_first_write_then_at_the_interval_until_the_run_ends() -> None:
    cloudwatch = FakeCloudWatch()
    lag = ConsumerLag(("indexer",), 60.0, 3600.0, lambda: cloudwatch, interval_s=0.05)  # type: ignore[arg-type,return-value]
    with lag.watching():
        assert len(cloudwatch.calls) == 1
        time.sleep(0.3)
    calls = len(cloudwatch.calls)
    time.sleep(0.15)
    assert 4 <= calls == len(cloudwatch.calls)  # read every 0.05 s, and no more once the run ended


@pytest.mark.parametrize(
    ("limit", "functions", "dry_run", "reason"),
    [
        (None, ("indexer",), False, "MAX_CONSUMER_LAG_SECONDS is not set"),
        (60.0, (), False, "no Lambda consumer to watch: none found on the stream and CONSUMER_FUNCTIONS is not set"),
        (60.0, ("indexer",), True, "DRY_RUN: nothing is written"),
    ],
)
def test_pacing_is_off_without_a_limit_a_consumer_or_writes(
    limit: float | None, functions: tuple[str, ...], dry_run: bool, reason: str
) -> None:
    cloudwatch = FakeCloudWatch()
    lag = watcher(cloudwatch, Clock(), functions, limit_s=limit, dry_run=dry_run)
    with lag.watching():
        pass
    summary = lag.summary()
    assert summary["consumer_pacing"]["on"] is False and summary["consumer_pacing"]["reason"] == reason
    assert ("consumer_report" in summary) is (bool(functions) and not dry_run)  # no limit: still a report at the end
    assert [c["MetricDataQueries"][0]["MetricStat"]["Metric"]["MetricName"] for c in cloudwatch.calls] == (
        ["IteratorAge"] if functions and not dry_run else []
    )


def test_the_summary_reads_the_run_window_zero_as_zero_and_no_data_as_null() -> None:
    # GIVEN indexer with errors, zero delivery failures, a mapping that delivered to its on-failure destination;
    # search with no data at all
    cloudwatch, clock = FakeCloudWatch(), Clock()
    cloudwatch.series = {("IteratorAge", "indexer"): [3_000.0, 125_000.0], ("Errors", "indexer"): [0.0, 2.0, 1.0],
                         ("DestinationDeliveryFailures", "indexer"): [0.0],
                         ("OnFailureDestinationDeliveredEventCount", "uuid-1"): [4.0, 3.0]}  # fmt: skip
    lag = watcher(cloudwatch, clock, mappings={ARN: ["uuid-1"]}, limit_s=None)
    # WHEN the run ends
    summary = lag.summary()
    # THEN one call over the run's window, and per consumer: paused, highest age, errors, on-failure deliveries
    call = cloudwatch.calls[-1]
    assert len(cloudwatch.calls) == 1 and call["StartTime"] == datetime(2026, 11, 28, 14, 7, tzinfo=UTC)
    assert call["EndTime"] - call["StartTime"] >= timedelta(seconds=60)  # at least one whole period
    assert summary["consumer_report"] == {
        "indexer": {
            "paused_s": 0.0,
            "max_iterator_age_s": 125.0,
            "errors": 3,
            "on_failure_deliveries": 7,
            "destination_delivery_failures": 0,
        },
        "search": {
            "paused_s": 0.0,
            "max_iterator_age_s": None,
            "errors": None,
            "on_failure_deliveries": None,
            "destination_delivery_failures": None,
        },
    }
    dimensions = {(q["MetricStat"]["Metric"]["MetricName"], q["MetricStat"]["Metric"]["Dimensions"][0]["Name"])
                  for q in call["MetricDataQueries"]}  # fmt: skip
    assert ("OnFailureDestinationDeliveredEventCount", "EventSourceMappingUUID") in dimensions


def test_the_summary_says_when_the_metrics_could_not_be_read() -> None:
    cloudwatch, clock = FakeCloudWatch(), Clock()
    lag = watcher(cloudwatch, clock, ("indexer",))
    cloudwatch.error = ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "GetMetricData")
    summary = lag.summary()
    assert "CloudWatch AccessDenied" in summary["consumer_metrics_error"]
    assert summary["consumer_report"]["indexer"]["errors"] is None
    interrupted = lag.summary(read_metrics=False)
    assert interrupted["consumer_metrics_error"] == "not read: the run was interrupted"


# ---- what the engine and the budget do with a pause ----
def test_the_stall_watch_does_not_count_paused_time() -> None:
    clock, paused = Clock(), [0.0]
    stall = StallWatch(300.0, clock, paused=lambda: paused[0])
    clock.now += 1000
    paused[0] += 900  # 900 of the 1,000 s were a pause
    assert stall.stalled_for() == 100.0 and not stall.stalled()
    clock.now += 200
    assert stall.stalled()  # 300 s not paused
    stall.progress()
    clock.now += 50
    paused[0] += 50
    assert stall.stalled_for() == 0.0


def test_the_budget_resumes_at_the_rate_it_had_after_a_pause() -> None:
    # GIVEN an adaptive rate that was cut once and has climbed back a little
    clock = Clock()
    budget = WriteBudget(1.0, clock=clock, adaptive=AdaptiveRate(None, clock))
    for _ in range(20):
        budget.settle(budget.reserve(10), None, 10)
        clock.now += 0.05
    budget.throttled()
    clock.now += 0.52  # (no event on the meter's window edge)
    budget.succeeded()
    rate, accepted = budget.adaptive.rate, budget.meter.rate()
    # WHEN writes are held for ten minutes and resume
    clock.now += 600
    budget.paused(600)
    budget.succeeded()
    # THEN the rate is what it was: not grown by idle steps, and a throttle now is cut from what was accepted before
    assert budget.adaptive.rate == rate
    assert budget.meter.rate() == pytest.approx(accepted)


class ManualGate:
    """A gate the test opens; paused time is the real time it was closed."""

    def __init__(self, closed: bool, limit_s: float = 60.0) -> None:
        self._since: float | None = time.monotonic() if closed else None
        self._total, self.limit_s = 0.0, limit_s

    def closed(self) -> bool:
        return self._since is not None

    def open(self) -> None:
        self._total, self._since = self.paused_s(), None

    def paused_s(self) -> float:
        return self._total + (0.0 if self._since is None else time.monotonic() - self._since)

    def exhausted(self) -> RerunError | None:
        return RunAbortedError("paused too long") if self.paused_s() >= self.limit_s else None

    def progress_fields(self) -> dict[str, Any]:
        return {"paused_for": "consumer_lag"} if self.closed() else {}


class Table:
    """A DynamoDB client whose BatchExecuteStatement applies every statement; it records when."""

    def __init__(self) -> None:
        self.sent: list[float] = []

    def batch_execute_statement(self, **kwargs: Any) -> dict[str, Any]:
        self.sent += [time.monotonic()] * len(kwargs["Statements"])
        return {"Responses": [{} for _ in kwargs["Statements"]]}


TABLE = TableInfo("orders", ("pk",), {"pk": "S"}, {}, "dynamodb:NEW_AND_OLD_IMAGES", 0, 0)
KEYS = [{"pk": {"S": f"k{n}"}} for n in range(60)]


def test_the_engine_sends_nothing_new_while_the_gate_is_closed_and_a_pause_is_not_a_stall() -> None:
    # GIVEN a closed gate and a stall limit far shorter than the pause
    client, gate = Table(), ManualGate(closed=True)
    engine = Engine(Toucher(client, TABLE, "revision", "rerun_id", "r"), 4, retry=RetryPolicy(stall_s=0.2), gate=gate)  # type: ignore[arg-type]
    result: list[Any] = []
    runner = threading.Thread(target=lambda: result.append(engine.run(iter([KEYS]))))
    runner.start()
    # WHEN it stays closed for 0.6 s, then opens
    time.sleep(0.6)
    assert client.sent == [] and engine.gate.progress_fields() == {"paused_for": "consumer_lag"}
    opened = time.monotonic()
    gate.open()
    runner.join(timeout=10)
    # THEN every item is written after the gate opened, and the run did not stall
    assert result[0].touched == 60 and engine.abort_error is None
    assert min(client.sent) >= opened


def test_a_pause_too_long_aborts_the_run_and_leaves_the_items_unprocessed() -> None:
    client, gate = Table(), ManualGate(closed=True, limit_s=0.3)
    engine = Engine(Toucher(client, TABLE, "revision", "rerun_id", "r"), 4, gate=gate)  # type: ignore[arg-type]
    counters = engine.run(iter([KEYS]))
    assert client.sent == [] and str(engine.abort_error) == "paused too long"
    assert (counters.selected, counters.unprocessed, counters.failed, counters.touched) == (60, 60, 0, 0)


def test_short_pauses_that_add_up_do_not_end_the_run_only_one_that_lasts() -> None:
    # GIVEN MAX_CONSUMER_PAUSE_SECONDS=600 and two pauses of 400 s each
    cloudwatch, clock = FakeCloudWatch(), Clock()
    lag = watcher(cloudwatch, clock, max_pause_s=600.0)
    for _ in range(2):
        cloudwatch.age("indexer", 250.0)
        lag.poll()
        clock.now += 400
        assert lag.exhausted() is None
        cloudwatch.age("indexer", 5.0)
        lag.poll()
    # THEN 800 s paused in all, yet the run goes on; a third pause that lasts 600 s ends it
    assert lag.paused_s() == 800.0 and lag.exhausted() is None
    cloudwatch.age("indexer", 250.0)
    lag.poll()
    clock.now += 600
    assert lag.exhausted() is not None


def test_a_consumer_that_falls_silent_while_behind_keeps_the_run_paused() -> None:
    # GIVEN a consumer 250 s behind (the limit is 60 s): the gate closes
    cloudwatch, clock = FakeCloudWatch(), Clock()
    lag = watcher(cloudwatch, clock)
    cloudwatch.age("indexer", 250.0)
    lag.poll()
    assert lag.closed()
    # WHEN it sends no IteratorAge any more (no batch processed: throttled, or stuck)
    cloudwatch.age("indexer", None)
    clock.now += 60
    lag.poll()
    # THEN the run stays paused, with its last known age; a datapoint below half the limit opens it
    assert lag.closed() and lag.progress_fields()["consumer_iterator_age_s"] == 250.0
    cloudwatch.age("indexer", 20.0)
    lag.poll()
    assert not lag.closed()
