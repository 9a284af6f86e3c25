"""Static checks of terraform/ (no provider can be downloaded here): it parses, and it agrees with the worker."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml

from stream_rerun.aws import DYNAMODB_ACTIONS, OPTIONAL_DYNAMODB_ACTIONS
from stream_rerun.config import Settings

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


@pytest.mark.parametrize("path", TF_FILES, ids=[str(p.relative_to(TF)) for p in TF_FILES])
def test_every_tf_file_parses(path: Path) -> None:
    assert parse(path)


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


def test_no_wildcard_resource_except_the_ecr_login() -> None:
    for name, statement in statements():
        for resource in statement.get("resources", []):
            if resource == "*":
                assert statement["actions"] == ["ecr:GetAuthorizationToken"], f"{name}: {statement['sid']}"


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
    assert granted == set(DYNAMODB_ACTIONS)
    assert "var.allow_full_table_scan" in conditional["ScanWholeTable"][0]
    assert conditional["ReadKeyFiles"][1] == {"s3:GetObject"}
    for statement in task["statement"]:  # the table, or (for Query) the table and its named indexes
        assert "local.table_arn" in str(statement["resources"])


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


def runbook() -> dict[str, Any]:
    """The runbook YAML with every templatefile variable filled as runbook.tf fills it."""
    call = blocks("resource")["aws_ssm_document.runbook"]["content"]
    variables = set(re.findall(r"[{,]\s*(\w+)\s*=", call.split("{", 2)[2]))
    text = (MODULE / "runbook.yaml").read_text()
    placeholders = set(re.findall(r"\$\{(\w+)\}", text))
    assert placeholders == variables, "runbook.yaml placeholders and runbook.tf templatefile variables differ"
    sample = {"subnets": '["subnet-1"]', "security_groups": '["sg-1"]', "timeout_seconds": "600"}
    for name in placeholders:
        text = text.replace("${" + name + "}", sample.get(name, f"X-{name}"))
    return dict(yaml.safe_load(text))


def test_runbook_parses_and_wires_its_steps() -> None:
    doc = runbook()
    steps = {s["name"]: s for s in doc["mainSteps"]}
    assert [s["action"] for s in doc["mainSteps"]] == [
        "aws:executeScript", "aws:executeAwsApi", "aws:waitForAwsResourceProperty", "aws:executeScript",
        "aws:assertAwsResourceProperty",
    ]  # fmt: skip
    declared = {f"{s['name']}.{o['Name']}" for s in doc["mainSteps"] for o in s.get("outputs", [])}
    text = yaml.safe_dump(doc)
    for ref in re.findall(r"\{\{\s*([\w.]+)\s*\}\}", text):
        assert ref in declared or ref in doc["parameters"], ref
    assert set(doc["outputs"]) <= declared
    run = steps["RunTask"]["inputs"]
    assert (run["Service"], run["Api"], run["launchType"]) == ("ecs", "RunTask", "FARGATE")
    assert steps["RunTask"]["outputs"][0]["Selector"] == "$.tasks[0].taskArn"
    assert run["overrides"]["containerOverrides"][0]["environment"] == "{{ BuildEnvironment.Environment }}"
    assert steps["WaitForStop"]["inputs"]["DesiredValues"] == ["STOPPED"]
    check = steps["AssertExitCode"]["inputs"]
    assert (check["PropertySelector"], check["DesiredValues"]) == ("$.tasks[0].containers[0].exitCode", ["0"])


def test_runbook_forwards_only_worker_settings_and_only_those_given() -> None:
    step = runbook()["mainSteps"][0]
    assert set(step["inputs"]["InputPayload"]) <= set(Settings.env_names())
    namespace: dict[str, Any] = {}
    exec(step["inputs"]["Script"], namespace)  # noqa: S102 - the runbook's own three-line handler
    given = {"HASH_KEY_VALUE": "cust-1", "GSI_DATE": "", "DRY_RUN": "true", "RUN_ID": ""}
    assert namespace["handler"](given, None) == {
        "environment": [{"name": "DRY_RUN", "value": "true"}, {"name": "HASH_KEY_VALUE", "value": "cust-1"}]
    }
