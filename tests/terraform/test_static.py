"""Static checks of terraform/ (no provider can be downloaded here): it parses, and it agrees with the worker."""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml

from stream_rerun.aws import (
    CONSUMER_ACTIONS,
    DYNAMODB_ACTIONS,
    EXPORT_ACTIONS,
    FAILURE_QUEUE_ACTIONS,
    OPTIONAL_DYNAMODB_ACTIONS,
    STREAM_READ_ACTIONS,
)
from stream_rerun.config import Settings
from stream_rerun.launch import OPERATOR_ACTIONS
from stream_rerun.launch.runbook import RUNBOOK_PARAMETERS

TF = Path(__file__).resolve().parents[2] / "terraform"
MODULE = TF / "modules" / "stream-rerun"
TF_FILES = sorted(TF.rglob("*.tf"))


def parse(path: Path) -> dict[str, Any]:
    with path.open() as handle:
        return dict(_unquote(hcl2.load(handle)))


def _unquote(value: Any) -> Any:
    """python-hcl2 keeps the quotes of string literals: drop them, keep expressions (${...}) as they are."""
    if isinstance(value, dict):
        return {_unquote(k): _unquote(v) for k, v in value.items() if k != "__is_block__"}
    if isinstance(value, list):
        return [_unquote(v) for v in value]
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def blocks(kind: str) -> dict[str, Any]:
    """Every `kind` block of the module by "type.name" (resources, data) or name (variables, outputs, locals)."""
    found: dict[str, Any] = {}
    for path in sorted(MODULE.glob("*.tf")):
        for block in parse(path).get(kind, []):
            for key, body in block.items():
                if kind in ("resource", "data"):
                    for name, inner in body.items():
                        found[f"{key}.{name}"] = inner
                else:
                    found[key] = body
    return found


def locals_() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path in sorted(MODULE.glob("*.tf")):
        for block in parse(path).get("locals", []):
            out.update(block)
    return out


def test_module_layout() -> None:
    expected = {"versions.tf", "variables.tf", "main.tf", "iam.tf", "runbook.tf", "outputs.tf", "README.md"}
    assert expected <= {p.name for p in MODULE.iterdir()}
    for env in ("dev", "prod"):
        assert (TF / "envs" / env / "terraform.tfvars.example").exists()


KINDS = {"variables.tf": {"variable"}, "outputs.tf": {"output"}, "versions.tf": {"terraform", "provider"}}


@pytest.mark.parametrize("path", TF_FILES, ids=[str(p.relative_to(TF)) for p in TF_FILES])
def test_every_tf_file_parses_into_the_blocks_its_name_promises(path: Path) -> None:
    kinds = set(parse(path)) - {"__comments__"}
    assert kinds, f"{path} holds no block"
    assert kinds <= KINDS.get(path.name, {"resource", "data", "locals", "module", "output"}), (path, kinds)


def test_variables_are_typed_and_described_and_outputs_described() -> None:
    for name, body in blocks("variable").items():
        assert body.get("description") and body.get("type"), name
        if "default" in body and body["default"] is not None:
            assert body.get("nullable") is False, f"{name}: defaulted, so nullable = false"
    for name, body in blocks("output").items():
        assert body.get("description"), name


def statements() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for name, doc in blocks("data").items():
        if name.startswith("aws_iam_policy_document."):
            out += [(name, s) for s in doc.get("statement", [])]
            for dyn in doc.get("dynamic", []):
                out += [(name, body["content"][0]) for body in dyn.values()]
    return out


def test_every_statement_has_a_sid() -> None:
    assert statements()
    for name, statement in statements():
        assert statement.get("sid"), name


# Actions without a resource type, granted on "*" alone (Service Authorization Reference: list_amazondynamodb.html,
# list_awslambda.html, list_amazoncloudwatch.html), each in a statement of its own.
WILDCARD_ONLY = (["ecr:GetAuthorizationToken"], ["ecs:ListTasks"], ["dynamodb:ListExports"],
                 ["lambda:ListEventSourceMappings", "cloudwatch:GetMetricData"],
                 ["lambda:ListEventSourceMappings"])  # fmt: skip


def test_no_wildcard_resource_except_actions_without_a_resource_type() -> None:
    for sid, statement, resources in rendered_statements():
        if "*" in resources:
            actions = _expand(statement["actions"], locals_())
            assert actions in WILDCARD_ONLY and resources == ["*"], sid
            if actions == ["ecs:ListTasks"]:
                assert _conditions(statement) == {"ecs:cluster"}, f"{sid}: ListTasks on * needs ecs:cluster"


