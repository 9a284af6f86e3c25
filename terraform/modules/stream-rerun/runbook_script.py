"""The runbook's two script steps (aws:executeScript, Python 3.11; templatefile puts this file into runbook.yaml).

RunTask (handler start): the worker variables given become the container's environment, RUN_ID generated when
empty; RunTask on FARGATE_SPOT (when the module says so) or FARGATE, and on FARGATE after all when RunTask's failures
say Spot capacity is short; the step fails with RunTask's failures otherwise. CheckExitCode (handler check): how the
stopped task ended; the step fails unless the container exited 0, with the exit code and ECS's reasons. The wait in
between is an aws:waitForAwsResourceProperty step: a script step runs for at most 600 seconds.

Self-contained (a script step cannot import the project): the block between the markers is
stream_rerun/launch/outcome.py, the launcher's own reading of RunTask and of a stopped task, copied verbatim
(tests/unit/launch/test_runbook_script.py keeps them equal, and runs these handlers against moto).
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import boto3

# ---- begin stream_rerun/launch/outcome.py ----
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


# ---- end stream_rerun/launch/outcome.py ----

RUN_ID_TAG = "run-id"


def ecs_client() -> Any:
    return boto3.client("ecs")


def start(events: dict[str, Any], context: Any) -> dict[str, Any]:
    """Start the task. events: the worker variables (upper case; empty means not given), Cluster, TaskDefinition,
    ContainerName, Subnets, SecurityGroups, AssignPublicIp, Spot ("true"/"false"), LogStreamPrefix."""
    environment = {k: str(v) for k, v in events.items() if k.isupper() and str(v) != ""}
    if not environment.get("RUN_ID"):
        environment["RUN_ID"] = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(4)
    spot = str(events.get("Spot", "false")).lower() == "true"
    response = _run_task(events, environment, placement(spot))
    short = capacity_short(response.get("failures", [])) if spot and not response.get("tasks") else None
    if short:
        response = _run_task(events, environment, placement(False))
    if not response.get("tasks"):
        raise RuntimeError(f"RunTask started no task: {failure_reasons(response.get('failures', []))}")
    arn = str(response["tasks"][0]["taskArn"])
    capacity = "FARGATE" if short or not spot else "FARGATE_SPOT"
    note = f"FARGATE_SPOT capacity is short ({short}): started on FARGATE instead" if short else f"on {capacity}"
    print(f"task {arn} {note}")
    stream = f"{events['LogStreamPrefix']}/{events['ContainerName']}/{arn.rsplit('/', 1)[-1]}"
    return {"task_arn": arn, "run_id": environment["RUN_ID"], "capacity": capacity, "note": note,
            "log_stream": stream}  # fmt: skip


def _run_task(events: dict[str, Any], environment: dict[str, str], where: dict[str, Any]) -> dict[str, Any]:
    network = {"subnets": list(events["Subnets"]), "securityGroups": list(events["SecurityGroups"]),
               "assignPublicIp": str(events["AssignPublicIp"])}  # fmt: skip
    overrides = [{"name": events["ContainerName"],
                  "environment": [{"name": k, "value": v} for k, v in sorted(environment.items())]}]  # fmt: skip
    return dict(ecs_client().run_task(
        cluster=events["Cluster"], taskDefinition=events["TaskDefinition"], count=1, startedBy="ssm-automation",
        networkConfiguration={"awsvpcConfiguration": network}, overrides={"containerOverrides": overrides},
        tags=[{"key": RUN_ID_TAG, "value": environment["RUN_ID"]}], **where,
    ))  # fmt: skip


def check(events: dict[str, Any], context: Any) -> dict[str, Any]:
    """Fail the step unless the task stopped and its container exited 0. events: Cluster, TaskArn, ContainerName."""
    tasks = ecs_client().describe_tasks(cluster=events["Cluster"], tasks=[events["TaskArn"]], include=["TAGS"])
    task = (tasks.get("tasks") or [{}])[0]
    if task.get("lastStatus") != "STOPPED":
        raise RuntimeError(f"task {events['TaskArn']} is {task.get('lastStatus', 'unknown to ECS')}, not STOPPED")
    code, text = task_outcome(task, str(events["ContainerName"]))
    if reclaimed_by_spot(task):
        run_id = next((t.get("value") for t in task.get("tags", []) if t.get("key") == RUN_ID_TAG), "<RUN_ID>")
        text += f"; reclaimed by Spot: run the runbook again with RunId={run_id} and the same selection"
    print(text)
    if code != 0:
        raise RuntimeError(text)
    return {"exit_code": code, "stopped": text}
