"""Follow a task's CloudWatch log stream and render each worker JSON line for a person."""

from __future__ import annotations

import json
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


@dataclass
class LogTail:
    """One task's log stream. `poll` hands each new line to `out` (text, event) and keeps the worker's run_started,
    latest progress and summary lines."""

    logs: CloudWatchLogsClient
    group: str
    stream: str
    prefix: str = ""
    out: Callable[[str, str | None], None] = lambda text, _event: print(text)
    token: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    progress: dict[str, Any] = field(default_factory=dict)
    started: dict[str, Any] = field(default_factory=dict)

    def poll(self) -> None:
        """Read every new event. AWS errors propagate (the follow loop retries transient ones), except a stream
        that does not exist yet: it appears when the container starts."""
        while True:
            params: dict[str, Any] = {"logGroupName": self.group, "logStreamName": self.stream, "startFromHead": True}
            if self.token:
                params["nextToken"] = self.token
            try:
                page = self.logs.get_log_events(**params)
            except Exception as exc:
                if error_code(exc) == "ResourceNotFoundException":
                    return
                raise
            for event in page.get("events", []):
                self.take(event["message"])
            if page.get("nextForwardToken") in (None, self.token):
                return
            self.token = page["nextForwardToken"]

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