def _conditions(statement: dict[str, Any]) -> set[str]:
    return {c["variable"] for c in statement.get("condition", [])}


# The resource each action is authorised on, as the Service Authorization Reference writes it (one page per service:
# https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonelasticcontainerservice.html,
# list_awsidentityandaccessmanagementiam.html, list_awssystemsmanager.html, list_amazoncloudwatchlogs.html,
# list_amazons3.html, list_awskeymanagementservice.html, list_amazondynamodb.html,
# list_amazonelasticcontainerregistry.html).
# "*": the action has no resource type (or, for ecs:ListTasks, is evaluated on "*" with the ecs:cluster condition,
# amazon-ecs-developer-guide#211). CloudWatch Logs: a log group is written with ":*" in IAM policies
# (AmazonCloudWatch/latest/logs/iam-access-control-overview-cwl.html), which also covers its log streams.
LOG_GROUP = "arn:${Partition}:logs:${Region}:${Account}:log-group:${LogGroupName}"
LOG_STREAM = LOG_GROUP + ":log-stream:${LogStreamName}"
ECS_TASK = "arn:${Partition}:ecs:${Region}:${Account}:task/${ClusterName}/${TaskId}"
S3_OBJECT = "arn:${Partition}:s3:::${BucketName}/${ObjectName}"
DDB_TABLE = "arn:${Partition}:dynamodb:${Region}:${Account}:table/${TableName}"
SQS_QUEUE = "arn:${Partition}:sqs:${Region}:${Account}:${QueueName}"
SERVICE_AUTHORIZATION_FORMS: dict[str, tuple[str, ...]] = {
    "ecs:RunTask": ("arn:${Partition}:ecs:${Region}:${Account}:task-definition/${TaskDefinitionFamilyName}:"
                    "${TaskDefinitionRevisionNumber}",),
    "ecs:DescribeTasks": (ECS_TASK,), "ecs:StopTask": (ECS_TASK,), "ecs:TagResource": (ECS_TASK,),
    "ecs:ListTasks": ("*",),
    "iam:PassRole": ("arn:${Partition}:iam::${Account}:role/${RoleNameWithPath}",),
    "ssm:GetParameter": ("arn:${Partition}:ssm:${Region}:${Account}:parameter/${ParameterNameWithoutLeadingSlash}",),
    "ssm:StartAutomationExecution": (
        "arn:${Partition}:ssm:${Region}:${Account}:automation-definition/${AutomationDefinitionName}:${VersionId}",),
    "ssm:GetAutomationExecution": (
        "arn:${Partition}:ssm:${Region}:${Account}:automation-execution/${AutomationExecutionId}",),
    "logs:FilterLogEvents": (LOG_GROUP,), "logs:GetLogEvents": (LOG_STREAM,),
    "logs:CreateLogStream": (LOG_GROUP,), "logs:PutLogEvents": (LOG_STREAM,),
    "ecr:BatchGetImage": ("arn:${Partition}:ecr:${Region}:${Account}:repository/${RepositoryName}",),
    "ecr:GetDownloadUrlForLayer": ("arn:${Partition}:ecr:${Region}:${Account}:repository/${RepositoryName}",),
    "ecr:BatchCheckLayerAvailability": ("arn:${Partition}:ecr:${Region}:${Account}:repository/${RepositoryName}",),
    "ecr:GetAuthorizationToken": ("*",),
    "s3:GetObject": (S3_OBJECT,), "s3:PutObject": (S3_OBJECT,), "s3:AbortMultipartUpload": (S3_OBJECT,),
    "kms:Decrypt": ("arn:${Partition}:kms:${Region}:${Account}:key/${KeyId}",),
    "kms:GenerateDataKey": ("arn:${Partition}:kms:${Region}:${Account}:key/${KeyId}",),
    "dynamodb:DescribeTable": (DDB_TABLE,), "dynamodb:DescribeKinesisStreamingDestination": (DDB_TABLE,),
    "dynamodb:PartiQLUpdate": (DDB_TABLE,), "dynamodb:Scan": (DDB_TABLE,),
    "dynamodb:Query": (DDB_TABLE, DDB_TABLE + "/index/${IndexName}"),
    # CHANGED_FROM: the export is requested on the table and is its own resource type, "export"; ListExports has no
    # resource type (list_amazondynamodb.html, Actions table).
    "dynamodb:ExportTableToPointInTime": (DDB_TABLE,), "dynamodb:DescribeContinuousBackups": (DDB_TABLE,),
    "dynamodb:DescribeExport": (DDB_TABLE + "/export/${ExportName}",), "dynamodb:ListExports": ("*",),
    # FAILED_BATCHES_FROM: the stream read is on the "stream" resource type; the queue on "queue" (list_amazonsqs.html);
    # ListBucket on "bucket" (list_amazons3.html).
    "dynamodb:DescribeStream": (DDB_TABLE + "/stream/${StreamLabel}",),
    "dynamodb:GetShardIterator": (DDB_TABLE + "/stream/${StreamLabel}",),
    "dynamodb:GetRecords": (DDB_TABLE + "/stream/${StreamLabel}",),
    "sqs:ReceiveMessage": (SQS_QUEUE,), "sqs:ChangeMessageVisibility": (SQS_QUEUE,), "sqs:DeleteMessage": (SQS_QUEUE,),
    "sqs:GetQueueAttributes": (SQS_QUEUE,),
    "s3:ListBucket": ("arn:${Partition}:s3:::${BucketName}",),
    # The stream's consumers: neither action has a resource type (list_awslambda.html, list_amazoncloudwatch.html).
    "lambda:ListEventSourceMappings": ("*",), "cloudwatch:GetMetricData": ("*",),
}  # fmt: skip
# The module's expressions, rendered with sample values (a cluster "c", a deployment "x-dev").
ACCOUNT = {"Partition": "aws", "Region": "eu-west-1", "Account": "123456789012"}
RENDERED = {
    "${local.partition}": "aws", "${local.region}": "eu-west-1", "${local.account_id}": "123456789012",
    "${local.cluster_name}": "c", "${local.cluster_arn}": "arn:aws:ecs:eu-west-1:123456789012:cluster/c",
    "${local.table_arn}": "arn:aws:dynamodb:eu-west-1:123456789012:table/orders",
    "${aws_ecs_task_definition.this.family}": "x-dev", "${aws_ssm_document.runbook.name}": "x-dev-run",
    "${aws_cloudwatch_log_group.this.arn}": "arn:aws:logs:eu-west-1:123456789012:log-group:/ecs/x-dev",
    "${aws_ssm_parameter.run_task_config.arn}": "arn:aws:ssm:eu-west-1:123456789012:parameter/x/dev/run-task-config",
    "${aws_iam_role.task_exec.arn}": "arn:aws:iam::123456789012:role/x-dev-exec",
    "${aws_iam_role.tasks.arn}": "arn:aws:iam::123456789012:role/x-dev-task",
    "${aws_iam_role.runbook.arn}": "arn:aws:iam::123456789012:role/x-dev-runbook",
    "${statement.value}": None,  # a dynamic statement's resource: rendered from its for_each below
}  # fmt: skip
# Concrete names for the ARNs a wildcard resource must cover.
SAMPLE_NAMES = {"LogGroupName": "/ecs/x-dev", "LogStreamName": "rerun/worker/0123", "ClusterName": "c",
                "TaskId": "0123", "TaskDefinitionFamilyName": "x-dev", "TaskDefinitionRevisionNumber": "3",
                "AutomationDefinitionName": "x-dev-run", "VersionId": "$DEFAULT", "AutomationExecutionId": "0123",
                "BucketName": "rerun-keys", "ObjectName": "redrive/r1.jsonl", "TableName": "orders",
                "IndexName": "by_date", "ExportName": "01700000000000-a1b2c3d4",
                "StreamLabel": "2026-11-27T02:10:00.000", "QueueName": "indexer-on-failure"}  # fmt: skip
