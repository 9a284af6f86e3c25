"""Key sources: which items a run selects. Each yields pages of primary keys; none knows how keys are written.

One partition and GSI dates are Queries (narrowed by SORT_KEY_* in the key condition); ALL_ITEMS is a parallel Scan
of this worker's share of the segments, in shuffled order; KEYS_FILE reads a list of keys (keyfile.py) or a DynamoDB
export (export.py). Every source reads key attributes only; FILTER_* is applied on the read where DynamoDB can.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from stream_rerun import export, keyfile
from stream_rerun.errors import ConfigError, aws_call
from stream_rerun.filters import ItemFilter
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
class SortRange:
    """SORT_KEY_BEGINS_WITH (one value) or SORT_KEY_FROM..SORT_KEY_TO (two), typed for the sort key `name`."""

    name: str
    values: tuple[Key, ...]

    def condition(self) -> str:
        return "begins_with(#s, :s0)" if len(self.values) == 1 else "#s BETWEEN :s0 AND :s1"


@dataclass(frozen=True)
class PartitionQuery:
    """Query one partition of the table, or of an index, for the table's primary keys."""

    index: str | None
    key_name: str
    value: Key
    sort: SortRange | None = None


@dataclass(frozen=True)
class Selection:
    """A planned selection: what it is (for the log) and a function that yields its pages of keys."""

    describe: dict[str, Any]
    pages: Callable[[], Iterator[list[Key]]] = field(repr=False)
    total: int | None = None  # keys this worker will select, when known before the run
    approximate: bool = False  # the total is an estimate (ALL_ITEMS: DescribeTable's item count, ~6 hours old)


def plan(
    settings: Settings, table: TableInfo, client: DynamoDBClient, s3: Callable[[], Any], only: ItemFilter | None = None
) -> Selection:
    """The selection the settings ask for, checked against the table (and the key file); `only` (FILTER_*) is
    applied on the read where DynamoDB can evaluate it. Raises ConfigError."""
    if settings.all_items:
        segments = my_segments(settings, table)
        total = settings.total_segments or default_segments(settings, table)
        return Selection(
            {"all_items": True, "total_segments": total, "segments": len(segments), "worker": _worker(settings)},
            lambda: scan_pages(client, table, segments, total, only),
            round(table.item_count * len(segments) / total),
            approximate=True,
        )
    if settings.keys_file is not None and export.is_export(settings.keys_file):
        return _export_selection(settings, table, s3, settings.keys_file)
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
    names = ("hash_key_value", "gsi_name", "gsi_date", "gsi_date_from", "gsi_date_to", "sort_key_begins_with",
             "sort_key_from", "sort_key_to")  # fmt: skip
    chosen = {k: v for k, v in settings.model_dump().items() if k in names and v is not None}
    return Selection(chosen, lambda: query_pages(client, table, queries, only))


def _export_selection(settings: Settings, table: TableInfo, s3: Callable[[], Any], folder: str) -> Selection:
    found = export.read(folder, s3)
    mine = found.share(settings.worker_index, settings.worker_count)
    export.check(found, mine, table, s3)
    return Selection(
        {"keys_file": folder, "export": found.arn, "export_items": found.items, "data_files": len(found.files),
         "my_data_files": len(mine), "worker": _worker(settings)},
        lambda: export.key_pages(mine, table, s3, PAGE_SIZE),
        sum(f.items for f in mine),
    )  # fmt: skip


def _worker(settings: Settings) -> str:
    return f"{settings.worker_index + 1} of {settings.worker_count}"


def partition_queries(settings: Settings, table: TableInfo) -> list[PartitionQuery]:
    """The queries of a partition or date selection, with values typed from the key schema. Raises ConfigError."""
    if settings.hash_key_value is not None:
        value = typed("HASH_KEY_VALUE", settings.hash_key_value, table.attr_types[table.hash_key])
        sort = sort_range(settings, table, table.range_key, f"table '{table.name}'")
        return [PartitionQuery(None, table.hash_key, value, sort)]
    index = table.indexes[settings.gsi_name or ""]
    kind = table.attr_types[index.hash_key]
    sort = sort_range(settings, table, index.range_key, f"index '{index.name}'")
    if settings.gsi_date is not None:
        return [PartitionQuery(index.name, index.hash_key, typed("GSI_DATE", settings.gsi_date, kind), sort)]
    try:
        dates = settings.date_range()
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return [PartitionQuery(index.name, index.hash_key, typed("GSI_DATE_FROM", day, kind), sort) for day in dates]


