"""The launcher's command line against moto (ECS, SSM, EC2): what it forwards, refuses and starts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.stub import ANY, Stubber
from moto import mock_aws

from stream_rerun.errors import ConfigError, RerunError
from stream_rerun.launch import cli as launch
from stream_rerun.launch.ecs import Fleet
from stream_rerun.launch.runconfig import load_config
from stream_rerun.version import version
from tests.unit.launch.support import REGION, TASK_ARN, client, deploy, run_config


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        yield {name: boto3.client(name, region_name=REGION) for name in ("ecs", "logs", "ssm", "ec2")}


def clients(aws: dict[str, Any]) -> dict[str, Any]:
    return {k: aws[k] for k in ("ecs", "logs", "ssm")}


def overrides(task: dict[str, Any]) -> dict[str, str]:
    """A task's environment overrides, as a dict."""
    return {e["name"]: e["value"] for e in task["overrides"]["containerOverrides"][0]["environment"]}


def started_environments(aws: dict[str, Any]) -> list[dict[str, str]]:
    """The environment overrides of every task started in the run configuration's cluster."""
    cluster = run_config()["cluster"]
    arns = aws["ecs"].list_tasks(cluster=cluster)["taskArns"]
    return [overrides(t) for t in aws["ecs"].describe_tasks(cluster=cluster, tasks=arns)["tasks"]]


def test_forwards_only_the_workers_variables(aws: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    # GIVEN a caller's environment with credentials, HOME, unrelated variables and a selection
    deploy(aws)
    for name, value in {"HASH_KEY_VALUE": "cust-42", "DRY_RUN": "true", "HOME": "/home/sre", "FOO": "bar",
                        "AWS_SESSION_TOKEN": "secret-token", "PATH": "/usr/bin"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    # WHEN the launcher starts the task without waiting
    code = launch.main(["--env", "prod", "--no-wait"], clients=clients(aws))
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
    code = launch.main(["--env", "prod", "--no-wait"], clients=clients(aws))
    assert code == 2
    assert "GSI_DATE_FROM 2024-02-10 is after GSI_DATE_TO" in capsys.readouterr().err
    assert aws["ecs"].list_tasks(cluster=run_config()["cluster"])["taskArns"] == []


def test_missing_run_configuration_says_to_apply(aws: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    monkeypatch.setenv("HASH_KEY_VALUE", "x")
    code = launch.main(["--env", "staging"], clients=clients(aws))
    err = capsys.readouterr().err
    assert code == 2
    assert (
        "no SSM parameter /stream-rerun/staging/run-task-config in region eu-west-1" in err
        and "make apply ENV=staging" in err
    )


def test_config_file_instead_of_ssm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"cluster": "c"}))
    with pytest.raises(ConfigError, match="lacks task_definition"):
        load_config("prod", path, ssm=None)
    path.write_text(json.dumps(run_config()))
    assert load_config("prod", path, ssm=None)["container_name"] == "worker"