DYNAMIC_VALUES = {"local.ecr_repository": "arn:aws:ecr:eu-west-1:123456789012:repository/x-dev",
                  "local.table_arn": RENDERED["${local.table_arn}"],
                  "local.keys_file_object_arn": "arn:aws:s3:::rerun-keys/orders/*",
                  "local.failed_keys_object_arn": "arn:aws:s3:::rerun-keys/redrive/*",
                  "var.keys_file_kms_key_arn": "arn:aws:kms:eu-west-1:123456789012:key/k1",
                  "var.failed_keys_kms_key_arn": "arn:aws:kms:eu-west-1:123456789012:key/k2",
                  "local.table_exports_arn": "arn:aws:dynamodb:eu-west-1:123456789012:table/orders/export/*",
                  "local.table_streams_arn": "arn:aws:dynamodb:eu-west-1:123456789012:table/orders/stream/*",
                  "local.any_resource": "*",
                  "local.export_object_arn": "arn:aws:s3:::rerun-exports/orders/*",
                  "var.export_kms_key_arn": "arn:aws:kms:eu-west-1:123456789012:key/k3",
                  "local.failure_records_bucket_arn": "arn:aws:s3:::rerun-failures",
                  "local.failure_records_object_arn": "arn:aws:s3:::rerun-failures/indexer/*"}  # fmt: skip