def sort_range(settings: Settings, table: TableInfo, name: str | None, where: str) -> SortRange | None:
    """The SORT_KEY_* narrowing for the sort key `name` of `where`, typed from the key schema. Raises ConfigError."""
    named = (("SORT_KEY_BEGINS_WITH", settings.sort_key_begins_with), ("SORT_KEY_FROM", settings.sort_key_from),
             ("SORT_KEY_TO", settings.sort_key_to))  # fmt: skip
    given = [(var, value) for var, value in named if value is not None]
    if not given:
        return None
    if name is None:
        raise ConfigError(f"{given[0][0]} narrows by sort key, but {where} has none: unset SORT_KEY_*")
    kind = table.attr_types[name]
    if given[0][0] == "SORT_KEY_BEGINS_WITH" and kind == "N":
        raise ConfigError(f"SORT_KEY_BEGINS_WITH needs a string or binary sort key, but {name} of {where} is a "
                          "number: use SORT_KEY_FROM and SORT_KEY_TO")  # fmt: skip
    values = tuple(typed(var, value, kind) for var, value in given)
    if len(values) == 2 and _after(values[0], values[1], kind):
        raise ConfigError(f"SORT_KEY_FROM {given[0][1]!r} is after SORT_KEY_TO {given[1][1]!r}: swap them")
    return SortRange(name, values)


def _after(first: Key, last: Key, kind: str) -> bool:
    if kind == "N":
        return Decimal(first["N"]) > Decimal(last["N"])
    return bool(first[kind] > last[kind])  # S compares by code point as DynamoDB's UTF-8 bytes do; B by bytes


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
        if page.get("Items"):  # a filtered page may hold none
            yield [{name: item[name] for name in table.key_names} for item in page["Items"]]
        if "LastEvaluatedKey" not in page:
            return
        params["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _filtered(params: dict[str, Any], only: ItemFilter | None) -> dict[str, Any]:
    """Add the read-side filter (it saves writes: DynamoDB drops the other items before they reach us)."""
    if only is None:
        return params
    extra = only.expression()
    names = {**params["ExpressionAttributeNames"], **extra["ExpressionAttributeNames"]}
    values = {**params.get("ExpressionAttributeValues", {}), **extra["ExpressionAttributeValues"]}
    return {**params, "FilterExpression": extra["FilterExpression"], "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values}  # fmt: skip


def readable_filter(only: ItemFilter | None, table: TableInfo, index: str | None) -> ItemFilter | None:
    """The filter when the read can evaluate it: on the table, or on an index that projects the attribute (on
    another index every item would look filtered out, so the touch's condition alone decides there)."""
    if only is None or index is None:
        return only
    info = table.indexes[index]
    seen = info.projection == "ALL" or only.attribute in (*info.projected, *table.key_names, info.hash_key,
                                                          info.range_key)  # fmt: skip
    return only if seen else None


def query_pages(
    client: DynamoDBClient, table: TableInfo, queries: list[PartitionQuery], only: ItemFilter | None = None
) -> Iterator[list[Key]]:
    """Yield each query's keys page by page (PAGE_SIZE keys, or 1 MB read, at most)."""
    for query in queries:
        params: dict[str, Any] = {"TableName": table.name, **_keys_only(table), "KeyConditionExpression": "#q = :q",
                                  "ExpressionAttributeValues": {":q": query.value}}  # fmt: skip
        params["ExpressionAttributeNames"] = {**params["ExpressionAttributeNames"], "#q": query.key_name}
        if query.sort is not None:
            params["KeyConditionExpression"] += " AND " + query.sort.condition()
            params["ExpressionAttributeNames"]["#s"] = query.sort.name
            params["ExpressionAttributeValues"].update({f":s{i}": v for i, v in enumerate(query.sort.values)})
        if query.index:
            params["IndexName"] = query.index
        params = _filtered(params, readable_filter(only, table, query.index))
        yield from _paginate(client.query, "querying the selection", table, params)


def scan_pages(
    client: DynamoDBClient, table: TableInfo, segments: list[int], total: int, only: ItemFilter | None = None
) -> Iterator[list[Key]]:
    """Yield the keys of each of `segments` (of `total`) page by page."""
    for segment in segments:
        params = _filtered({"TableName": table.name, **_keys_only(table), "Segment": segment, "TotalSegments": total},
                           only)  # fmt: skip
        yield from _paginate(client.scan, f"scanning segment {segment} of {total}", table, params)
