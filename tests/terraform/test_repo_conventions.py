"""The files around the code that only GitHub runs (workflows, dependabot) and pre-commit, checked here: they parse,
every make target they name exists, ci.yml runs what .ci/run runs (one list: `make ci-steps`), the hooks run exactly
what `make lint` and `make typecheck` run with the tools in .venv, dependabot covers the four ecosystems."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO / ".github" / "workflows"
MAKE = shutil.which("make") or "make"


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), path
    return data


def triggers(workflow: dict[str, Any]) -> dict[str, Any]:
    """A workflow's `on:` (YAML 1.1 reads the bare key as True)."""
    value = workflow.get("on", workflow.get(True))
    assert isinstance(value, dict), value
    return value


def make_lines(*targets: str) -> list[str]:
    """The commands `make -n` would run for the targets, with `install` taken as done."""
    out = subprocess.run([MAKE, "-n", "--no-print-directory", "--assume-old=install", *targets], cwd=REPO,
                         capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
    return [line.strip() for line in out.stdout.splitlines() if line.strip()]


def ci_steps() -> list[str]:
    out = subprocess.run([MAKE, "-s", "--no-print-directory", "ci-steps"], cwd=REPO, capture_output=True, text=True,
                         timeout=60, check=True)  # fmt: skip
    return out.stdout.split()


def makefile_targets() -> set[str]:
    return set(re.findall(r"^([a-zA-Z][a-zA-Z0-9_-]*):(?!=)", (REPO / "Makefile").read_text(), flags=re.MULTILINE))


def run_scripts(workflow: dict[str, Any]) -> list[str]:
    return [step["run"] for job in workflow["jobs"].values() for step in job.get("steps", []) if "run" in step]


def test_the_ci_steps_are_those_of_ci_run_and_each_is_a_make_target() -> None:
    # .ci/run ran demo, test, test-image before the list moved to the Makefile: the list keeps them, in order.
    assert ci_steps() == ["demo", "test", "test-image"]
    assert set(ci_steps()) <= makefile_targets()


def test_every_make_target_a_workflow_or_ci_run_names_exists() -> None:
    named: set[str] = set()
    sources = [script for path in sorted(WORKFLOWS.glob("*.yml")) for script in run_scripts(load(path))]
    sources.append((REPO / ".ci" / "run").read_text())
    for script in sources:
        for match in re.finditer(r"(?:^|[\s;&|(])make\s+((?:-\S+\s+)*)([a-zA-Z][\w-]*)", script):
            named.add(match.group(2))
    assert {"ci-steps"} <= named  # the workflows and .ci/run read the list through make
    assert named <= makefile_targets(), named - makefile_targets()


def test_ci_yml_runs_each_ci_step_through_ci_run(tmp_path: Path) -> None:
    ci = load(WORKFLOWS / "ci.yml")
    assert {"push", "pull_request", "workflow_call"} <= set(triggers(ci))
    # GIVEN the job that lists the steps, run as GitHub would run it
    listing = ci["jobs"]["steps"]
    script = next(step["run"] for step in listing["steps"] if step.get("id") == "list")
    output = tmp_path / "github_output"
    env = {**os.environ, "GITHUB_OUTPUT": str(output)}
    subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=REPO, env=env, check=True, timeout=60)
    # THEN its output is the Makefile's list, and the matrix job runs .ci/run with each of them
    name, _, value = output.read_text().strip().partition("=")
    assert name == "steps" and json.loads(value) == ci_steps()
    assert listing["outputs"]["steps"] == "${{ steps.list.outputs.steps }}"
    run = ci["jobs"]["run"]
    assert run["needs"] == "steps"
    assert run["strategy"]["matrix"] == {"step": "${{ fromJSON(needs.steps.outputs.steps) }}"}
    step = next(s for s in run["steps"] if ".ci/run" in s.get("run", ""))
    assert step["env"]["STEP"] == "${{ matrix.step }}"
    assert re.search(r'(^|\s)\.ci/run "\$STEP"$', step["run"], flags=re.MULTILINE), step["run"]


