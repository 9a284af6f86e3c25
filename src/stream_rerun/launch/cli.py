"""`stream-rerun-launch` (`make rerun ENV=...`): start the worker as ECS tasks, follow them, exit with their code.

Reads the run configuration Terraform wrote (SSM parameter /<name>/<env>/run-task-config, or --config FILE),
forwards only the worker's own variables from this environment, checks them with the worker's rules, runs the
task(s) (or the SSM Automation runbook with --runbook), streams their CloudWatch log lines, and exits with the
container's exit code (README "Exit codes"). --attach RUN_ID|TASK_ARN follows tasks that already run.

Before it starts anything it prints the plan (plan.py: selection, caps, RUN_ID, the stream's consumers) and, when the
run configuration has `confirm_runs` and stdin and stdout are terminals, asks "Start N task(s) on <table> in <env>?
[y/N]": any answer but y/yes starts nothing and exits 0 ("nothing started"; Ctrl-C at the question: 130). --yes
skips the question; --attach never asks.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3

from stream_rerun.config import launch_environment
from stream_rerun.errors import EXIT_INTERRUPTED, EXIT_OK, OPERATOR, ConfigError, RerunError, as_rerun_error
from stream_rerun.launch.ecs import Fleet
from stream_rerun.launch.follow import Follower
from stream_rerun.launch.plan import Plan, confirmed, look_up, question, settings_of, why_not_ask
from stream_rerun.launch.progress import view_for
from stream_rerun.launch.runbook import Runbook, parameters
from stream_rerun.launch.runconfig import DEFAULT_NAME, load_config
from stream_rerun.version import describe

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_ecs import ECSClient
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_logs import CloudWatchLogsClient
    from mypy_boto3_ssm import SSMClient

MAX_TASKS = 1000


@dataclass(frozen=True)
class Options:
    """What the operator asked for (from the command line)."""

    env: str
    name: str = DEFAULT_NAME
    config_file: Path | None = None
    region: str | None = None
    wait: bool = True
    timeout: float = 6 * 3600
    poll: float = 5.0
    stop_on_interrupt: bool = False
    runbook: bool = False
    tasks: int = 1
    spot: bool = False
    attach: str | None = None
    yes: bool = False


@dataclass(frozen=True)
class Clients:
    ecs: ECSClient
    logs: CloudWatchLogsClient
    ssm: SSMClient | None
    dynamodb: DynamoDBClient  # the plan's DescribeTable and consumer lookup
    lambda_: LambdaClient


def parse_args(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(prog="stream-rerun-launch", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--version", action="version", version=describe("stream-rerun-launch"))
    parser.add_argument("--env", required=True, help="environment name (dev, prod, ...)")
    parser.add_argument("--name", default=os.environ.get("STREAM_RERUN_NAME", DEFAULT_NAME),
                        help=f"the deployment's name (Terraform var.name; default {DEFAULT_NAME})")  # fmt: skip
    parser.add_argument("--config", type=Path, help="run configuration JSON instead of the SSM parameter")
    parser.add_argument(
        "--region", help="region of the SSM parameter (default: AWS_REGION, AWS_DEFAULT_REGION, profile)"
    )
    parser.add_argument("--no-wait", action="store_true", help="print the task(s) and exit without following")
    parser.add_argument(
        "--timeout", type=float, default=6 * 3600, help="seconds to follow (default 6 h); then exit 124"
    )
    parser.add_argument("--poll", type=float, default=5.0, help="seconds between status polls")
    parser.add_argument("--stop-on-interrupt", action="store_true", help="Ctrl-C stops the task(s)")
    parser.add_argument("--runbook", action="store_true", help="start the SSM Automation runbook instead")
    parser.add_argument(
        "--tasks", type=int, default=1, help=f"fan out over N tasks, 1-{MAX_TASKS} (ALL_ITEMS, KEYS_FILE, CHANGED_FROM)"
    )
    parser.add_argument("--spot", action="store_true", help="run on FARGATE_SPOT (resume a reclaimed run by RUN_ID)")
    parser.add_argument("--attach", metavar="RUN_ID|TASK_ARN", help="follow tasks that already run; start none")
    parser.add_argument("-y", "--yes", action="store_true", help="start without the question confirm_runs asks")
    a = parser.parse_args(argv)
    return Options(env=a.env, name=a.name, config_file=a.config, region=a.region, wait=not a.no_wait,
                   timeout=a.timeout, poll=a.poll, stop_on_interrupt=a.stop_on_interrupt, runbook=a.runbook,
                   tasks=a.tasks, spot=a.spot, attach=a.attach, yes=a.yes)  # fmt: skip


def region_of(options: Options) -> str:
    """--region, else AWS_REGION, else what the SDK finds (AWS_DEFAULT_REGION, the profile)."""
    region = options.region or os.environ.get("AWS_REGION") or boto3.session.Session().region_name
    if not region:
        raise ConfigError("no region for the run configuration: give --region, or set AWS_REGION or a profile's region")
    return region


def check_selection(environment: dict[str, str]) -> None:
    """What the worker's own rules cannot see from here: a Fargate task cannot read the operator's disk."""
    keys_file = environment.get("KEYS_FILE")
    if keys_file is not None and not keys_file.startswith("s3://"):
        raise ConfigError(
            f"KEYS_FILE={keys_file!r} is a local file, which the ECS task cannot read: upload it "
            f"(aws s3 cp {keys_file} s3://<bucket>/<keys_file_s3_prefix>/) and pass the s3:// URI"
        )
    out = environment.get("FAILED_KEYS_OUT")
    if out is not None and not out.startswith("s3://"):
        raise ConfigError(
            f"FAILED_KEYS_OUT={out!r} is a local path, which would vanish with the ECS task: give "
            "s3://<bucket>/<failed_keys_s3_prefix>/ (or unset it: Terraform's failed_keys_s3_prefix is the default)"
        )
    removed = environment.get("REMOVED_KEYS_OUT")
    if removed is not None and not removed.startswith("s3://"):
        raise ConfigError(
            f"REMOVED_KEYS_OUT={removed!r} is a local path, which would vanish with the ECS task: give "
            "s3://<bucket>/<failed_keys_s3_prefix>/ (the folder gets <RUN_ID>.removed.jsonl)"
        )
    batches = environment.get("FAILED_BATCHES_FROM")
    if batches is not None and not batches.startswith(("s3://", "https://", "http://")):
        raise ConfigError(
            f"FAILED_BATCHES_FROM={batches!r} is a local file, which the ECS task cannot read: upload it "
            f"(aws s3 cp {batches} s3://<bucket>/<failed_batches_s3_prefix>/) and pass the s3:// URI, or give the "
            "on-failure queue's URL"
        )


def main(argv: list[str] | None = None, clients: dict[str, Any] | None = None) -> int:
    """Entry point; `clients` (ecs, logs, ssm, and optionally dynamodb and lambda) lets tests pass stubbed or moto
    clients."""
    options = parse_args(argv)
    try:
        return launch(options, clients)
    except RerunError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except Exception as exc:  # noqa: BLE001 - AWS errors become one line, never a traceback
        error = as_rerun_error(exc, "AWS", "launching", OPERATOR)
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code


def launch(options: Options, given: dict[str, Any] | None) -> int:
    if not 1 <= options.tasks <= MAX_TASKS:
        raise ConfigError(f"--tasks {options.tasks}: give 1 to {MAX_TASKS}")
    ssm = (given or {}).get("ssm")
    region = "(from --config)"
    if options.config_file is None:
        region = region_of(options)
        ssm = ssm or boto3.session.Session(region_name=region).client("ssm")
    config = load_config(options.env, options.config_file, ssm, options.name, region)
    clients = _clients(config["region"], given)
    fleet = Fleet(clients.ecs, config, options.spot or bool(config.get("spot")))
    follower = Follower(fleet, clients.logs, options.timeout, options.poll, options.stop_on_interrupt, view=view_for(),
                        env=options.env)  # fmt: skip
    if options.attach:
        arns = fleet.find(options.attach)
        print(f"attached to {len(arns)} task(s) of {options.attach}: {' '.join(arns)}")
        for link in fleet.links([]):  # the dashboard, when there is one
            print(link)
        return follower.follow(arns)
    fleet_size = {"WORKER_COUNT": str(options.tasks)} if options.tasks > 1 else {}
    environment = launch_environment(config.get("worker_defaults", {}), config["region"], fleet_size)
    check_selection(environment)
    if options.runbook:
        if options.tasks > 1:
            raise ConfigError("--runbook starts one task: drop --tasks, or launch without --runbook")
        if clients.ssm is None:
            raise ConfigError("--runbook needs SSM: drop --config, or launch without --runbook")
        parameters(environment)  # a variable the runbook does not take is refused before the plan and the question
    if not agreed(options, config, environment, clients):
        return EXIT_OK
    if options.runbook:
        assert clients.ssm is not None
        return Runbook(clients.ssm, config["runbook"], follower, options.wait).run(environment)
    shares = [{**environment, **({"WORKER_INDEX": str(i)} if options.tasks > 1 else {})} for i in range(options.tasks)]
    arns = fleet.start(shares)
    print("\n".join(fleet.links(arns)))
    return EXIT_OK if not options.wait else follower.follow(arns)


class NotStartedError(RerunError):
    """Ctrl-C at the question: nothing started (exit 130)."""

    exit_code = EXIT_INTERRUPTED


def agreed(options: Options, config: dict[str, Any], environment: dict[str, str], clients: Clients) -> bool:
    """Print the plan; refuse (ConfigError) a run a consumer that is not Enabled would leave unread, as the worker
    would; ask when the run configuration says so on a terminal. False when the operator said no."""
    defaults = config.get("worker_defaults", {})
    settings = settings_of(defaults, environment, config["region"])
    lookup = look_up(clients.dynamodb, clients.lambda_, settings.table_name, settings.consumer_functions)
    ask, why = why_not_ask(config, options.yes, sys.stdin, sys.stdout)
    plan = Plan(options.env, options.tasks, settings, {**defaults, **environment}, tuple(sorted(environment)), lookup,
                why)  # fmt: skip
    print("\n".join(plan.lines()), flush=True)
    if lookup.consumers is not None:
        lookup.consumers.check(settings.allow_disabled_consumers)  # not the lag check: the worker's role may see more
    if not ask:
        return True
    try:
        yes = confirmed(question(options.tasks, settings.table_name, options.env, settings.dry_run))
    except KeyboardInterrupt:
        print()
        raise NotStartedError("Ctrl-C: nothing started") from None
    if not yes:
        print("nothing started")
    return yes


def _clients(region: str, given: dict[str, Any] | None) -> Clients:
    session = boto3.session.Session(region_name=region)
    if given is not None:
        dynamodb, lambda_ = given.get("dynamodb") or session.client("dynamodb"), given.get("lambda")
        return Clients(given["ecs"], given["logs"], given.get("ssm"), dynamodb, lambda_ or session.client("lambda"))
    return Clients(session.client("ecs"), session.client("logs"), session.client("ssm"), session.client("dynamodb"),
                   session.client("lambda"))  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