# A dynamic statement whose resources are a variable's list (not its for_each's value).
LIST_VALUES = {"${var.failure_queue_arns}": ["arn:aws:sqs:eu-west-1:123456789012:indexer-on-failure"]}


def _render(resource: str, for_each: str) -> str:
    if resource == "${statement.value}":
        return DYNAMIC_VALUES[re.findall(r"\[((?:local|var)\.\w+)\]", for_each)[-1]]
    for expression, value in RENDERED.items():
        if value is not None:
            resource = resource.replace(expression, value)
    assert "${" not in resource, f"no sample value for {resource}"
    return resource


def _has_form(resource: str, form: str) -> bool:
    """Whether the policy's resource is an ARN of the form, or a wildcard covering one."""
    if form == "*":
        return resource == "*"
    pattern = re.escape(form)
    for name, value in ACCOUNT.items():
        pattern = pattern.replace(re.escape("${" + name + "}"), re.escape(value))
    pattern = re.sub(r"\\\$\\\{\w+\\\}", "[^:]+", pattern)
    if form.endswith(":log-group:${LogGroupName}"):
        pattern += r"(:\*)?"
    sample = re.sub(r"\$\{(\w+)\}", lambda m: {**ACCOUNT, **SAMPLE_NAMES}.get(m.group(1), "sample"), form)
    return re.fullmatch(pattern, resource) is not None or fnmatch.fnmatchcase(sample, resource)


def rendered_statements() -> list[tuple[str, dict[str, Any], list[str]]]:
    out = []
    for name, doc in blocks("data").items():
        if not name.startswith("aws_iam_policy_document."):
            continue
        for statement in doc.get("statement", []):
            resources = statement.get("resources", [])
            if isinstance(resources, str):  # the table and, through a for expression, each named index
                assert re.search(r"concat\(\[local\.table_arn\], \[for i in local\.index_names", resources)
                resources = ["${local.table_arn}", "${local.table_arn}/index/by_date"]
            out.append((statement["sid"], statement, [_render(r, "") for r in resources]))
        for dyn in doc.get("dynamic", []):
            for body in dyn.values():
                content = body["content"][0]
                listed = content.get("resources", [])
                if isinstance(listed, str):  # a variable's list of ARNs
                    resources = LIST_VALUES[listed]
                else:
                    resources = [_render(r, body["for_each"]) for r in listed]
                out.append((content["sid"], content, resources))
    return out


def test_every_resource_has_the_form_the_service_authorization_reference_gives_its_action() -> None:
    checked = 0
    for sid, statement, resources in rendered_statements():
        if "actions" not in statement or statement["actions"] == ["sts:AssumeRole"]:
            continue
        actions = statement["actions"] if isinstance(statement["actions"], list) else _expand(
            statement["actions"], locals_())  # fmt: skip
        for action in actions:
            forms = SERVICE_AUTHORIZATION_FORMS[action]
            for resource in resources:
                assert any(_has_form(resource, form) for form in forms), f"{sid}: {action} on {resource}: {forms}"
                checked += 1
    assert checked >= 25


