"""The image as ECS runs it: non-root, read-only root filesystem, configured by environment, exit codes honest."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from typing import Any

from stream_rerun_dev import emulator
from tests.support.items import item
from tests.support.streams import key_of, modifies


def docker_run(
    container_cli: list[str], image: str, endpoint: str, **env: str
) -> tuple[int, list[dict[str, Any]], str]:
    """`docker run --read-only --network host -e ... IMAGE`: the README's command. Returns code, JSON lines, stderr."""
    flags = [f"--env={k}={v}" for k, v in emulator.worker_env(endpoint, **env).items()]
    cmd = [*container_cli, "run", "--rm", "--read-only", "--network", "host", *flags, image]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    return out.returncode, [json.loads(line) for line in out.stdout.splitlines()], out.stderr


def test_image_fires_one_modify_per_selected_item(
    container_cli: list[str], image: str, endpoint: str, ddb: Any, make_table: Any, stream: Any
) -> None:
    table = make_table()
    emulator.put_items(ddb, table, [item("p1", f"{n:03}", revision=n) for n in range(40)] + [item("p2", "x")])
    inserts = len(stream(table))
    code, lines, stderr = docker_run(
        container_cli, image, endpoint, TABLE_NAME=table, HASH_KEY_VALUE="p1", RUN_ID="img"
    )
    assert code == 0, stderr
    assert lines[-1]["event"] == "summary" and lines[-1]["touched"] == 40
    fired = modifies(stream(table)[inserts:])
    assert Counter(key_of(r) for r in fired) == Counter(("p1", f"{n:03}") for n in range(40))
    assert all(r["dynamodb"]["NewImage"]["rerun_id"] == {"S": "img"} for r in fired)


def test_image_bad_configuration_is_one_line_and_exit_2(
    container_cli: list[str], image: str, endpoint: str, ddb: Any, make_table: Any, stream: Any
) -> None:
    table = make_table()
    emulator.put_items(ddb, table, [item("p1", "a")])
    before = len(stream(table))
    code, lines, stderr = docker_run(
        container_cli, image, endpoint, TABLE_NAME=table, GSI_NAME="nope", GSI_DATE="2024-01-01"
    )
    assert code == 2
    assert len(lines) == 1 and "GSI_NAME 'nope' is not an index" in lines[0]["message"]
    assert "Traceback" not in stderr
    assert len(stream(table)) == before


def test_image_runs_as_a_numeric_non_root_user(container_cli: list[str], image: str) -> None:
    user = subprocess.run([*container_cli, "image", "inspect", image, "--format", "{{.Config.User}}"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    assert user == "10001:10001"
    uid = subprocess.run([*container_cli, "run", "--rm", "--read-only", "--entrypoint", "id", image, "-u"],
                         capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    assert uid == "10001"


def test_image_holds_no_configuration_or_credentials(container_cli: list[str], image: str) -> None:
    env = subprocess.run([*container_cli, "image", "inspect", image, "--format", "{{json .Config.Env}}"],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    names = {entry.split("=", 1)[0] for entry in json.loads(env)}
    assert not names & {"TABLE_NAME", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "SSL_CERT_FILE"}
    assert {"PYTHONUNBUFFERED", "PATH"} <= names


def test_image_ships_the_worker_only(container_cli: list[str], image: str) -> None:
    probe = (
        "import importlib.util as u; print([m for m in ('stream_rerun', 'stream_rerun_dev', 'rich') if u.find_spec(m)])"
    )
    out = subprocess.run([*container_cli, "run", "--rm", "--read-only", "--entrypoint", "python", image, "-c", probe],
                         capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    assert out == "['stream_rerun']"  # no developer tooling, no launcher extra
