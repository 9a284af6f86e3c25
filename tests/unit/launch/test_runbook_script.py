"""The runbook's script steps (terraform/modules/stream-rerun/runbook_script.py), run as SSM runs them (a handler
called with the step's InputPayload) against moto's ECS; and its copy of the launcher's outcome.py is verbatim."""

from __future__ import annotations

import importlib.util
import inspect
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

from stream_rerun.launch import outcome
from tests.unit.launch.support import REGION, deploy

SCRIPT = Path(__file__).resolve().parents[3] / "terraform" / "modules" / "stream-rerun" / "runbook_script.py"
SHORT = "Capacity is unavailable at this time. Please try again later or in a different availability zone"


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("runbook_script", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def aws() -> Any:
    """One moto deployment for the module (the tests start tasks with their own RUN_IDs)."""
    with pytest.MonkeyPatch.context() as env, mock_aws():
        for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                            ("AWS_DEFAULT_REGION", REGION)):  # fmt: skip
            env.setenv(name, value)
        aws = {name: boto3.client(name, region_name=REGION) for name in ("ecs", "ssm", "ec2")}
        yield aws, deploy(aws)


def payload(config: dict[str, Any], spot: bool = False, **worker: str) -> dict[str, Any]:
    """The RunTask step's InputPayload as runbook.yaml fills it: every parameter, empty when not given."""
    given = {name: "" for name in ("HASH_KEY_VALUE", "GSI_DATE", "DRY_RUN", "RUN_ID", "KEYS_FILE")}
    return {**given, **worker, "Cluster": config["cluster"], "TaskDefinition": config["task_definition"],
            "ContainerName": "worker", "Subnets": config["subnets"], "SecurityGroups": ["sg-1"],
            "AssignPublicIp": "DISABLED", "Spot": str(spot).lower(), "LogStreamPrefix": "rerun"}  # fmt: skip


class SpotShort:
    """moto's ECS, except that RunTask on FARGATE_SPOT answers as AWS does when Spot capacity is short."""

    def __init__(self, ecs: Any) -> None:
        self.ecs, self.asked = ecs, []  # type: list[dict[str, Any]]

    def run_task(self, **params: Any) -> Any:
        self.asked.append(params)
        if "capacityProviderStrategy" in params:
            return {"tasks": [], "failures": [{"arn": "arn:aws:ecs:eu-west-1:123456789012:cluster/x", "reason": SHORT}]}
        return self.ecs.run_task(**params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.ecs, name)


def test_the_shared_block_is_the_launchers_outcome_module_verbatim() -> None:
    text = SCRIPT.read_text()
    block = re.search(r"# ---- begin stream_rerun/launch/outcome.py ----\n(.*)# ---- end", text, re.DOTALL)
    assert block is not None
    source = inspect.getsource(outcome)
    assert block.group(1).strip() == source[source.index("CAPACITY_PROVIDERS") :].strip()