def test_task_role_grants_exactly_the_workers_dynamodb_actions() -> None:
    loc = locals_()
    always = set(loc["dynamodb_table_actions"]) | set(loc["dynamodb_query_actions"])
    assert always == set(DYNAMODB_ACTIONS) - OPTIONAL_DYNAMODB_ACTIONS
    assert set(loc["dynamodb_scan_actions"]) == OPTIONAL_DYNAMODB_ACTIONS
    task = blocks("data")["aws_iam_policy_document.tasks"]
    granted = {a for s in task["statement"] for a in _expand(s["actions"], loc)}
    conditional = {
        body["content"][0]["sid"]: (body["for_each"], set(_expand(body["content"][0]["actions"], loc)))
        for dyn in task["dynamic"]
        for body in dyn.values()
    }
    granted |= conditional["ScanWholeTable"][1]
    assert {a for a in granted if a.startswith("dynamodb:")} == set(DYNAMODB_ACTIONS)
    # the consumers' reads: always granted (preflight lists them on every run), alone, on "*"
    watch = [s for s in task["statement"] if s["sid"] == "WatchConsumers"]
    assert len(watch) == 1 and set(_expand(watch[0]["actions"], loc)) == CONSUMER_ACTIONS
    assert watch[0]["resources"] == ["*"] and granted - set(DYNAMODB_ACTIONS) == CONSUMER_ACTIONS
    assert "var.allow_full_table_scan" in conditional["ScanWholeTable"][0]
    assert conditional["ReadKeyFiles"][1] == {"s3:GetObject"}
    # the incident selections' actions, each only in the statement of its opt-in
    assert conditional["ExportTable"][1] | conditional["FollowExports"][1] | conditional["ListExports"][1] == (
        EXPORT_ACTIONS)  # fmt: skip
    for sid in ("ExportTable", "FollowExports", "ListExports", "WriteAndReadExports"):
        assert "var.export_s3_prefix" in conditional[sid][0] or "local.export_object_arn" in conditional[sid][0], sid
    assert conditional["ReadTableStream"][1] == STREAM_READ_ACTIONS
    assert "local.failed_batches_enabled" in conditional["ReadTableStream"][0]
    assert loc["failed_batches_enabled"] == (
        "${length(var.failure_queue_arns) > 0 || var.failed_batches_s3_prefix != null}")  # fmt: skip
    assert conditional["ReadFailureQueues"][1] == FAILURE_QUEUE_ACTIONS
    assert "var.failure_queue_arns" in conditional["ReadFailureQueues"][0]
    optional = EXPORT_ACTIONS | STREAM_READ_ACTIONS
    for statement in task["statement"]:  # never granted unconditionally
        assert not set(_expand(statement["actions"], loc)) & (optional | FAILURE_QUEUE_ACTIONS), statement["sid"]
    for sid, (_, actions) in conditional.items():
        assert not actions & optional or sid in ("ExportTable", "FollowExports", "ListExports", "ReadTableStream"), sid
    for statement in task["statement"]:  # the table, or (for Query) the table and its named indexes
        assert "local.table_arn" in str(statement["resources"]) or statement is watch[0], statement["sid"]


def _expand(actions: Any, loc: dict[str, Any]) -> list[str]:
    if isinstance(actions, str):
        return list(loc[re.fullmatch(r"\$\{local\.(\w+)\}", actions).group(1)])  # type: ignore[union-attr]
    return list(actions)


def test_task_definition_environment_names_are_worker_settings() -> None:
    expr = locals_()["worker_environment"]
    names = set(re.findall(r"\b([A-Z][A-Z0-9_]+)\s*=", expr))
    assert {"TABLE_NAME", "GSI_NAME", "REVISION_ATTRIBUTE", "CONCURRENCY"} <= names
    assert names <= set(Settings.env_names())
    assert not names & {"HASH_KEY_VALUE", "GSI_DATE", "GSI_DATE_FROM", "GSI_DATE_TO", "RUN_ID", "DRY_RUN"}


def runbook(spot: bool = False) -> dict[str, Any]:
    """The runbook YAML with every templatefile variable filled as runbook.tf fills it (the script with indent())."""
    call = blocks("resource")["aws_ssm_document.runbook"]["content"]
    variables = set(re.findall(r"[{,]\s*(\w+)\s*=", call.split("{", 2)[2]))
    text = (MODULE / "runbook.yaml").read_text()
    placeholders = set(re.findall(r"\$\{(\w+)\}", text)) | set(re.findall(r"\$\{indent\(8, (\w+)\)\}", text))
    assert placeholders == variables, "runbook.yaml placeholders and runbook.tf templatefile variables differ"
    assert 'file("${path.module}/runbook_script.py")' in call
    script = (MODULE / "runbook_script.py").read_text()
    sample = {"subnets": '["subnet-1"]', "security_groups": '["sg-1"]', "timeout_seconds": "600",
              "spot": str(spot).lower(), "assign_public_ip": "DISABLED"}  # fmt: skip
    text = text.replace("${indent(8, script)}", script.replace("\n", "\n" + " " * 8))
    for name in placeholders:
        text = text.replace("${" + name + "}", sample.get(name, f"X-{name}"))
    return dict(yaml.safe_load(text))


