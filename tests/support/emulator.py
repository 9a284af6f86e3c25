"""pytest plugin (registered in tests/conftest.py): DynamoDB Local and the worker run against it.

Fixtures: `endpoint` (one emulator per test module, or DYNAMODB_LOCAL_ENDPOINT), `fresh_endpoint` (an emulator of
the test's own, for heavy tests), `ddb`, `make_table`, `stream`, `worker` (the worker in-process, its JSON lines
parsed). DynamoDB Local slows down for every table once stream records pile up (measured: a 1,200-item test took
220 s at the end of a shared session, 10 s on its own), hence an emulator per module and fresh ones for the heaviest.
"""

from __future__ import annotations

import contextlib
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

from stream_rerun.__main__ import main, run
from stream_rerun.config import Settings, load_settings
from stream_rerun.log import configure_logging
from stream_rerun.retry import RetryPolicy
from stream_rerun_dev import emulator

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / ".cache" / "dynamodb-local"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    """DYNAMODB_LOCAL_ENDPOINT when given (an emulator already running), else one started for this module."""
    given = os.environ.get("DYNAMODB_LOCAL_ENDPOINT")
    if given:
        emulator.wait_ready(given)
        yield given
        return
    with emulator.dynamodb_local(CACHE) as url:
        yield url


@pytest.fixture
def fresh_endpoint() -> Iterator[str]:
    """An emulator of this test's own (about 2 s to start)."""
    with emulator.dynamodb_local(CACHE) as url:
        yield url


@pytest.fixture
def ddb(endpoint: str) -> Any:
    return emulator.ddb(endpoint)


@pytest.fixture
def make_table(ddb: Any) -> Iterator[Callable[..., str]]:
    """Create uniquely named tables (stream on, KEYS_ONLY date index by default); delete them afterwards."""
    made: list[str] = []

    def create(client: Any = None, **kwargs: Any) -> str:
        name = f"t-{uuid.uuid4().hex[:12]}"
        emulator.create_table(client or ddb, name, **kwargs)
        made.append(name)
        return name

    yield create
    for name in made:  # best effort: a test may have dropped it, or made it on another emulator
        with contextlib.suppress(Exception):
            ddb.delete_table(TableName=name)


@pytest.fixture
def stream(endpoint: str, ddb: Any) -> Callable[[str], list[dict[str, Any]]]:
    """All stream records of a table so far."""
    return lambda table: emulator.stream_records(endpoint, ddb, table)


@dataclass
class WorkerResult:
    code: int
    lines: list[dict[str, Any]]

    @property
    def summary(self) -> dict[str, Any]:
        return self.lines[-1]

    def event(self, name: str) -> dict[str, Any]:
        return next(line for line in self.lines if line.get("event") == name)


@pytest.fixture
def worker(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Callable[..., WorkerResult]:
    """Run the worker in-process with the given variables; capture and parse its JSON lines.

    With `client=` or `retry=`, the run uses them; otherwise it goes through main() as the CLI does. `at=` points it
    at another endpoint (a proxy, a fresh emulator).
    """

    def call(
        table: str, client: Any = None, retry: RetryPolicy | None = None, at: str | None = None, **env: str
    ) -> WorkerResult:
        for name in Settings.env_names():  # each call starts from nothing but its own variables
            monkeypatch.delenv(name, raising=False)
        for name, value in emulator.worker_env(at or endpoint, **{"TABLE_NAME": table, **env}).items():
            monkeypatch.setenv(name, value)
        out = io.StringIO()
        with redirect_stdout(out):
            if client is None and retry is None:
                code = main()
            else:
                settings = load_settings()
                configure_logging(settings.log_level, settings.run_id, settings.table_name)
                code = run(settings, client, retry)
        return WorkerResult(code, [json.loads(line) for line in out.getvalue().splitlines()])

    return call
