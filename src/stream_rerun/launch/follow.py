"""Following tasks until they stop: logs, the timeout, Ctrl-C, and AWS answers lost along a follow of hours."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from stream_rerun.errors import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TIMEOUT,
    OPERATOR,
    as_rerun_error,
    is_retryable,
)
from stream_rerun.launch.ecs import DONE, Fleet
from stream_rerun.launch.logtail import LogTail, RunLogs
from stream_rerun.launch.progress import PlainView, View, summary_block

if TYPE_CHECKING:
    from mypy_boto3_logs import CloudWatchLogsClient

MAX_TROUBLE = 8  # consecutive failed polls (about 4 minutes with the backoff) before the launcher detaches


@dataclass
class Follower:
    """Follows `arns` until all stopped; exit code: the first non-zero container code, else 0."""

    fleet: Fleet
    logs: CloudWatchLogsClient
    timeout: float
    poll: float
    stop_on_interrupt: bool = False
    out: Callable[[str], None] = print
    sleep: Callable[[float], None] = time.sleep
    view: View | None = None
    env: str = "<env>"  # the environment's name, for the re-drive command in the summary block
    tails: list[LogTail] = field(default_factory=list)
    reader: RunLogs | None = None

    def __post_init__(self) -> None:
        self.view = self.view or PlainView(self.out)

    def tail_for(self, arn: str, prefix: str = "") -> LogTail:
        c = self.fleet.config
        stream = f"{c['log_stream_prefix']}/{c['container_name']}/{arn.rsplit('/', 1)[-1]}"
        assert self.view is not None
        return LogTail(stream, prefix, self.view.line)

    def reader_for(self, tails: list[LogTail]) -> RunLogs:
        return RunLogs(self.logs, self.fleet.config["log_group"], tails)

    def follow(self, arns: list[str]) -> int:
        """Follow until every task stopped; the view is closed before anything final is printed."""
        self.tails = [self.tail_for(arn, f"[w{i}] " if len(arns) > 1 else "") for i, arn in enumerate(arns)]
        self.reader = self.reader_for(self.tails)
        try:
            then = self._follow(arns)
        finally:
            assert self.view is not None
            self.view.close()
        return then()

    def _follow(self, arns: list[str]) -> Callable[[], int]:
        """Poll until the end; returns what to do once the view is closed (it prints and gives the exit code)."""
        assert self.view is not None and self.reader is not None
        reader = self.reader
        deadline = time.monotonic() + self.timeout
        trouble = 0
        try:
            while True:
                try:
                    tasks = self.fleet.describe(arns)
                    if not reader.since_ms:
                        reader.since_ms = created_ms(tasks.values())
                    reader.poll()
                    self.view.refresh(self.tails)
                    trouble = 0
                except Exception as exc:  # noqa: BLE001 - transient AWS trouble is retried, the rest reported
                    trouble += 1
                    if not is_retryable(exc):
                        raise as_rerun_error(exc, "ECS/CloudWatch Logs", "following the tasks", OPERATOR) from None
                    if trouble >= MAX_TROUBLE:
                        note = f"AWS did not answer {trouble} times in a row ({exc}): the tasks keep running. "
                        return partial(self._say, note + self.hint(arns), EXIT_TIMEOUT)
                    self.sleep(min(30.0, self.poll * 2**trouble))
                    continue
                if all(t.get("lastStatus") in DONE for t in tasks.values()):
                    return partial(self.finish, arns, tasks)
                if time.monotonic() > deadline:
                    running = [arn for arn, t in tasks.items() if t.get("lastStatus") not in DONE]
                    note = f"{len(running)} task(s) still running after {self.timeout:g} s. {self.hint(running)}"
                    return partial(self._say, note, EXIT_TIMEOUT)
                self.sleep(self.poll)
        except KeyboardInterrupt:
            return partial(self.interrupted, arns)

    def _say(self, text: str, code: int) -> int:
        self.out(text)
        return code

    def finish(self, arns: list[str], tasks: dict[str, dict[str, Any]]) -> int:
        codes = []
        for i, arn in enumerate(arns):
            stopped = self.fleet.stopped(tasks[arn])
            self.out((f"[w{i}] " if len(arns) > 1 else "") + stopped.text)
            codes.append(stopped.code)
        self.out(summary_block(self.tails, codes, self.env))
        return next((code for code in codes if code != EXIT_OK), EXIT_OK)

    def interrupted(self, arns: list[str]) -> int:
        if self.stop_on_interrupt:
            self.out("Ctrl-C: stopping the task(s) (the worker finishes in-flight writes and prints its summary)")
            self.fleet.stop(arns, "stopped by operator (Ctrl-C)")
            self.stop_on_interrupt = False
            return self.follow(arns)
        self.out(f"Ctrl-C: the task(s) keep running. {self.hint(arns)}")
        return EXIT_INTERRUPTED

    def hint(self, arns: list[str]) -> str:
        """How to re-attach, follow the logs, and stop: naming every task."""
        run_id = next((t.started.get("run_id") for t in self.tails if t.started.get("run_id")), None)
        attach = f"--attach {run_id}" if run_id else " ".join(f"--attach {arn}" for arn in arns[:1])
        group = self.fleet.config["log_group"]
        return (
            f"Re-attach: make rerun ENV=... LAUNCH_ARGS='{attach}'. Logs: aws logs tail {group} --follow. "
            f"Stop: aws ecs stop-task --cluster {self.fleet.cluster} --task <arn>, for each of: {' '.join(arns)}"
        )


def created_ms(tasks: Iterable[dict[str, Any]]) -> int:
    """When the first of these tasks was created (ms since the epoch), where ECS says; else 0 (read from the start)."""
    times = [t["createdAt"].timestamp() for t in tasks if hasattr(t.get("createdAt"), "timestamp")]
    return int(min(times) * 1000) if times else 0
