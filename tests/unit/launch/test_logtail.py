"""CloudWatch log lines rendered for a person, read with one FilterLogEvents per poll (moto's CloudWatch Logs)."""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from stream_rerun.launch.logtail import LogTail, RunLogs
from tests.unit.launch.support import REGION, TASK_ARN, client, follower

GROUP = "/ecs/stream-rerun-prod"


@pytest.fixture
def logs() -> Any:
    with mock_aws():
        logs = boto3.client("logs", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
        logs.create_log_group(logGroupName=GROUP)
        yield logs


def put(logs: Any, stream: str, lines: list[dict[str, Any]], at: int) -> None:
    events = [{"timestamp": at + i, "message": json.dumps(line)} for i, line in enumerate(lines)]
    logs.put_log_events(logGroupName=GROUP, logStreamName=stream, logEvents=events)


def test_logs_are_streamed_readably(logs: Any) -> None:
    stream = f"rerun/worker/{TASK_ARN.rsplit('/', 1)[-1]}"
    logs.create_log_stream(logGroupName=GROUP, logStreamName=stream)
    lines = [
        {"timestamp": "2026-11-26T10:00:05.1+00:00", "level": "INFO", "message": "progress", "event": "progress",
         "touched": 500, "items_per_s": 99.5},
        {"timestamp": "2026-11-26T10:00:09.9+00:00", "level": "INFO", "message": "summary", "event": "summary",
         "touched": 900, "failed": 0},
    ]  # fmt: skip
    put(logs, stream, lines, int(time.time() * 1000))
    printed: list[str] = []
    tail = LogTail(stream, out=lambda text, _event: printed.append(text))
    reader = RunLogs(logs, GROUP, [tail])
    reader.poll()
    reader.poll()  # nothing new: nothing printed twice (the look-back re-reads, the event ids are remembered)
    assert printed == [
        "10:00:05 INFO progress touched=500 items_per_s=99.5",
        "10:00:09 INFO summary touched=900 failed=0",
    ]
    assert tail.summary["touched"] == 900 and tail.progress["touched"] == 500


def test_a_fleet_of_fifty_is_followed_with_at_most_two_log_calls_per_poll(logs: Any) -> None:
    # GIVEN 50 running tasks, each writing a line between polls, and another run's task in the same log group
    arns = [f"{TASK_ARN[:-2]}{i:02}" for i in range(50)]
    streams = [f"rerun/worker/{a.rsplit('/', 1)[-1]}" for a in arns]
    for stream in [*streams, "rerun/worker/another-run"]:
        logs.create_log_stream(logGroupName=GROUP, logStreamName=stream)
    now = int(time.time() * 1000)
    ecs = client("ecs")
    ecs_stub = Stubber(ecs)
    for state in ("RUNNING", "RUNNING", "STOPPED"):
        tasks = [{"taskArn": a, "lastStatus": state, "containers": [{"name": "worker", "exitCode": 0}]} for a in arns]
        ecs_stub.add_response("describe_tasks", {"tasks": tasks})
    polls = 0
    calls: Counter[int] = Counter()

    def count(**_: Any) -> None:
        calls[polls] += 1

    logs.meta.events.register("before-call.logs.FilterLogEvents", count)

    def between_polls(_seconds: float) -> None:  # the follow loop's sleep: the workers write meanwhile
        nonlocal polls
        polls += 1
        for i, stream in enumerate(reversed(streams)):
            put(logs, stream, [{"event": "progress", "message": "progress", "touched": polls}], now + polls * 100 + i)
        put(logs, "rerun/worker/another-run", [{"event": "progress", "message": "not ours"}], now + polls * 100)

    for i, stream in enumerate(streams):
        put(logs, stream, [{"event": "run_started", "message": "run_started", "worker": i}], now + i)
    lines: list[str] = []
    # WHEN the launcher follows them
    with ecs_stub:
        code = follower(ecs, logs, lines, sleep=between_polls).follow(arns)
    # THEN each poll made at most two log calls (one here), and every worker's lines came once, in worker order
    assert code == 0 and polls == 2 and set(calls) == {0, 1, 2} and max(calls.values()) <= 2
    logged = [x for x in lines if x.startswith("[w") and ("progress" in x or "run_started" in x)]
    assert len(logged) == 150 and not any("not ours" in x for x in lines)
    first_poll = [int(x[2 : x.index("]")]) for x in logged[:50]]
    assert first_poll == list(range(50))
    assert Counter(x.split()[0] for x in logged) == Counter({f"[w{i}]": 3 for i in range(50)})
