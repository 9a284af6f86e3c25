"""The image as ECS runs it: non-root, read-only root filesystem, configured by environment, exit codes honest."""

from __future__ import annotations

import json
import os
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

from stream_rerun_dev import emulator
from tests.support.exports import export_files, s3_folder
from tests.support.items import item
from tests.support.s3 import objects_under
from tests.support.streams import fired_by, key_of, modifies


def docker_run(
    container_cli: list[str], image: str, endpoint: str, *more: str, **env: str
) -> tuple[int, list[dict[str, Any]], str]:
    """`docker run --read-only --network host -e ... IMAGE`: the README's command. Returns code, JSON lines, stderr."""
    flags = [f"--env={k}={v}" for k, v in emulator.worker_env(endpoint, **env).items()]
    cmd = [*container_cli, "run", "--rm", "--read-only", "--network", "host", *more, *flags, image]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    return out.returncode, [json.loads(line) for line in out.stdout.splitlines()], out.stderr


def fargate_scratch(container_cli: list[str], image: str, where: Path) -> list[str]:
    """The module's scratch volume at /tmp as Fargate mounts it: an empty directory owned by root, mode 0755, unless
    the image declares /tmp a VOLUME, whose owner and mode it then copies (aws/containers-roadmap #938, #863). A bind
    mount of such a directory (the engine's own tmpfs or named volume would be writable whatever the image says)."""
    where.mkdir()
    os.chown(where, 0, 0)
    where.chmod(0o755)
    volumes = subprocess.run([*container_cli, "image", "inspect", image, "--format", "{{json .Config.Volumes}}"],
                             capture_output=True, text=True, check=True).stdout  # fmt: skip
    if "/tmp" in (json.loads(volumes) or {}):
        probe = "import os; s = os.stat('/tmp'); print(s.st_uid, s.st_gid, s.st_mode & 0o7777)"
        cmd = [*container_cli, "run", "--rm", *image_volumes_ignored(container_cli), "--entrypoint", "python", image]
        stat = subprocess.run([*cmd, "-c", probe], capture_output=True, text=True, check=True).stdout
        uid, gid, mode = (int(v) for v in stat.split())
        os.chown(where, uid, gid)
        where.chmod(mode)
    return ["--volume", f"{where}:/tmp"]


def image_volumes_ignored(container_cli: list[str]) -> list[str]:
    """podman mounts an anonymous volume on a declared VOLUME by default; ignoring it shows the image as it is."""
    return ["--image-volume=ignore"] if container_cli[0] == "podman" else []


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


def test_image_carries_oci_labels_from_git_and_reports_the_same_version(container_cli: list[str], image: str) -> None:
    labels = json.loads(subprocess.run([*container_cli, "image", "inspect", image, "--format", "{{json .Labels}}"],
                                       capture_output=True, text=True, check=True).stdout)  # fmt: skip
    oci = {k.removeprefix("org.opencontainers.image."): v for k, v in (labels or {}).items() if k.startswith("org.")}
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    assert oci["revision"] == head
    assert oci["licenses"] and oci["created"].endswith("Z")
    probe = "from stream_rerun.version import fields; import json; print(json.dumps(fields()))"
    out = subprocess.run([*container_cli, "run", "--rm", "--read-only", "--entrypoint", "python", image, "-c", probe],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    reported = json.loads(out)
    # the package inside was built with the label's version (the build context has no .git), naming this commit
    assert reported["version"] == oci["version"] != "0.0.0"
    assert reported["revision"] and head.startswith(reported["revision"])


def test_image_reads_an_export_from_s3_and_spools_its_redrive_file_in_tmp(
    container_cli: list[str],
    image: str,
    endpoint: str,
    s3_endpoint: str,
    bucket: Any,
    ddb: Any,
    make_table: Any,
    stream: Any,
    tmp_path: Path,
) -> None:
    # GIVEN an export on S3 (moto) of 60 items, one of which cannot be touched
    table = make_table()
    chunks = [[item(f"x{f}", f"{n:02}", revision=1) for n in range(20)] for f in range(3)]
    chunks[1][3]["revision"] = {"S": "bad"}
    emulator.put_items(ddb, table, [i for c in chunks for i in c])
    objects = export_files(table, chunks)
    name = bucket(objects)
    folder = s3_folder(name, objects)
    env = {"TABLE_NAME": table, "KEYS_FILE": folder, "FAILED_KEYS_OUT": f"s3://{name}/redrive/",
           "AWS_ENDPOINT_URL_S3": s3_endpoint}  # fmt: skip
    # WHEN the root filesystem is read-only with nothing writable (ECS without the module's scratch volume)
    bare = ["--read-only-tmpfs=false", *image_volumes_ignored(container_cli)] if container_cli[0] == "podman" else []
    code, lines, _ = docker_run(container_cli, image, endpoint, *bare, RUN_ID="img-bare", **env)
    # THEN it refuses before any write, naming the variable
    assert code == 2 and "FAILED_KEYS_OUT" in lines[-1]["message"] and fired_by(stream(table), "img-bare") == Counter()
    # WHEN /tmp is the task definition's scratch volume, mounted as Fargate mounts it
    scratch = fargate_scratch(container_cli, image, tmp_path / "scratch")
    code, lines, stderr = docker_run(container_cli, image, endpoint, *bare, *scratch, RUN_ID="img-s3", **env)
    # THEN every other item fired once and the bad one is in the re-drive file on S3
    assert code == 1, stderr
    assert (lines[-1]["touched"], lines[-1]["failed"], lines[-1]["failed_keys_written"]) == (59, 1, 1)
    assert len(fired_by(stream(table), "img-s3")) == 59
    written = objects_under(s3_endpoint, name, "redrive/")
    assert written == {"redrive/img-s3.jsonl": '{"pk":{"S":"x1"},"sk":{"S":"03"}}\n'}
