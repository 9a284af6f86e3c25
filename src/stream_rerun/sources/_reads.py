"""DynamoDB reads shared by the sources that Query or Scan: keys-only pages, the read-side filter, and the SORT_KEY_*
narrowing of a partition or a date (its settings rules and its values typed from the key schema)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from stream_rerun.errors import ConfigError
from stream_rerun.keys import Key, typed
from stream_rerun.readpace import ReadPace
from stream_rerun.sources._base import PAGE_SIZE, described

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from stream_rerun.config import Settings
    from stream_rerun.filters import ItemFilter
    from stream_rerun.sources._base import Context
    from stream_rerun.table import TableInfo


_QUERY_VARIABLES = ("hash_key_value", "gsi_name", "gsi_date", "gsi_date_from", "gsi_date_to", "sort_key_begins_with",
                    "sort_key_from", "sort_key_to")  # fmt: skip


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


def check_narrowing(settings: Settings) -> None:
    """The SORT_KEY_* rules (config's model validator calls this); raises ValueError."""
    ranged = settings.sort_key_from is not None or settings.sort_key_to is not None
    if ranged and (settings.sort_key_from is None or settings.sort_key_to is None):
        raise ValueError("SORT_KEY_FROM and SORT_KEY_TO go together: set both, or use SORT_KEY_BEGINS_WITH")
    if ranged and settings.sort_key_begins_with is not None:
        raise ValueError("SORT_KEY_BEGINS_WITH and SORT_KEY_FROM/SORT_KEY_TO exclude each other: keep one")
    narrowed = ranged or settings.sort_key_begins_with is not None
    if narrowed and settings.hash_key_value is None and not settings.gsi_name:
        raise ValueError("SORT_KEY_* narrows a partition or a date: set HASH_KEY_VALUE or a GSI_DATE selection, "
                         "or unset them")  # fmt: skip


def query_selection(values: dict[str, Any]) -> dict[str, Any]:
    """How `run_started` names a Query selection, from the settings' values: those given among the variables that
    shape one (GSI_NAME too when a task definition sets it for a partition run)."""
    return {name: values[name] for name in _QUERY_VARIABLES if values.get(name) is not None}


def sort_variables(settings: Settings) -> tuple[tuple[str, str], ...]:
    """SORT_KEY_BEGINS_WITH, SORT_KEY_FROM and SORT_KEY_TO, those given, as (name, value)."""
    named = (("SORT_KEY_BEGINS_WITH", settings.sort_key_begins_with), ("SORT_KEY_FROM", settings.sort_key_from),
             ("SORT_KEY_TO", settings.sort_key_to))  # fmt: skip
    return tuple((var, value) for var, value in named if value is not None)


def sort_range(given: tuple[tuple[str, str], ...], table: TableInfo, name: str | None, where: str) -> SortRange | None:
    """The SORT_KEY_* narrowing `given` for the sort key `name` of `where`, typed from the key schema. Raises
    ConfigError."""
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


def _keys_only(table: TableInfo) -> dict[str, Any]:
    names = {f"#k{i}": name for i, name in enumerate(table.key_names)}
    return {"ProjectionExpression": ", ".join(names), "ExpressionAttributeNames": names, "Limit": PAGE_SIZE}


def _paginate(fn: Any, doing: str, table: TableInfo, params: dict[str, Any], reads: ReadPace) -> Iterator[list[Key]]:
    while True:
        page = reads.call(fn, doing, **params)  # paced and retried; an empty filtered page is charged too
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


def readable_filter(only: ItemFilter | None, index: str | None) -> ItemFilter | None:
    """The filter when the read evaluates it: on the table only. An index is eventually consistent: the value it
    holds may be older than the item's, so filtering there could drop an item that now matches (never touched) and
    select one that no longer does; through an index the touch's condition alone decides, on the item itself."""
    return only if index is None else None


class QueriedSource:
    """What the Query sources (partition.py, index_dates.py) share once `check()` has built their queries: reading
    them page by page, and describing the selection."""

    queries: list[PartitionQuery]
    selection: dict[str, Any]
    context: Context
    distinct_pages: ClassVar[bool] = True  # a Query response page names an item once (_base.py)

    def pages(self) -> Iterator[list[Key]]:
        return query_pages(self.context.client, self.context.table, self.queries, self.context.only,
                           reads=self.context.reads)  # fmt: skip

    def describe(self) -> dict[str, Any]:
        return described(self.selection)


def query_pages(
    client: DynamoDBClient,
    table: TableInfo,
    queries: list[PartitionQuery],
    only: ItemFilter | None = None,
    *,
    reads: ReadPace | None = None,
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
        else:  # an item written just before the run is not missed (an index offers no strongly consistent read)
            params["ConsistentRead"] = True
        params = _filtered(params, readable_filter(only, query.index))
        yield from _paginate(client.query, "querying the selection", table, params, reads or ReadPace())


def scan_pages(
    client: DynamoDBClient,
    table: TableInfo,
    segments: list[int],
    total: int,
    only: ItemFilter | None = None,
    *,
    reads: ReadPace | None = None,
) -> Iterator[list[Key]]:
    """Yield the keys of each of `segments` (of `total`) page by page."""
    for segment in segments:
        params = _filtered({"TableName": table.name, **_keys_only(table), "Segment": segment, "TotalSegments": total,
                            "ConsistentRead": True}, only)  # fmt: skip
        yield from _paginate(client.scan, f"scanning segment {segment} of {total}", table, params, reads or ReadPace())
