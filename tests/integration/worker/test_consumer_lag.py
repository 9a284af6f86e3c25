"""Pacing by the consumers' lag on DynamoDB Local's stream, with IteratorAge, Errors and the like on a loopback moto
CloudWatch (tests/support/cloudwatch.py). The worker reads the metrics every POLL_S here (60 s in production).

DynamoDB Local 3.3.1 dates stream records to the minute (ApproximateCreationDateTime 1795875000.000 on the wire,
measured here), so their times cannot show a pause of seconds; the stream itself does: read while the run is paused,
it gains no record, and after the pause it holds exactly one record of the run per item.
"""

from __future__ import annotations

import io
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import redirect_stdout
from dataclasses import dataclass, field
from typing import Any

import pytest

from stream_rerun import engine as engine_module
from stream_rerun.__main__ import run
from stream_rerun.config import Settings, load_settings
from stream_rerun.log import configure_logging
from stream_rerun_dev import emulator
from tests.support import cloudwatch
from tests.support.items import item
from tests.support.streams import fired_by, modifies, wait_for_touches

POLL_S = 0.2


@pytest.fixture(scope="module")
def cloudwatch_endpoint() -> Iterator[str]:
    with cloudwatch.moto_cloudwatch() as url:
        yield url


@dataclass
class Running:
    """A worker run on a thread of this process, its JSON lines captured."""

    out: io.StringIO
    thread: threading.Thread
    codes: list[int] = field(default_factory=list)

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.out.getvalue().splitlines()]

    def saw(self, event: str, timeout: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [line for line in self.lines() if line.get("event") == event]
            if found:
                return found[0]
            time.sleep(0.05)
        raise AssertionError(f"no {event} line within {timeout} s")

    def finish(self, timeout: float = 30.0) -> tuple[int, list[dict[str, Any]]]:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the worker did not finish"
        return self.codes[0], self.lines()


@pytest.fixture
def start(endpoint: str, cloudwatch_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Running]:
    """Start the worker on `table` with the given variables, its CloudWatch on moto, reading metrics every POLL_S."""
    monkeypatch.setattr(engine_module, "PROGRESS_INTERVAL_S", 0.5)  # progress lines often enough to see a pause

    def begin(table: str, **env: str) -> Running:
        for name in Settings.env_names():
            monkeypatch.delenv(name, raising=False)
        variables = {"TABLE_NAME": table, "AWS_ENDPOINT_URL_CLOUDWATCH": cloudwatch_endpoint, **env}
        for name, value in emulator.worker_env(endpoint, **variables).items():
            monkeypatch.setenv(name, value)
        settings = load_settings()
        out = io.StringIO()
        with redirect_stdout(out):
            configure_logging(settings.log_level, settings.run_id, settings.table_name)
        running = Running(out, threading.Thread(target=lambda: running.codes.append(run(settings, lag_poll_s=POLL_S))))
        running.thread.start()
        return running

    return begin


def loaded(ddb: Any, make_table: Callable[..., str], n: int) -> tuple[str, list[tuple[str, str]]]:
    table = make_table()
    emulator.put_items(ddb, table, [item("p1", f"{i:03}", revision=1) for i in range(n)])
    return table, [("p1", f"{i:03}") for i in range(n)]


def marked(ddb: Any, table: str, run_id: str) -> int:
    """Items carrying this run's marker (touched so far)."""
    scan = ddb.scan(TableName=table, FilterExpression="rerun_id = :r", ExpressionAttributeValues={":r": {"S": run_id}})
    return int(scan["Count"])


def revisions(ddb: Any, table: str) -> Counter[int]:
    return Counter(int(i["revision"]["N"]) for i in ddb.scan(TableName=table)["Items"])


def test_a_lagging_consumer_pauses_new_writes_until_below_half_and_the_pause_is_not_a_stall(
    ddb: Any, make_table: Any, stream: Any, start: Any, cloudwatch_endpoint: str
) -> None:
    # GIVEN 80 items written at 25 a second, two watched consumers (one with errors, one with none), a stall limit
    # of 1.5 s and a lag limit of 60 s
    table, keys = loaded(ddb, make_table, 80)
    lagging, calm = cloudwatch.function(), cloudwatch.function()
    cloudwatch.put(cloudwatch_endpoint, "Errors", lagging, 2)
    cloudwatch.put(cloudwatch_endpoint, "Errors", calm, 0)
    running = start(table, HASH_KEY_VALUE="p1", RUN_ID="lag-1", MAX_ITEMS_PER_SECOND="25", MAX_STALL_SECONDS="1.5",
                    MAX_CONSUMER_LAG_SECONDS="60", CONSUMER_FUNCTIONS=f"{lagging},{calm}")  # fmt: skip
    wait_for_touches(ddb, table, "lag-1", at_least=10)
    # WHEN a consumer falls 120 s behind
    cloudwatch.put_iterator_age(cloudwatch_endpoint, lagging, 120, ago_s=90)
    running.saw("consumer_lag_pause")
    time.sleep(0.5)  # requests in flight finish
    before, on_stream = marked(ddb, table, "lag-1"), len(stream(table))
    time.sleep(3.0)
    # THEN nothing new reaches the stream while it stays behind (3 s, twice the stall limit)
    assert len(stream(table)) == on_stream and marked(ddb, table, "lag-1") == before < 80
    # WHEN it is 10 s behind (below half the limit): the run resumes and ends
    cloudwatch.put_iterator_age(cloudwatch_endpoint, lagging, 10)
    code, lines = running.finish()
    # THEN every item fired exactly once (before the pause and after it), revision + 1 each
    summary = lines[-1]
    assert code == 0 and summary["touched"] == 80 and "error" not in summary
    records = stream(table)
    assert fired_by(records, "lag-1") == Counter(keys) and len(modifies(records)) == 80
    assert len(modifies(records[on_stream:])) == 80 - before
    assert revisions(ddb, table) == Counter({2: 80})
    # AND progress lines said why they paused; the summary reports each consumer
    paused = [line for line in lines if line.get("paused_for") == "consumer_lag"]
    assert paused and paused[0]["consumer_function"] == lagging and paused[0]["consumer_iterator_age_s"] == 120.0
    assert summary["consumer_pacing"]["on"] is True and summary["consumer_pacing"]["pauses"] == 1
    report = summary["consumer_report"]
    assert report[lagging]["paused_s"] >= 3.0 and report[lagging]["max_iterator_age_s"] == 120.0
    assert report[lagging]["errors"] == 2 and report[lagging]["on_failure_deliveries"] is None
    assert report[calm] == {"paused_s": 0.0, "max_iterator_age_s": None, "errors": 0, "on_failure_deliveries": None,
                            "destination_delivery_failures": None}  # fmt: skip


def test_a_pause_past_max_consumer_pause_seconds_ends_the_run_and_the_same_run_id_completes(
    ddb: Any, make_table: Any, stream: Any, start: Any, cloudwatch_endpoint: str
) -> None:
    # GIVEN a run under way, MAX_CONSUMER_PAUSE_SECONDS=1
    table, keys = loaded(ddb, make_table, 60)
    consumer = cloudwatch.function()
    env = {"HASH_KEY_VALUE": "p1", "RUN_ID": "lag-2", "MAX_ITEMS_PER_SECOND": "25", "MAX_CONSUMER_LAG_SECONDS": "30",
           "MAX_CONSUMER_PAUSE_SECONDS": "1", "CONSUMER_FUNCTIONS": consumer}  # fmt: skip
    running = start(table, **env)
    wait_for_touches(ddb, table, "lag-2", at_least=10)
    # WHEN its consumer falls behind and stays behind
    cloudwatch.put_iterator_age(cloudwatch_endpoint, consumer, 45, ago_s=90)
    code, lines = running.finish()
    # THEN the run ends, exit 1, the unsent items unprocessed, the error saying why and how to resume
    first = lines[-1]
    assert code == 1 and first["failed"] == 0 and first["unprocessed"] > 0
    assert first["touched"] + first["unprocessed"] == 60
    assert f"consumer {consumer} is still behind (IteratorAge 45 s, MAX_CONSUMER_LAG_SECONDS=30)" in first["error"]
    assert "MAX_CONSUMER_PAUSE_SECONDS=1" in first["error"] and "same RUN_ID" in first["error"]
    # WHEN the consumer has caught up and the same RUN_ID runs again
    cloudwatch.put_iterator_age(cloudwatch_endpoint, consumer, 2)
    code, lines = start(table, **env).finish()
    # THEN it completes the rest, and every item fired exactly once over both runs
    second = lines[-1]
    assert code == 0 and (second["touched"], second["already_done"]) == (first["unprocessed"], first["touched"])
    assert fired_by(stream(table), "lag-2") == Counter(keys)
    assert revisions(ddb, table) == Counter({2: 60})


def test_metrics_that_cannot_be_read_warn_once_and_the_run_goes_on_without_consumer_pacing(
    ddb: Any, make_table: Any, stream: Any, start: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN CloudWatch unreachable
    table, keys = loaded(ddb, make_table, 20)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # one attempt per read: the test need not sit through retries
    nowhere = f"http://127.0.0.1:{emulator.free_port()}"
    running = start(table, HASH_KEY_VALUE="p1", RUN_ID="lag-3", MAX_CONSUMER_LAG_SECONDS="60",
                    CONSUMER_FUNCTIONS=cloudwatch.function(), AWS_ENDPOINT_URL_CLOUDWATCH=nowhere)  # fmt: skip
    code, lines = running.finish()
    # THEN one warning, every item fired once, and the summary says pacing was off and why
    summary = lines[-1]
    assert [line["event"] for line in lines].count("consumer_pacing_off") == 1
    assert code == 0 and summary["touched"] == 20 and fired_by(stream(table), "lag-3") == Counter(keys)
    assert summary["consumer_pacing"]["on"] is False
    assert "reading IteratorAge failed" in summary["consumer_pacing"]["reason"]
    assert "cannot reach CloudWatch" in summary["consumer_pacing"]["reason"]
    assert "CloudWatch" in summary["consumer_metrics_error"]


def test_the_streams_discovered_consumers_are_watched_and_their_on_failure_deliveries_counted(
    ddb: Any, make_table: Any, stream: Any, start: Any, cloudwatch_endpoint: str, lambda_api: Any
) -> None:
    # GIVEN no CONSUMER_FUNCTIONS, but a mapping of one function on the table's stream (the Lambda API stand-in),
    # which is 45 s behind from the start, and 3 records its mapping delivered to its on-failure destination
    table, keys = loaded(ddb, make_table, 20)
    consumer = cloudwatch.function()
    stream_arn = ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    mapping = lambda_api.add(stream_arn, consumer)
    cloudwatch.put_iterator_age(cloudwatch_endpoint, consumer, 45, ago_s=90)
    cloudwatch.client(cloudwatch_endpoint).put_metric_data(Namespace="AWS/Lambda", MetricData=[{
        "MetricName": "OnFailureDestinationDeliveredEventCount", "Value": 3.0, "Unit": "Count",
        "Dimensions": [{"Name": "EventSourceMappingUUID", "Value": mapping["UUID"]}]}])  # fmt: skip
    running = start(table, HASH_KEY_VALUE="p1", RUN_ID="lag-4", MAX_CONSUMER_LAG_SECONDS="30",
                    AWS_ENDPOINT_URL_LAMBDA=lambda_api.url)  # fmt: skip
    # THEN the run waits for the discovered consumer before its first write
    running.saw("consumer_lag_pause")
    time.sleep(1.0)
    assert marked(ddb, table, "lag-4") == 0
    # WHEN it catches up, the run ends, each item fired once; the summary reports it by its mapping's UUID
    cloudwatch.put_iterator_age(cloudwatch_endpoint, consumer, 5)
    code, lines = running.finish()
    summary = lines[-1]
    assert code == 0 and fired_by(stream(table), "lag-4") == Counter(keys)
    started = next(line for line in lines if line.get("event") == "run_started")
    assert started["consumers"]["watched"] == [consumer]
    assert summary["consumer_pacing"]["pauses"] == 1
    assert summary["consumer_report"][consumer]["on_failure_deliveries"] == 3