def fake_tools(tmp_path: Path, *, demo_installs_uv: bool = True) -> tuple[Path, dict[str, str]]:
    """A copy of .ci/run in an empty folder, with make, java and npm that record their calls (make answers
    `-s ci-steps` from the real Makefile; its demo installs uv into .cache as the real one does), and a uv on the
    PATH that the demo must not see."""
    (tmp_path / ".ci").mkdir()
    shutil.copy2(REPO / ".ci" / "run", tmp_path / ".ci" / "run")
    bin_dir, uv_dir = tmp_path / "bin", tmp_path / "uv-bin"
    bin_dir.mkdir()
    uv_dir.mkdir()
    calls = tmp_path / "calls"
    install_uv = "mkdir -p .cache/uv/bin && touch .cache/uv/bin/uv && chmod +x .cache/uv/bin/uv"
    install_uv = install_uv if demo_installs_uv else "true"
    scripts = {
        bin_dir / "make": f"""uv=$(command -v uv >/dev/null && echo with-uv || echo no-uv)
                              echo "$* $uv" >> {calls}
                              case "$*" in
                                "-s ci-steps") exec {MAKE} -C {REPO} -s --no-print-directory ci-steps;;
                                demo) {install_uv};;
                              esac""",
        bin_dir / "java": "true",
        bin_dir / "npm": "true",
        uv_dir / "uv": "true",
    }
    for path, body in scripts.items():
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(0o755)
    path_var = f"{bin_dir}:{uv_dir}:/usr/bin:/bin"
    return calls, {"PATH": path_var, "HOME": str(tmp_path)}


def test_ci_run_runs_the_listed_steps_in_order_and_the_demo_without_uv(tmp_path: Path) -> None:
    calls, env = fake_tools(tmp_path)
    out = subprocess.run([str(tmp_path / ".ci" / "run")], env=env, capture_output=True, text=True, timeout=60,
                         check=False)  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert calls.read_text().splitlines() == [
        "-s ci-steps with-uv",
        "demo no-uv",
        *[f"{step} with-uv" for step in ci_steps()[1:]],
    ]


def test_ci_run_runs_one_named_step_and_refuses_others(tmp_path: Path) -> None:
    calls, env = fake_tools(tmp_path)
    one = subprocess.run([str(tmp_path / ".ci" / "run"), "test"], env=env, capture_output=True, text=True,
                         timeout=60, check=False)  # fmt: skip
    assert one.returncode == 0, one.stderr
    assert calls.read_text().splitlines() == ["-s ci-steps with-uv", "test with-uv"]
    bad = subprocess.run([str(tmp_path / ".ci" / "run"), "lint"], env=env, capture_output=True, text=True, timeout=60,
                         check=False)  # fmt: skip
    assert bad.returncode == 2 and "not one of the CI steps" in bad.stderr


def test_the_demo_step_fails_unless_it_ran_on_the_makefiles_own_uv(tmp_path: Path) -> None:
    _, env = fake_tools(tmp_path, demo_installs_uv=False)
    out = subprocess.run([str(tmp_path / ".ci" / "run"), "demo"], env=env, capture_output=True, text=True, timeout=60,
                         check=False)  # fmt: skip
    assert out.returncode != 0


def test_ci_yml_installs_the_makefiles_uv_with_its_cache() -> None:
    uv_version = re.search(r"^UV_VERSION\s*:=\s*(\S+)", (REPO / "Makefile").read_text(), flags=re.MULTILINE)
    assert uv_version
    setup = [s for s in load(WORKFLOWS / "ci.yml")["jobs"]["run"]["steps"] if s.get("uses", "").startswith(
        "astral-sh/setup-uv@")]  # fmt: skip
    assert len(setup) == 1
    assert setup[0]["with"]["version"] == uv_version.group(1)
    assert setup[0]["with"]["enable-cache"] is True and setup[0]["with"]["cache-dependency-glob"] == "uv.lock"


def test_release_pushes_two_platforms_to_ecr_through_oidc_and_attaches_the_digest() -> None:
    release = load(WORKFLOWS / "release.yml")
    text = (WORKFLOWS / "release.yml").read_text()
    assert triggers(release) == {"push": {"tags": ["v*"]}}
    assert release["jobs"]["ci"]["uses"] == "./.github/workflows/ci.yml"
    job = release["jobs"]["image"]
    assert job["needs"] == "ci" and job["permissions"]["id-token"] == "write"
    steps = {s.get("uses", "").split("@")[0]: s for s in job["steps"]}
    creds = steps["aws-actions/configure-aws-credentials"]["with"]
    assert set(creds) == {"role-to-assume", "aws-region"} and creds["role-to-assume"].startswith("${{ vars.")
    assert "secrets." not in text and "aws-access-key-id" not in text  # no stored keys
    build = steps["docker/build-push-action"]
    assert build["id"] == "build" and build["with"]["push"] is True
    assert set(build["with"]["platforms"].split(",")) == {"linux/amd64", "linux/arm64"}
    assert "SETUPTOOLS_SCM_PRETEND_VERSION=" in build["with"]["build-args"]
    attach = next(s for s in job["steps"] if "gh release upload" in s.get("run", ""))
    assert attach["env"]["DIGEST"] == "${{ steps.build.outputs.digest }}"


