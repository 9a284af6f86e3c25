"""make demo tells the same story whatever the caller's shell exports."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from stream_rerun_dev import demo


def test_demo_workers_get_none_of_the_callers_worker_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a shell that exports worker variables from an earlier run
    for name, value in {"KEYS_FILE": "./dlq.jsonl", "RUN_ID": "old", "DRY_RUN": "true", "AWS_PROFILE": "prod"}.items():
        monkeypatch.setenv(name, value)
    seen: dict[str, Any] = {}

    def fake_run(cmd: list[str], env: dict[str, str], **_: Any) -> subprocess.CompletedProcess[str]:
        seen.update(env)
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(demo.subprocess, "run", fake_run)
    # WHEN the demo runs a worker
    demo._worker("http://127.0.0.1:1", HASH_KEY_VALUE="cust-1")
    # THEN it sees only the demo's own selection and the emulator's settings
    assert seen["HASH_KEY_VALUE"] == "cust-1" and seen["TABLE_NAME"] == demo.TABLE
    assert not {"KEYS_FILE", "RUN_ID", "DRY_RUN", "AWS_PROFILE"} & set(seen)
