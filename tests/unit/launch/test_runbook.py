"""The --runbook path (Stubber for SSM's answers): parameters, outcome, --no-wait."""

from __future__ import annotations

import pytest
from botocore.stub import Stubber

from stream_rerun.errors import ConfigError
from stream_rerun.launch.runbook import Runbook, parameters
from tests.unit.launch.support import TASK_ARN, client, follower

EXECUTION = "0123abcd-0123-4567-89ab-0123456789ab"


def test_runbook_failure_exits_with_the_containers_code() -> None:
    ssm = client("ssm")
    stub = Stubber(ssm)
    expected = {"DocumentName": "stream-rerun-prod-run", "Parameters": {"HashKeyValue": ["cust-1"], "RunId": ["r1"]}}
    stub.add_response("start_automation_execution", {"AutomationExecutionId": EXECUTION}, expected)
    stub.add_response("get_automation_execution", {"AutomationExecution": {
        "AutomationExecutionStatus": "Failed", "FailureMessage": "Step AssertExitCode failed",
        "StepExecutions": [{"StepName": "RunTask", "Outputs": {"TaskArn": [TASK_ARN]}}]}})  # fmt: skip
    ecs = client("ecs")
    ecs_stub = Stubber(ecs)
    ecs_stub.add_response("describe_tasks", {"tasks": [{"taskArn": TASK_ARN, "lastStatus": "STOPPED", "containers": [
        {"name": "worker", "exitCode": 1}]}]})  # fmt: skip
    logs = client("logs")
    log_stub = Stubber(logs)
    log_stub.add_client_error("filter_log_events", "ResourceNotFoundException")
    lines: list[str] = []
    with stub, ecs_stub, log_stub:
        runbook = Runbook(ssm, "stream-rerun-prod-run", follower(ecs, logs, lines), out=lines.append)
        assert runbook.run({"HASH_KEY_VALUE": "cust-1", "RUN_ID": "r1"}) == 1
    assert "runbook Failed: Step AssertExitCode failed" in lines
    assert any(line.startswith(f"task {TASK_ARN}\nhttps://eu-west-1.console.aws.amazon.com/ecs/v2/") for line in lines)


def test_runbook_no_wait_returns_after_starting_it() -> None:
    ssm = client("ssm")
    stub = Stubber(ssm)
    stub.add_response("start_automation_execution", {"AutomationExecutionId": EXECUTION})
    lines: list[str] = []
    with stub:
        runbook = Runbook(ssm, "doc", follower(client("ecs"), client("logs")), wait=False, out=lines.append)
        assert runbook.run({"HASH_KEY_VALUE": "x", "RUN_ID": "r"}) == 0
        stub.assert_no_pending_responses()  # no GetAutomationExecution: --no-wait is honoured
    assert EXECUTION in lines[-1]


def test_runbook_parameters_spell_booleans_as_it_accepts_them() -> None:
    assert parameters({"DRY_RUN": "1", "ALL_ITEMS": "Yes", "RUN_ID": "r"}) == {
        "DryRun": ["true"], "AllItems": ["true"], "RunId": ["r"]}  # fmt: skip
    assert parameters({"DELETE_SETTLED_MESSAGES": "ON", "FAILED_BATCHES_FROM": "https://sqs.x/1/q"}) == {
        "DeleteSettledMessages": ["true"], "FailedBatchesFrom": ["https://sqs.x/1/q"]}  # fmt: skip
    with pytest.raises(ConfigError, match="the runbook takes no MAX_WCU_PER_SECOND"):
        parameters({"HASH_KEY_VALUE": "x", "MAX_WCU_PER_SECOND": "5"})


def test_runbook_takes_a_time_window() -> None:
    given = {"CHANGED_FROM": "2026-11-27T02:10:00Z", "CHANGED_TO": "2026-11-27T05:40:00Z", "RUN_ID": "inc-7",
             "EXPORT_S3_URI": "s3://rerun-exports/orders/", "MAX_EXPORT_WAIT_SECONDS": "1800",
             "REMOVED_KEYS_OUT": "s3://rerun-keys/redrive/"}  # fmt: skip
    assert parameters(given) == {
        "ChangedFrom": ["2026-11-27T02:10:00Z"], "ChangedTo": ["2026-11-27T05:40:00Z"], "RunId": ["inc-7"],
        "ExportS3Uri": ["s3://rerun-exports/orders/"], "MaxExportWaitSeconds": ["1800"],
        "RemovedKeysOut": ["s3://rerun-keys/redrive/"]}  # fmt: skip
