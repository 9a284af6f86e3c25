"""Reading what reached a table's stream."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

Record = dict[str, Any]


def key_of(record: Record) -> tuple[str, ...]:
    """A stream record's primary key as a tuple of plain values, in attribute-name order."""
    keys = record["dynamodb"]["Keys"]
    return tuple(next(iter(keys[k].values())) for k in sorted(keys))


def modifies(records: list[Record]) -> list[Record]:
    return [r for r in records if r["eventName"] == "MODIFY"]


def fired_by(records: list[Record], run_id: str, marker: str = "rerun_id") -> Counter[tuple[str, ...]]:
    """Per item, the MODIFY records in which this run's marker appeared (the run's own fires)."""
    mine = {"S": run_id}
    return Counter(
        key_of(r)
        for r in modifies(records)
        if r["dynamodb"]["NewImage"].get(marker) == mine and r["dynamodb"]["OldImage"].get(marker) != mine
    )


def wait_for_touches(ddb: Any, table: str, run_id: str, at_least: int) -> None:
    """Wait (up to 30 s) until at least `at_least` items carry this run's marker: a run under way, whatever the
    machine's speed, before a test interrupts it."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        scan = ddb.scan(
            TableName=table, FilterExpression="rerun_id = :r", ExpressionAttributeValues={":r": {"S": run_id}}
        )
        if scan["Count"] >= at_least:
            return
        time.sleep(0.1)
    raise AssertionError("the worker did not start touching")
