"""The run configuration Terraform writes to SSM (`/<name>/<env>/run-task-config`), or a file given with --config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stream_rerun.errors import OPERATOR, ConfigError, as_rerun_error, error_code

if TYPE_CHECKING:
    from mypy_boto3_ssm import SSMClient

DEFAULT_NAME = "stream-rerun"  # Terraform's var.name default: the first part of every resource name
REQUIRED = ("cluster", "task_definition", "container_name", "subnets", "security_groups", "log_group",
            "log_stream_prefix", "region")  # fmt: skip


def parameter_name(name: str, env: str) -> str:
    """Where Terraform (module output run_task_config_parameter) writes the run configuration."""
    return f"/{name}/{env}/run-task-config"


def load_config(
    env: str, config_file: Path | None, ssm: SSMClient | None, name: str = DEFAULT_NAME, region: str = "?"
) -> dict[str, Any]:
    """The run configuration from `config_file`, else from SSM in `region`. Raises ConfigError naming the fix."""
    if config_file is not None:
        try:
            config = json.loads(config_file.read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"--config {config_file}: {exc}") from None
    else:
        assert ssm is not None
        parameter = parameter_name(name, env)
        try:
            config = json.loads(ssm.get_parameter(Name=parameter)["Parameter"]["Value"])
        except Exception as exc:  # noqa: BLE001 - classified below
            if error_code(exc) == "ParameterNotFound":
                raise ConfigError(
                    f"no SSM parameter {parameter} in region {region}: deploy the environment first "
                    f"(make apply ENV={env}), or give --region / --name of the deployment"
                ) from None
            raise as_rerun_error(exc, "SSM", f"reading {parameter} in {region}", OPERATOR) from None
    if not isinstance(config, dict):
        raise ConfigError(f"run configuration for {env} is not a JSON object: re-apply Terraform")
    missing = [k for k in REQUIRED if k not in config]
    if missing:
        raise ConfigError(f"run configuration lacks {', '.join(missing)}: re-apply Terraform (make apply ENV={env})")
    return dict(config)