def test_runbook_parses_and_wires_its_steps() -> None:
    doc = runbook()
    steps = {s["name"]: s for s in doc["mainSteps"]}
    assert [s["action"] for s in doc["mainSteps"]] == [
        "aws:executeScript", "aws:waitForAwsResourceProperty", "aws:executeScript", "aws:executeAwsApi",
    ]  # fmt: skip
    # a cancelled or timed-out execution stops the task; the happy path ends before StopTask
    assert (steps["WaitForStop"]["onFailure"], steps["WaitForStop"]["onCancel"]) == ("step:StopTask",) * 2
    assert steps["CheckExitCode"]["isEnd"] is True and steps["StopTask"]["inputs"]["Api"] == "StopTask"
    assert steps["StopTask"]["inputs"]["task"] == "{{ RunTask.TaskArn }}"
    assert {"RunTask.RunId", "RunTask.TaskArn", "RunTask.LogStream"} <= set(doc["outputs"])
    declared = {f"{s['name']}.{o['Name']}" for s in doc["mainSteps"] for o in s.get("outputs", [])}
    text = yaml.safe_dump(doc)
    for ref in re.findall(r"\{\{\s*([\w.]+)\s*\}\}", text):
        assert ref in declared or ref in doc["parameters"], ref
    assert set(doc["outputs"]) <= declared
    # RunTask and the exit-code check are the script's handlers (runbook_script.py, tested against moto), whole
    script = (MODULE / "runbook_script.py").read_text().rstrip("\n")
    for name, handler in (("RunTask", "start"), ("CheckExitCode", "check")):
        inputs = steps[name]["inputs"]
        assert (inputs["Runtime"], inputs["Handler"], inputs["Script"]) == ("python3.11", handler, script)
        assert steps[name]["timeoutSeconds"] <= 600  # an executeScript step's limit
    assert steps["RunTask"]["outputs"][0] == {"Name": "TaskArn", "Selector": "$.Payload.task_arn", "Type": "String"}
    assert steps["CheckExitCode"]["inputs"]["InputPayload"]["TaskArn"] == "{{ RunTask.TaskArn }}"
    assert steps["WaitForStop"]["inputs"]["tasks"] == ["{{ RunTask.TaskArn }}"]
    assert steps["WaitForStop"]["inputs"]["DesiredValues"] == ["STOPPED"]


def test_runbook_runs_as_its_assume_role_parameter_not_a_role_written_into_it() -> None:
    doc = runbook()
    assert doc["assumeRole"] == "{{ AutomationAssumeRole }}"
    role = doc["parameters"]["AutomationAssumeRole"]
    assert role["default"] == "X-assume_role_arn" and role["type"] == "String"
    assert re.fullmatch(role["allowedPattern"], "arn:aws:iam::123456789012:role/stream-rerun-prod-runbook")
    assert not re.fullmatch(role["allowedPattern"], "stream-rerun-prod-runbook")


def test_runbook_forwards_only_worker_settings() -> None:
    payload = runbook()["mainSteps"][0]["inputs"]["InputPayload"]
    worker = {k for k in payload if k.isupper()}
    assert worker <= set(Settings.env_names())
    assert set(payload) - worker == {"Cluster", "TaskDefinition", "ContainerName", "Subnets", "SecurityGroups",
                                     "AssignPublicIp", "Spot", "LogStreamPrefix"}  # fmt: skip


@pytest.mark.parametrize(
    ("parameter", "good", "bad"),
    [("RunId", ["r-1", "2024:a.b_c", ""], ["has space", "x" * 129, "a/b"]),
     ("TotalSegments", ["", "16", "1000000"], ["0", "-1", "x"]),
     ("KeysFile", ["", "s3://bucket/keys.jsonl"], ["./keys.jsonl", "s3://b"]),
     ("HashKeyValue", ["", "cust 1"], ["   "]),
     ("GsiDate", ["", "2024-01-01"], [" 2024-01-01"]),
     ("KeysFile", ["s3://exports/orders/AWSDynamoDB/01700000000000-a1b2c3d4/"], ["s3://exports/"]),
     ("FilterValues", ["", '["FAILED","TIMEOUT"]', "[3, true]"], ["FAILED", "{}"]),
     ("FailedKeysOut", ["", "s3://bucket/redrive/", "s3://bucket/r.jsonl"], ["/tmp/r.jsonl", "s3://b"]),
     ("SortKeyFrom", ["", "o-2026"], ["  "])],
)  # fmt: skip
def test_runbook_parameters_refuse_what_the_worker_would(parameter: str, good: list[str], bad: list[str]) -> None:
    pattern = runbook()["parameters"][parameter]["allowedPattern"]
    assert all(re.fullmatch(pattern, value) for value in good)
    assert not any(re.fullmatch(pattern, value) for value in bad)


