"""`--runbook`: start the SSM Automation runbook Terraform made (one task), and follow it like a task."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from stream_rerun.errors import EXIT_FAILED, EXIT_OK, EXIT_TIMEOUT, OPERATOR, ConfigError, as_rerun_error
from stream_rerun.launch.follow import Follower

if TYPE_CHECKING:
    from mypy_boto3_ssm import SSMClient

# Runbook parameter for each worker variable it accepts (runbook.yaml's parameters).
RUNBOOK_PARAMETERS = {"HASH_KEY_VALUE": "HashKeyValue", "GSI_DATE": "GsiDate", "GSI_DATE_FROM": "GsiDateFrom",
                      "GSI_DATE_TO": "GsiDateTo", "DRY_RUN": "DryRun", "RUN_ID": "RunId", "ALL_ITEMS": "AllItems",
                      "TOTAL_SEGMENTS": "TotalSegments", "KEYS_FILE": "KeysFile",
                      "SORT_KEY_BEGINS_WITH": "SortKeyBeginsWith", "SORT_KEY_FROM": "SortKeyFrom",
                      "SORT_KEY_TO": "SortKeyTo", "FILTER_ATTRIBUTE": "FilterAttribute",
                      "FILTER_VALUES": "FilterValues", "FAILED_KEYS_OUT": "FailedKeysOut",
                      "CHANGED_FROM": "ChangedFrom", "CHANGED_TO": "ChangedTo", "EXPORT_S3_URI": "ExportS3Uri",
                      "MAX_EXPORT_WAIT_SECONDS": "MaxExportWaitSeconds", "REMOVED_KEYS_OUT": "RemovedKeysOut",
                      "FAILED_BATCHES_FROM": "FailedBatchesFrom",
                      "DELETE_SETTLED_MESSAGES": "DeleteSettledMessages", "CONSUMER_FUNCTIONS": "ConsumerFunctions",
                      "ALLOW_DISABLED_CONSUMERS": "AllowDisabledConsumers",
                      "MAX_CONSUMER_LAG_SECONDS": "MaxConsumerLagSeconds",
                      "MAX_CONSUMER_PAUSE_SECONDS": "MaxConsumerPauseSeconds"}  # fmt: skip
_DONE = {"Success", "Failed", "TimedOut", "Cancelled", "CompletedWithFailure", "CompletedWithSuccess"}
_BOOLEAN_NAMES = ("DRY_RUN", "ALL_ITEMS", "DELETE_SETTLED_MESSAGES", "ALLOW_DISABLED_CONSUMERS")
_BOOLEANS = {"1": "true", "0": "false", "yes": "true", "no": "false", "on": "true", "off": "false"}


def parameters(environment: dict[str, str]) -> dict[str, list[str]]:
    """The runbook's parameters for these worker variables; ConfigError for a variable it does not take. Booleans
    are spelled true/false (the runbook's allowedPattern), whatever spelling the worker would accept."""
    extra = sorted(set(environment) - set(RUNBOOK_PARAMETERS))
    if extra:
        raise ConfigError(f"the runbook takes no {', '.join(extra)}: unset them, or launch without --runbook")
    out = {}
    for name, value in environment.items():
        spelled = _BOOLEANS.get(value.strip().lower(), value.strip().lower()) if name in _BOOLEAN_NAMES else value
        out[RUNBOOK_PARAMETERS[name]] = [spelled]
    return out


@dataclass
class Runbook:
    ssm: SSMClient
    document: str
    follower: Follower
    wait: bool = True
    out: Callable[[str], None] = print

    def run(self, environment: dict[str, str]) -> int:
        try:
            execution = self.ssm.start_automation_execution(DocumentName=self.document,
                                                             Parameters=parameters(environment))  # fmt: skip
        except ConfigError:
            raise
        except Exception as exc:  # noqa: BLE001 - one vocabulary for every AWS error
            raise as_rerun_error(exc, "SSM", f"starting runbook {self.document}", OPERATOR) from None
        execution_id = execution["AutomationExecutionId"]
        self.out(f"runbook {self.document} started: execution {execution_id}")
        if not self.wait:
            self.out(f"follow it: aws ssm get-automation-execution --automation-execution-id {execution_id}")
            return EXIT_OK
        return self.follow(execution_id)

    def follow(self, execution_id: str) -> int:
        reader = None
        deadline = time.monotonic() + self.follower.timeout
        while True:
            run = self.ssm.get_automation_execution(AutomationExecutionId=execution_id)["AutomationExecution"]
            task_arn = _task_arn(run)
            if task_arn and reader is None:
                self.out("\n".join(self.follower.fleet.links([task_arn])))
                reader = self.follower.reader_for([self.follower.tail_for(task_arn)])
                start = run.get("ExecutionStartTime")
                reader.since_ms = int(start.timestamp() * 1000) if isinstance(start, datetime) else 0
            if reader:
                reader.poll()
            status = str(run.get("AutomationExecutionStatus"))
            if status in _DONE:
                return self.result(status, run, task_arn)
            if time.monotonic() > deadline:
                self.out(f"runbook still {status} after {self.follower.timeout:g} s (execution {execution_id})")
                return EXIT_TIMEOUT
            self.follower.sleep(self.follower.poll)

    def result(self, status: str, run: Any, task_arn: str | None) -> int:
        self.out(f"runbook {status}" + (f": {run['FailureMessage']}" if run.get("FailureMessage") else ""))
        if status in ("Success", "CompletedWithSuccess"):
            return EXIT_OK
        if task_arn is None:  # the task was never started
            return EXIT_FAILED
        fleet = self.follower.fleet
        stopped = fleet.stopped(fleet.describe([task_arn])[task_arn])
        self.out(stopped.text)
        return stopped.code or EXIT_FAILED  # a failed runbook never exits 0


def _task_arn(run: Any) -> str | None:
    for step in run.get("StepExecutions", []):
        if step.get("StepName") == "RunTask":
            value = step.get("Outputs", {}).get("TaskArn", [None])[0]
            return str(value) if value else None
    return None
