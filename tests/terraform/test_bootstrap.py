"""The first deploy as the README writes it — make bootstrap, make push, make apply — on a loopback moto server, with
stand-ins for the aws CLI and the container engine: the engine's push puts an image into moto's ECR (which gives it
its own digest, as ECR does), the aws stand-in answers from moto. Skipped where terraform or its provider is not
on the machine (as the chain test)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.loopback import loopback_moto
from tests.terraform.test_chain import REGION, aws_env, client, override, terraform_rc

REPO = Path(__file__).resolve().parents[2]

AWS_STAND_IN = """
import sys, boto3
args = sys.argv[1:]
if args[:2] == ["ecr", "get-login-password"]:
    print("password")
elif args[:2] == ["ecr", "describe-images"]:
    opts = dict(zip(args[2::2], args[3::2]))
    ecr = boto3.client("ecr", region_name=opts["--region"])
    try:
        images = ecr.describe_images(repositoryName=opts["--repository-name"],
                                     imageIds=[{"imageTag": opts["--image-ids"].split("=", 1)[1]}])
    except ecr.exceptions.ImageNotFoundException:
        sys.exit("An error occurred (ImageNotFoundException) when calling the DescribeImages operation")
    print(images["imageDetails"][0]["imageDigest"])
else:
    sys.exit(f"aws stand-in: {args} not modelled")
"""
ENGINE_STAND_IN = """
import json, sys, boto3
args = [a for a in sys.argv[1:] if a not in ("--runtime", "runc")]
with open(CALLS, "a") as calls:
    calls.write(" ".join(args) + "\\n")
if args[0] == "login":
    sys.stdin.read()
elif args[0] == "push":
    repo, tag = args[1].rsplit(":", 1)
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1,
                           "digest": "sha256:" + "0" * 64}, "layers": [], "annotations": {"tag": tag}}
    ecr = boto3.client("ecr", region_name=repo.split(".")[3])
    ecr.put_image(repositoryName=repo.split("/", 1)[1], imageManifest=json.dumps(manifest), imageTag=tag)
elif args[0] == "image":
    print("sha256:" + "1" * 64)  # a local digest ECR does not store: make push must not use it
"""


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    with loopback_moto() as endpoint:
        yield endpoint


def stand_ins(bin_dir: Path, calls: Path) -> None:
    bin_dir.mkdir()
    for name, body in (("aws", AWS_STAND_IN), ("podman", f"CALLS = {str(calls)!r}\n{ENGINE_STAND_IN}")):
        (bin_dir / name).write_text(f"#!{sys.executable}\n{body}")
        (bin_dir / name).chmod(0o755)


def test_bootstrap_push_apply_deploys_the_image_ecr_stores(moto_endpoint: str, tmp_path: Path) -> None:
    rc = terraform_rc()
    ec2 = client(moto_endpoint, "ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    work = tmp_path / "terraform"
    shutil.copytree(
        REPO / "terraform",
        work,
        ignore=shutil.ignore_patterns(".terraform", "*.tfstate*", ".terraform.lock.hcl", "*.auto.tfvars*"),
    )
    env_dir = work / "envs" / "dev"
    (env_dir / "chain_override.tf").write_text(override(moto_endpoint))
    # moto's servers in one process share their state: a name of its own keeps this deployment apart from the chain's
    tfvars = {"region": REGION, "name": "boot", "table_name": "orders", "vpc_id": vpc, "subnet_ids": [subnet],
              "cpu_architecture": "X86_64"}  # no image_uri: make push writes it  # fmt: skip
    (env_dir / "terraform.tfvars.json").write_text(json.dumps(tfvars))
    stand_ins(tmp_path / "bin", tmp_path / "calls")
    env = {**aws_env(moto_endpoint), "TF_CLI_CONFIG_FILE": rc, "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1",
           "PATH": f"{tmp_path / 'bin'}:{aws_env(moto_endpoint)['PATH']}"}  # fmt: skip

    def make(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = ["make", "-s", *args, "ENV=dev", f"TF_DIR={env_dir}", "TF_INIT_ARGS=", "TF_APPLY_ARGS=-auto-approve",
               "CONTAINER=podman", "CA_BUNDLE=", "IMAGE_TAG=0123456789ab"]  # fmt: skip
        out = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False)
        assert out.returncode == 0, f"make {args[0]}:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
        return out

    # WHEN the README's three lines run
    make("bootstrap")
    ecr = client(moto_endpoint, "ecr")
    assert "boot-dev" in [r["repositoryName"] for r in ecr.describe_repositories()["repositories"]]
    ecs = client(moto_endpoint, "ecs")
    assert ecs.list_task_definitions(familyPrefix="boot-dev")["taskDefinitionArns"] == []  # only the repository
    pushed = make("push")
    again = make("push")
    make("apply")
    # THEN the task definition runs the image by the digest ECR stores, built once for the task's architecture
    digest = ecr.describe_images(repositoryName="boot-dev")["imageDetails"][0]["imageDigest"]
    uri = f"123456789012.dkr.ecr.{REGION}.amazonaws.com/boot-dev@{digest}"
    assert f'image_uri = "{uri}"' in pushed.stdout and "already pushed" in again.stdout
    task: dict[str, Any] = ecs.describe_task_definition(taskDefinition="boot-dev")
    assert task["taskDefinition"]["containerDefinitions"][0]["image"] == uri
    calls = (tmp_path / "calls").read_text().splitlines()
    assert [c.split()[0] for c in calls] == ["login", "build", "push"]
    assert "--platform linux/amd64" in calls[1]