# The incident selections' parameters, each with the other variables its selection needs (so the worker's verdict is
# about this value alone), and samples on both sides of the pattern.
WINDOW = {"CHANGED_FROM": "2026-11-27T02:10:00Z", "EXPORT_S3_URI": "s3://rerun-exports/orders/"}
QUEUE = "https://sqs.eu-west-1.amazonaws.com/123456789012/orders-indexer-on-failure"
INCIDENT_SAMPLES: list[tuple[str, str, dict[str, str], list[str], list[str]]] = [
    ("ChangedFrom", "CHANGED_FROM", {"EXPORT_S3_URI": WINDOW["EXPORT_S3_URI"]},
     ["2026-11-27T02:10:00Z", "2026-11-27T03:10:00+01:00", "2026-11-27T02:10Z", "2026-11-27T02:10:00.123456-05:00"],
     ["2026-11-27T02:10:00", "2026-11-27", "1764209400", "2026-11-27T25:10:00Z", "2026-13-27T02:10:00Z"]),
    ("ChangedTo", "CHANGED_TO", WINDOW, ["2026-11-27T05:40:00Z", "2026-11-27T06:40:00+01:00"],
     ["2026-11-27T05:40:00", "tomorrow"]),
    ("ExportS3Uri", "EXPORT_S3_URI", {"CHANGED_FROM": WINDOW["CHANGED_FROM"]},
     ["s3://rerun-exports/orders/", "s3://rerun-exports"], ["s3://b/x/", "rerun-exports/orders/", "s3://Rerun/x/"]),
    ("MaxExportWaitSeconds", "MAX_EXPORT_WAIT_SECONDS", WINDOW, ["60", "3600", "1800.5", "86400"],
     ["0", "-1", "abc", "1 h"]),
    ("RemovedKeysOut", "REMOVED_KEYS_OUT", WINDOW, ["s3://rerun-keys/redrive/", "s3://rerun-keys/removed.jsonl"],
     ["s3://rerun-keys", "s3://rerun-keys/"]),
    ("FailedBatchesFrom", "FAILED_BATCHES_FROM", {}, [QUEUE, "s3://rerun-failures/orders-indexer/",
     "s3://rerun-failures/dump.jsonl", "https://sqs.cn-north-1.amazonaws.com.cn/123456789012/q"],
     ["https://example.com/123456789012/q", "https://sqs.eu-west-1.amazonaws.com/12345/q", "s3://rerun-failures"]),
    ("DeleteSettledMessages", "DELETE_SETTLED_MESSAGES", {"FAILED_BATCHES_FROM": QUEUE}, ["true", "false"],
     ["maybe", "2"]),
    ("ConsumerFunctions", "CONSUMER_FUNCTIONS", {"HASH_KEY_VALUE": "c1"},
     ["indexer", "indexer,search-sync", "arn:aws:lambda:eu-west-1:123456789012:function:indexer:live,audit"],
     ["indexer sync", "arn:aws:lambda:eu-west-1:1234:function:x", "x" * 65]),
    ("AllowDisabledConsumers", "ALLOW_DISABLED_CONSUMERS", {"HASH_KEY_VALUE": "c1"}, ["true", "false"], ["maybe"]),
    ("MaxConsumerLagSeconds", "MAX_CONSUMER_LAG_SECONDS", {"HASH_KEY_VALUE": "c1"}, ["30", "300", "90.5", "86400"],
     ["0", "-1", "abc", "5 min"]),
    ("MaxConsumerPauseSeconds", "MAX_CONSUMER_PAUSE_SECONDS", {"HASH_KEY_VALUE": "c1"}, ["60", "3600", "86400"],
     ["0", "-5", "1 h"]),
]  # fmt: skip
# What the runbook refuses on purpose although the worker takes it: a path on the task's disk (which vanishes with it,
# or which the task cannot read), a loopback queue (tests only), a bucket name S3 would refuse, and spellings beside
# the documented one. The other way: MaxExportWaitSeconds takes 86401 to 99999, which the worker refuses (exit 2).
STRICTER = {("RemovedKeysOut", "/tmp/removed.jsonl"), ("RemovedKeysOut", "s3://b/x"),
            ("FailedBatchesFrom", "./queue-dump.jsonl"),
            ("FailedBatchesFrom", "http://127.0.0.1:5000/123456789012/q"),
            ("ChangedFrom", "2026-11-27 02:10:00Z"), ("ChangedFrom", "2026-11-27T02:10:00+0100"),
            ("MaxExportWaitSeconds", "1e3"), ("DeleteSettledMessages", "yes")}  # fmt: skip


def _worker_takes(variables: dict[str, str]) -> bool:
    values = {"table_name": "orders", "aws_region": "eu-west-1", **{k.lower(): v for k, v in variables.items()}}
    try:
        Settings.model_validate(values)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize(("parameter", "name", "context", "good", "bad"), INCIDENT_SAMPLES,
                         ids=[sample[0] for sample in INCIDENT_SAMPLES])  # fmt: skip
