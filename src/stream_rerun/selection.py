"""Key sources: which items a run selects. Each yields pages of primary keys; none knows how keys are written.

One partition and GSI dates are Queries; ALL_ITEMS is a parallel Scan of this worker's share of the segments, in
shuffled order; KEYS_FILE reads a list of keys (keyfile.py). Every source reads key attributes only.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from stream_rerun import keyfile
from stream_rerun.errors import ConfigError, aws_call
from stream_rerun.keys import Key, typed

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from stream_rerun.config import Settings
    from stream_rerun.table import TableInfo

# Keys per page. Pages are otherwise up to 1 MB of items (thousands of keys); a fixed page keeps the worker's
# memory flat whatever the item size, and the prefetch thread hides the extra round trips.
PAGE_SIZE = 1000
SEGMENT_BYTES = 2 * 1024**3  # default TOTAL_SEGMENTS: one Scan segment per 2 GiB of table


@dataclass(frozen=True)
class PartitionQuery:
    """Query one partition of the table, or of an index, for the table's primary keys."""

    index: str | None
    key_name: str
    value: Key


@dataclass(frozen=True)
class Selection:
    """A planned selection: what it is (for the log) and a function that yields its pages of keys."""

    describe: dict[str, Any]
    pages: Callable[[], Iterator[list[Key]]] = field(repr=False)
    total: int | None = None  # keys this worker will select, when known before the run
    approximate: bool = False  # the total is an estimate (ALL_ITEMS: DescribeTable's item count, ~6 hours old)


def plan(settings: Settings, table: TableInfo, client: DynamoDBClient, s3: Callable[[], Any]) -> Selection:
    """The selection the settings ask for, checked against the table (and the key file). Raises ConfigError."""
    if settings.all_items:
        segments = my_segments(settings, table)
        total = settings.total_segments or default_segments(settings, table)
        return Selection(
            {"all_items": True, "total_segments": total, "segments": len(segments), "worker": _worker(settings)},
            lambda: scan_pages(client, table, segments, total),
            round(table.item_count * len(segments) / total),
            approximate=True,
        )
    if settings.keys_file is not None:
        lines = keyfile.opener(settings.keys_file, s3)
        count = keyfile.check(lines, table, settings.keys_file)
        index, workers = settings.worker_index, settings.worker_count
        return Selection(
            {"keys_file": settings.keys_file, "keys_in_file": count, "worker": _worker(settings)},
            lambda: keyfile.key_pages(lines, table, index, workers, PAGE_SIZE),
            (count - index + workers - 1) // workers,  # every `workers`-th key from `index`
        )
    queries = partition_queries(settings, table)
    names = ("hash_key_value", "gsi_name", "gsi_date", "gsi_date_from", "gsi_date_to")
    chosen = {k: v for k, v in settings.model_dump().items() if k in names and v is not None}
    return Selection(chosen, lambda: query_pages(client, table, queries))


def _worker(settings: Settings) -> str:
    return f"{settings.worker_index + 1} of {settings.worker_count}"


def partition_queries(settings: Settings, table: TableInfo) -> list[PartitionQuery]:
    """The queries of a partition or date selection, with values typed from the key schema. Raises ConfigError."""
    if settings.hash_key_value is not None:
        value = typed("HASH_KEY_VALUE", settings.hash_key_value, table.attr_types[table.hash_key])
        return [PartitionQuery(None, table.hash_key, value)]
    index = table.indexes[settings.gsi_name or ""]
    kind = table.attr_types[index.hash_key]
    if settings.gsi_date is not None:
        return [PartitionQuery(index.name, index.hash_key, typed("GSI_DATE", settings.gsi_date, kind))]
    try:
        dates = settings.date_range()
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return [PartitionQuery(index.name, index.hash_key, typed("GSI_DATE_FROM", day, kind)) for day in dates]


def default_segments(settings: Settings, table: TableInfo) -> int:
    """One segment per 2 GiB of table (DescribeTable's size), at least one per worker."""
    return max(settings.worker_count, math.ceil(table.size_bytes / SEGMENT_BYTES), 1)


def my_segments(settings: Settings, table: TableInfo) -> list[int]:
    """This worker's segments: every WORKER_COUNT-th from WORKER_INDEX, shuffled (seeded by RUN_ID, so a resumed
    run reads them in the same order) to spread the load over the table's partitions."""
    total = settings.total_segments or default_segments(settings, table)
    mine = list(range(settings.worker_index, total, settings.worker_count))
    random.Random(f"{settings.run_id}:{settings.worker_index}").shuffle(mine)
    return mine


def _keys_only(table: TableInfo) -> dict[str, Any]:
    names = {f"#k{i}": name for i, name in enumerate(table.key_names)}
    return {"ProjectionExpression": ", ".join(names), "ExpressionAttributeNames": names, "Limit": PAGE_SIZE}


def _paginate(fn: Any, doing: str, table: TableInfo, params: dict[str, Any]) -> Iterator[list[Key]]:
    while True:
        page = aws_call(fn, "DynamoDB", doing, **params)
        yield [{name: item[name] for name in table.key_names} for item in page.get("Items", [])]
        if "LastEvaluatedKey" not in page:
            return
        params["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def query_pages(client: DynamoDBClient, table: TableInfo, queries: list[PartitionQuery]) -> Iterator[list[Key]]:
    """Yield each query's keys page by page (PAGE_SIZE keys, or 1 MB read, at most)."""
    for query in queries:
        params: dict[str, Any] = {"TableName": table.name, **_keys_only(table), "KeyConditionExpression": "#q = :q",
                                  "ExpressionAttributeValues": {":q": query.value}}  # fmt: skip
        params["ExpressionAttributeNames"] = {**params["ExpressionAttributeNames"], "#q": query.key_name}
        if query.index:
            params["IndexName"] = query.index
        yield from _paginate(client.query, "querying the selection", table, params)


def scan_pages(client: DynamoDBClient, table: TableInfo, segments: list[int], total: int) -> Iterator[list[Key]]:
    """Yield the keys of each of `segments` (of `total`) page by page."""
    for segment in segments:
        params = {"TableName": table.name, **_keys_only(table), "Segment": segment, "TotalSegments": total}
        yield from _paginate(client.scan, f"scanning segment {segment} of {total}", table, params)
