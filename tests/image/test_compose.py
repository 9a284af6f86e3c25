"""`make local`: compose brings up DynamoDB Local, seeds the demo table, runs the worker image; exit is the worker's."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from stream_rerun.config import Settings

REPO = Path(__file__).resolve().parents[2]


def test_make_local_runs_the_worker_against_the_demo_table(image: str) -> None:
    env = {k: v for k, v in os.environ.items() if k not in Settings.env_names() and not k.startswith("AWS_")}
    env.update(HASH_KEY_VALUE="cust-1", RUN_ID="compose-run")
    base = os.environ.get("PYTHON_IMAGE", "localhost/python-base:ci")
    cmd = ["make", "-s", "local", "CONTAINER=podman", f"PYTHON_IMAGE={base}", f"IMAGE={image}"]
    out = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    lines = [json.loads(line) for line in out.stdout.splitlines() if line.startswith('{"level"')]
    summary = [line for line in lines if line.get("event") == "summary"]
    assert len(summary) == 1
    assert (summary[0]["run_id"], summary[0]["table"], summary[0]["touched"]) == ("compose-run", "demo-orders", 8)
