"""Follow the CloudWatch log streams of a run's tasks and render each worker JSON line for a person."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from stream_rerun.errors import error_code

if TYPE_CHECKING:
    from mypy_boto3_logs import CloudWatchLogsClient

_SKIP = {"timestamp", "level", "message", "run_id", "table", "event", "taskName", "_aws"}


def render(line: dict[str, Any]) -> str:
    """`10:00:05 INFO progress touched=500 items_per_s=99.5`."""
    fields = " ".join(f"{k}={json.dumps(v)}" for k, v in line.items() if k not in _SKIP)
    stamp = str(line.get("timestamp", ""))[11:19]
    return f"{stamp} {line.get('level', '')} {line.get('message', '')} {fields}".strip()


def parse(message: str) -> dict[str, Any] | None:
    """A worker's JSON line, or None for anything else."""
    try:
        line = json.loads(message)
    except ValueError:
        return None
    return line if isinstance(line, dict) else None


LOOK_BACK_MS = 60_000  # events reach CloudWatch Logs late (the awslogs buffer, ingestion): each poll re-reads a minute
MAX_PAGES = 5  # per poll; a poll that stops here goes on from the newest event read at the next poll


@dataclass
class LogTail:
    """One task's log stream, fed by RunLogs: `take` hands each line to `out` (text, event) and keeps the worker's
    run_started, latest progress and summary lines."""

    stream: str
    prefix: str = ""
    out: Callable[[str, str | None], None] = lambda text, _event: print(text)
    summary: dict[str, Any] = field(default_factory=dict)
    progress: dict[str, Any] = field(default_factory=dict)
    started: dict[str, Any] = field(default_factory=dict)

    def take(self, message: str) -> None:
        line = parse(message)
        if line is None:
            self.out(self.prefix + message, None)
            return
        kind = line.get("event")
        if kind == "summary":
            self.summary = line
        elif kind == "progress":
            self.progress = line
        elif kind == "run_started":
            self.started = line
        self.out(self.prefix + render(line), str(kind) if kind else None)


@dataclass
class RunLogs:
    """The log streams of one run's tasks, read with one FilterLogEvents call per poll (more only when a poll's events
    fill a page) over the streams' common name prefix: GetLogEvents per task would cost a fleet of N tasks N calls
    per poll, on a per-account rate AWS meant for people. Lines are handed to each task's LogTail in worker order."""

    logs: CloudWatchLogsClient
    group: str
    tails: list[LogTail]
    since_ms: int = 0  # no event before this (the run's start): the group holds every earlier run too
    seen: dict[str, int] = field(default_factory=dict)  # eventId -> timestamp, within the look-back

    @property
    def stream_prefix(self) -> str:
        return os.path.commonprefix([t.stream for t in self.tails])  # noqa: RUF071 - a name prefix, not a path

    def poll(self) -> None:
        """Read every new event. AWS errors propagate (the follow loop retries transient ones), except a log group
        that does not exist (yet): nothing to read."""
        wanted = {t.stream for t in self.tails}
        params: dict[str, Any] = {"logGroupName": self.group, "logStreamNamePrefix": self.stream_prefix,
                                  "startTime": max(0, self.since_ms - LOOK_BACK_MS)}  # fmt: skip
        new: dict[str, list[dict[str, Any]]] = {}
        for _ in range(MAX_PAGES):
            try:
                page = self.logs.filter_log_events(**params)
            except Exception as exc:
                if error_code(exc) == "ResourceNotFoundException":
                    return
                raise
            for event in page.get("events", []):
                key = str(event.get("eventId"))
                if event.get("logStreamName") in wanted and key not in self.seen:
                    self.seen[key] = int(event.get("timestamp", 0))
                    new.setdefault(str(event["logStreamName"]), []).append(dict(event))
            if not page.get("nextToken"):
                break
            params["nextToken"] = page["nextToken"]
        for tail in self.tails:
            for mine in new.get(tail.stream, []):
                tail.take(str(mine.get("message", "")))
        if self.seen:
            self.since_ms = max(self.since_ms, *self.seen.values())
            self.seen = {k: t for k, t in self.seen.items() if t >= self.since_ms - LOOK_BACK_MS}