def test_incident_parameters_take_what_the_worker_takes_and_refuse_what_it_refuses(
    parameter: str, name: str, context: dict[str, str], good: list[str], bad: list[str]
) -> None:
    spec = runbook()["parameters"][parameter]
    pattern = spec["allowedPattern"]
    assert re.fullmatch(pattern, spec["default"]), "the default must pass its own pattern"
    for value in good:
        assert _worker_takes({**context, name: value}), f"the worker refuses {name}={value!r}"
        assert re.fullmatch(pattern, value), f"{parameter} refuses {value!r}, which the worker takes"
    for value in bad:
        assert not _worker_takes({**context, name: value}), f"the worker takes {name}={value!r}"
        assert not re.fullmatch(pattern, value), f"{parameter} takes {value!r}, which the worker refuses"
    for stricter, value in STRICTER:
        if stricter == parameter:
            assert _worker_takes({**context, name: value}) and not re.fullmatch(pattern, value), value


def test_runbook_parameters_are_the_launchers_and_each_reaches_its_variable() -> None:
    doc = runbook()
    payload = {k: v for k, v in doc["mainSteps"][0]["inputs"]["InputPayload"].items() if k.isupper()}
    assert payload == {name: "{{ " + parameter + " }}" for name, parameter in RUNBOOK_PARAMETERS.items()}
    assert set(doc["parameters"]) - {"AutomationAssumeRole"} == set(RUNBOOK_PARAMETERS.values())


def test_runbook_run_id_pattern_is_the_workers() -> None:
    worker = Settings.model_fields["run_id"].metadata[0].pattern
    assert runbook()["parameters"]["RunId"]["allowedPattern"] == f"^({worker.strip('^$')})?$"


def test_operator_policy_grants_exactly_what_the_launcher_calls() -> None:
    documents = blocks("data")
    operator = documents["aws_iam_policy_document.operator"]
    assert operator["source_policy_documents"] == ["${data.aws_iam_policy_document.run_tasks.json}"]
    statements = operator["statement"] + documents["aws_iam_policy_document.run_tasks"]["statement"]
    assert {a for s in statements for a in s["actions"]} == set(OPERATOR_ACTIONS)
    for statement in statements:
        if statement["resources"] == ["*"]:  # a cluster's task list, narrowed to this cluster; the stream's consumers
            assert statement["actions"] in (["ecs:ListTasks"], ["lambda:ListEventSourceMappings"]), statement["sid"]
            if statement["actions"] == ["ecs:ListTasks"]:
                assert _conditions(statement) == {"ecs:cluster"}
    # the launcher's plan reads the table and its stream's consumers, nothing else of DynamoDB or Lambda
    plan = {a for s in statements for a in s["actions"] if a.split(":")[0] in ("dynamodb", "lambda")}
    assert plan == {"dynamodb:DescribeTable", "dynamodb:DescribeKinesisStreamingDestination",
                    "lambda:ListEventSourceMappings"}  # fmt: skip


def test_envs_pass_every_option_an_operator_needs() -> None:
    needed = {"allow_full_table_scan", "keys_file_s3_prefix", "keys_file_kms_key_arn", "fargate_spot", "name",
              "extra_index_names", "cpu_architecture", "max_wcu_per_second", "consumer_function_names",
              "confirm_runs"}  # fmt: skip
    for env in ("dev", "prod"):
        call = parse(TF / "envs" / env / "main.tf")["module"][0]["stream_rerun"]
        assert needed <= set(call), f"{env} does not pass {needed - set(call)}"
        example = (TF / "envs" / env / "terraform.tfvars.example").read_text()
        assert "allow_full_table_scan" in example and "keys_file_s3_prefix" in example


def test_the_complete_example_sets_every_module_option() -> None:
    call = parse(TF / "examples" / "complete" / "main.tf")["module"][0]["stream_rerun"]
    assert set(blocks("variable")) <= set(call), f"examples/complete does not set {set(blocks('variable')) - set(call)}"


def test_the_module_asks_a_minimum_provider_version_and_the_roots_pin_the_major() -> None:
    def aws_version(path: Path) -> str:
        return str(parse(path)["terraform"][0]["required_providers"][0]["aws"]["version"])

    assert aws_version(MODULE / "versions.tf") == ">= 5.40"
    for root in ("envs/dev", "envs/prod", "examples/complete"):
        assert aws_version(TF / root / "versions.tf") == "~> 5.40", root


def test_runbook_runs_on_spot_only_when_the_module_says_so() -> None:
    assert runbook(spot=False)["mainSteps"][0]["inputs"]["InputPayload"]["Spot"] == "false"
    assert runbook(spot=True)["mainSteps"][0]["inputs"]["InputPayload"]["Spot"] == "true"