def test_fan_out_starts_one_task_per_worker_with_the_same_run_id(
    aws: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    deploy(aws)
    monkeypatch.setenv("ALL_ITEMS", "true")
    monkeypatch.setenv("RUN_ID", "fleet-1")
    code = launch.main(["--env", "prod", "--no-wait", "--tasks", "4"], clients=clients(aws))
    assert code == 0
    envs = started_environments(aws)
    assert sorted(e["WORKER_INDEX"] for e in envs) == ["0", "1", "2", "3"]
    assert {(e["WORKER_COUNT"], e["RUN_ID"], e["ALL_ITEMS"]) for e in envs} == {("4", "fleet-1", "true")}


def test_fan_out_needs_a_shareable_selection(aws: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    deploy(aws)
    monkeypatch.setenv("HASH_KEY_VALUE", "cust-1")
    code = launch.main(["--env", "prod", "--tasks", "3"], clients=clients(aws))
    assert code == 2 and "WORKER_COUNT > 1 shares a whole-table or key-file run" in capsys.readouterr().err
    assert aws["ecs"].list_tasks(cluster=run_config()["cluster"])["taskArns"] == []


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


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [("KEYS_FILE", "./dlq-keys.jsonl", "KEYS_FILE='./dlq-keys.jsonl' is a local file"),
     ("FAILED_KEYS_OUT", "/tmp/redrive.jsonl", "FAILED_KEYS_OUT='/tmp/redrive.jsonl' is a local path"),
     ("REMOVED_KEYS_OUT", "removed.jsonl", "REMOVED_KEYS_OUT='removed.jsonl' is a local path"),
     ("FAILED_BATCHES_FROM", "./queue-dump.jsonl", "FAILED_BATCHES_FROM='./queue-dump.jsonl' is a local file")],
)  # fmt: skip
def test_a_local_path_is_refused_before_any_task_starts(
    name: str, value: str, says: str, aws: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    # GIVEN an operator who points a file at the laptop (found by running the launcher against moto)
    deploy(aws)
    window = {"CHANGED_FROM": "2026-11-27T02:10:00Z", "EXPORT_S3_URI": "s3://exports/orders/"}
    selection = {"KEYS_FILE": {"RUN_ID": "x-1"}, "FAILED_BATCHES_FROM": {"RUN_ID": "x-1"}, "REMOVED_KEYS_OUT": window}
    for other, given in selection.get(name, {"HASH_KEY_VALUE": "x-1"}).items():
        monkeypatch.setenv(other, given)
    monkeypatch.setenv(name, value)
    # WHEN launching THEN exit 2 says what to do instead, and nothing runs in the cluster
    assert launch.main(["--env", "prod", "--no-wait"], clients=clients(aws)) == 2
    assert says in capsys.readouterr().err
    assert aws["ecs"].list_tasks(cluster=run_config()["cluster"])["taskArns"] == []


def test_an_export_fans_out_with_its_narrowing_and_redrive_settings(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    deploy(aws)
    given = {
        "KEYS_FILE": "s3://exports/orders/AWSDynamoDB/01700000000000-a1b2c3d4/",
        "RUN_ID": "exp-1",
        "FILTER_ATTRIBUTE": "status",
        "FILTER_VALUES": '["FAILED", 3]',
        "FAILED_KEYS_OUT": "s3://b/redrive/",
    }
    for name, value in given.items():
        monkeypatch.setenv(name, value)
    assert launch.main(["--env", "prod", "--no-wait", "--tasks", "3"], clients=clients(aws)) == 0
    envs = started_environments(aws)
    assert sorted(e.pop("WORKER_INDEX") for e in envs) == ["0", "1", "2"]
    assert envs == [{**given, "WORKER_COUNT": "3"}] * 3


def test_a_time_window_fans_out_over_the_exports_data_files(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the incident's window, where the exports go, and where deleted items are listed
    deploy(aws)
    given = {"CHANGED_FROM": "2026-11-27T02:10:00Z", "CHANGED_TO": "2026-11-27T05:40:00+01:00", "RUN_ID": "inc-7",
             "EXPORT_S3_URI": "s3://rerun-exports/orders/", "MAX_EXPORT_WAIT_SECONDS": "1800",
             "REMOVED_KEYS_OUT": "s3://b/redrive/"}  # fmt: skip
    for name, value in given.items():
        monkeypatch.setenv(name, value)
    # WHEN launched over 3 tasks THEN each gets the window and its share, under one RUN_ID (one shared export)
    assert launch.main(["--env", "prod", "--no-wait", "--tasks", "3"], clients=clients(aws)) == 0
    envs = started_environments(aws)
    assert sorted(e.pop("WORKER_INDEX") for e in envs) == ["0", "1", "2"]
    assert envs == [{**given, "WORKER_COUNT": "3"}] * 3


def test_the_batches_a_consumer_failed_are_forwarded_from_a_queue(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    deploy(aws)
    given = {"FAILED_BATCHES_FROM": "https://sqs.eu-west-1.amazonaws.com/123456789012/orders-indexer-on-failure",
             "DELETE_SETTLED_MESSAGES": "true", "RUN_ID": "inc-8"}  # fmt: skip
    for name, value in given.items():
        monkeypatch.setenv(name, value)
    assert launch.main(["--env", "prod", "--no-wait"], clients=clients(aws)) == 0
    assert started_environments(aws) == [given]


def test_a_time_window_without_an_export_prefix_starts_nothing(
    aws: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    deploy(aws)  # a deployment without export_s3_prefix: no EXPORT_S3_URI default
    monkeypatch.setenv("CHANGED_FROM", "2026-11-27T02:10:00Z")
    assert launch.main(["--env", "prod", "--no-wait"], clients=clients(aws)) == 2
    assert "CHANGED_FROM needs EXPORT_S3_URI" in capsys.readouterr().err
    assert aws["ecs"].list_tasks(cluster=run_config()["cluster"])["taskArns"] == []


def test_fan_out_that_fails_part_way_stops_the_started_tasks(
    aws: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    # GIVEN RunTask that fails for the third of four tasks
    deploy(aws)
    monkeypatch.setenv("ALL_ITEMS", "true")
    monkeypatch.setenv("RUN_ID", "fleet-2")
    calls = []

    def third_fails(**_: Any) -> Any:
        calls.append(1)
        if len(calls) == 3:
            error = {"Error": {"Code": "ServerException", "Message": "capacity is unavailable at this time"}}
            return AWSResponse("", 500, {}, None), error
        return None

    aws["ecs"].meta.events.register("before-call.ecs.RunTask", third_fails)
    # WHEN the fan-out is launched
    code = launch.main(["--env", "prod", "--no-wait", "--tasks", "4"], clients=clients(aws))
    # THEN it fails, names the run, and the two tasks it had started are stopped
    err = capsys.readouterr().err
    assert code == 1
    assert "task 3 of 4 did not start" in err and "the 2 started were stopped" in err and "RUN_ID=fleet-2" in err
    cluster = run_config()["cluster"]
    arns = aws["ecs"].list_tasks(cluster=cluster, desiredStatus="STOPPED")["taskArns"]
    assert len(arns) == 2
    assert aws["ecs"].list_tasks(cluster=cluster, desiredStatus="RUNNING")["taskArns"] == []


def test_deployment_name_and_region_find_the_run_configuration(
    aws: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    # GIVEN a second deployment named "orders-rerun" in the same account and region
    deploy(aws, parameter="/orders-rerun/prod/run-task-config")
    monkeypatch.setenv("HASH_KEY_VALUE", "cust-1")
    # WHEN the launcher looks under the default name THEN it says where it looked
    assert launch.main(["--env", "prod", "--no-wait", "--region", REGION], clients=clients(aws)) == 2
    assert f"no SSM parameter /stream-rerun/prod/run-task-config in region {REGION}" in capsys.readouterr().err
    # WHEN it is given the deployment's name THEN it finds it and starts the task
    assert launch.main(["--env", "prod", "--no-wait", "--name", "orders-rerun"], clients=clients(aws)) == 0


def test_region_comes_from_aws_region_when_the_sdk_has_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "ap-southeast-2")
    assert launch.region_of(launch.parse_args(["--env", "prod"])) == "ap-southeast-2"
    assert launch.region_of(launch.parse_args(["--env", "prod", "--region", "us-west-2"])) == "us-west-2"
    monkeypatch.delenv("AWS_REGION")
    with pytest.raises(ConfigError, match="no region"):
        launch.region_of(launch.parse_args(["--env", "prod"]))


SHORT = "Capacity is unavailable at this time. Please try again later or in a different availability zone"
SPOT_ONLY = {"capacityProviderStrategy": [{"capacityProvider": "FARGATE_SPOT", "weight": 1}]}


def run_task_params(**where: Any) -> dict[str, Any]:
    return {"cluster": ANY, "taskDefinition": ANY, "count": 1, "startedBy": ANY, "networkConfiguration": ANY,
            "overrides": ANY, "tags": ANY, **where}  # fmt: skip


def test_spot_runs_on_fargate_spot_alone() -> None:
    # a weight-0 FARGATE beside FARGATE_SPOT would place nothing: ECS does not fall back by itself
    ecs = client("ecs")
    stub = Stubber(ecs)
    stub.add_response("run_task", {"tasks": [{"taskArn": TASK_ARN}]}, run_task_params(**SPOT_ONLY))
    with stub:
        assert Fleet(ecs, run_config(), spot=True).start([{"RUN_ID": "r"}]) == [TASK_ARN]
        stub.assert_no_pending_responses()


def test_a_fleet_short_of_spot_capacity_starts_those_workers_on_fargate_and_says_which() -> None:
    # GIVEN Spot capacity that runs out for the second of three workers
    ecs = client("ecs")
    stub = Stubber(ecs)
    arns = [f"{TASK_ARN}{i}" for i in range(3)]
    stub.add_response("run_task", {"tasks": [{"taskArn": arns[0]}]}, run_task_params(**SPOT_ONLY))
    stub.add_response("run_task", {"tasks": [], "failures": [{"reason": SHORT}]}, run_task_params(**SPOT_ONLY))
    stub.add_response("run_task", {"tasks": [{"taskArn": arns[1]}]}, run_task_params(launchType="FARGATE"))
    stub.add_response("run_task", {"tasks": [{"taskArn": arns[2]}]}, run_task_params(**SPOT_ONLY))
    said: list[str] = []
    fleet = Fleet(ecs, run_config(), spot=True, out=said.append)
    # WHEN the fleet starts
    with stub:
        started = fleet.start([{"RUN_ID": "r", "WORKER_INDEX": str(i), "WORKER_COUNT": "3"} for i in range(3)])
        stub.assert_no_pending_responses()
    # THEN every worker runs, and the operator is told which one runs on FARGATE and why
    assert started == arns and fleet.on_demand == [arns[1]]
    assert said == [f"[w1] FARGATE_SPOT capacity is short ({SHORT}): started on FARGATE instead: {arns[1]}"]


def test_a_spot_failure_other_than_capacity_is_not_retried_on_fargate() -> None:
    ecs = client("ecs")
    stub = Stubber(ecs)
    stub.add_response("run_task", {"tasks": [], "failures": [{"arn": "x", "reason": "MISSING"}]})
    with stub, pytest.raises(RerunError, match="RunTask started no task: x MISSING"):
        Fleet(ecs, run_config(), spot=True).start([{"RUN_ID": "r"}])


def test_attach_finds_a_runs_tasks_by_run_id_in_worker_order(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a fan-out started without waiting, and another run in the same cluster
    config = deploy(aws)
    monkeypatch.setenv("ALL_ITEMS", "true")
    for run_id, tasks in (("fleet-3", "3"), ("other", "2")):
        monkeypatch.setenv("RUN_ID", run_id)
        assert launch.main(["--env", "prod", "--no-wait", "--tasks", tasks], clients=clients(aws)) == 0
    # WHEN an operator re-attaches by RUN_ID THEN exactly that run's tasks are found, worker 0 first
    fleet = Fleet(aws["ecs"], config)
    arns = fleet.find("fleet-3")
    tasks = fleet.describe(arns)
    indexes = [overrides(tasks[a])["WORKER_INDEX"] for a in arns]
    assert indexes == ["0", "1", "2"]
    assert fleet.find(arns[1]) == [arns[1]]
    with pytest.raises(RerunError, match="no running or recently stopped task of run nope"):
        fleet.find("nope")


def test_version_names_the_package_version_and_needs_no_env(capsys: Any) -> None:
    with pytest.raises(SystemExit) as done:
        launch.parse_args(["--version"])  # before --env is required
    assert done.value.code == 0
    printed = capsys.readouterr().out.strip()
    assert printed.startswith(f"stream-rerun-launch {version()}")
