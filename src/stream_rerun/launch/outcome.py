"""Where a task runs and how it ended, read the same way by the launcher and by the runbook's script.

Standard library only, and copied verbatim into terraform/modules/stream-rerun/runbook_script.py (an SSM
aws:executeScript step cannot import this package); tests/unit/launch/test_runbook_script.py keeps the two equal.
"""

from __future__ import annotations

from typing import Any

CAPACITY_PROVIDERS = ("FARGATE_SPOT", "FARGATE")
SPOT_STOP_CODE = "SpotInterruption"


def placement(spot: bool) -> dict[str, Any]:
    """RunTask's placement: FARGATE_SPOT alone, or FARGATE. ECS never moves a task from FARGATE_SPOT to FARGATE by
    itself (a weight-0 provider in the strategy places nothing): the caller starts it again with placement(False)
    when capacity_short() says so."""
    if spot:
        return {"capacityProviderStrategy": [{"capacityProvider": "FARGATE_SPOT", "weight": 1}]}
    return {"launchType": "FARGATE"}


def capacity_short(failures: list[Any]) -> str | None:
    """The reason, when RunTask's failures say capacity is short ("Capacity is unavailable at this time ..."), else
    None."""
    reasons = [str(f.get("reason", "")) for f in failures]
    return next((r for r in reasons if "capacity" in r.lower()), None)


def failure_reasons(failures: list[Any]) -> str:
    """RunTask's failures, one line."""
    return "; ".join(f"{f.get('arn', '')} {f.get('reason', '')}".strip() for f in failures) or "no reason given"


def task_outcome(task: dict[str, Any], container_name: str) -> tuple[int, str]:
    """The container's exit code and a line saying how the task ended, with ECS's stopCode, stoppedReason and the
    container's reason (OutOfMemoryError, ...) whenever ECS gives them: 137 or 143 alone explain nothing. A task that
    never started has no exit code: 1."""
    container: dict[str, Any] = next((c for c in task.get("containers", []) if c.get("name") == container_name), {})
    said = {"stopCode": task.get("stopCode"), "stoppedReason": task.get("stoppedReason"),
            "containerReason": container.get("reason")}  # fmt: skip
    why = " ".join(f"{k}={v!r}" if k != "stopCode" else f"{k}={v}" for k, v in said.items() if v)
    code = container.get("exitCode")
    if code is None:
        return 1, f"task stopped without an exit code: {why or 'ECS gave no reason'}"
    return int(code), f"task stopped: container exit code {code}" + (f" ({why})" if why else "")


def reclaimed_by_spot(task: dict[str, Any]) -> bool:
    """Whether Fargate Spot took the task's capacity back (its two-minute SIGTERM; the worker stopped cleanly)."""
    return task.get("stopCode") == SPOT_STOP_CODE
