"""The plan the launcher prints before it starts anything (issue 21), against moto: the selection, the caps, the
stream's consumers as the operator's credentials see them, the dashboard; a consumer that is not Enabled."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from moto import mock_aws

from stream_rerun.consumers import Consumer, Consumers
from stream_rerun.launch import cli as launch
from stream_rerun.launch.plan import Lookup, Plan, settings_of
from tests.unit.launch.support import REGION, deploy, no_kinesis_destinations, run_config, stream_consumers

DASHBOARD = "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#dashboards/dashboard/rerun-prod"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    names = ("ecs", "logs", "ssm", "ec2", "dynamodb", "lambda", "iam")
    with mock_aws():
        clients = {name: boto3.client(name, region_name=REGION) for name in names}
        no_kinesis_destinations(clients["dynamodb"])
        yield clients


def clients(aws: dict[str, Any]) -> dict[str, Any]:
    return {k: aws[k] for k in ("ecs", "logs", "ssm", "dynamodb", "lambda")}


def tasks_started(aws: dict[str, Any]) -> list[str]:
    return list(aws["ecs"].list_tasks(cluster=run_config()["cluster"])["taskArns"])


def setenv(monkeypatch: pytest.MonkeyPatch, **variables: str) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)


def plan_of(out: str) -> list[str]:
    """The plan's lines (from `Plan:` up to the first line that is not part of it)."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Plan: "))
    end = next((i for i in range(start + 1, len(lines)) if not lines[i].startswith(" ")), len(lines))
    return lines[start:end]


