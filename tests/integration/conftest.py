"""Integration level: a real DynamoDB Local (started once per session), tables per test, the worker in-process."""

from __future__ import annotations

import io
import json
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from stream_rerun import local
from stream_rerun.__main__ import main, run
from stream_rerun.config import load_settings
from stream_rerun.engine import RetryPolicy
from stream_rerun.log import configure_logging

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def endpoint() -> Iterator[str]:
    """DYNAMODB_LOCAL_ENDPOINT when given (an emulator already running), else one started for this session."""
    given = os.environ.get("DYNAMODB_LOCAL_ENDPOINT")
    if given:
        local.wait_ready(given)
        yield given
        return
    with local.dynamodb_local(REPO / ".cache" / "dynamodb-local") as url:
        yield url


@pytest.fixture
def ddb(endpoint: str) -> Any:
    return local.ddb(endpoint)


@pytest.fixture
def make_table(ddb: Any) -> Callable[..., str]:
    """Create a uniquely named table (stream on, KEYS_ONLY date index by default); return its name."""

    def create(**kwargs: Any) -> str:
        name = f"t-{uuid.uuid4().hex[:12]}"
        local.create_table(ddb, name, **kwargs)
        return name

    return create


@dataclass
class WorkerResult:
    code: int
    lines: list[dict[str, Any]]

    @property
    def summary(self) -> dict[str, Any]:
        return self.lines[-1]


@pytest.fixture
def worker(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Callable[..., WorkerResult]:
    """Run the worker in-process with the given variables; capture and parse its JSON lines.

    With `client=`, the run uses that (fault-injecting) client; otherwise it goes through main() as the CLI does.
    """

    def call(table: str, client: Any = None, retry: RetryPolicy | None = None, **env: str) -> WorkerResult:
        for name, value in local.worker_env(endpoint, **{"TABLE_NAME": table, **env}).items():
            monkeypatch.setenv(name, value)
        out = io.StringIO()
        with redirect_stdout(out):
            if client is None and retry is None:
                code = main()
            else:
                settings = load_settings()
                configure_logging(settings.log_level, settings.run_id, settings.table_name)
                code = run(settings, client, retry)
        lines = [json.loads(line) for line in out.getvalue().splitlines()]
        return WorkerResult(code, lines)

    return call


@pytest.fixture
def stream(endpoint: str, ddb: Any) -> Callable[[str], list[dict[str, Any]]]:
    """All stream records of a table so far."""
    return lambda table: local.stream_records(endpoint, ddb, table)


def item(pk: str, sk: str, **attrs: Any) -> dict[str, Any]:
    """A DynamoDB JSON item: strings as S, ints as N."""
    out = {"pk": {"S": pk}, "sk": {"S": sk}}
    for name, value in attrs.items():
        out[name] = {"N": str(value)} if isinstance(value, int) else {"S": value}
    return out


def key_of(record: dict[str, Any]) -> tuple[str, ...]:
    keys = record["dynamodb"]["Keys"]
    return tuple(next(iter(keys[k].values())) for k in sorted(keys))


def modifies(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if r["eventName"] == "MODIFY"]
