"""CloudWatch log lines rendered for a person (moto's CloudWatch Logs)."""

from __future__ import annotations

import json
import time

import boto3
from moto import mock_aws

from stream_rerun.launch.logtail import LogTail
from tests.unit.launch.support import REGION, TASK_ARN


@mock_aws
def test_logs_are_streamed_readably() -> None:
    logs = boto3.client("logs", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    group, stream = "/ecs/stream-rerun-prod", f"rerun/worker/{TASK_ARN.rsplit('/', 1)[-1]}"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    lines = [
        {"timestamp": "2026-11-26T10:00:05.1+00:00", "level": "INFO", "message": "progress", "event": "progress",
         "touched": 500, "items_per_s": 99.5},
        {"timestamp": "2026-11-26T10:00:09.9+00:00", "level": "INFO", "message": "summary", "event": "summary",
         "touched": 900, "failed": 0},
    ]  # fmt: skip
    now = int(time.time() * 1000)
    events = [{"timestamp": now + i, "message": json.dumps(line)} for i, line in enumerate(lines)]
    logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)
    printed: list[str] = []
    tail = LogTail(logs, group, stream, out=lambda text, _event: printed.append(text))
    tail.poll()
    tail.poll()  # nothing new: nothing printed twice
    assert printed == [
        "10:00:05 INFO progress touched=500 items_per_s=99.5",
        "10:00:09 INFO summary touched=900 failed=0",
    ]
    assert tail.summary["touched"] == 900 and tail.progress["touched"] == 500
