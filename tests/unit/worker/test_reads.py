"""What the Query and Scan of the selection ask DynamoDB (a fake client records each request): strongly consistent
reads of the table, and the read-side filter on the table only, never on an index (eventually consistent)."""

from __future__ import annotations

from typing import Any

from stream_rerun.filters import ItemFilter
from stream_rerun.sources._reads import PartitionQuery, query_pages, scan_pages
from stream_rerun.table import TableInfo

TABLE = TableInfo("orders", ("pk", "sk"), {"pk": "S", "sk": "S", "day": "S"}, {}, "dynamodb:NEW_AND_OLD_IMAGES", 0, 0)
ONLY = ItemFilter.of("status", ("FAILED",))


class Recorder:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

    def query(self, **params: Any) -> dict[str, Any]:
        self.requests.append(params)
        return {"Items": [{"pk": {"S": "a"}, "sk": {"S": "1"}}]}

    scan = query


def test_a_query_of_the_table_is_consistent_and_filtered() -> None:
    client = Recorder()
    list(query_pages(client, TABLE, [PartitionQuery(None, "pk", {"S": "a"})], ONLY))  # type: ignore[arg-type]
    (request,) = client.requests
    assert request["ConsistentRead"] is True and request["FilterExpression"] == "#f IN (:f0)"


def test_a_query_of_an_index_is_neither_consistent_nor_filtered() -> None:
    client = Recorder()
    list(query_pages(client, TABLE, [PartitionQuery("by_date", "day", {"S": "2026-11-03"})], ONLY))  # type: ignore[arg-type]
    (request,) = client.requests
    assert "ConsistentRead" not in request and "FilterExpression" not in request
    assert request["IndexName"] == "by_date"


def test_a_scan_is_consistent_and_filtered() -> None:
    client = Recorder()
    list(scan_pages(client, TABLE, [0, 1], 2, ONLY))  # type: ignore[arg-type]
    assert [r["ConsistentRead"] for r in client.requests] == [True, True]
    assert all(r["FilterExpression"] == "#f IN (:f0)" for r in client.requests)
