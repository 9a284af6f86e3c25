"""The operator's make targets around Terraform, with terraform, aws and docker replaced by recording stand-ins."""

from __future__ import annotations

import json
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
    """terraform answers the outputs; aws answers for an ECR that holds what docker pushed (under its own digest);
    docker records its arguments and reports a different, local digest (as podman does)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    pushed = tmp_path / "pushed"
    scripts = {
        "terraform": f"""case "$*" in *ecr_repository_url*) echo 123456789012.dkr.ecr.eu-west-1.amazonaws.com/sr-dev;;
                     *cpu_architecture*) echo {arch};; esac""",
        "aws": f"""echo "aws $*" >> {tmp_path}/calls
                case "$*" in *describe-images*) [ -f {pushed} ] && echo sha256:ecr || exit 254;;
                             *) echo password;; esac""",
        "docker": f"""echo "docker $*" >> {tmp_path}/calls; cat >/dev/null 2>&1 || true
                   case "$1" in push) touch {pushed};; image) echo sha256:local;; esac""",
    }
    for name, body in scripts.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    return bin_dir


def test_push_builds_for_the_tasks_architecture_and_pins_the_digest_ecr_stores(tmp_path: Path) -> None:
    for arch, platform in (("X86_64", "linux/amd64"), ("ARM64", "linux/arm64")):
        work = tmp_path / arch
        work.mkdir()
        path = f"{fake_bin(work, arch)}:{os.environ['PATH']}"
        out = make("push", "ENV=dev", f"TF_DIR={work}", "CONTAINER=docker", "CA_BUNDLE=", "IMAGE_TAG=abc123",
                   env={"PATH": path})  # fmt: skip
        assert out.returncode == 0, out.stdout + out.stderr
        builds = [c for c in (work / "calls").read_text().splitlines() if c.startswith("docker build")]
        assert builds and f"--platform {platform}" in builds[0], builds
        uri = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/sr-dev@sha256:ecr"
        assert json.loads((work / "image.auto.tfvars.json").read_text()) == {"image_uri": uri}
        assert f'image_uri = "{uri}"' in out.stdout and "sha256:local" not in out.stdout


def test_pushing_the_same_commit_again_says_already_pushed(tmp_path: Path) -> None:
    path = f"{fake_bin(tmp_path, 'ARM64')}:{os.environ['PATH']}"
    args = ("push", "ENV=dev", f"TF_DIR={tmp_path}", "CONTAINER=docker", "CA_BUNDLE=", "IMAGE_TAG=abc123")
    assert make(*args, env={"PATH": path}).returncode == 0
    # WHEN the same commit is pushed again to the IMMUTABLE repository
    again = make(*args, env={"PATH": path})
    # THEN it says so and succeeds, building and pushing nothing
    assert again.returncode == 0, again.stdout + again.stderr
    assert "already pushed" in again.stdout
    calls = (tmp_path / "calls").read_text().splitlines()
    assert len([c for c in calls if c.startswith("docker push")]) == 1
    assert len([c for c in calls if c.startswith("docker build")]) == 1


def test_push_before_bootstrap_says_what_to_run(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "terraform").write_text("#!/bin/sh\nexit 1\n")
    (bin_dir / "terraform").chmod(0o755)
    out = make("push", f"TF_DIR={tmp_path}", "CONTAINER=docker", env={"PATH": f"{bin_dir}:{os.environ['PATH']}"})
    assert out.returncode != 0 and "make bootstrap ENV=" in out.stderr


def test_plan_files_and_mirror_lock_files_are_not_committed() -> None:
    for path in ("terraform/envs/dev/tfplan", "terraform/envs/prod/.terraform.lock.hcl"):
        assert subprocess.run(["git", "check-ignore", "-q", path], cwd=REPO, check=False).returncode == 0, path


def test_rerun_passes_the_incident_selections_given_on_the_command_line(tmp_path: Path) -> None:
    # GIVEN a stand-in for the launcher that prints the variables and arguments it got
    launcher = tmp_path / "python"
    launcher.write_text(
        '#!/bin/sh\necho "args=$*"\nenv | grep -E "^(CHANGED_|FAILED_BATCHES_FROM|DELETE_SETTLED)" | sort\n'
    )
    launcher.chmod(0o755)
    # WHEN the operator runs the documented commands (install assumed done: -o install)
    window = make("-o", "install", "rerun", "ENV=prod", f"PY={launcher}", "CHANGED_FROM=2026-11-27T02:10:00Z",
                  "CHANGED_TO=2026-11-27T05:40:00Z", "LAUNCH_ARGS=--tasks 3")  # fmt: skip
    queue = make("-o", "install", "rerun", "ENV=prod", f"PY={launcher}", "DELETE_SETTLED_MESSAGES=true",
                 "FAILED_BATCHES_FROM=https://sqs.eu-west-1.amazonaws.com/123456789012/q")  # fmt: skip
    # THEN the launcher sees them in its environment, which is where it takes the worker's variables from
    assert window.returncode == 0, window.stderr
    assert "--env prod" in window.stdout and "--tasks 3" in window.stdout
    assert "CHANGED_FROM=2026-11-27T02:10:00Z\nCHANGED_TO=2026-11-27T05:40:00Z" in window.stdout
    assert queue.returncode == 0, queue.stderr
    assert "DELETE_SETTLED_MESSAGES=true" in queue.stdout
    assert "FAILED_BATCHES_FROM=https://sqs.eu-west-1.amazonaws.com/123456789012/q" in queue.stdout
