"""The operator's make targets around Terraform, with terraform, aws and docker replaced by recording stand-ins."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def make(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["make", "-s", *args], cwd=REPO, env={**os.environ, **(env or {})}, capture_output=True,
                          text=True, timeout=120, check=False)  # fmt: skip


def test_plan_gives_the_backend_the_envs_region(tmp_path: Path) -> None:
    (tmp_path / "terraform.tfvars").write_text('region     = "ap-southeast-2"\ntable_name = "orders"\n')
    out = make("-n", "plan", f"TF_DIR={tmp_path}", "TF_STATE_BUCKET=state-bucket")
    assert '-backend-config="region=ap-southeast-2"' in out.stdout
    out = make("-n", "plan", f"TF_DIR={tmp_path}", "TF_STATE_BUCKET=state-bucket", "TF_STATE_REGION=eu-north-1")
    assert '-backend-config="region=eu-north-1"' in out.stdout


def fake_bin(tmp_path: Path, arch: str) -> Path:
    """terraform answers the outputs; aws, docker print and record their arguments."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    scripts = {
        "terraform": f"""case "$*" in *ecr_repository_url*) echo 123456789012.dkr.ecr.eu-west-1.amazonaws.com/sr-dev;;
                     *cpu_architecture*) echo {arch};; esac""",
        "aws": "echo password",
        "docker": f'echo "docker $*" >> {tmp_path}/calls; cat >/dev/null 2>&1 || true; echo sha256:abc',
    }
    for name, body in scripts.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    return bin_dir


def test_push_builds_for_the_tasks_architecture(tmp_path: Path) -> None:
    for arch, platform in (("X86_64", "linux/amd64"), ("ARM64", "linux/arm64")):
        work = tmp_path / arch
        work.mkdir()
        path = f"{fake_bin(work, arch)}:{os.environ['PATH']}"
        out = make("push", "ENV=dev", "CONTAINER=docker", "CA_BUNDLE=", env={"PATH": path})
        assert out.returncode == 0, out.stdout + out.stderr
        builds = [c for c in (work / "calls").read_text().splitlines() if c.startswith("docker build")]
        assert builds and f"--platform {platform}" in builds[0], builds


def test_plan_files_and_mirror_lock_files_are_not_committed() -> None:
    for path in ("terraform/envs/dev/tfplan", "terraform/envs/prod/.terraform.lock.hcl"):
        assert subprocess.run(["git", "check-ignore", "-q", path], cwd=REPO, check=False).returncode == 0, path