def test_the_plan_says_what_will_run_before_the_task_starts(
    aws: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    # GIVEN a partition run with two caps, a concurrency, a dry run, and one enabled consumer on the stream
    deploy(aws)
    stream = stream_consumers(aws, {"indexer": True})
    setenv(monkeypatch, HASH_KEY_VALUE="cust-42", SORT_KEY_BEGINS_WITH="2026-", MAX_WCU_PER_SECOND="500",
           MAX_CONSUMER_LAG_SECONDS="300", CONCURRENCY="4", DRY_RUN="true", RUN_ID="plan-1")  # fmt: skip
    # WHEN the launcher starts it
    assert launch.main(["--env", "prod", "--no-wait"], clients=clients(aws)) == 0
    # THEN the plan, before the task's lines, names the selection, the caps, the dry run and the consumer
    out = capsys.readouterr().out
    plan = plan_of(out)
    assert plan[0] == "Plan: 1 task(s) on table orders in prod, RUN_ID=plan-1"
    assert "  selection    HASH_KEY_VALUE=cust-42, SORT_KEY_BEGINS_WITH=2026-" in plan  # not GSI_NAME's default
    assert ("  caps         MAX_WCU_PER_SECOND=500, MAX_CONSUMER_LAG_SECONDS=300; unset: MAX_WCU_PERCENT, "
            "MAX_ITEMS_PER_SECOND, MAX_RCU_PER_SECOND") in plan  # fmt: skip
    assert "  concurrency  4 per task x 1 task(s)" in plan
    assert "  dry run      yes: selects and counts, writes nothing" in plan
    assert f"  stream       {stream}" in plan
    assert "  consumer     indexer  Enabled  batch 50, no on-failure destination" in plan
    assert "  watched      indexer (paused above MAX_CONSUMER_LAG_SECONDS=300)" in plan
    assert not any(line.startswith("  confirm") for line in plan)  # the run configuration does not ask
    assert out.index("Plan: ") < out.index("task arn:aws:ecs") and "{" not in "\n".join(plan)
    assert len(tasks_started(aws)) == 1


def test_a_consumer_that_is_not_enabled_is_shown_and_nothing_starts(
    aws: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    # GIVEN a stream with an enabled consumer and a disabled one
    deploy(aws)
    stream_consumers(aws, {"indexer": True, "search-sync": False})
    setenv(monkeypatch, HASH_KEY_VALUE="cust-42", RUN_ID="plan-2")
    # WHEN launching THEN the plan marks the disabled one, exit 2 names it, and no task runs
    assert launch.main(["--env", "prod", "--no-wait"], clients=clients(aws)) == 2
    captured = capsys.readouterr()
    plan = plan_of(captured.out)
    marked = plan.index("  ! consumer   search-sync  Disabled  batch 50, no on-failure destination")
    assert plan[marked + 1].strip().startswith("NOT ENABLED: records fired now wait unread and expire after 24 h")
    assert plan[marked + 1].endswith("the run is refused unless ALLOW_DISABLED_CONSUMERS=true")
    assert "function 'search-sync'" in captured.err and "ALLOW_DISABLED_CONSUMERS=true" in captured.err
    assert tasks_started(aws) == []
    # WHEN the operator allows it THEN the plan still shows it, and the task starts
    monkeypatch.setenv("ALLOW_DISABLED_CONSUMERS", "true")
    assert launch.main(["--env", "prod", "--no-wait"], clients=clients(aws)) == 0
    plan = plan_of(capsys.readouterr().out)
    assert "  ! consumer   search-sync  Disabled  batch 50, no on-failure destination" in plan
    assert any(line.endswith("ALLOW_DISABLED_CONSUMERS=true: the run goes on") for line in plan)
    assert len(tasks_started(aws)) == 1


def refuse(client: Any, operation: str) -> None:
    """`operation` answers AccessDeniedException, as AWS does to credentials without the permission."""

    def denied(**_: Any) -> Any:
        error = {"Error": {"Code": "AccessDeniedException", "Message": f"not authorized to perform {operation}"}}
        return AWSResponse("", 400, {}, None), error

    client.meta.events.register(f"before-call.*.{operation}", denied)


@pytest.mark.parametrize(
    ("service", "operation", "says"),
    [("dynamodb", "DescribeTable", "  consumers    not listed: DynamoDB AccessDeniedException while describing table "
                                   "orders with your credentials"),
     ("lambda", "ListEventSourceMappings", "  note         lambda:ListEventSourceMappings was refused "
                                           "(AccessDeniedException) to your credentials (AWS_PROFILE or the default "
                                           "chain): it needs lambda:ListEventSourceMappings (on \"*\"): attach the "
                                           "operator policy (Terraform output operator_policy_arn)")],
)  # fmt: skip
def test_a_lookup_the_operator_may_not_make_is_a_line_in_the_plan(
    service: str, operation: str, says: str, aws: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    # GIVEN operator credentials without the permission (an operator policy from before issue 21)
    deploy(aws)
    stream_consumers(aws, {"indexer": True})
    refuse(aws[service], operation)
    setenv(monkeypatch, HASH_KEY_VALUE="cust-42", RUN_ID="plan-3")
    # WHEN launching THEN the plan says what could not be read, and the task starts (the worker checks with its role)
    assert launch.main(["--env", "prod", "--no-wait"], clients=clients(aws)) == 0
    plan = plan_of(capsys.readouterr().out)
    assert any(line.startswith(says) for line in plan), plan
    assert "none found" not in "\n".join(plan)  # not listed is not none
    assert len(tasks_started(aws)) == 1


def test_the_dashboard_is_printed_with_the_tasks_console_url(
    aws: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    config = deploy(aws)
    setenv(monkeypatch, ALL_ITEMS="true", RUN_ID="plan-4")
    # GIVEN a run configuration without a dashboard THEN no dashboard line
    assert launch.main(["--env", "prod", "--no-wait"], clients=clients(aws)) == 0
    assert "dashboard" not in capsys.readouterr().out
    # GIVEN one with Terraform's dashboard_url WHEN a fan-out starts THEN it follows the tasks' console URLs
    path = tmp_path / "run.json"
    path.write_text(json.dumps({**config, "dashboard_url": DASHBOARD}))
    assert launch.main(["--env", "prod", "--config", str(path), "--no-wait", "--tasks", "2"], clients=clients(aws)) == 0
    lines = capsys.readouterr().out.splitlines()
    urls = [i for i, line in enumerate(lines) if "console.aws.amazon.com/ecs/v2/clusters/" in line]
    assert len(urls) == 2 and lines[urls[-1] + 1] == f"dashboard {DASHBOARD}"
    # WHEN an operator re-attaches THEN the dashboard is printed too
    code = launch.main(["--env", "prod", "--config", str(path), "--attach", "plan-4", "--timeout", "0", "--poll", "0"],
                       clients=clients(aws))  # fmt: skip
    assert code == 124 and f"dashboard {DASHBOARD}" in capsys.readouterr().out


def test_without_a_terminal_the_launcher_says_it_does_not_ask(
    aws: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    # GIVEN a run configuration that asks (confirm_runs) and a launcher whose stdin and stdout are not terminals
    config = deploy(aws)
    path = tmp_path / "run.json"
    path.write_text(json.dumps({**config, "confirm_runs": True}))
    setenv(monkeypatch, HASH_KEY_VALUE="cust-42", RUN_ID="plan-5")
    # WHEN launching THEN nothing is asked, the plan says why, and the task starts; with --yes the plan says so
    assert launch.main(["--env", "prod", "--config", str(path), "--no-wait"], clients=clients(aws)) == 0
    out = capsys.readouterr().out
    assert "  confirm      not a terminal: not asking" in out and "[y/N]" not in out
    assert launch.main(["--env", "prod", "--config", str(path), "--no-wait", "--yes"], clients=clients(aws)) == 0
    assert "  confirm      --yes: not asking" in capsys.readouterr().out
    assert len(tasks_started(aws)) == 2


def test_a_variable_the_runbook_does_not_take_is_refused_before_the_plan(
    aws: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    deploy(aws)
    setenv(monkeypatch, HASH_KEY_VALUE="cust-42", MAX_ITEMS_PER_SECOND="200")
    assert launch.main(["--env", "prod", "--runbook", "--yes"], clients=clients(aws)) == 2
    captured = capsys.readouterr()
    assert "the runbook takes no MAX_ITEMS_PER_SECOND" in captured.err and "Plan:" not in captured.out


def test_each_kind_of_consumer_reads_as_one_line() -> None:
    # GIVEN what discovery can return: a mapping with every detail, a function named but not found, Kinesis
    # destinations active and not
    found = (
        Consumer("lambda", "indexer", "arn:aws:lambda:eu-west-1:123456789012:function:indexer", "Enabled", 100, 2, True,
                 "arn:aws:sqs:eu-west-1:123456789012:indexer-dlq", True, "u-1"),
        Consumer("lambda", "audit", "audit", "unknown"),
        Consumer("kinesis", "orders-cdc", "arn:aws:kinesis:eu-west-1:123456789012:stream/orders-cdc", "ACTIVE"),
        Consumer("kinesis", "old-cdc", "arn:aws:kinesis:eu-west-1:123456789012:stream/old-cdc", "DISABLED"),
    )  # fmt: skip
    settings = settings_of({"TABLE_NAME": "orders"}, {"ALL_ITEMS": "true", "RUN_ID": "r-1"}, REGION)
    look = Lookup("arn:aws:dynamodb:eu-west-1:123456789012:table/orders/stream/1", Consumers(found, ("indexer",), True))
    lines = Plan("prod", 1, settings, {"ALL_ITEMS": "true"}, ("ALL_ITEMS", "RUN_ID"), look).lines()
    # THEN each reads as a line, without JSON
    assert ("  consumer     indexer  Enabled  batch 100, parallelization 2, bisect on error, on failure "
            "arn:aws:sqs:eu-west-1:123456789012:indexer-dlq, filter criteria set") in lines  # fmt: skip
    assert "  consumer     audit  state unknown (named in CONSUMER_FUNCTIONS; no mapping on the stream found)" in lines
    assert "  consumer     Kinesis destination orders-cdc  ACTIVE" in lines
    assert "  ! consumer   Kinesis destination old-cdc  DISABLED (NOT ACTIVE: it receives nothing)" in lines
    assert "  watched      indexer (not paced by lag)" in lines
    # WHEN discovery could not list the mappings THEN the plan does not say "none found"
    look = Lookup(look.stream_arn, Consumers((), (), False, "lambda:ListEventSourceMappings: cannot reach Lambda"))
    lines = Plan("prod", 1, settings, {"ALL_ITEMS": "true"}, ("ALL_ITEMS", "RUN_ID"), look).lines()
    assert "  consumers    not listed (see the note): the worker lists them again with its role" in lines
    assert "  note         lambda:ListEventSourceMappings: cannot reach Lambda" in lines
