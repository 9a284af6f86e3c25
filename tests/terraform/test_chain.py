"""The deployment chain on a loopback moto server: Terraform applies examples/complete (every module option), a
second plan shows no changes, then the real launcher reads the SSM parameter Terraform wrote and starts one task in
the cluster and task definition Terraform created. moto stands in for the control plane only (no DynamoDB here).

Skipped, with the reason, where terraform or its AWS provider is not on the machine (terraform/check.sh finds a
filesystem mirror of the provider; without one, init would need the registry).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from stream_rerun import metrics
from tests.support.env import clean_environ
from tests.support.loopback import loopback_moto

REPO = Path(__file__).resolve().parents[2]
REGION = "eu-west-1"
SERVICES = ("sts", "iam", "ec2", "ecs", "ecr", "ssm", "logs", "s3", "kms", "events", "sns", "cloudwatch")


def terraform_rc() -> str:
    if shutil.which("terraform") is None:
        pytest.skip("terraform is not installed: the chain test needs it")
    rc = subprocess.run(["bash", "terraform/check.sh", "rc"], cwd=REPO, capture_output=True, text=True, check=True)
    if not rc.stdout.strip():
        pytest.skip("no filesystem mirror of the AWS provider here, and the registry is out of reach")
    return rc.stdout.strip()


@pytest.fixture(scope="module")
def moto_server() -> Iterator[str]:
    with loopback_moto() as endpoint:
        yield endpoint


def aws_env(endpoint: str) -> dict[str, str]:
    return {**clean_environ(), "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION, "AWS_ENDPOINT_URL": endpoint,
            "AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent"}  # fmt: skip


def client(endpoint: str, service: str) -> Any:
    return boto3.client(service, region_name=REGION, endpoint_url=endpoint, aws_access_key_id="testing",
                        aws_secret_access_key="testing")  # fmt: skip


def override(endpoint: str, backend: bool = True) -> str:
    """Terraform override for a root folder: local state (for an env), and the provider pointed at moto."""
    endpoints = "\n".join(f'    {s} = "{endpoint}"' for s in SERVICES)
    local = 'terraform {\n  backend "local" {}\n}\n\n' if backend else ""
    return (
        local
        + f"""provider "aws" {{
  access_key                  = "testing"
  secret_key                  = "testing"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  s3_use_path_style           = true
  endpoints {{
{endpoints}
  }}
}}
"""
    )


def run(cmd: list[str], cwd: Path, env: dict[str, str], ok: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert out.returncode in ok, f"{' '.join(cmd)} exited {out.returncode}:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out


@pytest.fixture(scope="module")
def applied(moto_server: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """examples/complete applied to moto: the network made first (as an account would have it), then terraform apply."""
    rc = terraform_rc()
    ec2 = client(moto_server, "ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    topic = client(moto_server, "sns").create_topic(Name="oncall")["TopicArn"]
    queue = client(moto_server, "sqs").create_queue(QueueName="orders-indexer-on-failure")["QueueUrl"]
    queue_arn = client(moto_server, "sqs").get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]  # fmt: skip
    work = tmp_path_factory.mktemp("tf") / "terraform"
    shutil.copytree(
        REPO / "terraform", work, ignore=shutil.ignore_patterns(".terraform", "*.tfstate*", ".terraform.lock.hcl")
    )
    env_dir = work / "examples" / "complete"
    (env_dir / "chain_override.tf").write_text(override(moto_server, backend=False))
    tfvars = {"region": REGION, "environment": "dev", "table_name": "orders", "gsi_name": "by_date", "vpc_id": vpc,
              "subnet_ids": [subnet], "image_uri": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/stream-rerun-dev:v1",
              "keys_file_s3_prefix": "s3://rerun-keys/orders/", "failed_keys_s3_prefix": "s3://rerun-keys/redrive/",
              "alarm_topic_arn": topic, "failure_queue_arns": [queue_arn]}  # fmt: skip
    (env_dir / "terraform.tfvars.json").write_text(json.dumps(tfvars))
    env = {**aws_env(moto_server), "TF_CLI_CONFIG_FILE": rc, "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1"}
    run(["terraform", "init", "-input=false", "-no-color"], env_dir, env)
    run(["terraform", "apply", "-input=false", "-auto-approve", "-no-color"], env_dir, env)
    outputs = json.loads(run(["terraform", "output", "-json"], env_dir, env).stdout)
    return {"dir": env_dir, "env": env, "outputs": {k: v["value"] for k, v in outputs.items()}, "subnet": subnet,
            "topic": topic, "queue_arn": queue_arn}  # fmt: skip


def test_a_second_plan_shows_no_changes(applied: dict[str, Any]) -> None:
    plan = run(["terraform", "plan", "-input=false", "-detailed-exitcode", "-no-color"], applied["dir"],
               applied["env"], ok=(0, 2))  # fmt: skip
    assert plan.returncode == 0, "a second plan wants changes:\n" + plan.stdout[-4000:]


def test_terraform_wrote_what_the_launcher_needs(applied: dict[str, Any], moto_server: str) -> None:
    config = json.loads(
        client(moto_server, "ssm").get_parameter(Name="/stream-rerun/dev/run-task-config")["Parameter"]["Value"]
    )
    assert config["task_definition"] == "stream-rerun-dev" and config["subnets"] == [applied["subnet"]]
    assert config["cluster"] == applied["outputs"]["run_task_config"]["cluster"]
    # the launcher prints the dashboard with the task, and asks before a run where the deployment says so
    assert config["dashboard_name"] == "stream-rerun-dev" and config["confirm_runs"] is True
    assert config["dashboard_url"] == (
        f"https://{REGION}.console.aws.amazon.com/cloudwatch/home?region={REGION}#dashboards/dashboard/stream-rerun-dev"
    )
    assert applied["outputs"]["operator_policy_arn"].endswith(":policy/stream-rerun-dev-operator")
    policy = client(moto_server, "iam").get_policy(PolicyArn=applied["outputs"]["operator_policy_arn"])["Policy"]
    version = client(moto_server, "iam").get_policy_version(
        PolicyArn=policy["Arn"], VersionId=policy["DefaultVersionId"]
    )
    statements = version["PolicyVersion"]["Document"]
    document = json.loads(statements) if isinstance(statements, str) else statements
    actions = {
        a for s in document["Statement"] for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    assert "ecs:RunTask" in actions and "ssm:GetParameter" in actions
    assert {"dynamodb:DescribeTable", "lambda:ListEventSourceMappings"} <= actions  # the launcher's plan


def test_the_task_reads_exports_and_writes_redrive_files_under_their_prefixes(
    applied: dict[str, Any], moto_server: str
) -> None:
    family = applied["outputs"]["run_task_config"]["task_definition"]
    task = client(moto_server, "ecs").describe_task_definition(taskDefinition=family)["taskDefinition"]
    container = task["containerDefinitions"][0]
    # every run writes its re-drive file under the prefix, spooled in /tmp (task storage: the root is read-only)
    assert {"name": "FAILED_KEYS_OUT", "value": "s3://rerun-keys/redrive/"} in container["environment"]
    assert container["readonlyRootFilesystem"] is True
    assert [m["containerPath"] for m in container["mountPoints"]] == ["/tmp"]
    assert [v["name"] for v in task["volumes"]] == [container["mountPoints"][0]["sourceVolume"]]
    # and the task role may read key files and exports, and write re-drive files, there only
    role = task["taskRoleArn"].rpartition("/")[2]
    iam = client(moto_server, "iam")
    document = iam.get_role_policy(RoleName=role, PolicyName="rerun-table")["PolicyDocument"]
    document = json.loads(document) if isinstance(document, str) else document
    grants = {s["Sid"]: (s["Action"], s["Resource"]) for s in document["Statement"]}
    assert grants["ReadKeyFiles"] == ("s3:GetObject", "arn:aws:s3:::rerun-keys/orders/*")
    assert grants["WriteRedriveFiles"] == (
        ["s3:PutObject", "s3:AbortMultipartUpload"],
        "arn:aws:s3:::rerun-keys/redrive/*",
    )
    # the container as the module defines it: an init process, logs that block rather than drop, 120 s to stop
    assert container["linuxParameters"]["initProcessEnabled"] is True
    assert container["logConfiguration"]["options"]["mode"] == "blocking" and container["stopTimeout"] == 120


def _as_set(value: Any) -> set[str]:
    return {value} if isinstance(value, str) else set(value)


def test_the_incident_selections_get_their_grants_and_the_export_prefix(
    applied: dict[str, Any], moto_server: str
) -> None:
    family = applied["outputs"]["run_task_config"]["task_definition"]
    task = client(moto_server, "ecs").describe_task_definition(taskDefinition=family)["taskDefinition"]
    # GIVEN examples/complete with export_s3_prefix, failed_batches_s3_prefix and one on-failure queue
    assert {"name": "EXPORT_S3_URI", "value": "s3://rerun-exports/orders/"} in task["containerDefinitions"][0][
        "environment"]  # fmt: skip
    assert applied["outputs"]["run_task_config"]["worker_defaults"]["EXPORT_S3_URI"] == "s3://rerun-exports/orders/"
    # THEN the task role IAM stored holds each grant on exactly its resources
    document = client(moto_server, "iam").get_role_policy(RoleName=task["taskRoleArn"].rpartition("/")[2],
                                                          PolicyName="rerun-table")["PolicyDocument"]  # fmt: skip
    document = json.loads(document) if isinstance(document, str) else document
    grants = {s["Sid"]: (_as_set(s["Action"]), _as_set(s["Resource"])) for s in document["Statement"]}
    table = f"arn:aws:dynamodb:{REGION}:123456789012:table/orders"
    assert grants["ExportTable"] == ({"dynamodb:ExportTableToPointInTime", "dynamodb:DescribeContinuousBackups"},
                                     {table})  # fmt: skip
    assert grants["FollowExports"] == ({"dynamodb:DescribeExport"}, {f"{table}/export/*"})
    assert grants["ListExports"] == ({"dynamodb:ListExports"}, {"*"})
    assert grants["WriteAndReadExports"] == ({"s3:PutObject", "s3:AbortMultipartUpload", "s3:GetObject"},
                                             {"arn:aws:s3:::rerun-exports/orders/*"})  # fmt: skip
    assert grants["ReadFailureQueues"] == ({"sqs:ReceiveMessage", "sqs:ChangeMessageVisibility", "sqs:DeleteMessage",
                                            "sqs:GetQueueAttributes"}, {applied["queue_arn"]})  # fmt: skip
    assert grants["ListFailureRecords"] == ({"s3:ListBucket"}, {"arn:aws:s3:::rerun-failures"})
    assert grants["ReadFailureRecords"] == ({"s3:GetObject"}, {"arn:aws:s3:::rerun-failures/orders-indexer/*"})
    assert grants["ReadTableStream"] == ({"dynamodb:DescribeStream", "dynamodb:GetShardIterator",
                                          "dynamodb:GetRecords"}, {f"{table}/stream/*"})  # fmt: skip


def test_the_operator_may_attach_tail_and_start_the_runbook_as_its_role(
    applied: dict[str, Any], moto_server: str
) -> None:
    iam = client(moto_server, "iam")
    policy = iam.get_policy(PolicyArn=applied["outputs"]["operator_policy_arn"])["Policy"]
    document = iam.get_policy_version(PolicyArn=policy["Arn"], VersionId=policy["DefaultVersionId"])["PolicyVersion"]
    statements = {s["Sid"]: s for s in _json(document["Document"])["Statement"]}
    cluster = applied["outputs"]["run_task_config"]["cluster"]
    assert (statements["FindRunTasks"]["Resource"], statements["FindRunTasks"]["Condition"]) == (
        "*", {"ArnEquals": {"ecs:cluster": cluster}})  # fmt: skip
    assert statements["TailTaskLogs"]["Action"] == "logs:FilterLogEvents"
    assert statements["TailTaskLogs"]["Resource"].endswith(":log-group:/ecs/stream-rerun-dev:*")
    runbook = client(moto_server, "ssm").get_document(Name=applied["outputs"]["runbook_name"], DocumentFormat="YAML")
    doc = yaml.safe_load(runbook["Content"])
    role = doc["parameters"]["AutomationAssumeRole"]["default"]
    assert doc["assumeRole"] == "{{ AutomationAssumeRole }}" and role.endswith(":role/stream-rerun-dev-runbook")
    assert statements["PassRunbookRole"]["Resource"] == role
    assert statements["PassRunbookRole"]["Condition"] == {"StringEquals": {"iam:PassedToService": "ssm.amazonaws.com"}}
    assert doc["mainSteps"][0]["inputs"]["Script"] == (
        REPO / "terraform/modules/stream-rerun/runbook_script.py"
    ).read_text().rstrip("\n")


def _json(document: Any) -> Any:
    return json.loads(document) if isinstance(document, str) else document


def test_the_launcher_starts_one_task_from_what_terraform_created(applied: dict[str, Any], moto_server: str) -> None:
    # moto 5.2 raises a TypeError in RunTask for a Fargate container with no memory of its own (real ECS accepts it):
    # in moto only, register a revision of the family whose container states it. The module stays as AWS wants it.
    ecs = client(moto_server, "ecs")
    family = applied["outputs"]["run_task_config"]["task_definition"]
    current = ecs.describe_task_definition(taskDefinition=family)["taskDefinition"]
    containers = [{**c, "memory": int(current["memory"])} for c in current["containerDefinitions"]]
    keep = ("family", "taskRoleArn", "executionRoleArn", "networkMode", "requiresCompatibilities", "cpu", "memory",
            "runtimePlatform")  # fmt: skip
    ecs.register_task_definition(**{k: current[k] for k in keep if k in current}, containerDefinitions=containers)
    # WHEN the launcher runs as `make rerun ENV=dev` would run it
    env = {**aws_env(moto_server), "HASH_KEY_VALUE": "cust-42", "RUN_ID": "chain-1"}
    out = run([sys.executable, "-m", "stream_rerun.launch", "--env", "dev", "--no-wait", "--region", REGION],
              REPO, env)  # fmt: skip
    # THEN exactly one task runs in Terraform's cluster, of Terraform's family, with the worker's variables
    cluster = applied["outputs"]["run_task_config"]["cluster"]
    arns = ecs.list_tasks(cluster=cluster)["taskArns"]
    assert len(arns) == 1 and arns[0] in out.stdout
    task = ecs.describe_tasks(cluster=cluster, tasks=arns, include=["TAGS"])["tasks"][0]
    assert task["taskDefinitionArn"].split("/")[-1].startswith(f"{family}:")
    overrides = task["overrides"]["containerOverrides"][0]
    assert overrides["name"] == "worker"
    assert {e["name"]: e["value"] for e in overrides["environment"]} == {
        "HASH_KEY_VALUE": "cust-42",
        "RUN_ID": "chain-1",
    }
    assert {"key": "run-id", "value": "chain-1"} in task["tags"]
    assert os.environ.get("AWS_ENDPOINT_URL") is None  # the test never pointed this process at moto


def test_failed_tasks_and_failed_items_reach_the_alarm_topic(applied: dict[str, Any], moto_server: str) -> None:
    events = client(moto_server, "events")
    rule = events.describe_rule(Name="stream-rerun-dev-task-failed")
    pattern = json.loads(rule["EventPattern"])
    assert pattern["detail"]["group"] == ["family:stream-rerun-dev"] and pattern["detail"]["lastStatus"] == ["STOPPED"]
    assert pattern["detail"]["$or"] == [{"containers": {"exitCode": [{"anything-but": 0}]}},
                                        {"stopCode": ["TaskFailedToStart"]}]  # fmt: skip
    targets = events.list_targets_by_rule(Rule="stream-rerun-dev-task-failed")["Targets"]
    assert [t["Arn"] for t in targets] == [applied["topic"]]
    alarm = client(moto_server, "cloudwatch").describe_alarms(AlarmNames=["stream-rerun-dev-failed-items"])[
        "MetricAlarms"
    ][0]
    assert (alarm["Namespace"], alarm["MetricName"], alarm["AlarmActions"]) == (
        "ddb-stream-rerun", "FailedItems", [applied["topic"]])  # fmt: skip
    assert {d["Name"]: d["Value"] for d in alarm["Dimensions"]} == {"table": "orders", "environment": "dev"}


def test_the_dashboard_reads_what_the_worker_emits_and_each_consumer(applied: dict[str, Any], moto_server: str) -> None:
    # GIVEN examples/complete with two consumers, applied: the dashboard CloudWatch stored
    stored = client(moto_server, "cloudwatch").get_dashboard(DashboardName="stream-rerun-dev")
    body = json.loads(stored["DashboardBody"])
    lines = [line for w in body["widgets"] if w["type"] == "metric" for line in w["properties"]["metrics"]]
    read = [(line[0], line[1], dict(zip(line[2:-1:2], line[3:-1:2], strict=True))) for line in lines if len(line) > 1]
    # THEN the worker's widgets read metrics the worker emits, under its dimensions (this table, this environment)
    worker = {name: dims for namespace, name, dims in read if namespace == "ddb-stream-rerun"}
    assert set(metrics.COUNTS) | {metrics.CAP} <= set(worker) <= metrics.NAMES
    assert all(list(dims) == metrics.DIMENSIONS for dims in worker.values())
    assert all(dims == {"table": "orders", "environment": "dev"} for dims in worker.values())
    # and each consumer has its iterator age, errors and concurrency
    lambdas = {(name, dims["FunctionName"]) for namespace, name, dims in read if namespace == "AWS/Lambda"}
    assert lambdas == {(m, f) for m in ("IteratorAge", "Errors", "ConcurrentExecutions")
                       for f in ("orders-indexer", "orders-mailer")}  # fmt: skip
