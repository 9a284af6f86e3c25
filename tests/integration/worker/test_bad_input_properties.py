"""Property-based, against DynamoDB Local: random mixes of bad variables and bad table references. Every one exits
2 with one line naming a variable at fault, and nothing reaches the stream."""

from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from stream_rerun.config import Settings
from stream_rerun_dev import emulator
from tests.support.items import item

TABLE = "property-cases"
# (variable, bad value): each alone is enough for exit 2
MISTAKES = [
    ("TABLE_NAME", "no-such-table"), ("TABLE_NAME", "bad name"), ("TABLE_NAME", ""), ("TABLE_NAME", "ab"),
    ("GSI_NAME", "no_such_index"), ("HASH_KEY_NAME", "sk"), ("HASH_KEY_NAME", "other"),
    ("REVISION_ATTRIBUTE", "pk"), ("RERUN_MARKER_ATTRIBUTE", "sk"),
    ("CONCURRENCY", "0"), ("CONCURRENCY", "-4"), ("CONCURRENCY", "many"), ("CONCURRENCY", " "),
    ("MAX_ITEMS_PER_SECOND", "0"), ("MAX_ITEMS_PER_SECOND", "-1"), ("MAX_ITEMS_PER_SECOND", "fast"),
    ("MAX_WCU_PER_SECOND", "0"), ("MAX_WCU_PER_SECOND", "x"), ("DRY_RUN", "maybe"), ("LOG_LEVEL", "LOUD"),
    ("RUN_ID", "has space"), ("WORKER_INDEX", "-1"), ("WORKER_COUNT", "0"), ("TOTAL_SEGMENTS", "5"),
]  # fmt: skip
SELECTIONS = [
    {"HASH_KEY_VALUE": "p1"},
    {"GSI_NAME": "by_date", "GSI_DATE": "2024-01-01"},
    {"GSI_NAME": "by_date", "GSI_DATE_FROM": "2024-01-01", "GSI_DATE_TO": "2024-01-03"},
]


@pytest.fixture(scope="module")
def shared(endpoint: str) -> str:
    client = emulator.ddb(endpoint)
    emulator.create_table(client, TABLE)
    emulator.put_items(client, TABLE, [item("p1", f"{n}", day="2024-01-01") for n in range(5)])
    return TABLE


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    selection=st.sampled_from(SELECTIONS),
    mistakes=st.lists(st.sampled_from(MISTAKES), min_size=1, max_size=3, unique_by=lambda m: m[0]),
)
def test_bad_input_exits_2_names_a_variable_and_writes_nothing(
    shared: str, stream: Any, worker: Any, selection: dict[str, str], mistakes: list[tuple[str, str]]
) -> None:
    if "HASH_KEY_VALUE" in selection:  # a partition run does not use GSI_NAME (it may be a task-definition default)
        mistakes = [m for m in mistakes if m[0] != "GSI_NAME"]
    assume(mistakes)
    for name in Settings.env_names():  # examples share one test's environment: start each from none
        os.environ.pop(name, None)
    before = len(stream(shared))
    result = worker(shared, **{**selection, **dict(mistakes)})
    assert result.code == 2
    assert len(result.lines) == 1
    message = result.lines[0]["message"]
    assert any(name in message for name, _ in mistakes), (message, mistakes)
    assert len(stream(shared)) == before
