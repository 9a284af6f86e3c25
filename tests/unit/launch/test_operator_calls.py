"""The launcher's AWS calls, recorded against moto, are all in OPERATOR_ACTIONS (which Terraform's operator policy
grants exactly, see tests/terraform/test_static.py)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from moto import mock_aws

from stream_rerun.launch import OPERATOR_ACTIONS
from stream_rerun.launch import cli as launch
from stream_rerun.launch.ecs import Fleet
from stream_rerun.launch.logtail import LogTail, RunLogs
from tests.unit.launch.support import REGION, deploy, no_kinesis_destinations, stream_consumers

# What one API call needs besides its own action (RunTask passes the two roles and tags the task; the runbook's
# execution passes its AutomationAssumeRole).
IMPLIED = {"ecs:RunTask": {"iam:PassRole", "ecs:TagResource"}, "ssm:StartAutomationExecution": {"iam:PassRole"}}


def recorder(clients: dict[str, Any]) -> set[str]:
    calls: set[str] = set()
    prefix = {"ecs": "ecs", "logs": "logs", "ssm": "ssm", "dynamodb": "dynamodb", "lambda": "lambda"}
    for name, client in clients.items():

        def record(model: Any, prefix: str = prefix[name], **_: Any) -> None:
            action = f"{prefix}:{model.name}"
            calls.add(action)
            calls.update(IMPLIED.get(action, set()))

        client.meta.events.register("before-call.*.*", record)
    return calls


def test_every_call_the_launcher_makes_is_granted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        names = ("ecs", "logs", "ssm", "ec2", "dynamodb", "lambda", "iam")
        aws = {name: boto3.client(name, region_name=REGION) for name in names}
        config = deploy(aws)
        stream_consumers(aws, {"indexer": True})  # the plan lists the stream's consumers
        clients = {k: aws[k] for k in ("ecs", "logs", "ssm", "dynamodb", "lambda")}
        calls = recorder(clients)
        no_kinesis_destinations(aws["dynamodb"])  # after the recorder: it answers before the call reaches moto
        monkeypatch.setenv("ALL_ITEMS", "true")
        monkeypatch.setenv("RUN_ID", "policy-1")
        # WHEN the launcher starts a fan-out, an operator re-attaches, tails the logs and stops the tasks
        assert launch.main(["--env", "prod", "--no-wait", "--tasks", "2"], clients=clients) == 0
        fleet = Fleet(aws["ecs"], config)
        arns = fleet.find("policy-1")
        fleet.describe(arns)
        RunLogs(aws["logs"], config["log_group"], [LogTail("rerun/worker/x", out=lambda _text, _event: None)]).poll()
        fleet.stop(arns, "test")
    # THEN each call is one the operator policy grants
    assert calls - set(OPERATOR_ACTIONS) == set()
    assert {"ssm:GetParameter", "ecs:RunTask", "ecs:ListTasks", "ecs:DescribeTasks", "ecs:StopTask",
            "logs:FilterLogEvents", "dynamodb:DescribeTable", "dynamodb:DescribeKinesisStreamingDestination",
            "lambda:ListEventSourceMappings"} <= calls  # fmt: skip