def test_every_action_is_pinned_to_a_version() -> None:
    for path in sorted(WORKFLOWS.glob("*.yml")):
        for job in load(path)["jobs"].values():
            for step in job.get("steps", []):
                if "uses" in step:
                    assert re.fullmatch(r"[\w.-]+/[\w./-]+@v\d+(\.\d+)*|[\w.-]+/[\w./-]+@[0-9a-f]{40}", step["uses"]), (
                        f"{path.name}: {step['uses']}"
                    )


def hooks() -> dict[str, dict[str, Any]]:
    config = load(REPO / ".pre-commit-config.yaml")
    assert [repo["repo"] for repo in config["repos"]] == ["local"]  # nothing to download: works offline
    return {hook["id"]: hook for repo in config["repos"] for hook in repo["hooks"]}


def test_the_hooks_run_exactly_what_make_lint_and_typecheck_run() -> None:
    found = hooks()
    assert set(found) == {"ruff-check", "ruff-format", "mypy", "hadolint", "terraform-fmt"}
    assert all(hook["language"] == "system" and hook["pass_filenames"] is False for hook in found.values())
    entries = sorted(hook["entry"] for name, hook in found.items() if name != "terraform-fmt")
    assert entries == sorted(make_lines("lint", "typecheck"))


def test_the_hooks_call_tools_that_are_in_the_venv() -> None:
    for name, hook in hooks().items():
        tool = shlex.split(hook["entry"])[0]
        if name != "terraform-fmt":
            assert tool.startswith(".venv/bin/") and os.access(REPO / tool, os.X_OK), f"{name}: {tool}"
    # terraform is not a Python tool: the hook runs the same command as terraform/check.sh and, like it, passes
    # with a message where terraform is not installed.
    terraform = hooks()["terraform-fmt"]["entry"]
    assert "terraform fmt -check -recursive terraform" in terraform
    assert "terraform fmt -check -recursive terraform" in (REPO / "terraform" / "check.sh").read_text()
    assert "command -v terraform" in terraform


def test_make_test_runs_the_hooks_once_and_not_lint_or_typecheck_again() -> None:
    lines = make_lines("test")
    assert "SKIP=terraform-fmt .venv/bin/pre-commit run --all-files" in lines
    assert not set(make_lines("lint", "typecheck")) & set(lines)
    assert "bash terraform/check.sh" in lines  # where terraform fmt runs instead
    assert make_lines("hooks") == [".venv/bin/pre-commit install"]


def test_dependabot_covers_uv_docker_actions_and_terraform() -> None:
    config = load(REPO / ".github" / "dependabot.yml")
    assert config["version"] == 2
    by_ecosystem: dict[str, list[str]] = {}
    for update in config["updates"]:
        folders = update.get("directories") or [update["directory"]]
        by_ecosystem.setdefault(update["package-ecosystem"], []).extend(folders)
        assert update["schedule"]["interval"] in {"daily", "weekly", "monthly"}
    assert set(by_ecosystem) == {"uv", "docker", "github-actions", "terraform"}
    assert (REPO / by_ecosystem["uv"][0].lstrip("/") / "uv.lock").is_file()
    assert (REPO / by_ecosystem["docker"][0].lstrip("/") / "Dockerfile").is_file()
    assert by_ecosystem["github-actions"] == ["/"] and WORKFLOWS.is_dir()
    terraform_folders = {"/" + str(p.parent.relative_to(REPO)) for p in (REPO / "terraform").rglob("versions.tf")}
    terraform_folders = {f for f in terraform_folders if "/.terraform" not in f}
    assert set(by_ecosystem["terraform"]) == terraform_folders


def test_make_install_runs_again_when_the_commit_moves() -> None:
    # The editable install's version (hatch-vcs) is the commit's at install time: the stamp depends on git's state.
    def git(*args: str) -> str:
        out = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=30, check=False)
        return out.stdout.strip()

    show = ["--eval", "show-git-state: ; @echo $(GIT_STATE)", "show-git-state"]
    shown = subprocess.run([MAKE, "-s", "--no-print-directory", *show], cwd=REPO, capture_output=True, text=True,
                           timeout=60, check=True)  # fmt: skip
    watched = {str(Path(p).resolve()) for p in shown.stdout.split()}
    expected = {git("rev-parse", "--git-path", "HEAD")}
    if branch := git("symbolic-ref", "-q", "HEAD"):
        expected.add(git("rev-parse", "--git-path", branch))
    expected = {str((REPO / p).resolve()) for p in expected if (REPO / p).exists()}
    assert expected and expected <= watched
    assert "$(GIT_STATE)" in next(line for line in (REPO / "Makefile").read_text().splitlines()
                                  if line.startswith("$(VENV)/.installed:"))  # fmt: skip
