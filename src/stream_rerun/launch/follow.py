"""Following tasks until they stop: logs, the timeout, Ctrl-C, and AWS answers lost along a follow of hours."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
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
from stream_rerun.launch.logtail import LogTail

if TYPE_CHECKING:
    from mypy_boto3_logs import CloudWatchLogsClient

COUNTERS = ("selected", "touched", "already_done", "vanished", "failed", "unprocessed")
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
    tails: list[LogTail] = field(default_factory=list)

    def tail_for(self, arn: str, prefix: str = "") -> LogTail:
        c = self.fleet.config
        stream = f"{c['log_stream_prefix']}/{c['container_name']}/{arn.rsplit('/', 1)[-1]}"
        return LogTail(self.logs, c["log_group"], stream, prefix, self.out)

    def follow(self, arns: list[str]) -> int:
        self.tails = [self.tail_for(arn, f"[w{i}] " if len(arns) > 1 else "") for i, arn in enumerate(arns)]
        deadline = time.monotonic() + self.timeout
        trouble = 0
        try:
            while True:
                try:
                    tasks = self.fleet.describe(arns)
                    for tail in self.tails:
                        tail.poll()
                    trouble = 0
                except Exception as exc:  # noqa: BLE001 - transient AWS trouble is retried, the rest reported
                    trouble += 1
                    if not is_retryable(exc):
                        raise as_rerun_error(exc, "ECS/CloudWatch Logs", "following the tasks", OPERATOR) from None
                    if trouble >= MAX_TROUBLE:
                        self.out(f"AWS did not answer {trouble} times in a row ({exc}): the tasks keep running. "
                                 + self.hint(arns))  # fmt: skip
                        return EXIT_TIMEOUT
                    self.sleep(min(30.0, self.poll * 2**trouble))
                    continue
                if all(t.get("lastStatus") in DONE for t in tasks.values()):
                    return self.finish(arns, tasks)
                if time.monotonic() > deadline:
                    running = [arn for arn, t in tasks.items() if t.get("lastStatus") not in DONE]
                    self.out(f"{len(running)} task(s) still running after {self.timeout:g} s. {self.hint(running)}")
                    return EXIT_TIMEOUT
                self.sleep(self.poll)
        except KeyboardInterrupt:
            return self.interrupted(arns)

    def finish(self, arns: list[str], tasks: dict[str, dict[str, Any]]) -> int:
        codes = []
        for i, arn in enumerate(arns):
            stopped = self.fleet.stopped(tasks[arn])
            self.out((f"[w{i}] " if len(arns) > 1 else "") + stopped.text)
            codes.append(stopped.code)
        if len(arns) > 1:
            self.out("combined summary: " + json.dumps(combine([t.summary for t in self.tails])))
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


def combine(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    """The workers' summary lines added up; `reported` says how many tasks printed one."""
    done = [s for s in summaries if s]
    out: dict[str, Any] = {k: sum(int(s.get(k, 0)) for s in done) for k in COUNTERS}
    out.update(tasks=len(summaries), reported=len(done), interrupted=any(s.get("interrupted") for s in done))
    return out
