"""`stream-rerun-launch` (`make rerun ENV=...`): start the worker as an ECS task, follow it, exit with its code.

Reads the run configuration Terraform wrote (SSM parameter /stream-rerun/<env>/run-task-config, or --config FILE),
forwards only the worker's own variables from this environment, checks them with the worker's rules, runs the task
(or the SSM Automation runbook with --runbook), streams its CloudWatch log lines, and exits with the container's exit
code. A task that never started has no exit code: that is exit 1 with ECS's stopCode and stoppedReason.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from stream_rerun.aws import as_rerun_error
from stream_rerun.config import launch_environment
from stream_rerun.errors import ConfigError, RerunError

EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_INTERRUPTED = 0, 1, 2, 130
REQUIRED = ("cluster", "task_definition", "container_name", "subnets", "security_groups", "log_group",
            "log_stream_prefix", "region")  # fmt: skip
# Runbook parameter for each worker variable it accepts.
RUNBOOK_PARAMETERS = {"HASH_KEY_VALUE": "HashKeyValue", "GSI_DATE": "GsiDate", "GSI_DATE_FROM": "GsiDateFrom",
                      "GSI_DATE_TO": "GsiDateTo", "DRY_RUN": "DryRun", "RUN_ID": "RunId", "ALL_ITEMS": "AllItems",
                      "TOTAL_SEGMENTS": "TotalSegments", "KEYS_FILE": "KeysFile"}  # fmt: skip
_RUNBOOK_DONE = {"Success", "Failed", "TimedOut", "Cancelled", "CompletedWithFailure", "CompletedWithSuccess"}


def load_config(env: str, config_file: Path | None, ssm: Any) -> dict[str, Any]:
    """The run configuration from --config, else from SSM. Raises ConfigError naming what to do."""
    if config_file is not None:
        try:
            config = json.loads(config_file.read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"--config {config_file}: {exc}") from None
    else:
        name = f"/stream-rerun/{env}/run-task-config"
        try:
            config = json.loads(ssm.get_parameter(Name=name)["Parameter"]["Value"])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ParameterNotFound":
                raise ConfigError(
                    f"no SSM parameter {name}: deploy the environment first (make apply ENV={env})"
                ) from None
            raise as_rerun_error(exc, f"reading {name}") from None
    missing = [k for k in REQUIRED if k not in config]
    if missing:
        raise ConfigError(f"run configuration lacks {', '.join(missing)}: re-apply Terraform (make apply ENV={env})")
    return dict(config)


@dataclass
class LogTail:
    """Follows one CloudWatch log stream, printing each worker JSON line readably."""

    logs: Any
    group: str
    stream: str
    prefix: str = ""
    token: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)

    def poll(self) -> None:
        while True:
            params: dict[str, Any] = {"logGroupName": self.group, "logStreamName": self.stream, "startFromHead": True}
            if self.token:
                params["nextToken"] = self.token
            try:
                page = self.logs.get_log_events(**params)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                    return  # the stream appears when the container starts
                raise
            for event in page.get("events", []):
                print(self.prefix + self.render(event["message"]), flush=True)
            if page.get("nextForwardToken") in (None, self.token):
                return
            self.token = page["nextForwardToken"]

    def render(self, message: str) -> str:
        try:
            line = json.loads(message)
        except ValueError:
            return message
        if not isinstance(line, dict):
            return message
        if line.get("event") == "summary":
            self.summary = line
        skip = {"timestamp", "level", "message", "run_id", "table", "event", "taskName"}
        fields = " ".join(f"{k}={json.dumps(v)}" for k, v in line.items() if k not in skip)
        stamp = str(line.get("timestamp", ""))[11:19]
        return f"{stamp} {line.get('level', '')} {line.get('message', '')} {fields}".strip()


class Launcher:
    """One launch: the clients, the run configuration and the options."""

    def __init__(self, args: argparse.Namespace, config: dict[str, Any], clients: dict[str, Any]) -> None:
        self.args = args
        self.config = config
        self.ecs = clients["ecs"]
        self.logs = clients["logs"]
        self.ssm = clients["ssm"]

    # ---- ECS ----
    def run_task(self, environment: dict[str, str]) -> str:
        c = self.config
        response = self.ecs.run_task(
            cluster=c["cluster"],
            taskDefinition=c["task_definition"],
            launchType="FARGATE",
            count=1,
            startedBy="stream-rerun-launch",
            networkConfiguration={"awsvpcConfiguration": {
                "subnets": c["subnets"], "securityGroups": c["security_groups"],
                "assignPublicIp": "ENABLED" if c.get("assign_public_ip") else "DISABLED"}},
            overrides={"containerOverrides": [{"name": c["container_name"], "environment": [
                {"name": k, "value": v} for k, v in sorted(environment.items())]}]},
            tags=[{"key": "run-id", "value": environment["RUN_ID"]}],
        )  # fmt: skip
        if not response.get("tasks"):
            reasons = "; ".join(
                f"{f.get('arn', '')} {f.get('reason', '')}".strip() for f in response.get("failures", [])
            )
            raise RerunError(f"RunTask started no task: {reasons or 'no reason given'}")
        return str(response["tasks"][0]["taskArn"])

    def describe(self, task_arn: str) -> dict[str, Any]:
        return self.describe_all([task_arn])[task_arn]

    def describe_all(self, arns: list[str]) -> dict[str, dict[str, Any]]:
        """DescribeTasks for up to 100 tasks; a task ECS no longer knows is MISSING."""
        found = self.ecs.describe_tasks(cluster=self.config["cluster"], tasks=arns).get("tasks", [])
        by_arn = {t["taskArn"]: dict(t) for t in found if "taskArn" in t}
        return {arn: by_arn.get(arn, {"lastStatus": "MISSING"}) for arn in arns}

    def tail_for(self, task_arn: str, prefix: str = "") -> LogTail:
        c = self.config
        stream = f"{c['log_stream_prefix']}/{c['container_name']}/{task_arn.rsplit('/', 1)[-1]}"
        return LogTail(self.logs, c["log_group"], stream, prefix)

    def follow(self, task_arn: str) -> int:
        """Poll until STOPPED (streaming logs), then return the container's exit code, or 1 if it has none."""
        return self.follow_all([task_arn])

    def follow_all(self, arns: list[str]) -> int:
        """Follow tasks until all stopped, logs prefixed by worker when several; the first non-zero code wins."""
        tails = [self.tail_for(arn, f"[w{i}] " if len(arns) > 1 else "") for i, arn in enumerate(arns)]
        deadline = time.monotonic() + self.args.timeout
        try:
            while True:
                tasks = self.describe_all(arns)
                for tail in tails:
                    tail.poll()
                if all(t.get("lastStatus") in ("STOPPED", "DELETED", "MISSING") for t in tasks.values()):
                    codes = [self.exit_code(tasks[arn], f"[w{i}] " if len(arns) > 1 else "")
                             for i, arn in enumerate(arns)]  # fmt: skip
                    if len(arns) > 1:
                        print("combined summary: " + json.dumps(combine([t.summary for t in tails])))
                    return next((code for code in codes if code != 0), EXIT_OK)
                if time.monotonic() > deadline:
                    running = [arn for arn, t in tasks.items() if t.get("lastStatus") != "STOPPED"]
                    print(f"{len(running)} task(s) still running after {self.args.timeout} s; {self.hint(running[0])}")
                    return EXIT_FAILED
                time.sleep(self.args.poll)
        except KeyboardInterrupt:
            return self.interrupted(arns)

    def exit_code(self, task: dict[str, Any], prefix: str = "") -> int:
        container: dict[str, Any] = next(
            (c for c in task.get("containers", []) if c.get("name") == self.config["container_name"]), {}
        )
        code = container.get("exitCode")
        if code is None:
            print(
                f"{prefix}task stopped without an exit code: stopCode={task.get('stopCode')} "
                f"stoppedReason={task.get('stoppedReason')!r} containerReason={container.get('reason')!r}"
            )
            return EXIT_FAILED
        print(f"{prefix}task stopped: container exit code {code}")
        return int(code)

    def interrupted(self, arns: list[str]) -> int:
        if self.args.stop_on_interrupt:
            print("Ctrl-C: stopping the task(s) (the worker finishes in-flight writes and prints its summary)")
            for arn in arns:
                self.ecs.stop_task(cluster=self.config["cluster"], task=arn, reason="stopped by operator (Ctrl-C)")
            self.args.stop_on_interrupt = False
            return self.follow_all(arns)
        print(f"Ctrl-C: the task(s) keep running. {self.hint(arns[0])}")
        return EXIT_INTERRUPTED

    def hint(self, task_arn: str) -> str:
        tail = self.tail_for(task_arn)
        return (
            f"Follow it: aws logs tail {tail.group} --log-stream-names {tail.stream} --follow; "
            f"stop it: aws ecs stop-task --cluster {self.config['cluster']} --task {task_arn}"
        )

    def console_url(self, task_arn: str) -> str:
        region, cluster = self.config["region"], self.config["cluster"].rsplit("/", 1)[-1]
        task_id = task_arn.rsplit("/", 1)[-1]
        return f"https://{region}.console.aws.amazon.com/ecs/v2/clusters/{cluster}/tasks/{task_id}?region={region}"

    # ---- runbook ----
    def run_runbook(self, environment: dict[str, str]) -> int:
        extra = sorted(set(environment) - set(RUNBOOK_PARAMETERS))
        if extra:
            raise ConfigError(f"the runbook takes no {', '.join(extra)}: unset them, or launch without --runbook")
        params = {RUNBOOK_PARAMETERS[k]: [v] for k, v in environment.items()}
        execution = self.ssm.start_automation_execution(DocumentName=self.config["runbook"], Parameters=params)
        execution_id = execution["AutomationExecutionId"]
        print(f"runbook {self.config['runbook']} started: execution {execution_id}")
        tail: LogTail | None = None
        deadline = time.monotonic() + self.args.timeout
        while True:
            run = self.ssm.get_automation_execution(AutomationExecutionId=execution_id)["AutomationExecution"]
            task_arn = next((s.get("Outputs", {}).get("TaskArn", [None])[0] for s in run.get("StepExecutions", [])
                             if s.get("StepName") == "RunTask"), None)  # fmt: skip
            if task_arn and tail is None:
                print(f"task {task_arn}")
                tail = self.tail_for(task_arn)
            if tail:
                tail.poll()
            status = run.get("AutomationExecutionStatus")
            if status in _RUNBOOK_DONE:
                return self.runbook_result(status, run, task_arn)
            if time.monotonic() > deadline:
                print(f"runbook still {status} after {self.args.timeout} s (execution {execution_id})")
                return EXIT_FAILED
            time.sleep(self.args.poll)

    def runbook_result(self, status: str, run: dict[str, Any], task_arn: str | None) -> int:
        print(f"runbook {status}" + (f": {run['FailureMessage']}" if run.get("FailureMessage") else ""))
        if status in ("Success", "CompletedWithSuccess"):
            return EXIT_OK
        if task_arn is None:  # the task was never started
            return EXIT_FAILED
        return self.exit_code(self.describe(task_arn)) or EXIT_FAILED  # a failed runbook never exits 0