def test_start_runs_the_task_with_only_the_variables_given_and_a_run_id(
    aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    clients, config = aws
    script = load()
    monkeypatch.setattr(script, "ecs_client", lambda: clients["ecs"])  # boto3.client("ecs") in SSM's sandbox
    result = script.start(payload(config, HASH_KEY_VALUE="cust-1", DRY_RUN="true"), None)
    task = clients["ecs"].describe_tasks(cluster=config["cluster"], tasks=[result["task_arn"]], include=["TAGS"])
    task = task["tasks"][0]
    env = {e["name"]: e["value"] for e in task["overrides"]["containerOverrides"][0]["environment"]}
    assert set(env) == {"HASH_KEY_VALUE", "DRY_RUN", "RUN_ID"} and env["HASH_KEY_VALUE"] == "cust-1"
    assert re.fullmatch(r"\d{8}T\d{6}Z-[0-9a-f]{8}", env["RUN_ID"]) and env["RUN_ID"] == result["run_id"]
    assert {"key": "run-id", "value": result["run_id"]} in task["tags"]
    assert result["capacity"] == "FARGATE" and result["log_stream"] == f"rerun/worker/{task['taskArn'].rsplit('/')[-1]}"


def test_start_on_spot_falls_back_to_fargate_when_capacity_is_short(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    clients, config = aws
    script = load()
    ecs = SpotShort(clients["ecs"])
    monkeypatch.setattr(script, "ecs_client", lambda: ecs)
    result = script.start(payload(config, spot=True, RUN_ID="r-1"), None)
    assert [("capacityProviderStrategy" in p, p.get("launchType")) for p in ecs.asked] == [
        (True, None),
        (False, "FARGATE"),
    ]
    assert result["capacity"] == "FARGATE" and SHORT in result["note"] and result["run_id"] == "r-1"
    assert result["task_arn"] in clients["ecs"].list_tasks(cluster=config["cluster"])["taskArns"]


def test_start_fails_the_step_with_runtasks_failures(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    _, config = aws
    script = load()
    monkeypatch.setattr(script, "ecs_client", lambda: SimpleEcs({"tasks": [], "failures": [{"reason": "MISSING"}]}))
    with pytest.raises(RuntimeError, match="RunTask started no task: MISSING"):
        script.start(payload(config, RUN_ID="r-2"), None)


class SimpleEcs:
    """One canned answer to every call: ECS states moto cannot reach (exit codes, stop codes)."""

    def __init__(self, answer: dict[str, Any]) -> None:
        self.answer = answer

    def run_task(self, **_: Any) -> dict[str, Any]:
        return self.answer

    def describe_tasks(self, **_: Any) -> dict[str, Any]:
        return self.answer


def test_check_reads_the_task_the_start_step_started(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    clients, config = aws
    script = load()
    monkeypatch.setattr(script, "ecs_client", lambda: clients["ecs"])
    arn = script.start(payload(config, RUN_ID="r-3"), None)["task_arn"]
    events = {"Cluster": config["cluster"], "TaskArn": arn, "ContainerName": "worker"}
    with pytest.raises(RuntimeError, match="not STOPPED"):  # the wait step comes first
        script.check(events, None)
    clients["ecs"].stop_task(cluster=config["cluster"], task=arn, reason="stopped in the test")
    result = script.check(events, None)  # moto stops a task with exit code 0
    assert result["exit_code"] == 0 and "stoppedReason='stopped in the test'" in result["stopped"]


@pytest.mark.parametrize(
    ("task", "raised"),
    [({"lastStatus": "STOPPED", "containers": [{"name": "worker", "exitCode": 0}]}, None),
     ({"lastStatus": "STOPPED", "stopCode": "EssentialContainerExited", "containers": [
         {"name": "worker", "exitCode": 137, "reason": "OutOfMemoryError: Container killed due to memory usage"}]},
      "exit code 137 .*stopCode=EssentialContainerExited.*OutOfMemoryError"),
     ({"lastStatus": "STOPPED", "stopCode": "SpotInterruption", "tags": [{"key": "run-id", "value": "r-9"}],
       "containers": [{"name": "worker", "exitCode": 143}]},
      "exit code 143 .*SpotInterruption.*reclaimed by Spot: run the runbook again with RunId=r-9"),
     ({"lastStatus": "RUNNING", "containers": [{"name": "worker"}]}, "is RUNNING, not STOPPED")],
)  # fmt: skip
def test_check_passes_exit_code_0_only_and_says_why_otherwise(
    task: dict[str, Any], raised: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = load()
    monkeypatch.setattr(script, "ecs_client", lambda: SimpleEcs({"tasks": [{"taskArn": "t", **task}]}))
    events = {"Cluster": "c", "TaskArn": "t", "ContainerName": "worker"}
    if raised is None:
        assert script.check(events, None)["exit_code"] == 0
    else:
        with pytest.raises(RuntimeError, match=raised):
            script.check(events, None)
