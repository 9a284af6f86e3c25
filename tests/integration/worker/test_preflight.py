"""Every configuration or preflight error: exit 2, one JSON line naming the variable, nothing on the stream."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stream_rerun_dev import emulator
from tests.support.items import item

CASES = [
    ({"HASH_KEY_VALUE": ""}, "HASH_KEY_VALUE='' is invalid"),
    ({}, "exactly one selection is needed"),
    ({"HASH_KEY_VALUE": "p1", "GSI_NAME": "by_date", "GSI_DATE": "2024-01-01"}, "exactly one selection"),
    ({"HASH_KEY_VALUE": "p1", "DRY_RUN": "maybe"}, "DRY_RUN='maybe' is invalid"),
    ({"HASH_KEY_VALUE": "p1", "HASH_KEY_NAME": "sk"}, "HASH_KEY_NAME 'sk' is not the partition key"),
    ({"GSI_NAME": "nope", "GSI_DATE": "2024-01-01"}, "GSI_NAME 'nope' is not an index of table"),
    ({"GSI_NAME": "by_date", "GSI_DATE_FROM": "2024-01-09", "GSI_DATE_TO": "2024-01-01"}, "is after GSI_DATE_TO"),
    ({"GSI_NAME": "by_date", "GSI_DATE_FROM": "Jan 1", "GSI_DATE_TO": "2024-01-01"}, "does not match"),
    ({"GSI_NAME": "by_date", "GSI_DATE": "2024-01-01", "GSI_DATE_ATTRIBUTE": "dt"}, "GSI_DATE_ATTRIBUTE 'dt'"),
    ({"HASH_KEY_VALUE": "p1", "REVISION_ATTRIBUTE": "sk"}, "REVISION_ATTRIBUTE 'sk' is a key attribute"),
    ({"HASH_KEY_VALUE": "p1", "CONCURRENCY": "-1"}, "CONCURRENCY='-1' is invalid"),
    ({"HASH_KEY_VALUE": "p1", "TABLE_NAME": "no-such-table"}, "TABLE_NAME 'no-such-table' does not exist"),
    (
        {"HASH_KEY_VALUE": "p1", "FILTER_ATTRIBUTE": "a" * 200, "FILTER_VALUES": json.dumps(list(range(50)))},
        "FILTER_VALUES: the touch's UPDATE statement would be",
    ),  # over 8,192 characters (issue 18)
]


@pytest.fixture(scope="module")
def shared(endpoint: str) -> str:
    """One loaded table for every case: its stream must not grow."""
    client = emulator.ddb(endpoint)
    emulator.create_table(client, "preflight-cases")
    emulator.put_items(client, "preflight-cases", [item("p1", f"{n}", day="2024-01-01") for n in range(5)])
    return "preflight-cases"


@pytest.mark.parametrize(("env", "message"), CASES, ids=[m.split()[0] for _, m in CASES])
def test_bad_configuration_exits_2_and_writes_nothing(
    shared: str, stream: Any, worker: Any, env: dict[str, str], message: str
) -> None:
    before = len(stream(shared))
    result = worker(shared, **env)
    assert result.code == 2
    assert len(result.lines) == 1
    assert message in result.lines[0]["message"]
    assert result.lines[0]["level"] == "ERROR"
    assert len(stream(shared)) == before


def test_wrong_gsi_lists_the_indexes(shared: str, worker: Any) -> None:
    result = worker(shared, GSI_NAME="by_day", GSI_DATE="2024-01-01")
    assert "(indexes: by_date)" in result.lines[0]["message"]


@pytest.mark.parametrize(("kind", "value"), [("N", "abc"), ("N", "1e999"), ("B", "not base64!")])
def test_key_value_invalid_for_its_type(
    make_table: Any, stream: Any, worker: Any, ddb: Any, kind: str, value: str
) -> None:
    table = make_table(keys=(("id", kind),), date_index=None)
    emulator.put_items(ddb, table, [{"id": {kind: "1" if kind == "N" else b"1"}}])
    before = len(stream(table))
    result = worker(table, HASH_KEY_VALUE=value)
    assert result.code == 2 and f"HASH_KEY_VALUE={value!r}" in result.lines[0]["message"]
    assert len(stream(table)) == before


def test_table_without_stream_is_refused(make_table: Any, ddb: Any, worker: Any) -> None:
    table = make_table(stream=False)
    emulator.put_items(ddb, table, [item("p1", "a", revision=3)])
    result = worker(table, HASH_KEY_VALUE="p1")
    assert result.code == 2 and "has no DynamoDB stream" in result.lines[0]["message"]
    assert ddb.get_item(TableName=table, Key={"pk": {"S": "p1"}, "sk": {"S": "a"}})["Item"]["revision"] == {"N": "3"}