COUNTERS = ("selected", "touched", "already_done", "vanished", "failed", "unprocessed")


def combine(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    """The workers' summary lines added up; `reported` says how many tasks printed one."""
    done = [s for s in summaries if s]
    out: dict[str, Any] = {k: sum(int(s.get(k, 0)) for s in done) for k in COUNTERS}
    out.update(tasks=len(summaries), reported=len(done), interrupted=any(s.get("interrupted") for s in done))
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="stream-rerun-launch", description=__doc__.splitlines()[0])
    parser.add_argument("--env", required=True, help="environment name (dev, prod, ...)")
    parser.add_argument("--config", type=Path, help="run configuration JSON instead of the SSM parameter")
    parser.add_argument("--region", help="region of the SSM parameter (default: the AWS SDK's)")
    parser.add_argument("--no-wait", action="store_true", help="print the task and exit without following it")
    parser.add_argument("--timeout", type=float, default=6 * 3600, help="seconds to follow the task (default 6 h)")
    parser.add_argument("--poll", type=float, default=5.0, help="seconds between status polls")
    parser.add_argument("--stop-on-interrupt", action="store_true", help="Ctrl-C stops the task")
    parser.add_argument("--runbook", action="store_true", help="start the SSM Automation runbook instead")
    parser.add_argument("--tasks", type=int, default=1, help="fan out over N tasks (ALL_ITEMS or KEYS_FILE)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None, clients: dict[str, Any] | None = None) -> int:
    """Entry point; `clients` (ecs, logs, ssm) lets tests pass stubbed or moto clients."""
    args = parse_args(argv)
    try:
        ssm = (clients or {}).get("ssm")
        if ssm is None and args.config is None:  # the run configuration's own region serves everything else
            ssm = boto3.session.Session(region_name=args.region).client("ssm")
        config = load_config(args.env, args.config, ssm)
        if not 1 <= args.tasks <= 1000:
            raise ConfigError(f"--tasks {args.tasks}: give 1 to 1000")
        fleet = {"WORKER_COUNT": str(args.tasks)} if args.tasks > 1 else {}
        environment = launch_environment(config.get("worker_defaults", {}), config["region"], fleet)
        if clients is None:
            regional = boto3.session.Session(region_name=config["region"])
            clients = {name: regional.client(name) for name in ("ecs", "logs", "ssm")}
        launcher = Launcher(args, config, clients)
        print(f"run id {environment['RUN_ID']}: forwarding {', '.join(sorted(environment))}")
        if args.runbook:
            if args.tasks > 1:
                raise ConfigError("--runbook starts one task: drop --tasks, or launch without --runbook")
            return launcher.run_runbook(environment)
        arns = []
        for index in range(args.tasks):  # one RunTask each: every task gets its own WORKER_INDEX
            share = {"WORKER_INDEX": str(index)} if args.tasks > 1 else {}
            arns.append(launcher.run_task({**environment, **share}))
            print(f"task {arns[-1]}\n{launcher.console_url(arns[-1])}")
        return EXIT_OK if args.no_wait else launcher.follow_all(arns)
    except RerunError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except (BotoCoreError, ClientError) as exc:
        error = as_rerun_error(exc, "launching")
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code


if __name__ == "__main__":
    raise SystemExit(main())
