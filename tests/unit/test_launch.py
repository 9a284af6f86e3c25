"""The launcher's API flow: moto for ECS, SSM and CloudWatch Logs; botocore Stubber for the states moto cannot
reach (a task STOPPED with an exit code, a task that never started, a runbook that finished)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws

from stream_rerun import launch

REGION = "eu-west-1"
TASK_ARN = "arn:aws:ecs:eu-west-1:123456789012:task/stream-rerun-prod/0123456789abcdef"


def run_config(cluster: str = "arn:aws:ecs:eu-west-1:123456789012:cluster/stream-rerun-prod") -> dict[str, Any]:
    return {
        "cluster": cluster, "task_definition": "stream-rerun-prod", "container_name": "worker",
        "subnets": ["subnet-1"], "security_groups": ["sg-1"], "assign_public_ip": False,
        "log_group": "/ecs/stream-rerun-prod", "log_stream_prefix": "rerun", "region": REGION,
        "runbook": "stream-rerun-prod-run", "worker_defaults": {"TABLE_NAME": "orders", "GSI_NAME": "by_date"},
    }  # fmt: skip


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        yield {name: boto3.client(name, region_name=REGION) for name in ("ecs", "logs", "ssm", "ec2")}


def deploy(aws: Any) -> dict[str, Any]:
    """What Terraform would create, in moto: cluster, task definition, the SSM run configuration."""
    cluster = aws["ecs"].create_cluster(clusterName="stream-rerun-prod")["cluster"]["clusterArn"]
    worker = {"name": "worker", "image": "worker:1", "essential": True, "memory": 1024}
    aws["ecs"].register_task_definition(
        family="stream-rerun-prod", requiresCompatibilities=["FARGATE"], networkMode="awsvpc", cpu="512",
        memory="1024", containerDefinitions=[worker],
    )  # fmt: skip
    vpc = aws["ec2"].create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    aws["ec2"].modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})  # moto's ENI needs it
    subnet = aws["ec2"].create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    config = {**run_config(cluster), "subnets": [subnet]}
    aws["ssm"].put_parameter(Name="/stream-rerun/prod/run-task-config", Value=json.dumps(config), Type="String")
    return config


def test_forwards_only_the_workers_variables(aws: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    # GIVEN a caller's environment with credentials, HOME, unrelated variables and a selection
    deploy(aws)
    for name, value in {"HASH_KEY_VALUE": "cust-42", "DRY_RUN": "true", "HOME": "/home/sre", "FOO": "bar",
                        "AWS_SESSION_TOKEN": "secret-token", "PATH": "/usr/bin"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    # WHEN the launcher starts the task without waiting
    code = launch.main(["--env", "prod", "--no-wait"], clients={k: aws[k] for k in ("ecs", "logs", "ssm")})
    # THEN the task's overrides hold the selection and a run id, and nothing else
    assert code == 0
    cluster = run_config()["cluster"]
    task = aws["ecs"].describe_tasks(cluster=cluster, tasks=aws["ecs"].list_tasks(cluster=cluster)["taskArns"])
    override = task["tasks"][0]["overrides"]["containerOverrides"][0]
    env = {e["name"]: e["value"] for e in override["environment"]}
    assert set(env) == {"HASH_KEY_VALUE", "DRY_RUN", "RUN_ID"}
    assert (env["HASH_KEY_VALUE"], env["DRY_RUN"], override["name"]) == ("cust-42", "true", "worker")
    out = capsys.readouterr().out
    assert env["RUN_ID"] in out and "console.aws.amazon.com/ecs/v2/clusters/stream-rerun-prod/tasks/" in out
    assert "secret-token" not in json.dumps(task, default=str)


def test_bad_selection_fails_locally_and_starts_nothing(aws: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    deploy(aws)
    monkeypatch.setenv("GSI_DATE_FROM", "2024-02-10")
    monkeypatch.setenv("GSI_DATE_TO", "2024-02-01")
    code = launch.main(["--env", "prod", "--no-wait"], clients={k: aws[k] for k in ("ecs", "logs", "ssm")})
    assert code == 2
    assert "GSI_DATE_FROM 2024-02-10 is after GSI_DATE_TO" in capsys.readouterr().err
    assert aws["ecs"].list_tasks(cluster=run_config()["cluster"])["taskArns"] == []


def test_missing_run_configuration_says_to_apply(aws: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    monkeypatch.setenv("HASH_KEY_VALUE", "x")
    code = launch.main(["--env", "staging"], clients={k: aws[k] for k in ("ecs", "logs", "ssm")})
    err = capsys.readouterr().err
    assert code == 2
    assert "no SSM parameter /stream-rerun/staging/run-task-config" in err and "make apply ENV=staging" in err


def test_config_file_instead_of_ssm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"cluster": "c"}))
    with pytest.raises(launch.ConfigError, match="lacks task_definition"):
        launch.load_config("prod", path, ssm=None)
    path.write_text(json.dumps(run_config()))
    assert launch.load_config("prod", path, ssm=None)["container_name"] == "worker"


def follow_with(describe: list[dict[str, Any]], logs: Any = None) -> tuple[int, Any]:
    """Run Launcher.follow against stubbed DescribeTasks answers (and an optional logs client)."""
    ecs = boto3.client("ecs", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(ecs)
    for task in describe:
        stub.add_response("describe_tasks", {"tasks": [task]}, {"cluster": ANY, "tasks": [TASK_ARN]})
    if logs is None:
        logs = boto3.client("logs", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
        log_stub = Stubber(logs)
        for _ in describe:
            log_stub.add_client_error("get_log_events", "ResourceNotFoundException")
        log_stub.activate()
    args = launch.parse_args(["--env", "prod", "--poll", "0"])
    with stub:
        code = launch.Launcher(args, run_config(), {"ecs": ecs, "logs": logs, "ssm": None}).follow(TASK_ARN)
        stub.assert_no_pending_responses()
    return code, stub


@pytest.mark.parametrize("exit_code", [0, 1, 2, 143])
def test_exit_code_is_the_containers(exit_code: int) -> None:
    running = {"taskArn": TASK_ARN, "lastStatus": "RUNNING", "containers": [{"name": "worker"}]}
    stopped = {"taskArn": TASK_ARN, "lastStatus": "STOPPED", "stopCode": "EssentialContainerExited",
               "containers": [{"name": "worker", "exitCode": exit_code}]}  # fmt: skip
    code, _ = follow_with([running, running, stopped])
    assert code == exit_code


def test_task_that_never_started_is_a_failure_with_its_reason(capsys: Any) -> None:
    stopped = {"taskArn": TASK_ARN, "lastStatus": "STOPPED", "stopCode": "TaskFailedToStart",
               "stoppedReason": "CannotPullContainerError: pull image manifest has been retried 5 time(s)",
               "containers": [{"name": "worker", "reason": "CannotPullContainerError"}]}  # fmt: skip
    code, _ = follow_with([stopped])
    assert code == 1
    out = capsys.readouterr().out
    assert "stopCode=TaskFailedToStart" in out and "CannotPullContainerError" in out


def test_logs_are_streamed_readably(aws: Any, capsys: Any) -> None:
    group, stream = "/ecs/stream-rerun-prod", f"rerun/worker/{TASK_ARN.rsplit('/', 1)[-1]}"
    aws["logs"].create_log_group(logGroupName=group)
    aws["logs"].create_log_stream(logGroupName=group, logStreamName=stream)
    lines = [
        {"timestamp": "2026-11-26T10:00:05.1+00:00", "level": "INFO", "message": "progress", "event": "progress",
         "touched": 500, "items_per_s": 99.5},
        {"timestamp": "2026-11-26T10:00:09.9+00:00", "level": "INFO", "message": "summary", "event": "summary",
         "touched": 900, "failed": 0},
    ]  # fmt: skip
    now = int(time.time() * 1000)
    events = [{"timestamp": now + i, "message": json.dumps(line)} for i, line in enumerate(lines)]
    aws["logs"].put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)
    tail = launch.LogTail(aws["logs"], group, stream)
    tail.poll()
    tail.poll()  # nothing new: nothing printed twice
    out = capsys.readouterr().out.splitlines()
    assert out == ["10:00:05 INFO progress touched=500 items_per_s=99.5", "10:00:09 INFO summary touched=900 failed=0"]
    assert tail.summary["touched"] == 900


def test_runbook_outcome_and_parameters() -> None:
    ssm = boto3.client("ssm", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(ssm)
    stub.add_response("start_automation_execution", {"AutomationExecutionId": "0123abcd-0123-4567-89ab-0123456789ab"},
                      {"DocumentName": "stream-rerun-prod-run",
                       "Parameters": {"HashKeyValue": ["cust-1"], "RunId": ["r1"]}})  # fmt: skip
    stub.add_response("get_automation_execution", {"AutomationExecution": {
        "AutomationExecutionStatus": "Failed", "FailureMessage": "Step AssertExitCode failed",
        "StepExecutions": [{"StepName": "RunTask", "Outputs": {"TaskArn": [TASK_ARN]}}]}})  # fmt: skip
    ecs = boto3.client("ecs", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    ecs_stub = Stubber(ecs)
    ecs_stub.add_response("describe_tasks", {"tasks": [{"taskArn": TASK_ARN, "lastStatus": "STOPPED", "containers": [
        {"name": "worker", "exitCode": 1}]}]})  # fmt: skip
    logs = boto3.client("logs", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    log_stub = Stubber(logs)
    log_stub.add_client_error("get_log_events", "ResourceNotFoundException")
    args = launch.parse_args(["--env", "prod", "--runbook", "--poll", "0"])
    with stub, ecs_stub, log_stub:
        code = launch.Launcher(args, run_config(), {"ecs": ecs, "logs": logs, "ssm": ssm}).run_runbook(
            {"HASH_KEY_VALUE": "cust-1", "RUN_ID": "r1"}
        )
    assert code == 1
    with pytest.raises(launch.ConfigError, match="the runbook takes no MAX_WCU_PER_SECOND"):
        launch.Launcher(args, run_config(), {"ecs": ecs, "logs": logs, "ssm": ssm}).run_runbook(
            {"HASH_KEY_VALUE": "x", "RUN_ID": "r", "MAX_WCU_PER_SECOND": "5"}
        )


def test_fan_out_starts_one_task_per_worker_with_the_same_run_id(
    aws: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    deploy(aws)
    monkeypatch.setenv("ALL_ITEMS", "true")
    monkeypatch.setenv("RUN_ID", "fleet-1")
    code = launch.main(
        ["--env", "prod", "--no-wait", "--tasks", "4"], clients={k: aws[k] for k in ("ecs", "logs", "ssm")}
    )
    assert code == 0
    cluster = run_config()["cluster"]
    arns = aws["ecs"].list_tasks(cluster=cluster)["taskArns"]
    tasks = aws["ecs"].describe_tasks(cluster=cluster, tasks=arns)["tasks"]
    envs = [{e["name"]: e["value"] for e in t["overrides"]["containerOverrides"][0]["environment"]} for t in tasks]
    assert sorted(e["WORKER_INDEX"] for e in envs) == ["0", "1", "2", "3"]
    assert {(e["WORKER_COUNT"], e["RUN_ID"], e["ALL_ITEMS"]) for e in envs} == {("4", "fleet-1", "true")}


def test_fan_out_needs_a_shareable_selection(aws: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    deploy(aws)
    monkeypatch.setenv("HASH_KEY_VALUE", "cust-1")
    code = launch.main(["--env", "prod", "--tasks", "3"], clients={k: aws[k] for k in ("ecs", "logs", "ssm")})
    assert code == 2 and "WORKER_COUNT > 1 shares a whole-table or key-file run" in capsys.readouterr().err
    assert aws["ecs"].list_tasks(cluster=run_config()["cluster"])["taskArns"] == []


def test_following_a_fleet_fails_if_one_task_fails_and_adds_up_summaries(capsys: Any) -> None:
    arns = [f"{TASK_ARN}{i}" for i in range(3)]
    ecs = boto3.client("ecs", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(ecs)
    stopped = [{"taskArn": arn, "lastStatus": "STOPPED", "containers": [{"name": "worker", "exitCode": code}]}
               for arn, code in zip(arns, (0, 1, 0), strict=True)]  # fmt: skip
    stub.add_response("describe_tasks", {"tasks": stopped})
    logs = boto3.client("logs", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    log_stub = Stubber(logs)
    for touched, failed in ((10, 0), (7, 3), (12, 0)):
        line = {"event": "summary", "message": "summary", "selected": touched + failed, "touched": touched,
                "failed": failed}  # fmt: skip
        log_stub.add_response("get_log_events", {"events": [{"message": json.dumps(line)}], "nextForwardToken": "t"})
        log_stub.add_response("get_log_events", {"events": [], "nextForwardToken": "t"})
    args = launch.parse_args(["--env", "prod", "--poll", "0"])
    with stub, log_stub:
        code = launch.Launcher(args, run_config(), {"ecs": ecs, "logs": logs, "ssm": None}).follow_all(arns)
    out = capsys.readouterr().out
    assert code == 1
    combined = json.loads(out.split("combined summary: ")[1].splitlines()[0])
    assert (combined["touched"], combined["failed"], combined["selected"], combined["reported"]) == (29, 3, 32, 3)
    assert "[w1] task stopped: container exit code 1" in out


@pytest.mark.parametrize("stop", [False, True])
def test_ctrl_c_leaves_the_task_running_or_stops_it(stop: bool, capsys: Any) -> None:
    ecs = boto3.client("ecs", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(ecs)
    if stop:
        stub.add_response("stop_task", {}, {"cluster": ANY, "task": TASK_ARN, "reason": "stopped by operator (Ctrl-C)"})
        stopped = {"taskArn": TASK_ARN, "lastStatus": "STOPPED", "containers": [{"name": "worker", "exitCode": 143}]}
        stub.add_response("describe_tasks", {"tasks": [stopped]})
    logs = boto3.client("logs", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    log_stub = Stubber(logs)
    log_stub.add_client_error("get_log_events", "ResourceNotFoundException")
    argv = ["--env", "prod", "--poll", "0", *(["--stop-on-interrupt"] if stop else [])]
    launcher = launch.Launcher(launch.parse_args(argv), run_config(), {"ecs": ecs, "logs": logs, "ssm": None})
    calls = []

    def describe_all(arns: list[str]) -> Any:
        calls.append(arns)
        if len(calls) == 1:
            raise KeyboardInterrupt  # the operator presses Ctrl-C while the launcher waits
        return launch.Launcher.describe_all(launcher, arns)

    launcher.describe_all = describe_all  # type: ignore[method-assign]
    with stub, log_stub:
        code = launcher.follow(TASK_ARN)
        stub.assert_no_pending_responses()
    out = capsys.readouterr().out
    if stop:
        assert code == 143 and "stopping the task" in out
    else:
        assert code == 130 and "keep running" in out and "aws ecs stop-task --cluster" in out


def test_config_file_needs_no_ssm_and_no_default_region(
    aws: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = deploy(aws)
    path = tmp_path / "run.json"
    path.write_text(json.dumps(config))
    monkeypatch.delenv("AWS_DEFAULT_REGION")  # the run configuration names the region
    monkeypatch.setenv("HASH_KEY_VALUE", "cust-7")
    clients = {"ecs": aws["ecs"], "logs": aws["logs"], "ssm": None}
    assert launch.main(["--env", "prod", "--config", str(path), "--no-wait"], clients=clients) == 0
    assert len(aws["ecs"].list_tasks(cluster=config["cluster"])["taskArns"]) == 1
