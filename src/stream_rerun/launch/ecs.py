"""The tasks of one run in ECS: start them (one RunTask each, tagged with the RUN_ID), describe them 100 at a time,
stop them, find them again by RUN_ID or ARN, and read their exit codes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stream_rerun.errors import EXIT_FAILED, OPERATOR, RerunError, as_rerun_error

if TYPE_CHECKING:
    from mypy_boto3_ecs import ECSClient

DESCRIBE_LIMIT = 100  # DescribeTasks takes at most 100 tasks a call
DONE = ("STOPPED", "DELETED", "MISSING")
RUN_ID_TAG = "run-id"


@dataclass(frozen=True)
class Stopped:
    """How a task ended: the container's exit code, or why there is none."""

    code: int
    text: str


class Fleet:
    """The ECS side of a launch: one cluster, one task definition family, one container."""

    def __init__(self, ecs: ECSClient, config: dict[str, Any], spot: bool = False) -> None:
        self.ecs = ecs
        self.config = config
        self.spot = spot

    @property
    def cluster(self) -> str:
        return str(self.config["cluster"])

    def start(self, environments: list[dict[str, str]]) -> list[str]:
        """One task per environment. When a RunTask fails part-way, the tasks already started are stopped (they
        would run with a WORKER_COUNT nobody completes) and RerunError says so."""
        arns: list[str] = []
        for index, environment in enumerate(environments):
            try:
                arns.append(self.run_task(environment))
            except RerunError as exc:
                if arns:
                    self.stop(arns, f"launch failed at task {index + 1} of {len(environments)}")
                    raise RerunError(
                        f"task {index + 1} of {len(environments)} did not start ({exc}); the {len(arns)} started "
                        f"were stopped: {', '.join(arns)}. Launch again with RUN_ID={environment['RUN_ID']} "
                        "(items already touched are not fired twice)"
                    ) from None
                raise
        return arns

    def run_task(self, environment: dict[str, str]) -> str:
        c = self.config
        placement: dict[str, Any] = (
            {"capacityProviderStrategy": [{"capacityProvider": "FARGATE_SPOT", "weight": 1},
                                          {"capacityProvider": "FARGATE", "weight": 0, "base": 0}]}
            if self.spot else {"launchType": "FARGATE"}
        )  # fmt: skip
        try:
            response = self.ecs.run_task(
                cluster=c["cluster"],
                taskDefinition=c["task_definition"],
                count=1,
                startedBy="stream-rerun-launch",
                networkConfiguration={"awsvpcConfiguration": {
                    "subnets": c["subnets"], "securityGroups": c["security_groups"],
                    "assignPublicIp": "ENABLED" if c.get("assign_public_ip") else "DISABLED"}},
                overrides={"containerOverrides": [{"name": c["container_name"], "environment": [
                    {"name": k, "value": v} for k, v in sorted(environment.items())]}]},
                tags=[{"key": RUN_ID_TAG, "value": environment["RUN_ID"]}],
                **placement,
            )  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - one vocabulary for every AWS error
            raise as_rerun_error(exc, "ECS", "starting a task (RunTask)", OPERATOR) from None
        if not response.get("tasks"):
            reasons = "; ".join(
                f"{f.get('arn', '')} {f.get('reason', '')}".strip() for f in response.get("failures", [])
            )
            raise RerunError(f"RunTask started no task: {reasons or 'no reason given'}")
        return str(response["tasks"][0]["taskArn"])

    def describe(self, arns: list[str]) -> dict[str, dict[str, Any]]:
        """DescribeTasks, 100 at a time; a task ECS no longer knows is MISSING. AWS errors propagate raw (the
        follow loop retries the transient ones)."""
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(arns), DESCRIBE_LIMIT):
            chunk = arns[start : start + DESCRIBE_LIMIT]
            for task in self.ecs.describe_tasks(cluster=self.cluster, tasks=chunk, include=["TAGS"]).get("tasks", []):
                found[task["taskArn"]] = dict(task)
        return {arn: found.get(arn, {"lastStatus": "MISSING"}) for arn in arns}

    def stop(self, arns: list[str], reason: str) -> None:
        for arn in arns:
            try:
                self.ecs.stop_task(cluster=self.cluster, task=arn, reason=reason[:255])
            except Exception as exc:  # noqa: BLE001 - one vocabulary for every AWS error
                raise as_rerun_error(exc, "ECS", f"stopping {arn}", OPERATOR) from None

    def find(self, target: str) -> list[str]:
        """The tasks to re-attach to: `target` is a task ARN (or id), or a RUN_ID whose tasks (tag run-id, running
        or recently stopped) are returned ordered by WORKER_INDEX. Raises RerunError when there are none."""
        if target.startswith("arn:") or (len(target) == 32 and target.isalnum()):
            return [target if target.startswith("arn:") else self._task_arn(target)]
        arns: list[str] = []
        for status in ("RUNNING", "STOPPED"):
            pages = self.ecs.get_paginator("list_tasks").paginate(
                cluster=self.cluster, family=str(self.config["task_definition"]).split(":")[0], desiredStatus=status
            )
            arns.extend(arn for page in pages for arn in page.get("taskArns", []))
        tasks = [t for t in self.describe(arns).values() if _tag(t, RUN_ID_TAG) == target]
        if not tasks:
            raise RerunError(f"no running or recently stopped task of run {target} in {self.cluster}")
        tasks.sort(key=lambda t: int(_env(t, self.config["container_name"]).get("WORKER_INDEX", "0")))
        return [str(t["taskArn"]) for t in tasks]

    def _task_arn(self, task_id: str) -> str:
        cluster = self.cluster
        if cluster.startswith("arn:"):
            prefix, name = cluster.split(":cluster/", 1)
            return f"{prefix}:task/{name}/{task_id}"
        return task_id

    def stopped(self, task: dict[str, Any]) -> Stopped:
        """The container's exit code; a task that never started has none: exit 1 with ECS's reasons."""
        container: dict[str, Any] = next(
            (c for c in task.get("containers", []) if c.get("name") == self.config["container_name"]), {}
        )
        code = container.get("exitCode")
        if code is None:
            return Stopped(
                EXIT_FAILED,
                f"task stopped without an exit code: stopCode={task.get('stopCode')} "
                f"stoppedReason={task.get('stoppedReason')!r} containerReason={container.get('reason')!r}",
            )
        return Stopped(int(code), f"task stopped: container exit code {code}")

    def console_url(self, task_arn: str) -> str:
        region, cluster = self.config["region"], self.cluster.rsplit("/", 1)[-1]
        task_id = task_arn.rsplit("/", 1)[-1]
        return f"https://{region}.console.aws.amazon.com/ecs/v2/clusters/{cluster}/tasks/{task_id}?region={region}"


def _tag(task: dict[str, Any], key: str) -> str | None:
    return next((t.get("value") for t in task.get("tags", []) if t.get("key") == key), None)


def _env(task: dict[str, Any], container: str) -> dict[str, str]:
    overrides = task.get("overrides", {}).get("containerOverrides", [])
    mine: dict[str, Any] = next((o for o in overrides if o.get("name") == container), {})
    return {e["name"]: e["value"] for e in mine.get("environment", [])}
