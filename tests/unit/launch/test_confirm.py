"""The question `confirm_runs` asks, with the launcher in a pseudo-terminal (issue 21 §1): `python -m
stream_rerun.launch` runs as a child process whose stdin and stdout are a pty (os.openpty), against a loopback moto
server holding the deployment (ECS, SSM, EC2) and the table's stream with its Lambda consumers."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from stream_rerun.launch.ecs import Fleet
from stream_rerun.launch.plan import confirmed
from tests.support.env import clean_environ
from tests.support.loopback import loopback_moto
from tests.unit.launch.support import REGION, deploy, stream_consumers

PARAMETER = "/stream-rerun/prod/run-task-config"
QUESTION = "Start 1 task(s) on orders in prod? [y/N]"
NAMES = ("ecs", "logs", "ssm", "ec2", "dynamodb", "lambda", "iam")


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    with loopback_moto() as endpoint:
        yield endpoint


@pytest.fixture
def prod(moto_endpoint: str) -> dict[str, Any]:
    """A fresh deployment whose run configuration asks (confirm_runs), a table with an enabled and a disabled
    consumer; the clients to look at it."""
    urllib.request.urlopen(urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST"))  # noqa: S310
    aws = {name: boto3.client(name, region_name=REGION, endpoint_url=moto_endpoint, aws_access_key_id="testing",
                              aws_secret_access_key="testing") for name in NAMES}  # fmt: skip
    config = deploy(aws, PARAMETER)
    aws["ssm"].put_parameter(Name=PARAMETER, Value=json.dumps({**config, "confirm_runs": True}), Overwrite=True)
    stream_consumers(aws, {"indexer": True, "search-sync": False})
    return {**aws, "config": config, "cluster": config["cluster"], "endpoint": moto_endpoint}


def launcher_env(endpoint: str, **variables: str) -> dict[str, str]:
    """The operator's environment: the moto endpoint, dummy credentials, a selection; nothing from this shell."""
    return {**clean_environ(), "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": REGION, "AWS_CONFIG_FILE": "/nonexistent",
            "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_MAX_ATTEMPTS": "1", "HASH_KEY_VALUE": "cust-42", "ALLOW_DISABLED_CONSUMERS": "true",
            **variables}  # fmt: skip


CTRL_C = "^C"
LAUNCHER = [sys.executable, "-m", "stream_rerun.launch", "--env", "prod"]


def in_terminal(args: list[str], env: dict[str, str], answer: str | None = None) -> tuple[int, str]:
    """Run the launcher with a pty as stdin, stdout and stderr; type `answer` at the question (CTRL_C: send SIGINT,
    again every half second while the question waits: with readline, a SIGINT that lands between the prompt and
    readline's select() is only seen at the next key, which no person types that fast). A question when no answer is
    given kills the launcher (the test fails on what it printed). Returns (exit code, what it printed)."""
    master, slave = os.openpty()
    child = subprocess.Popen([*LAUNCHER, *args], stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True)
    os.close(slave)
    out, answered, deadline = b"", 0.0, time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready = select.select([master], [], [], 0.1)[0]
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # EIO: the child closed the terminal
                    break
                out += chunk
            waiting = out.rstrip().endswith(b"[y/N]")
            if waiting and answer is None:
                child.kill()
                break
            if waiting and answer == CTRL_C and time.monotonic() - answered > 0.5:
                child.send_signal(signal.SIGINT)
                answered = time.monotonic()
            elif waiting and answer is not None and answer != CTRL_C and not answered:
                os.write(master, answer.encode() + b"\n")
                answered = time.monotonic()
            if not ready and child.poll() is not None:
                break
    finally:
        os.close(master)
        if child.poll() is None:
            child.kill()
    return child.wait(timeout=10), out.decode(errors="replace").replace("\r\n", "\n")


def started(prod: dict[str, Any]) -> list[dict[str, Any]]:
    arns = prod["ecs"].list_tasks(cluster=prod["cluster"])["taskArns"]
    if not arns:
        return []
    return list(prod["ecs"].describe_tasks(cluster=prod["cluster"], tasks=arns, include=["TAGS"])["tasks"])


def test_no_at_the_question_starts_nothing(prod: dict[str, Any]) -> None:
    # GIVEN a run configuration that asks, and an operator at a terminal
    # WHEN the operator answers n
    code, out = in_terminal(["--no-wait"], launcher_env(prod["endpoint"], RUN_ID="tty-no"), answer="n")
    # THEN the plan came first, then the question; nothing started, exit 0
    assert out.index("Plan: 1 task(s) on table orders in prod, RUN_ID=tty-no") < out.index(QUESTION), out
    assert "nothing started" in out and code == 0
    assert started(prod) == []


def test_ctrl_c_at_the_question_starts_nothing(prod: dict[str, Any]) -> None:
    code, out = in_terminal(["--no-wait"], launcher_env(prod["endpoint"], RUN_ID="tty-int"), answer=CTRL_C)
    assert code == 130 and "Ctrl-C: nothing started" in out and "Traceback" not in out, out
    assert started(prod) == []


def test_only_y_or_yes_is_yes() -> None:
    assert [confirmed("?", lambda _q, a=a: a) for a in ("y", " YES\n", "Y")] == [True] * 3
    assert [confirmed("?", lambda _q, a=a: a) for a in ("", "n", "yep", "ja")] == [False] * 4

    def end_of_input(_question: str) -> str:
        raise EOFError

    assert confirmed("?", end_of_input) is False


def test_yes_at_the_question_starts_one_task(prod: dict[str, Any]) -> None:
    code, out = in_terminal(["--no-wait"], launcher_env(prod["endpoint"], RUN_ID="tty-yes"), answer="y")
    assert QUESTION in out and code == 0, out
    tasks = started(prod)
    assert [t["tags"] for t in tasks] == [[{"key": "run-id", "value": "tty-yes"}]]
    # the plan showed the consumers the moto server holds, the disabled one marked
    assert "  consumer     indexer  Enabled  batch 50" in out
    assert "  ! consumer   search-sync  Disabled  batch 50" in out


def test_yes_flag_asks_nothing_and_starts(prod: dict[str, Any]) -> None:
    code, out = in_terminal(["--no-wait", "--yes"], launcher_env(prod["endpoint"], RUN_ID="tty-flag"))
    assert code == 0 and "[y/N]" not in out and "  confirm      --yes: not asking" in out, out
    assert len(started(prod)) == 1


def test_without_a_terminal_nothing_is_asked_and_the_task_starts(prod: dict[str, Any]) -> None:
    env = launcher_env(prod["endpoint"], RUN_ID="tty-none")
    done = subprocess.run([*LAUNCHER, "--no-wait"], stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env,
                          timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0 and "[y/N]" not in done.stdout, done.stdout + done.stderr
    assert "  confirm      not a terminal: not asking" in done.stdout
    assert len(started(prod)) == 1


def test_attach_never_asks(prod: dict[str, Any]) -> None:
    # GIVEN a run already started
    Fleet(prod["ecs"], prod["config"]).start([{"RUN_ID": "tty-attach", "HASH_KEY_VALUE": "cust-42"}])
    # WHEN an operator re-attaches from a terminal THEN no plan, no question: it follows (here until --timeout 0)
    args = ["--attach", "tty-attach", "--timeout", "0", "--poll", "0"]
    code, out = in_terminal(args, launcher_env(prod["endpoint"]))
    assert code == 124 and "[y/N]" not in out and "Plan:" not in out, out
    assert "attached to 1 task(s) of tty-attach" in out
