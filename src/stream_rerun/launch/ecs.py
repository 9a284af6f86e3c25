"""The tasks of one run in ECS: start them (one RunTask each, tagged with the RUN_ID), describe them 100 at a time,
stop them, find them again by RUN_ID or ARN, and read their exit codes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stream_rerun.errors import OPERATOR, RerunError, as_rerun_error
from stream_rerun.launch.outcome import capacity_short, failure_reasons, placement, reclaimed_by_spot, task_outcome

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

    def __init__(
        self, ecs: ECSClient, config: dict[str, Any], spot: bool = False, out: Callable[[str], None] = print
    ) -> None:
        self.ecs = ecs
        self.config = config
        self.spot = spot
        self.out = out
        self.on_demand: list[str] = []  # tasks that asked for Spot and run on FARGATE (Spot capacity was short)

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
        """One RunTask; with Spot, a second one on FARGATE when RunTask's failures say Spot capacity is short (ECS
        does not fall back by itself), said per worker."""
        response = self._run_task(environment, placement(self.spot))
        short = capacity_short(response.get("failures", [])) if self.spot and not response.get("tasks") else None
        if short:
            response = self._run_task(environment, placement(False))
        if not response.get("tasks"):
            raise RerunError(f"RunTask started no task: {failure_reasons(response.get('failures', []))}")
        arn = str(response["tasks"][0]["taskArn"])
        if short:
            self.on_demand.append(arn)
            worker = f"[w{environment['WORKER_INDEX']}] " if "WORKER_INDEX" in environment else ""
            self.out(f"{worker}FARGATE_SPOT capacity is short ({short}): started on FARGATE instead: {arn}")
        return arn

    def _run_task(self, environment: dict[str, str], where: dict[str, Any]) -> dict[str, Any]:
        c = self.config
        try:
            return dict(self.ecs.run_task(
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
                **where,
            ))  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - one vocabulary for every AWS error
            raise as_rerun_error(exc, "ECS", "starting a task (RunTask)", OPERATOR) from None

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
        """The container's exit code (1 for a task that never started) and ECS's reasons; a task Spot reclaimed says
        how to go on."""
        code, text = task_outcome(task, self.config["container_name"])
        if reclaimed_by_spot(task):
            run_id = _tag(task, RUN_ID_TAG) or "<RUN_ID>"
            text += (
                f"; reclaimed by Spot: resume with --attach {run_id} (the rest of the fleet) / rerun with "
                f"RUN_ID={run_id} and the same selection (items already touched are not fired twice)"
            )
        return Stopped(code, text)

    def links(self, arns: list[str]) -> list[str]:
        """Each task and its console page, then the deployment's CloudWatch dashboard (the run configuration's
        `dashboard_url`, when Terraform wrote one)."""
        lines = [f"task {arn}\n{self.console_url(arn)}" for arn in arns]
        dashboard = self.config.get("dashboard_url")
        return lines + ([f"dashboard {dashboard}"] if dashboard else [])

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
